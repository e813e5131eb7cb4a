"""Demand features with no look-ahead.

Every statistic attached to a line at time ``t`` is computed from lines *strictly before* ``t``
(other lines of the same minute included: they are not known before ``t`` either). Windows are
time-based and left-closed, expanding statistics are shifted by one timestamp. The classic leak
this avoids: dividing a price by the product's all-time maximum price, which tells the model
about price rises that had not happened yet.

The target is ``log1p(quantity)`` of the order line.

Price-derived features are computed by :func:`price_derived_features` from a price and the
history statistics, so a price grid can be scored by recomputing exactly these features at
each grid price.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TARGET = "target_log_quantity"
ID_COLUMNS = ("invoice_no", "stock_code", "customer_id", "invoice_date")
PRICE_FEATURES = ("unit_price", "log_price", "price_vs_past_max", "price_vs_past_median_28d")
HISTORY_FEATURES = (
    "past_mean_log_quantity_28d",
    "past_mean_log_quantity_same_type_28d",
    "past_mean_log_quantity_same_customer",
    "past_lines_same_customer",
    "past_lines_7d",
    "past_lines_28d",
    "days_since_previous_sale",
)
CALENDAR_FEATURES = ("month_sin", "month_cos", "hour")
NUMERIC_FEATURES = PRICE_FEATURES + HISTORY_FEATURES + CALENDAR_FEATURES
CATEGORICAL_FEATURES = ("customer_type", "market", "day_of_week")
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
# Drift is tested on the columns that describe who buys, how often, how much and at what price
# level. Left out, because they differ between two time windows by construction: calendar
# features, counts and smoothed means over trailing windows (autocorrelated, so their spread in
# one window is tiny), the ratio to the all-past maximum (it can only fall as history grows), and
# log_price and the price ratios (the same price level tested again, counted twice).
DRIFT_COLUMNS = (
    "unit_price",
    "days_since_previous_sale",
    "customer_type",
    "market",
    "day_of_week",
    TARGET,
)
HISTORY_STATS = ("past_max_price", "past_median_price_28d")


def price_derived_features(
    price: np.ndarray | pd.Series | float,
    past_max_price: np.ndarray | pd.Series | float,
    past_median_price_28d: np.ndarray | pd.Series | float,
) -> dict[str, np.ndarray]:
    """Features that change with the price; a missing history statistic means ratio 1."""
    p = np.asarray(price, dtype=float)
    past_max = np.asarray(past_max_price, dtype=float)
    past_median = np.asarray(past_median_price_28d, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        vs_max = np.where(np.isfinite(past_max) & (past_max > 0), p / past_max, 1.0)
        vs_median = np.where(np.isfinite(past_median) & (past_median > 0), p / past_median, 1.0)
    return {
        "unit_price": p,
        "log_price": np.log(p),
        "price_vs_past_max": vs_max,
        "price_vs_past_median_28d": vs_median,
    }


def _strictly_past_by_timestamp(times: pd.Series, values: pd.Series, how: str) -> np.ndarray:
    """Expanding statistic over earlier timestamps only, aligned back to every row."""
    per_ts = values.groupby(times.to_numpy()).agg(how)
    cumulative = per_ts.cummax() if how == "max" else per_ts.cumsum()
    previous = cumulative.shift(1)
    return previous.reindex(times.to_numpy()).to_numpy()


def _same_type_past_mean(frame: pd.DataFrame, log_q: pd.Series, overall: np.ndarray) -> np.ndarray:
    """Recent mean log quantity of the same customer type (guest or registered), strictly before t.

    Guests and registered customers buy in different quantities, and that gap moves over time;
    without a recent per-type level the model can only learn the average gap of the train period.
    Falls back to the type's all-past mean, then to the overall past mean, then to 0.
    """
    result = np.full(len(frame), np.nan)
    for _, index in frame.groupby("is_guest").indices.items():
        times = frame["invoice_date"].iloc[index]
        values = pd.Series(log_q.to_numpy()[index], index=times.to_numpy())
        recent = values.rolling("28D", closed="left").mean().to_numpy()
        total = _strictly_past_by_timestamp(times.reset_index(drop=True), values.reset_index(drop=True), "sum")
        count = _strictly_past_by_timestamp(times.reset_index(drop=True), pd.Series(np.ones(len(index))), "sum")
        with np.errstate(invalid="ignore", divide="ignore"):
            expanding = total / count
        result[index] = np.where(np.isfinite(recent), recent, expanding)
    result = np.where(np.isfinite(result), result, overall)
    return np.nan_to_num(result, nan=0.0)


def _same_customer_history(frame: pd.DataFrame, log_q: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Mean log quantity and number of this customer's earlier lines of this product.

    Wholesale customers re-order in their own habitual quantities; the customer's past lines are
    the best single predictor of the next one. Only strictly earlier timestamps count (lines of
    the same invoice do not see each other); guests have no history (count 0, mean NaN).
    """
    n = len(frame)
    mean, count = np.full(n, np.nan), np.zeros(n)
    registered = frame["customer_id"].notna().to_numpy()
    if not registered.any():
        return mean, count
    keys = pd.MultiIndex.from_arrays(
        [frame.loc[registered, "customer_id"].to_numpy(), frame.loc[registered, "invoice_date"].to_numpy()]
    )
    per_time = (
        pd.DataFrame({"total": log_q.to_numpy()[registered], "lines": 1.0}, index=keys).groupby(level=[0, 1]).sum()
    )
    earlier = per_time.groupby(level=0).cumsum() - per_time  # this customer's strictly earlier timestamps
    mapped = earlier.reindex(keys)
    lines = mapped["lines"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean[registered] = np.where(lines > 0, mapped["total"].to_numpy() / lines, np.nan)
    count[registered] = lines
    return mean, count


def build_demand_features(cleaned: pd.DataFrame) -> pd.DataFrame:
    """One row per cleaned order line of one stockcode: ids, quantity, features, target."""
    if cleaned.empty:
        raise ValueError("no cleaned rows to build features from")
    if cleaned["stock_code"].nunique() != 1:
        raise ValueError("build_demand_features expects the rows of exactly one stockcode")
    frame = cleaned.sort_values(["invoice_date", "invoice_no"], kind="mergesort").reset_index(drop=True)
    times = frame["invoice_date"]
    log_q = np.log1p(frame["quantity"].astype(float))
    by_time_price = pd.Series(frame["unit_price"].to_numpy(), index=times)
    by_time_logq = pd.Series(log_q.to_numpy(), index=times)

    past_max = _strictly_past_by_timestamp(times, frame["unit_price"], "max")
    past_median = by_time_price.rolling("28D", closed="left").median().to_numpy()
    past_mean_28 = by_time_logq.rolling("28D", closed="left").mean().to_numpy()
    past_sum = _strictly_past_by_timestamp(times, log_q, "sum")
    past_count = _strictly_past_by_timestamp(times, pd.Series(np.ones(len(frame))), "sum")
    with np.errstate(invalid="ignore", divide="ignore"):
        past_mean_all = past_sum / past_count
    past_mean = np.where(np.isfinite(past_mean_28), past_mean_28, past_mean_all)
    lines_7 = by_time_logq.rolling("7D", closed="left").count().fillna(0).to_numpy()
    lines_28 = by_time_logq.rolling("28D", closed="left").count().fillna(0).to_numpy()
    unique_times = pd.Series(times.unique())
    gap_days = (unique_times - unique_times.shift(1)).dt.total_seconds() / 86400.0
    gap = pd.Series(gap_days.to_numpy(), index=unique_times).reindex(times.to_numpy()).to_numpy()

    out = frame[list(ID_COLUMNS)].copy()
    out["quantity"] = frame["quantity"].astype("int64")
    out["past_max_price"] = past_max
    out["past_median_price_28d"] = past_median
    for name, values in price_derived_features(frame["unit_price"], past_max, past_median).items():
        out[name] = values
    out["past_mean_log_quantity_28d"] = np.nan_to_num(past_mean, nan=0.0)
    out["past_mean_log_quantity_same_type_28d"] = _same_type_past_mean(frame, log_q, past_mean)
    customer_mean, customer_lines = _same_customer_history(frame, log_q)
    out["past_mean_log_quantity_same_customer"] = np.where(
        customer_lines > 0, customer_mean, out["past_mean_log_quantity_same_type_28d"]
    )
    out["past_lines_same_customer"] = customer_lines
    out["past_lines_7d"] = lines_7
    out["past_lines_28d"] = lines_28
    out["days_since_previous_sale"] = np.nan_to_num(gap, nan=0.0)
    month = times.dt.month.to_numpy()
    out["month_sin"] = np.sin(2 * np.pi * month / 12.0)
    out["month_cos"] = np.cos(2 * np.pi * month / 12.0)
    out["hour"] = times.dt.hour.astype(float).to_numpy()
    out["customer_type"] = np.where(frame["is_guest"], "guest", "registered")
    out["market"] = np.where(frame["country"] == "United Kingdom", "domestic", "abroad")
    out["day_of_week"] = times.dt.day_name().to_numpy()
    out[TARGET] = log_q.to_numpy()
    return out
