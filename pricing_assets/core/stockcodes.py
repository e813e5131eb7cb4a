"""Which stockcodes become partitions, and which partition keys are acceptable at all."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .cleaning import is_product_code

# A partition key becomes part of storage keys and file names: allow only what a product code
# can look like (letters, digits, '-', '_'), never a path separator, '..' or control characters.
STOCKCODE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


class InvalidStockcodeError(ValueError):
    """A partition key that must not reach storage."""


def validate_stockcode(key: str) -> str:
    """Return ``key`` unchanged, or raise with what is wrong with it."""
    if not isinstance(key, str) or not STOCKCODE_KEY.fullmatch(key):
        shown = repr(key)[:60]
        raise InvalidStockcodeError(
            f"invalid stockcode partition key {shown}: use 1-32 letters, digits, '-' or '_', "
            "starting with a letter or digit (for example 85123A)"
        )
    return key


def stockcode_history(transactions: pd.DataFrame) -> pd.DataFrame:
    """Per product code: usable sale lines, distinct sale days, first and last sale.

    Usable = not a cancellation, positive quantity and price: the same lines cleaning keeps
    before its outlier rules, so the count is what the model will roughly see.
    """
    t = transactions
    usable = (
        is_product_code(t["stock_code"])
        & ~t["invoice_no"].str.match(r"^[CA]").fillna(False).astype(bool)
        & (t["quantity"] > 0)
        & (t["unit_price"] > 0)
    )
    sales = t.loc[usable, ["stock_code", "invoice_date"]].assign(day=lambda f: f["invoice_date"].dt.normalize())
    history = sales.groupby("stock_code").agg(
        rows=("invoice_date", "size"),
        days=("day", "nunique"),
        first_sale=("invoice_date", "min"),
        last_sale=("invoice_date", "max"),
    )
    history.index = history.index.astype(str)
    history["fingerprint"] = source_fingerprints(t).reindex(history.index)
    return history.sort_values(["rows", "days"], ascending=False, kind="mergesort")


def source_fingerprints(transactions: pd.DataFrame) -> pd.Series:
    """Per stockcode, a digest of all its source lines (cancellations included), independent of row order.

    It changes exactly when the lines the lineage would read for that stockcode change, which is
    how the weekly schedule tells "new data for 85123A" from "new data for someone else".
    """
    columns = [
        c for c in ("invoice_no", "stock_code", "quantity", "invoice_date", "unit_price", "customer_id", "country")
    ]
    hashes = pd.util.hash_pandas_object(transactions[columns], index=False).to_numpy().view(np.int64)
    grouped = pd.Series(hashes, index=transactions["stock_code"].astype(str).to_numpy()).groupby(level=0)
    sums, counts = grouped.sum(), grouped.size()  # int64 sums wrap around: fine for a digest
    return pd.Series(
        {code: f"{int(sums[code]) & 0xFFFFFFFFFFFFFFFF:016x}{int(counts[code]):08x}" for code in sums.index},
        name="fingerprint",
        dtype=str,
    )


# Where raw_transactions keeps every stockcode's history (rows, days, fingerprint): what the CLI, the sensors and
# the schedule read to register partitions and find what changed.
HISTORY_KEY = "artifacts/raw_transactions/stockcode_history.parquet"


def write_history(store: Any, history: pd.DataFrame) -> str:
    """Store ``history`` (:func:`stockcode_history`) where :func:`read_history` finds it; its URI."""
    from .store import frame_to_parquet

    return store.put_bytes(HISTORY_KEY, frame_to_parquet(history.reset_index()))


def read_history(store: Any) -> pd.DataFrame:
    """The stockcode history the last ``raw_transactions`` stored, indexed by stockcode (raises the store's
    ArtifactNotFoundError before any source was loaded)."""
    from .store import parquet_to_frame

    return parquet_to_frame(store.get_bytes(HISTORY_KEY)).set_index("stock_code")


def eligible_stockcodes(history: pd.DataFrame, min_rows: int, min_days: int) -> list[str]:
    """Stockcodes with enough history to model, most active first."""
    ok = history[(history["rows"] >= min_rows) & (history["days"] >= min_days)]
    return [code for code in ok.index if STOCKCODE_KEY.fullmatch(code)]
