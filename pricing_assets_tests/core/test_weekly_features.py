"""The weekly rows the demand models learn from: no look-ahead, units at the reference list, no missing weeks,
the week to forecast, and bad input refused in words."""

import numpy as np
import pandas as pd
import pytest

from pricing_assets.core import price_list
from pricing_assets.core.demand_index import COMPLETE_COLUMN, INDEX_COLUMN
from pricing_assets.core.weekly_features import (
    CATALOGUE_LEVEL_FEATURE,
    COLUMNS,
    FEATURES,
    HISTORY_FEATURES,
    NUMERIC_FEATURES,
    PRICE_LISTS,
    TARGET,
    build_weekly_features,
    next_week_rows,
)

FIRST_WEEK = pd.Timestamp("2011-01-03")  # a Monday: weeks start on Mondays


def panel(registered, guest, list_price=2.0, registered_orders=None, guest_orders=None, code="85123A"):
    """A weekly_demand panel of one stockcode from its weekly units (orders default to units // 3 + 1)."""
    n = len(registered)
    registered, guest = np.asarray(registered, dtype=int), np.asarray(guest, dtype=int)
    return pd.DataFrame(
        {
            "stock_code": code,
            "week": pd.date_range(FIRST_WEEK, periods=n, freq="7D"),
            "list_price": np.broadcast_to(np.asarray(list_price, dtype=float), (n,)).copy(),
            "registered_units": registered,
            "registered_orders": registered // 3 + 1 if registered_orders is None else registered_orders,
            "guest_units": guest,
            "guest_orders": guest // 3 + 1 if guest_orders is None else guest_orders,
        }
    )


