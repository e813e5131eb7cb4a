import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing_assets.core.cleaning import clean_transactions
from pricing_assets.core.features import (
    FEATURES,
    NUMERIC_FEATURES,
    TARGET,
    build_demand_features,
    price_derived_features,
)
from pricing_assets.core.schema import normalise_transactions


def cleaned_from(minutes, prices, quantities, guests, ids=None):
    n = len(minutes)
    ids = range(n) if ids is None else ids
    raw = pd.DataFrame(
        {
            "InvoiceNo": [str(500000 + i) for i in ids],
            "StockCode": ["85123A"] * n,
            "Description": ["X"] * n,
            "Quantity": quantities,
            "InvoiceDate": [pd.Timestamp("2011-01-03") + pd.Timedelta(minutes=int(m)) for m in minutes],
            "UnitPrice": prices,
            "CustomerID": [np.nan if g else 12345.0 for g in guests],
            "Country": ["United Kingdom"] * n,
        }
    )
    t = normalise_transactions(raw)
    t["is_guest"] = t["customer_id"].isna()
    return t.sort_values(["invoice_date", "invoice_no"], kind="mergesort").reset_index(drop=True)


def test_past_max_price_does_not_see_a_later_rise():
    cleaned = cleaned_from([0, 60 * 24, 60 * 48, 60 * 72], [2.0, 2.0, 4.0, 2.0], [5, 5, 5, 5], [False] * 4)
    f = build_demand_features(cleaned)
    # An all-time max would be 4.0 for every row; the past max is what was known then.
    assert f["past_max_price"].tolist()[1:] == [2.0, 2.0, 4.0]
    assert f["price_vs_past_max"].tolist() == [1.0, 1.0, 2.0, 0.5]


def test_same_minute_lines_do_not_see_each_other():
    cleaned = cleaned_from([0, 10, 10], [2.0, 3.0, 5.0], [1, 2, 3], [False] * 3)
    f = build_demand_features(cleaned)
    assert f["past_max_price"].tolist()[1:] == [2.0, 2.0]
    assert f["past_lines_7d"].tolist() == [0, 1, 1]
    assert f["past_mean_log_quantity_28d"].iloc[2] == pytest.approx(np.log1p(1))


def test_target_and_columns():
    cleaned = cleaned_from([0, 10, 20], [2.0, 2.0, 2.0], [1, 9, 99], [True, False, False])
    f = build_demand_features(cleaned)
    assert np.allclose(f[TARGET], np.log1p([1, 9, 99]))
    assert set(FEATURES) <= set(f.columns)
    assert f["customer_type"].tolist() == ["guest", "registered", "registered"]
    assert f[list(NUMERIC_FEATURES)].notna().all().all()


def test_price_derived_features_match_the_table():
    cleaned = cleaned_from([0, 60, 60 * 30, 60 * 50], [2.0, 3.0, 2.5, 2.0], [4, 2, 3, 4], [False] * 4)
    f = build_demand_features(cleaned)
    again = price_derived_features(f["unit_price"], f["past_max_price"], f["past_median_price_28d"])
    for name, values in again.items():
        assert np.allclose(f[name], values)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, 60 * 24 * 80),  # minute within 80 days, ties likely at this density
            st.sampled_from([1.25, 2.1, 2.5, 2.95, 4.0]),
            st.integers(1, 48),
            st.booleans(),
        ),
        min_size=2,
        max_size=60,
    ),
    st.floats(0.0, 1.0),
)
def test_no_feature_looks_ahead(rows, cut_fraction):
    """Features of rows up to time T are identical whether or not later rows exist."""
    minutes, prices, quantities, guests = zip(*rows, strict=True)
    full = build_demand_features(cleaned_from(minutes, prices, quantities, guests))
    cut = full["invoice_date"].quantile(cut_fraction, interpolation="lower")
    keep = [i for i, m in enumerate(minutes) if pd.Timestamp("2011-01-03") + pd.Timedelta(minutes=m) <= cut]
    truncated = build_demand_features(
        cleaned_from(*(np.asarray(col)[keep] for col in (minutes, prices, quantities, guests)), ids=keep)
    )
    head = full[full["invoice_date"] <= cut].reset_index(drop=True)
    pd.testing.assert_frame_equal(head, truncated, check_dtype=False)


def test_cleaning_then_features_on_one_stockcode_only():
    cleaned = cleaned_from([0, 1], [2.0, 2.0], [1, 1], [False, False])
    other = cleaned.assign(stock_code="22423")
    with pytest.raises(ValueError, match="exactly one stockcode"):
        build_demand_features(pd.concat([cleaned, other]))
    with pytest.raises(ValueError, match="no cleaned rows"):
        build_demand_features(clean_transactions(cleaned.iloc[:0])[0])


def test_customer_history_sees_only_that_customers_earlier_lines():
    day = 60 * 24
    cleaned = cleaned_from(
        [0, 0, day, 2 * day, 3 * day],
        [2.0] * 5,
        [10, 30, 5, 7, 1],
        [False, False, True, False, False],
        ids=[1, 1, 2, 3, 4],  # the first two lines share an invoice (same customer, same minute)
    )
    f = build_demand_features(cleaned)
    lines = f["past_lines_same_customer"].tolist()
    assert lines == [0, 0, 0, 2, 3]  # the guest (row 2) has none; later lines see both earlier ones
    expected = np.log1p([10, 30]).mean()
    assert f.loc[3, "past_mean_log_quantity_same_customer"] == pytest.approx(expected)
    assert f.loc[4, "past_mean_log_quantity_same_customer"] == pytest.approx(np.log1p([10, 30, 7]).mean())
    # Without history of its own, a line falls back to its customer type's recent level.
    assert f.loc[2, "past_mean_log_quantity_same_customer"] == f.loc[2, "past_mean_log_quantity_same_type_28d"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, 60 * 24 * 60),  # minute within 60 days; same-minute lines are likely
            st.sampled_from([1.25, 2.1, 2.5, 4.0]),
            st.integers(1, 48),
            st.booleans(),
        ),
        min_size=2,
        max_size=40,
    ),
    st.data(),
)
def test_no_feature_of_a_line_depends_on_its_own_quantity(rows, data):
    """The target must not leak into the features: changing one line's quantity changes no feature of
    that line, nor of any line at or before its time (a window that includes the current row would)."""
    minutes, prices, quantities, guests = (list(c) for c in zip(*rows, strict=True))
    before = build_demand_features(cleaned_from(minutes, prices, quantities, guests))
    row = data.draw(st.integers(0, len(rows) - 1))
    changed = list(quantities)
    changed[row] = quantities[row] * 10 + 7
    after = build_demand_features(cleaned_from(minutes, prices, changed, guests))
    when = pd.Timestamp("2011-01-03") + pd.Timedelta(minutes=minutes[row])
    known = before["invoice_date"] <= when
    pd.testing.assert_frame_equal(before.loc[known, list(FEATURES)], after.loc[known, list(FEATURES)])
