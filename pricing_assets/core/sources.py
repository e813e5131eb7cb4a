"""Data sources behind one interface: ``load_source(name, ...)`` returns a :class:`SourceData`.

Every source ends in the same normalised table (see :mod:`.schema`), so nothing downstream knows
where the rows came from; only the simulated ones (``synthetic``, ``store``) can also say what the
right price was.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from .schema import SourceSchemaError, normalise_transactions
from .simulated_store import StoreConfig
from .simulated_store import generate as generate_store
from .synthetic import SyntheticConfig, generate

READERS = {".xlsx": "excel", ".xls": "excel", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class SourceUnavailableError(FileNotFoundError):
    """The source file cannot be found or read."""


@dataclass(frozen=True)
class SourceData:
    """Normalised transactions, plus the true demand where the source knows it.

    ``ground_truth`` has a row per product; ``true_curves`` (the store source) the expected
    weekly outcomes of each product over a grid of list prices.
    """

    transactions: pd.DataFrame
    ground_truth: pd.DataFrame | None
    description: str
    true_curves: pd.DataFrame | None = None


def _suffix(location: str) -> str:
    path = urlparse(location).path if "://" in location else location
    return Path(path).suffix.lower()


def _s3_bytes(location: str) -> io.BytesIO:
    """An s3:// object through boto3 (endpoint from AWS_ENDPOINT_URL_S3, as boto3 reads it)."""
    import boto3

    parsed = urlparse(location)
    try:
        body = boto3.client("s3").get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()
    except Exception as exc:
        raise SourceUnavailableError(f"cannot read {location!r}: {exc}") from exc
    return io.BytesIO(body)


def read_table(location: str, as_text: bool = False) -> pd.DataFrame:
    """Read an .xlsx, .csv or .parquet file from a local path or a URL.

    Codes stay text (``InvoiceNo``, ``StockCode``; every column with ``as_text``): read as numbers, a column
    of codes with one blank cell becomes floats, and ``22423`` comes back as ``22423.0``."""
    suffix = _suffix(location)
    reader = READERS.get(suffix)
    if reader is None:
        raise SourceSchemaError(
            f"cannot read {location!r}: unknown file type {suffix or '(none)'}; use .xlsx, .csv or .parquet"
        )
    is_url = "://" in location and not location.startswith("file://")
    if not is_url:
        local = Path(location.removeprefix("file://"))
        if not local.exists():
            raise SourceUnavailableError(f"data file {str(local)!r} does not exist; pass an existing file with --data")
        if local.stat().st_size == 0:
            raise SourceSchemaError(f"data file {str(local)!r} is empty")
        location = str(local)
    source = _s3_bytes(location) if location.startswith("s3://") else location
    try:
        text: type[str] | dict[str, type[str]] = str if as_text else {"InvoiceNo": str, "StockCode": str}
        if reader == "excel":
            return pd.read_excel(source, dtype=text)
        if reader == "csv":
            return pd.read_csv(source, dtype=text, encoding_errors="replace")
        return pd.read_parquet(source)
    except (SourceSchemaError, SourceUnavailableError):
        raise
    except pd.errors.EmptyDataError as exc:
        raise SourceSchemaError(f"data file {location!r} has no columns: {exc}") from exc
    except OSError as exc:
        raise SourceUnavailableError(f"cannot read {location!r}: {exc}") from exc
    except Exception as exc:  # a corrupt file: name it, keep the cause
        raise SourceSchemaError(f"cannot parse {location!r} as {suffix}: {exc}") from exc


def load_source(
    name: str, data: str | None = None, seed: int | None = None, synthetic_products: int | None = None
) -> SourceData:
    """Load and normalise a source. ``name`` is ``synthetic``, ``store`` or ``uci``.

    ``seed`` and ``synthetic_products`` (the number of products) are needed by either simulated source
    only; their defaults are the settings' (PRICING_SEED, PRICING_SYNTHETIC_PRODUCTS), passed by the caller.
    """
    if name in ("synthetic", "store") and (seed is None or synthetic_products is None):
        raise ValueError(
            f"the {name} source needs a seed and a number of products (PRICING_SEED, PRICING_SYNTHETIC_PRODUCTS)"
        )
    if name == "synthetic":
        raw, truth = generate(SyntheticConfig(seed=seed, n_products=synthetic_products))
        return SourceData(
            transactions=normalise_transactions(raw, origin="synthetic source"),
            ground_truth=truth,
            description=f"synthetic(seed={seed}, products={synthetic_products})",
        )
    if name == "store":
        raw, truth, curves = generate_store(StoreConfig(seed=seed, n_products=synthetic_products))
        return SourceData(
            transactions=normalise_transactions(raw, origin="store source"),
            ground_truth=truth,
            description=f"store(seed={seed}, products={synthetic_products})",
            true_curves=curves,
        )
    if name == "uci":
        if not data:
            raise SourceUnavailableError(
                "the uci source needs a file: pass --data PATH_OR_URL (for example "
                "../shared/data/online_retail_dev.parquet) or set PRICING_DATA"
            )
        return SourceData(
            transactions=normalise_transactions(read_table(data), origin=data),
            ground_truth=None,
            description=f"uci({data})",
        )
    raise ValueError(f"unknown source {name!r}; expected 'synthetic', 'store' or 'uci'")