def random_panel(weeks: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    prices = rng.choice([1.8, 2.0, 2.2], weeks)
    return panel(rng.integers(0, 80, weeks), rng.integers(0, 30, weeks), prices)


def index_table(values, weeks, complete=None) -> pd.DataFrame:
    """A catalogue_demand_index table: the index each week, and whether the week was complete (default all)."""
    table = pd.DataFrame({"week": pd.DatetimeIndex(weeks), INDEX_COLUMN: np.asarray(values, dtype=float)})
    if complete is not None:
        table[COMPLETE_COLUMN] = complete
    return table


def of(table: pd.DataFrame, kind: str) -> pd.DataFrame:
    return table[table["customer_type"] == kind].reset_index(drop=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_feature_of_a_week_sees_that_weeks_units_or_any_later_week(seed):
    """Rewrite the units and orders of week k and every later week: the features of weeks <= k stay the same
    (and of week k's successors, the ones that may see week k, at least one changes)."""
    weeks = 60  # longer than a season: the year-ago feature is exercised too
    original = random_panel(weeks, seed)
    rng = np.random.default_rng(100 + seed)
    index = index_table(rng.uniform(0.5, 2.0, weeks), original["week"])  # the catalogue's
    before = build_weekly_features(original, -1.5, index)
    for k in (0, 1, 5, 13, 30, 52, 58):
        changed = original.copy()
        later = changed.index >= k
        for column in ("registered_units", "guest_units", "registered_orders", "guest_orders"):
            changed.loc[later, column] = rng.integers(100, 500, int(later.sum()))
        changed_index = index.copy()
        changed_index.loc[k:, INDEX_COLUMN] = rng.uniform(3.0, 5.0, weeks - k)  # the catalogue's week k and later too
        after = build_weekly_features(changed, -1.5, changed_index)
        head = before["week"] <= original["week"].iloc[k]
        pd.testing.assert_frame_equal(before.loc[head, list(FEATURES)], after.loc[head, list(FEATURES)])
        following = before["week"] == original["week"].iloc[k] + pd.Timedelta(weeks=1)
        assert not before.loc[following, list(HISTORY_FEATURES)].equals(after.loc[following, list(HISTORY_FEATURES)])
        # The target is the week's own units: it does change.
        assert not before.loc[before["week"] == original["week"].iloc[k], TARGET].equals(
            after.loc[after["week"] == original["week"].iloc[k], TARGET]
        )


def test_rolling_windows_end_the_week_before():
    """Hand-computed: week i's statistics are of weeks before i, never of week i itself."""
    units = [10, 20, 30, 40, 50, 0, 70]
    table = build_weekly_features(panel(units, [0, 4, 0, 0, 8, 0, 0]), 0.0)
    registered, guest = of(table, "registered"), of(table, "guest")
    expected_4w = [0.0, 10, 15, 20, 25, 35, 30]  # mean of up to four earlier weeks (none: 0)
    assert np.allclose(registered["recent_log_mean_units_4w"], np.log1p(expected_4w))
    assert np.allclose(registered["last_week_log_units"], np.log1p([0, 10, 20, 30, 40, 50, 0]))
    assert np.allclose(registered["past_log_mean_units"], np.log1p([0, 10, 15, 20, 25, 30, 25]))
    assert np.allclose(registered["log_mean_units_13w"], np.log1p([0, 10, 15, 20, 25, 30, 25]))
    assert registered["weeks_without_sales_13w"].tolist() == [0, 0, 0, 0, 0, 0, 1]
    # The other list's four weeks before, and the guest share of the 13 weeks before.
    assert np.allclose(registered["other_list_log_mean_units_4w"], np.log1p([0, 0, 2, 4 / 3, 1, 3, 2]))
    assert np.allclose(guest["other_list_log_mean_units_4w"], np.log1p(expected_4w))
    assert guest["weeks_without_sales_13w"].tolist() == [0, 1, 1, 2, 3, 3, 4]
    share = [0.0, 0 / 10, 4 / 34, 4 / 64, 4 / 104, 12 / 162, 12 / 162]
    assert np.allclose(registered["guest_share_13w"], share) and np.allclose(guest["guest_share_13w"], share)
    orders = np.asarray(units) // 3 + 1
    assert np.allclose(registered["last_week_log_orders"], np.log1p(np.r_[0, orders[:-1]]))
    # The 13-week windows: week 13's reach back to week 0 (no sale), week 14's no longer do.
    longer = of(build_weekly_features(panel([0] + [13] * 15, [0] * 16), 0.0), "registered")
    assert longer["weeks_without_sales_13w"].iloc[13] == 1 and longer["weeks_without_sales_13w"].iloc[14] == 0
    assert longer["log_mean_units_13w"].iloc[13] == pytest.approx(np.log1p(12.0))
    assert longer["log_mean_units_13w"].iloc[14] == pytest.approx(np.log1p(13.0))
    assert longer["past_log_mean_units"].iloc[14] == pytest.approx(np.log1p(13 * 13 / 14))


def test_the_seasonal_naive_is_the_week_a_year_before_else_last_week():
    units = np.arange(1, 61) * 3
    registered = of(build_weekly_features(panel(units, np.zeros(60)), 0.0), "registered")
    naive = registered["seasonal_naive_log_units"].to_numpy()
    assert np.allclose(naive[52:], np.log1p(units[:8]))  # the same week of last year
    assert np.allclose(naive[1:52], np.log1p(units[:51]))  # shorter history: last week
    assert naive[0] == 0.0


def test_units_are_brought_to_the_reference_list_with_the_elasticity():
    """Weeks at 2.50 then at today's 2.00, elasticity -2: a week at 2.50 sold (2.5 / 2) ** -2 = 0.64 of what
    it would have sold at 2.00, so its units count 1 / 0.64 times; weeks at today's list count as sold."""
    prices = [2.5, 2.5, 2.5, 2.0, 2.0]
    units = [32, 64, 16, 50, 40]
    table = build_weekly_features(panel(units, [16, 0, 0, 8, 4], prices), -2.0)
    registered, guest = of(table, "registered"), of(table, "guest")
    factor = np.array([0.64, 0.64, 0.64, 1.0, 1.0])
    assert np.allclose(registered["price_factor"], factor) and np.allclose(guest["price_factor"], factor)
    assert (table["reference_list_price"] == 2.0).all() and (table["elasticity"] == -2.0).all()
    assert registered["units"].tolist() == units  # what was observed is kept as observed
    at_reference = np.array(units) / factor  # 50, 100, 25, 50, 40
    assert np.allclose(registered[TARGET], np.log1p(at_reference))
    assert np.allclose(guest[TARGET], np.log1p(np.array([16, 0, 0, 8, 4]) / factor))
    # The history features see the adjusted units too.
    assert np.allclose(registered["last_week_log_units"], np.log1p(np.r_[0, at_reference[:-1]]))
    assert registered["recent_log_mean_units_4w"].iloc[4] == pytest.approx(np.log1p(np.mean(at_reference[:4])))
    # Without a price response the target is the observed units.
    plain = of(build_weekly_features(panel(units, [16, 0, 0, 8, 4], prices), 0.0), "registered")
    assert np.allclose(plain[TARGET], np.log1p(units)) and (plain["price_factor"] == 1.0).all()


def test_weeks_without_sales_are_rows_with_zero_units():
    """Sales in weeks 1, 2 and 5 only: the panel from the lines has weeks 3 and 4, with 0 units on both lists."""
    days = [0, 1, 7, 8, 28, 29]
    lines = pd.DataFrame(
        {
            "invoice_no": [str(540000 + i) for i in range(len(days))],
            "stock_code": "85123A",
            "quantity": [6, 4, 12, 3, 5, 7],
            "unit_price": 2.1,
            "invoice_date": [FIRST_WEEK + pd.Timedelta(days=d, hours=10) for d in days],
            "customer_id": [12345.0, np.nan, 12345.0, 17850.0, np.nan, 12345.0],
        }
    )
    weekly = price_list.weekly_demand(lines)
    table = build_weekly_features(weekly, -1.0)
    assert table["week"].nunique() == 5 and len(table) == 10
    assert table.groupby("week")["customer_type"].apply(sorted).tolist() == [sorted(PRICE_LISTS)] * 5
    empty = table[table["week"].isin([FIRST_WEEK + pd.Timedelta(weeks=w) for w in (2, 3)])]
    assert len(empty) == 4 and (empty["units"] == 0).all() and (empty["orders"] == 0).all()
    assert (empty[TARGET] == 0).all()
    registered = of(table, "registered")
    assert registered["units"].tolist() == [6, 15, 0, 0, 7]
    assert of(table, "guest")["units"].tolist() == [4, 0, 0, 0, 5]
    assert registered["weeks_without_sales_13w"].tolist() == [0, 0, 0, 1, 2]
    assert list(table.columns) == COLUMNS


def test_the_week_to_forecast_follows_the_last_with_features_from_history():
    """next_week_rows gives the features a week after the last would get from build_weekly_features, whatever
    that week will turn out to sell: at the list in force, one row per list, nothing observed."""
    history = random_panel(57, 4)
    rows = next_week_rows(history, -1.2)
    last = history["week"].iloc[-1]
    assert rows["week"].tolist() == [last + pd.Timedelta(weeks=1)] * 2
    assert sorted(rows["customer_type"]) == sorted(PRICE_LISTS)
    assert (rows["list_price"] == history["list_price"].iloc[-1]).all() and (rows["price_factor"] == 1.0).all()
    assert not {"units", "orders", TARGET} & set(rows.columns)
    assert set(FEATURES) <= set(rows.columns)
    for sold in ([0, 0], [500, 200]):
        extended = pd.concat([history, panel([sold[0]], [sold[1]], history["list_price"].iloc[-1])], ignore_index=True)
        extended.loc[len(history), "week"] = last + pd.Timedelta(weeks=1)
        built = build_weekly_features(extended, -1.2)
        then = built[built["week"] == last + pd.Timedelta(weeks=1)].reset_index(drop=True)
        pd.testing.assert_frame_equal(rows[list(FEATURES)], then[list(FEATURES)])
    # It is the week after the last sale's: last week's units are the features' last week.
    registered = rows[rows["customer_type"] == "registered"].iloc[0]
    assert registered["last_week_log_units"] == pytest.approx(np.log1p(history["registered_units"].iloc[-1]))
    assert np.isfinite(rows[list(NUMERIC_FEATURES)].to_numpy(dtype=float)).all()


def test_the_week_to_forecast_lies_within_what_the_training_weeks_saw():
    """No feature only grows with time (a product's age, a count of weeks): on a product that sells the same
    every week for over a year, every feature of the week to forecast is within the range its weeks had, so
    no model is asked to extrapolate a count it never saw that high."""
    steady = panel([20] * 60, [5] * 60)
    weeks = build_weekly_features(steady, -1.5)
    ahead = next_week_rows(steady, -1.5)
    for name in NUMERIC_FEATURES:
        low, high = weeks[name].min(), weeks[name].max()
        assert ((ahead[name] >= low - 1e-9) & (ahead[name] <= high + 1e-9)).all(), name


def test_the_product_rows_are_complete_and_finite(weekly_rows, weekly_panel):
    """The synthetic product through the pipeline's path: two rows a week, every feature finite."""
    assert len(weekly_rows) == 2 * len(weekly_panel) and list(weekly_rows.columns) == COLUMNS
    assert np.isfinite(weekly_rows[list(NUMERIC_FEATURES) + [TARGET]].to_numpy(dtype=float)).all()
    assert (weekly_rows.groupby("week")["units"].sum().to_numpy() == weekly_panel["units"].to_numpy()).all()


@pytest.mark.parametrize(
    "change,elasticity,message",
    [
        (lambda p: p.drop(columns=["guest_units"]), -1.0, r"lacks \['guest_units'\]; build it with price_list"),
        (lambda p: p.rename(columns={"week": "invoice_date"}), -1.0, r"lacks \['week'\]"),
        (lambda p: p.iloc[:0], -1.0, "no weeks of demand"),
        (lambda p: p.assign(stock_code=["85123A"] * 3 + ["22423"] * 3), -1.0, "exactly one stockcode"),
        (lambda p: p.assign(list_price=[2.0, 0.0, 2.0, 2.0, 2.0, 2.0]), -1.0, "list prices must be positive"),
        (lambda p: p.assign(list_price=[2.0, np.nan, 2.0, 2.0, 2.0, 2.0]), -1.0, "list prices must be positive"),
        (lambda p: p, 0.5, r"elasticity must be finite and not positive .* got 0.5"),
        (lambda p: p, float("nan"), "elasticity must be finite"),
    ],
)
def test_bad_input_is_refused_in_words(change, elasticity, message):
    bad = change(panel([5, 6, 7, 8, 9, 10], [1, 2, 3, 4, 5, 6]))
    for build in (build_weekly_features, next_week_rows):
        with pytest.raises(ValueError, match=message):
            build(bad, elasticity)


def test_the_catalogue_level_divides_each_week_by_the_catalogues_index_and_puts_back_the_last_weeks():
    """Hand-computed: the shop's demand doubled at week 3 and the product's with it, so the product's level with
    the shop's movement taken out is flat, and its catalogue level forecasts the doubled demand as soon as the
    index shows it (a plain mean of the weeks before would lag it)."""
    units = [10, 10, 10, 20, 20, 20]
    index = index_table([1.0, 1.0, 1.0, 2.0, 2.0, 2.0], pd.date_range("2011-01-03", periods=6, freq="7D"))
    table = of(build_weekly_features(panel(units, [0] * 6), 0.0, index), "registered")
    level = np.expm1(table[CATALOGUE_LEVEL_FEATURE].to_numpy())
    assert np.allclose(level[1:], [10, 10, 10, 20, 20]) and level[0] == 0  # week 0: nothing before it
    plain = of(build_weekly_features(panel(units, [0] * 6), 0.0), "registered")  # no index: the plain mean
    assert np.allclose(np.expm1(plain[CATALOGUE_LEVEL_FEATURE].to_numpy())[4:], [12.5, 14.0])
    with pytest.raises(ValueError, match="positive and finite"):
        build_weekly_features(panel(units, [0] * 6), 0.0, index.replace({INDEX_COLUMN: {2.0: 0.0}}))


def test_a_product_that_stopped_selling_forecasts_the_catalogues_next_week_from_its_weeks_without_sales():
    """Its last sale 13 weeks before the catalogue's last complete week: those weeks are weeks without a sale at
    the list then in force, and the week to forecast is the catalogue's next, not the week after its last sale
    (which forecast a product gone for months at the level it sold at then)."""
    units = [40] * 20
    weeks = pd.date_range(FIRST_WEEK, periods=33, freq="7D")
    index = index_table(np.ones(33), weeks)
    table = of(build_weekly_features(panel(units, [5] * 20, list_price=2.5), 0.0, index), "registered")
    assert list(table["week"]) == list(weeks)
    assert (table["units"].iloc[20:] == 0).all() and (table["list_price"].iloc[20:] == 2.5).all()
    ahead = of(next_week_rows(panel(units, [5] * 20, list_price=2.5), 0.0, index), "registered").iloc[0]
    assert ahead["week"] == weeks[-1] + pd.Timedelta(weeks=1)
    assert ahead["weeks_without_sales_13w"] == 13
    assert ahead["last_week_log_units"] == 0 and ahead["recent_log_mean_units_4w"] == 0
    assert ahead["reference_list_price"] == 2.5


def test_the_datas_short_last_week_is_not_a_week_of_demand_and_is_the_week_to_forecast():
    """The catalogue's last week had two trading days: its units are not last week's demand (they read as a
    fall to a fifth), so the rows end the week before and the short week is the one forecast. Its list, if
    changed, is the list now in force."""
    units = [40] * 11 + [8]  # the last week: two days' sales
    prices = [2.0] * 11 + [2.2]
    weeks = pd.date_range(FIRST_WEEK, periods=12, freq="7D")
    index = index_table(np.ones(12), weeks, complete=[True] * 11 + [False])
    table = of(build_weekly_features(panel(units, [4] * 12, prices), -1.0, index), "registered")
    assert table["week"].max() == weeks[10] and (table["units"] == 40).all()
    ahead = of(next_week_rows(panel(units, [4] * 12, prices), -1.0, index), "registered").iloc[0]
    assert ahead["week"] == weeks[11]
    assert ahead["reference_list_price"] == 2.2
    assert np.expm1(ahead["last_week_log_units"]) == pytest.approx(40 * 2.0 / 2.2)  # at the list now in force
    # Without the catalogue's calendar the two days would be last week.
    alone = of(next_week_rows(panel(units, [4] * 12, prices), -1.0), "registered").iloc[0]
    assert alone["week"] == weeks[11] + pd.Timedelta(weeks=1)
    assert np.expm1(alone["last_week_log_units"]) == pytest.approx(8)
    # A product first sold in the short week has no complete week yet.
    with pytest.raises(ValueError, match="no complete week to learn from yet"):
        build_weekly_features(panel([8], [0]).assign(week=weeks[11]), 0.0, index)


def test_weeks_beyond_an_older_catalogues_table_are_kept():
    """A catalogue table built from older data ends before the product's weeks: none of them is dropped."""
    units = [30] * 10
    index = index_table(np.ones(8), pd.date_range(FIRST_WEEK, periods=8, freq="7D"))
    table = build_weekly_features(panel(units, [3] * 10), 0.0, index)
    assert table["week"].nunique() == 10
