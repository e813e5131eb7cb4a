"""Weekly demand per price list, with features that only look back: what the demand models learn.

Why weekly and per price list: a merchandiser sets a list price for next week, so the question
is "how many units will registered customers and guests buy next week at this list", not "how
many units will this order line have". Order lines are priced by the order (quantity bands, the
guest list), so a model of lines learns the store's discount schedule; a model of weekly units
at the list price in force learns demand. One row per week and price list (``registered``,
``guest``) from the stockcode's first sale to the catalogue's last complete week, weeks without a
sale included (0 units): a product that stopped selling forecasts from its weeks without sales, and
the data's short last week is not read as a week (:func:`_on_catalogue_calendar`).

Where the price enters: through the estimated price response, not through a feature. Every
week's units are brought to the reference list price (the list in force now) with the
stockcode's elasticity ``e``: ``units_at_reference = units * (reference / list) ** e``. The
models forecast ``log1p`` of that, from history, season and mix only, and the demand at any
list price ``p`` is the forecast times ``(p / reference) ** e``: non-increasing in the own list
price for every model, whatever it learned (``e`` is negative by construction, see
``price_response``). The quantity-band discounts and the guest list are policy applied to the
answer (``recommendation.py``), not effects to learn. When the list never changed, the
adjustment is 1 and the target is the observed units. The elasticity is the stockcode's
posterior from all its list changes: a structural parameter, not a forecast of any week.

No look-ahead: every feature of week ``w`` is computed from weeks strictly before ``w`` (the
rolling windows are shifted by one week), plus the calendar, which is known in advance. The
week to forecast (:func:`next_week_rows`) gets its features the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .demand_index import WEEK_COLUMN as INDEX_WEEK_COLUMN
from .demand_index import index_series, last_complete_week

TARGET = "target_log_units"
TIME_COLUMN = "week"
GROUP_COLUMN = "customer_type"
PRICE_LISTS = ("registered", "guest")
SEASON_WEEKS = 52
HISTORY_FEATURES = (
    "last_week_log_units",
    "recent_log_mean_units_4w",
    "log_mean_units_13w",
    "past_log_mean_units",
    "seasonal_naive_log_units",
    "last_week_log_orders",
    "recent_log_mean_orders_4w",
    "other_list_log_mean_units_4w",
    "guest_share_13w",
    "weeks_without_sales_13w",
    # The product's level with the catalogue's weekly movement taken out (core/demand_index.py), averaged over
    # 26 weeks and put back at the index's last week: the catalogue-level forecast (models/linear.py).
    "catalogue_level_log_units_26w",
)
# The season, as a position in the year. No feature counts the weeks (a product's age, a trend in time):
# the week to forecast always lies beyond every training week on such a count, where a tree holds its last
# value and the network, ElasticNet and SVR extrapolate whatever slope the past had; the trend is in the
# level features (the last 4 and 13 weeks against all the weeks before). Without the product's age the
# champion beat both baselines on 60 of the dev file's 100 codes (56 with it) and on 41 on a rolling origin
# (37), and on the store's rolling origin on 21 (13) (BENCHMARKS.md, "Weekly forecast accuracy").
CALENDAR_FEATURES = ("week_of_year_sin", "week_of_year_cos")
NUMERIC_FEATURES = HISTORY_FEATURES + CALENDAR_FEATURES
CATEGORICAL_FEATURES = (GROUP_COLUMN,)
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
# The history features that are a level of the product's weekly units (log1p), which bound what a forecast may
# plausibly say (core/forecast.py).
LEVEL_FEATURES = (
    "last_week_log_units",
    "recent_log_mean_units_4w",
    "log_mean_units_13w",
    "past_log_mean_units",
    "seasonal_naive_log_units",
    "other_list_log_mean_units_4w",
    "catalogue_level_log_units_26w",
)
# The two baselines to beat, as the feature that is their forecast (see models/linear.py).
RECENT_MEAN_FEATURE = "recent_log_mean_units_4w"
# The catalogue-level forecast, a member of the champion's mean (models/linear.py, models/ensemble.py).
CATALOGUE_LEVEL_FEATURE = "catalogue_level_log_units_26w"
SEASONAL_NAIVE_FEATURE = "seasonal_naive_log_units"
# Kept beside the features: what a row is, what it observed, and how its units were brought to the reference list.
CONTEXT_COLUMNS = (
    "stock_code",
    TIME_COLUMN,
    GROUP_COLUMN,
    "units",
    "orders",
    "list_price",
    "reference_list_price",
    "elasticity",
    "price_factor",
)

COLUMNS = list(dict.fromkeys([*CONTEXT_COLUMNS, *FEATURES, TARGET]))  # customer_type is context and feature

_UNITS = {"registered": "registered_units", "guest": "guest_units"}
_ORDERS = {"registered": "registered_orders", "guest": "guest_orders"}


def _check_panel(panel: pd.DataFrame) -> None:
    needed = {"stock_code", "week", "list_price", *_UNITS.values(), *_ORDERS.values()}
    missing = sorted(needed - set(panel.columns))
    if missing:
        raise ValueError(f"the weekly demand panel lacks {missing}; build it with price_list.weekly_demand")
    if panel.empty:
        raise ValueError("no weeks of demand to build features from")
    if panel["stock_code"].nunique() != 1:
        raise ValueError("weekly features are built for exactly one stockcode at a time")
    if not np.isfinite(panel["list_price"]).all() or (panel["list_price"] <= 0).any():
        raise ValueError("the weekly list prices must be positive and finite")


def _past(series: pd.Series, weeks: int | None, how: str = "mean") -> pd.Series:
    """A statistic of the weeks strictly before each week (``None``: all of them); NaN for the first."""
    shifted = series.shift(1)
    window = shifted.expanding(min_periods=1) if weeks is None else shifted.rolling(weeks, min_periods=1)
    return getattr(window, how)()


_COUNTS = ("registered_units", "registered_orders", "guest_units", "guest_orders", "band_units", "units", "orders")


def _on_catalogue_calendar(weeks: pd.DataFrame, demand_index: pd.DataFrame | None) -> pd.DataFrame:
    """The stockcode's weeks (sorted) ending at the catalogue's last complete week
    (``demand_index.last_complete_week``), so that "the week after the last" is the same week for every product.

    - A product that stopped selling gets its weeks since its last sale, each with no sale at the list then in
      force: otherwise the week it forecasts would be the week after its last sale, months ago, at the level it
      sold at then.
    - The catalogue's short weeks after that week (the file ends mid-week) are dropped: two trading days read as
      a week's demand would put last week, the seasonal naive and the recent means at a fraction of the demand.
    - Weeks beyond the catalogue's table (a catalogue built from older data) are kept as they are.
    """
    if demand_index is None:
        return weeks
    last = last_complete_week(demand_index)
    covered = pd.DatetimeIndex(demand_index[INDEX_WEEK_COLUMN])
    short = covered[covered > last]
    kept = weeks[~weeks["week"].isin(short)]
    if kept.empty:
        raise ValueError(
            f"stockcode {weeks['stock_code'].iloc[0]} sold only in the data's last week, which is short (fewer "
            "than half the usual trading days): there is no complete week to learn from yet; run it again once "
            "that week is over"
        )
    if kept["week"].iloc[-1] >= last:
        return kept.reset_index(drop=True)
    after = pd.date_range(kept["week"].iloc[-1] + pd.Timedelta(weeks=1), last, freq="7D")
    quiet = pd.DataFrame({"week": after})
    for column in kept.columns:
        if column in _COUNTS:
            quiet[column] = 0
        elif column.endswith("_observed"):
            quiet[column] = False
        elif column != "week":
            quiet[column] = kept[column].iloc[-1] if column in ("stock_code", "list_price", "guest_price") else np.nan
    return pd.concat([kept, quiet[kept.columns]], ignore_index=True)


def _index_on(weeks: pd.Series, demand_index: pd.Series | None) -> pd.Series:
    """The catalogue's demand index at each of ``weeks`` (1 throughout without one). A week before the index's
    first or after its last keeps the nearest known value: the index of the week to forecast is never read
    (every feature takes the weeks before), and a week the catalogue did not cover moved like its neighbour."""
    if demand_index is None:
        return pd.Series(1.0, index=weeks.index)
    if not (np.isfinite(demand_index.to_numpy(dtype=float)).all() and (demand_index > 0).all()):
        raise ValueError("the catalogue's demand index must be positive and finite in every week")
    found = demand_index.sort_index().reindex(pd.DatetimeIndex(weeks), method="ffill").bfill()
    return pd.Series(found.fillna(1.0).to_numpy(dtype=float), index=weeks.index)


def _build(
    panel: pd.DataFrame, elasticity: float, with_next_week: bool, demand_index: pd.DataFrame | None
) -> pd.DataFrame:
    _check_panel(panel)
    if not np.isfinite(elasticity) or elasticity > 0:
        raise ValueError(f"the elasticity must be finite and not positive (demand falls with price), got {elasticity}")
    weeks = panel.sort_values("week").reset_index(drop=True)
    reference = float(weeks["list_price"].iloc[-1])  # the list now in force, a short last week's included
    weeks = _on_catalogue_calendar(weeks, demand_index)
    if with_next_week:  # an empty week after the last, at the list now in force: the week to forecast
        extra = {column: np.nan for column in weeks.columns}
        extra.update(stock_code=weeks["stock_code"].iloc[0], week=weeks["week"].iloc[-1] + pd.Timedelta(weeks=1))
        extra["list_price"] = reference
        weeks = pd.concat([weeks, pd.DataFrame([extra])], ignore_index=True)
    factor = (weeks["list_price"] / reference) ** elasticity  # demand at the week's list relative to the reference
    at_reference = {kind: weeks[_UNITS[kind]].astype(float) / factor for kind in PRICE_LISTS}
    total = at_reference["registered"] + at_reference["guest"]
    guest_share = _past(at_reference["guest"], 13, "sum") / _past(total, 13, "sum")
    index = _index_on(weeks["week"], None if demand_index is None else index_series(demand_index))
    week_of_year = weeks["week"].dt.isocalendar().week.astype(float).to_numpy()
    frames = []
    for kind in PRICE_LISTS:
        units, orders = at_reference[kind], weeks[_ORDERS[kind]].astype(float)
        other = at_reference["guest" if kind == "registered" else "registered"]
        last = np.log1p(units.shift(1))
        year_ago = np.log1p(units.shift(SEASON_WEEKS))
        frame = pd.DataFrame(
            {
                "stock_code": weeks["stock_code"].astype(str),
                TIME_COLUMN: weeks["week"],
                GROUP_COLUMN: kind,
                "units": weeks[_UNITS[kind]].astype(float),
                "orders": orders,
                "list_price": weeks["list_price"].astype(float),
                "reference_list_price": reference,
                "elasticity": float(elasticity),
                "price_factor": factor,
                "last_week_log_units": last,
                "recent_log_mean_units_4w": np.log1p(_past(units, 4)),
                "log_mean_units_13w": np.log1p(_past(units, 13)),
                "past_log_mean_units": np.log1p(_past(units, None)),
                # The same week a year ago where the history reaches that far, else last week (naive).
                "seasonal_naive_log_units": year_ago.where(year_ago.notna(), last),
                "last_week_log_orders": np.log1p(orders.shift(1)),
                "recent_log_mean_orders_4w": np.log1p(_past(orders, 4)),
                "other_list_log_mean_units_4w": np.log1p(_past(other, 4)),
                "guest_share_13w": guest_share,
                "weeks_without_sales_13w": _past((units <= 0).astype(float), 13, "sum"),
                CATALOGUE_LEVEL_FEATURE: np.log1p(_past(units / index, 26) * index.shift(1)),
                "week_of_year_sin": np.sin(2 * np.pi * week_of_year / 52.0),
                "week_of_year_cos": np.cos(2 * np.pi * week_of_year / 52.0),
                TARGET: np.log1p(units),
            }
        )
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    # The first week has no past: its history features are 0 (nothing sold before), the share neutral.
    history = [c for c in HISTORY_FEATURES if c != "guest_share_13w"]
    table[history] = table[history].fillna(0.0)
    table["guest_share_13w"] = table["guest_share_13w"].fillna(0.0)
    return table.sort_values([TIME_COLUMN, GROUP_COLUMN], kind="mergesort").reset_index(drop=True)


def build_weekly_features(
    panel: pd.DataFrame, elasticity: float, demand_index: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per observed week and price list: context columns, features and the target.

    ``panel`` is one stockcode's ``weekly_demand``; ``elasticity`` its price response; ``demand_index``
    the catalogue's table (``catalogue_demand_index``: its weekly index and the weeks complete, which end
    every stockcode's weeks; ``None``: the stockcode alone, the index 1 every week, its own weeks).
    """
    table = _build(panel, elasticity, with_next_week=False, demand_index=demand_index)
    return table[COLUMNS]


def next_week_rows(panel: pd.DataFrame, elasticity: float, demand_index: pd.DataFrame | None = None) -> pd.DataFrame:
    """The week after the last one (the catalogue's last complete week, with ``demand_index``), one row per price
    list, at the list now in force (no target)."""
    table = _build(panel, elasticity, with_next_week=True, demand_index=demand_index)
    last = table[TIME_COLUMN].max()
    rows = table[table[TIME_COLUMN] == last].reset_index(drop=True)
    return rows[[c for c in COLUMNS if c not in ("units", "orders", TARGET)]]
