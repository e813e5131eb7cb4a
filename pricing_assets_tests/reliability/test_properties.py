"""Properties of cleaning, features, the list-price grid and the recommendation's curve, over generated inputs
(hypothesis).

What ``core/test_features.py::test_no_feature_looks_ahead`` already proves for the per-line features
(features of rows up to T do not change when later rows are *removed*) is extended here to later rows
being *changed*, for the per-line features (the drift check's input) and for the weekly rows the models
learn from. The rest: cleaning accounts for every row, never invents one, and is idempotent; the list-price
grid is sorted, within its bounds and of the asked size; a recommendation's best price is its curve's peak
and the curve's units never rise with the list price (core/test_pricing.py checks the same for the curve of
every kind of trained model).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pricing_assets.core import cleaning, features, pricing, weekly_features
from pricing_assets.core.recommendation import ObservedMix, RecommendationConfig, pence_grid
from pricing_assets.core.recommendation_inputs import RecommendationInputs
from pricing_assets.core.schema import normalise_transactions

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
START = pd.Timestamp("2011-01-03 09:00")

# One order line: (invoice prefix, stockcode, quantity, minute, price, customer, description, country)
order_line = st.tuples(
    st.sampled_from(["", "", "", "", "C", "A"]),  # invoice prefix: mostly sales, some cancellations/adjustments
    st.sampled_from(["85123A", "85123A", "22423", "POST", "M"]),
    st.one_of(st.integers(-30, 60), st.sampled_from([0, 12_000, 25_000])),
    st.integers(0, 60 * 24 * 90),
    st.one_of(st.sampled_from([0.0, 0.85, 1.25, 2.55, 2.95, 4.95]), st.floats(0.01, 500, allow_nan=False)),
    st.sampled_from([np.nan, 12345.0, 17850.0, 14911.0]),
    st.sampled_from(["WHITE HANGING HEART ", "LANTERN", None]),
    st.sampled_from(["United Kingdom", "France", None]),
)


def transactions(lines: list[tuple], invoice_base: int = 536000) -> pd.DataFrame:
    """UCI-shaped raw rows, normalised the way every source is."""
    raw = pd.DataFrame(
        {
            "InvoiceNo": [f"{prefix}{invoice_base + i // 3}" for i, (prefix, *_) in enumerate(lines)],
            "StockCode": [line[1] for line in lines],
            "Description": [line[6] for line in lines],
            "Quantity": [line[2] for line in lines],
            "InvoiceDate": [START + pd.Timedelta(minutes=line[3]) for line in lines],
            "UnitPrice": [line[4] for line in lines],
            "CustomerID": [line[5] for line in lines],
            "Country": [line[7] for line in lines],
        }
    )
    return normalise_transactions(raw)


@PROPERTY
@given(st.lists(order_line, min_size=1, max_size=80), st.sampled_from([None, "85123A"]))
def test_cleaning_accounts_for_every_row_and_invents_none(lines, stock_code):
    raw = transactions(lines)
    cleaned, report = cleaning.clean_transactions(raw, stock_code)
    considered = raw if stock_code is None else raw[raw["stock_code"] == stock_code]
    assert report.rows_in == len(considered) and report.rows_out == len(cleaned) <= report.rows_in
    assert report.rows_in - report.rows_out == sum(report.dropped.values())
    # Every kept line is a source line (the imputed columns aside), never a made-up one.
    keys = ["invoice_no", "stock_code", "quantity", "invoice_date", "unit_price"]
    source_lines = set(considered[keys].itertuples(index=False, name=None))
    assert set(cleaned[keys].itertuples(index=False, name=None)) <= source_lines
    # What the rules promise about every kept line.
    assert (cleaned["quantity"] > 0).all() and (cleaned["unit_price"] > 0).all()
    assert cleaning.is_product_code(cleaned["stock_code"]).all()
    assert not cleaned["invoice_no"].str.match(r"^[CA]").any()
    assert cleaned["is_guest"].equals(cleaned["customer_id"].isna())
    assert cleaned["country"].notna().all() and not cleaned.duplicated().any()
    assert cleaned["invoice_date"].is_monotonic_increasing


@PROPERTY
@given(st.lists(order_line, min_size=1, max_size=80))
def test_cleaning_is_idempotent_apart_from_the_relative_outlier_rules(lines):
    """Cleaning cleaned data finds nothing left to drop or impute (relative outlier rules switched off:
    see the next test; the absolute quantity cap stays on)."""
    rules = cleaning.CleaningConfig(outlier_factor=1e12)
    once, _ = cleaning.clean_transactions(transactions(lines), cfg=rules)
    twice, report = cleaning.clean_transactions(once.drop(columns="is_guest"), cfg=rules)
    assert sum(report.dropped.values()) == 0
    pd.testing.assert_frame_equal(once, twice)


@pytest.mark.xfail(
    strict=True,
    reason="known: the relative outlier rules compare each line with what was usual in *all* earlier lines, "
    "outliers included, so a second pass judges the kept lines against a different median (see RELIABILITY.md)",
)
def test_relative_outlier_rules_are_idempotent_on_a_shift_in_order_size():
    """20 single-unit orders, then the product starts selling by the case of 30: each pass drops more."""
    lines = [("", "85123A", q, 60 * i, 2.5, 17850.0, "X", "United Kingdom") for i, q in enumerate([1] * 20 + [30] * 30)]
    once, _ = cleaning.clean_transactions(transactions(lines))
    twice, report = cleaning.clean_transactions(once.drop(columns="is_guest"))
    assert report.dropped["quantity_outlier"] == 0 and len(twice) == len(once)


@settings(PROPERTY, max_examples=40)
@given(
    st.lists(
        st.tuples(st.integers(0, 60 * 24 * 60), st.sampled_from([1.25, 2.1, 2.5, 4.0]), st.integers(1, 48)),
        min_size=3,
        max_size=60,
    ),
    st.floats(0.2, 0.8),
    st.data(),
)
def test_features_up_to_t_do_not_change_when_later_rows_change(rows, cut_fraction, data):
    """Rewrite every line after T (price, quantity, customer): the features of lines up to T stay the same."""
    lines = [("", "85123A", q, minute, price, 17850.0, "X", "United Kingdom") for minute, price, q in rows]
    cleaned, _ = cleaning.clean_transactions(transactions(lines))
    assume(len(cleaned) >= 3)
    original = features.build_demand_features(cleaned)
    cut = original["invoice_date"].quantile(cut_fraction, interpolation="lower")
    later = cleaned["invoice_date"] > cut
    assume(later.any())
    changed = cleaned.copy()
    n = int(later.sum())
    changed.loc[later, "unit_price"] = data.draw(st.lists(st.floats(0.5, 9.0), min_size=n, max_size=n))
    changed.loc[later, "quantity"] = data.draw(st.lists(st.integers(1, 500), min_size=n, max_size=n))
    changed.loc[later, "customer_id"] = np.nan
    changed.loc[later, "is_guest"] = True
    rebuilt = features.build_demand_features(changed)
    head = original["invoice_date"] <= cut
    columns = list(features.FEATURES) + list(features.HISTORY_STATS) + [features.TARGET]
    pd.testing.assert_frame_equal(original.loc[head, columns], rebuilt.loc[head, columns])


@PROPERTY
@given(st.floats(0.01, 10_000), st.one_of(st.just(1.0), st.floats(1.001, 50.0)), st.integers(2, pricing.MAX_BINS))
def test_list_price_grid_is_sorted_within_bounds_and_of_the_asked_size(low, ratio, bins):
    high = low * ratio
    grid = pricing.list_price_grid(low, high, bins)
    assert len(grid) == bins and np.all(np.diff(grid) > 0)
    if high - low >= 0.005:  # a range under half a penny is one price
        assert grid[0] == pytest.approx(low) and grid[-1] == pytest.approx(high)
        assert low - 1e-9 <= grid.min() and grid.max() <= high + 1e-9
    else:  # one price: 10 % either side of it
        assert grid[0] == pytest.approx(0.9 * low) and grid[-1] == pytest.approx(1.1 * high)


@given(st.integers(-5, 1), st.integers(pricing.MAX_BINS + 1, 10**6))
def test_list_price_grid_refuses_sizes_out_of_bounds(small, large):
    for bins in (small, large):
        with pytest.raises(ValueError, match="bins"):
            pricing.list_price_grid(1.0, 2.0, bins)


def weekly_panel(registered: list[int], guest: list[int], prices: list[float]) -> pd.DataFrame:
    """One stockcode's weekly_demand panel (the columns weekly_features reads)."""
    n = len(registered)
    return pd.DataFrame(
        {
            "stock_code": "85123A",
            "week": pd.date_range("2011-01-03", periods=n, freq="7D"),
            "list_price": prices,
            "registered_units": registered,
            "registered_orders": [u // 4 + (u > 0) for u in registered],
            "guest_units": guest,
            "guest_orders": [u // 4 + (u > 0) for u in guest],
        }
    )


@settings(PROPERTY, max_examples=60)
@given(st.integers(1, 70), st.floats(-4.0, 0.0), st.data())
def test_weekly_features_up_to_a_week_do_not_change_when_its_units_and_later_ones_change(weeks, elasticity, data):
    """Rewrite the units and orders of week k and every later week: no feature of weeks up to k moves (a feature
    of week k that saw week k's own units would). The list prices stay: the reference list is today's."""
    units = st.lists(st.integers(0, 400), min_size=weeks, max_size=weeks)
    registered, guest = data.draw(units), data.draw(units)
    prices = data.draw(st.lists(st.sampled_from([0.85, 1.25, 2.1, 2.5]), min_size=weeks, max_size=weeks))
    k = data.draw(st.integers(0, weeks - 1))
    original = weekly_panel(registered, guest, prices)
    new_units = st.lists(st.integers(0, 400), min_size=weeks - k, max_size=weeks - k)
    changed = weekly_panel(registered[:k] + data.draw(new_units), guest[:k] + data.draw(new_units), prices)
    before = weekly_features.build_weekly_features(original, elasticity)
    after = weekly_features.build_weekly_features(changed, elasticity)
    head = before["week"] <= original["week"].iloc[k]
    columns = list(weekly_features.FEATURES)
    pd.testing.assert_frame_equal(before.loc[head, columns], after.loc[head, columns])
    assert np.isfinite(after[list(weekly_features.NUMERIC_FEATURES)].to_numpy(dtype=float)).all()


mixes = st.builds(
    ObservedMix,
    current_list_price=st.floats(0.2, 20.0),
    regular_units=st.floats(0.0, 500.0),
    band_units=st.floats(0.0, 500.0),
    guest_units=st.floats(0.0, 100.0),
    band_ratio=st.floats(0.5, 1.0),
    guest_ratio=st.floats(1.0, 3.0),
    weeks=st.integers(1, 13),
).filter(lambda mix: mix.units > 0.1)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    mix=mixes,
    elasticity=st.floats(-5.0, -0.05),
    standard_error=st.floats(0.0, 1.0),
    cost_ratio=st.floats(0.1, 1.2),
    objective=st.sampled_from(["margin", "revenue"]),
    guardrail=st.sampled_from([0.05, 0.15, 0.3, None]),
    levels=st.lists(st.floats(0.3, 3.0), max_size=20),
)
def test_a_recommendation_sits_at_its_curves_peak_and_the_curve_falls_with_price(
    mix, elasticity, standard_error, cost_ratio, objective, guardrail, levels
):
    """For any mix, response, cost, objective, guardrail and forecast level: the best list price in the band is
    where the curve over the band's whole-pence prices peaks, and units never rise with the list price."""
    config = RecommendationConfig(objective, guardrail, draws=60, seed=7)
    cost = round(cost_ratio * mix.current_list_price, 4)
    inputs = RecommendationInputs(mix, elasticity, standard_error, 1.0, cost, False, config, tuple(levels))
    answer = inputs.recommend()
    low, high = answer["guardrail"]
    prices = pence_grid(low, high)
    assume(len(prices) >= 2)
    curve = pricing.list_price_curve(inputs, prices)
    column = "margin" if objective == "margin" else "sales"
    assert answer["best_list_price_in_band"] == float(prices[int(np.argmax(curve[column].to_numpy()))])
    assert np.isfinite(curve.to_numpy(dtype=float)).all() and (curve["quantity_low"] >= 0).all()
    for name in ("quantity", "quantity_low", "quantity_high"):
        assert np.all(np.diff(curve[name].to_numpy()) <= 1e-9 * max(1.0, curve[name].max())), name
