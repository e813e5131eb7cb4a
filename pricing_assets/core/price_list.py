"""The price lists behind the prices paid: what the store charged, as opposed to what a line paid.

Why: in this retailer's data the unit price of a line is set by the order (registered lines of
a bulk quantity pay a band discount, guests pay a second list at about twice the wholesale
one), so the price a line paid says who ordered and how much, not what the store chose to
charge. A price response can only be learned from the *list* price, and a recommendation is a
list price.

How the list is inferred: the wholesale list price in force in a week is the most common price
paid by registered customers on lines below :data:`BAND_START` units (below every quantity band
seen in the real file, where lines of 1-47 units pay the list at the median); ties go to the
higher price (a discount is the exception, the list the rule). Weeks without such lines keep
the previous week's list (and the first weeks take the first one seen). The guest list is the
most common guest price of the week, filled the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .cleaning import clean_transactions, is_product_code
from .stockcodes import eligible_stockcodes, stockcode_history

BAND_START = 24  # registered lines below this many units pay the wholesale list


def usable_lines(transactions: pd.DataFrame) -> pd.DataFrame:
    """Sale lines of products: no cancellation or adjustment, positive quantity and price."""
    t = transactions
    keep = (
        is_product_code(t["stock_code"])
        & ~t["invoice_no"].astype(str).str.match(r"^[CA]")
        & (t["quantity"] > 0)
        & (t["unit_price"] > 0)
    )
    return t.loc[keep]


def _modal_price(prices: pd.Series) -> float:
    counts = prices.round(2).value_counts()
    top = counts[counts == counts.max()]
    return float(top.index.max())


def _weekly_modal_prices(rows: pd.DataFrame) -> pd.Series:
    """The most common price per (stockcode, week), ties to the higher price; vectorised."""
    counts = (
        rows.assign(price=rows["unit_price"].round(2))
        .groupby(["stock_code", "week", "price"], sort=False)
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["stock_code", "week", "n", "price"], ascending=[True, True, False, False], kind="mergesort")
    )
    top = counts.drop_duplicates(["stock_code", "week"])
    return top.set_index(["stock_code", "week"])["price"]


def weekly_list_prices(lines: pd.DataFrame) -> pd.DataFrame:
    """Per stockcode and week (weeks start on Monday) from first to last sale: the lists in force.

    Columns: ``stock_code``, ``week``, ``list_price``, ``list_observed`` (False where carried
    over from an earlier week), ``guest_price``, ``guest_observed``. A stockcode with no
    registered line below the band takes every registered line for its list.
    """
    lines = usable_lines(lines)
    frame = lines.assign(
        stock_code=lines["stock_code"].astype(str),
        week=lines["invoice_date"].dt.to_period("W-SUN").dt.start_time,
        guest=lines["customer_id"].isna(),
    )
    registered = frame[~frame["guest"]]
    small = registered[registered["quantity"] < BAND_START]
    without_small = sorted(set(registered["stock_code"]) - set(small["stock_code"]))
    small = pd.concat([small, registered[registered["stock_code"].isin(without_small)]])
    spans = frame.groupby("stock_code")["week"].agg(["min", "max"])
    index = pd.MultiIndex.from_tuples(
        [(code, week) for code, (lo, hi) in spans.iterrows() for week in pd.date_range(lo, hi, freq="7D")],
        names=["stock_code", "week"],
    )
    table = pd.DataFrame(index=index)
    table["list_price"] = _weekly_modal_prices(small).reindex(index)
    table["guest_price"] = _weekly_modal_prices(frame[frame["guest"]]).reindex(index)
    for name in ("list", "guest"):
        column = f"{name}_price"
        table[f"{name}_observed"] = table[column].notna()
        table[column] = table.groupby(level="stock_code")[column].transform(lambda s: s.ffill().bfill())
    return table.reset_index()[["stock_code", "week", "list_price", "list_observed", "guest_price", "guest_observed"]]


def current_list_price(lines: pd.DataFrame, recent_days: int = 28) -> float:
    """The wholesale list price in force at the end of ``lines`` (one stockcode).

    The most common registered small-line price of the last ``recent_days``; if there were
    none, of all the history (the list rarely changes).
    """
    lines = usable_lines(lines)
    registered = lines[lines["customer_id"].notna()]
    if registered.empty:
        raise ValueError("no registered sale lines: the wholesale list price cannot be inferred")
    small = registered[registered["quantity"] < BAND_START]
    pool = small if len(small) else registered
    recent = pool[pool["invoice_date"] > pool["invoice_date"].max() - pd.Timedelta(days=recent_days)]
    return _modal_price((recent if len(recent) else pool)["unit_price"])


def price_setting_profile(
    transactions: pd.DataFrame, eligible: list[str], start: str | None = None, end: str | None = None
) -> dict[str, float]:
    """How a store sets prices, in the figures the simulated store is calibrated on.

    Over the ``eligible`` stockcodes' usable lines between ``start`` and ``end``: the guest
    share of lines, the median ratio of the guest price and of bulk registered lines (48+
    units) to the wholesale list in force that month, the share of products whose monthly
    list price changed, sales lines per product and week, and order sizes.
    """
    lines = usable_lines(transactions)
    lines = lines[lines["stock_code"].isin(set(eligible))]
    if start is not None:
        lines = lines[lines["invoice_date"] >= pd.Timestamp(start)]
    if end is not None:
        lines = lines[lines["invoice_date"] < pd.Timestamp(end) + pd.Timedelta(days=1)]
    guest = lines["customer_id"].isna()
    month = lines["invoice_date"].dt.to_period("M")
    regular = lines[~guest & (lines["quantity"] < BAND_START)]
    monthly = regular.groupby([regular["stock_code"], month[regular.index]])["unit_price"].agg(_modal_price)
    monthly.index.names = ["stock_code", "month"]
    in_force = pd.Series(
        monthly.reindex(pd.MultiIndex.from_arrays([lines["stock_code"], month])).to_numpy(), index=lines.index
    )
    ratio = lines["unit_price"] / in_force
    changed = monthly.groupby(level="stock_code").nunique() > 1
    weeks = max(1, lines["invoice_date"].dt.to_period("W-SUN").nunique())
    per_product = lines.groupby("stock_code").size() / weeks
    registered_quantity = lines.loc[~guest, "quantity"]
    return {
        "products": int(lines["stock_code"].nunique()),
        "guest_share_of_lines": float(guest.mean()),
        "guest_to_list_ratio_median": float(ratio[guest].median()),
        "bulk_48_to_list_ratio_median": float(ratio[~guest & (lines["quantity"] >= 48)].median()),
        "share_of_products_with_monthly_list_change": float(changed.mean()),
        "lines_per_product_week_median": float(per_product.median()),
        "lines_per_product_week_p90": float(np.quantile(per_product, 0.9)),
        "registered_quantity_median": float(registered_quantity.median()),
        "registered_quantity_p90": float(registered_quantity.quantile(0.9)),
        "registered_share_48_plus": float((registered_quantity >= 48).mean()),
        "guest_quantity_median": float(lines.loc[guest, "quantity"].median()),
    }


def lines_with_list(lines: pd.DataFrame, lists: pd.DataFrame | None = None) -> pd.DataFrame:
    """Usable lines with their week, whether a guest ordered, and the wholesale list in force that week.

    The weekly lists used are kept in ``attrs["lists"]``.
    """
    lines = usable_lines(lines).drop(columns=["week", "guest", "list_price"], errors="ignore")  # idempotent
    lists = weekly_list_prices(lines) if lists is None else lists
    frame = lines.assign(
        stock_code=lines["stock_code"].astype(str),
        week=lines["invoice_date"].dt.to_period("W-SUN").dt.start_time,
        guest=lines["customer_id"].isna(),
    ).merge(lists[["stock_code", "week", "list_price"]], on=["stock_code", "week"], how="left")
    frame.attrs["lists"] = lists
    return frame


def weekly_demand(lines: pd.DataFrame, lists: pd.DataFrame | None = None) -> pd.DataFrame:
    """The price list as data: per stockcode and week, the lists in force and the demand under each.

    One row per stockcode and week from its first to its last sale, weeks without a sale
    included (zero demand at the list then in force). Columns: the lists
    (:func:`weekly_list_prices`), units and orders of registered and guest customers, the
    registered units that paid less than the list (the quantity band at work) and the band's
    median ratio to the list that week (NaN when no line was discounted).
    """
    frame = lines_with_list(lines, lists)
    lists = frame.attrs["lists"]
    frame["discounted"] = ~frame["guest"] & (frame["unit_price"] < frame["list_price"] - 0.005)
    keys = ["stock_code", "week"]
    registered, guests = frame[~frame["guest"]], frame[frame["guest"]]
    parts = {
        "registered_units": registered.groupby(keys)["quantity"].sum(),
        "registered_orders": registered.groupby(keys)["invoice_no"].nunique(),
        "guest_units": guests.groupby(keys)["quantity"].sum(),
        "guest_orders": guests.groupby(keys)["invoice_no"].nunique(),
        "band_units": frame[frame["discounted"]].groupby(keys)["quantity"].sum(),
    }
    table = lists.set_index(keys)
    for name, values in parts.items():
        table[name] = values.reindex(table.index).fillna(0).astype("int64")
    band = frame[frame["discounted"]]
    table["band_ratio"] = (band["unit_price"] / band["list_price"]).groupby([band["stock_code"], band["week"]]).median()
    table["units"] = table["registered_units"] + table["guest_units"]
    table["orders"] = table["registered_orders"] + table["guest_orders"]
    return table.reset_index()


def eligible_weekly_demand(
    transactions: pd.DataFrame, min_rows: int, min_days: int
) -> tuple[list[str], pd.DataFrame, pd.DataFrame]:
    """The catalogue: the eligible stockcodes (most active first, ``stockcodes.eligible_stockcodes``), their
    cleaned lines with the list in force and their weekly demand (:func:`catalogue_weekly_demand`).

    Exact duplicate lines are dropped (as cleaning does) and one order fixed first, so a repeated or
    reordered feed gives the same catalogue. With no eligible stockcode the two tables are empty."""
    transactions = transactions.drop_duplicates()
    transactions = transactions.sort_values(list(transactions.columns), kind="stable").reset_index(drop=True)
    eligible = eligible_stockcodes(stockcode_history(transactions), min_rows, min_days)
    if not eligible:
        return eligible, pd.DataFrame(), pd.DataFrame()
    return eligible, *catalogue_weekly_demand(transactions, eligible)


def catalogue_weekly_demand(transactions: pd.DataFrame, stock_codes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """These stockcodes' cleaned lines with the list in force (:func:`lines_with_list`) and their
    :func:`weekly_demand`: what the catalogue's price response and demand index learn from.

    Cleaned by the rules every stockcode's own lineage applies (``cleaning.clean_transactions``): a cancelled
    order, or a line far beyond what is usual for whoever ordered it, is no more demand for the catalogue
    than for the product. On raw lines the dev file's index stood up to a quarter too high in single weeks (a
    cancelled order of 1,930 units of 85123A in January), and its elasticity was -1.11 against -1.17 cleaned.
    """
    rows, _ = clean_transactions(transactions[transactions["stock_code"].isin(set(stock_codes))])
    lines = lines_with_list(rows)
    return lines, weekly_demand(rows, lines.attrs["lists"])
