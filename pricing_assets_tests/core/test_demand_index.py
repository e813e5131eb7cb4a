"""The catalogue's weekly demand index: chain-linked, blind to products entering, and it never looks ahead."""

import numpy as np
import pandas as pd
import pytest

from pricing_assets.core.demand_index import (
    COMPLETE_COLUMN,
    INDEX_COLUMN,
    catalogue_demand_index,
    index_series,
    last_complete_week,
    trading_days,
)

WEEKS = pd.date_range("2011-01-03", periods=6, freq="7D")
FULL = pd.Series(5.0, index=WEEKS)  # five trading days every week


def catalogue(units: dict[str, list[float | None]]) -> pd.DataFrame:
    """A catalogue's weekly_demand: per stockcode its registered units a week (None: no row that week)."""
    rows = [
        {"stock_code": code, "week": week, "registered_units": u, "guest_units": 0}
        for code, series in units.items()
        for week, u in zip(WEEKS, series, strict=True)
        if u is not None
    ]
    return pd.DataFrame(rows)


def test_each_week_steps_by_the_units_of_the_products_on_sale_in_both_weeks():
    """Hand-computed. B enters in week 2 with 100 units: the shop did not grow by it. C sells nothing in week 3
    (a 0, not a gap, once it has sold); A and C double in week 4; nothing sells in week 5 (closed: no step)."""
    table = catalogue(
        {
            "A": [10, 10, 20, 20, 40, 0],
            "B": [None, None, 100, 100, 100, 0],
            "C": [10, 10, 20, None, 20, 0],
        }
    )
    index = catalogue_demand_index(table, FULL)
    assert list(index["week"]) == list(WEEKS)
    # week 1: 20/20; week 2: (20+20)/(10+10), B not yet on sale in week 1; week 3: (20+100+0)/(20+100+20);
    # week 4: (40+100+20)/(20+100+0); week 5: nothing sold anywhere, the index stays.
    steps = [1.0, 1.0, 2.0, 120 / 140, 160 / 120, 1.0]
    assert np.allclose(index[INDEX_COLUMN], np.cumprod(steps))
    assert index_series(index).index.equals(pd.DatetimeIndex(WEEKS))


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_a_weeks_value_depends_on_no_later_week(k):
    """Rewrite or drop every week from k on: the index of the weeks before k stays the same."""
    rng = np.random.default_rng(k)
    units = {code: [float(u) for u in rng.integers(0, 50, len(WEEKS))] for code in ("A", "B", "C", "D")}
    units["D"][: k - 1] = [None] * (k - 1)  # enters late
    before = catalogue_demand_index(catalogue(units), FULL)
    rewritten = {
        code: series[:k] + [float(u) for u in rng.integers(100, 200, len(WEEKS) - k)] for code, series in units.items()
    }
    after = catalogue_demand_index(catalogue(rewritten), FULL)
    cut = catalogue(units)
    cut = catalogue_demand_index(cut[cut["week"] < WEEKS[k]], FULL)
    assert np.allclose(before[INDEX_COLUMN][:k], after[INDEX_COLUMN][:k])
    assert np.allclose(before[INDEX_COLUMN][:k], cut[INDEX_COLUMN])
    assert not np.allclose(before[INDEX_COLUMN][k:], after[INDEX_COLUMN][k:])


def test_a_short_week_moves_the_index_by_its_sales_per_trading_day_and_a_very_short_one_not_at_all():
    """A week of three trading days selling three fifths of a full week's units: the shop did not slow down.
    The data's last week has two days (under half the usual five): too few to say, it keeps the index. The
    trading days are counted from the lines' dates, any sale in the catalogue making a day."""
    lines = pd.DataFrame(
        {
            "week": [WEEKS[0]] * 3 + [WEEKS[1]] * 2,
            "invoice_date": pd.to_datetime(
                ["2011-01-03 09:00", "2011-01-03 15:00", "2011-01-05 10:00", "2011-01-10 11:00", "2011-01-11 12:00"]
            ),
        }
    )
    assert list(trading_days(lines)) == [2.0, 2.0]
    sales = catalogue({"A": [50, 100, 60, 20, None, None]}).head(4)
    days = pd.Series([5.0, 5.0, 3.0, 2.0], index=WEEKS[:4])
    assert np.allclose(catalogue_demand_index(sales, days)[INDEX_COLUMN], [1.0, 2.0, 2.0, 2.0])
    # Counted by the week, the shop would read as falling by 40 % and then by two thirds more.
    assert np.allclose(catalogue_demand_index(sales, FULL)[INDEX_COLUMN], [1.0, 2.0, 1.2, 0.4])


def test_a_closed_week_and_the_datas_short_last_week_are_not_complete_and_the_last_complete_week_ends_the_data():
    """Two of the usual five days (the dev file's last week: a bank holiday, and the file ends on a Wednesday) and
    a week the shop was closed are not a week's demand; the last complete week is where every stockcode ends."""
    sales = catalogue({"A": [50, 100, 0, 80, 90, 20]})
    days = pd.Series([5.0, 5.0, 0.0, 5.0, 4.0, 2.0], index=WEEKS)
    table = catalogue_demand_index(sales, days)
    assert list(table[COMPLETE_COLUMN]) == [True, True, False, True, True, False]
    assert last_complete_week(table) == WEEKS[4]
    assert last_complete_week(table.drop(columns=COMPLETE_COLUMN)) == WEEKS[5]  # a table stored before the column
    with pytest.raises(ValueError, match="no week with the usual trading days"):
        last_complete_week(table.assign(**{COMPLETE_COLUMN: False}))


def test_bad_input_is_refused_in_words():
    with pytest.raises(ValueError, match="lacks"):
        catalogue_demand_index(pd.DataFrame({"stock_code": ["A"], "week": [WEEKS[0]]}), FULL)
    with pytest.raises(ValueError, match="no weekly demand"):
        catalogue_demand_index(catalogue({"A": [10] * 6}).iloc[0:0], FULL)
    with pytest.raises(ValueError, match="lack"):
        trading_days(pd.DataFrame({"week": [WEEKS[0]]}))
