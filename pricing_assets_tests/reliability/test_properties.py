"""Properties of cleaning, features and the price grid, over generated inputs (hypothesis).

What ``core/test_features.py::test_no_feature_looks_ahead`` already proves (features of rows up
to T do not change when later rows are *removed*) is extended here to later rows being
*changed*; the rest is new: cleaning accounts for every row, never invents one, and is
idempotent; the price grid is sorted, within its bounds and of the asked size; a price curve's
optimum is on its grid and its interval brackets it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pricing_assets.core import cleaning, features, pricing, sources, splits
from pricing_assets.core.models.linear import ConstantModel, LinearModel
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
    reason="known: the relative outlier rules compare each line with the median of *all* earlier lines, "
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
@given(
    st.lists(st.floats(0.01, 10_000, allow_nan=False), min_size=1, max_size=50),
    st.integers(2, pricing.MAX_BINS),
)
def test_price_grid_is_sorted_within_bounds_and_of_the_asked_size(prices, bins):
    grid = pricing.price_grid(pd.DataFrame({"unit_price": prices}), bins)
    low, high = min(prices), max(prices)
    assert len(grid) == bins and np.all(np.diff(grid) > 0)
    if high - low >= 1e-9:
        assert grid[0] == pytest.approx(low) and grid[-1] == pytest.approx(high)
        assert low - 1e-9 <= grid.min() and grid.max() <= high + 1e-9
    else:  # one recent price: 10 % either side of it
        assert grid[0] == pytest.approx(0.9 * low) and grid[-1] == pytest.approx(1.1 * high)


@given(st.integers(-5, 1), st.integers(pricing.MAX_BINS + 1, 10**6))
def test_price_grid_refuses_sizes_out_of_bounds(small, large):
    scenario = pd.DataFrame({"unit_price": [1.0, 2.0]})
    for bins in (small, large):
        with pytest.raises(ValueError, match="bins"):
            pricing.price_grid(scenario, bins)


@pytest.fixture(scope="module")
def scored():
    """The most active synthetic product's recent lines and a preprocessor fit on its train split."""
    source = sources.load_source("synthetic", None, 7, 4)
    code = source.transactions["stock_code"].value_counts().index[0]
    cleaned, _ = cleaning.clean_transactions(source.transactions, code)
    table = features.build_demand_features(cleaned)
    split = splits.split_chronologically(table, splits.SplitConfig())
    preprocessor = splits.Preprocessor.fit(split[split["split"] == "train"])
    return pricing.scenario_rows(table, 90), preprocessor


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    slope=st.floats(-2.0, 2.0),
    level=st.floats(-1.0, 4.0),
    bins=st.integers(2, 200),
    quantiles=st.tuples(st.floats(-1.0, 0.0), st.floats(0.0, 1.0)),
)
def test_a_curves_optimum_is_on_its_grid_and_its_interval_brackets_it(scored, slope, level, bins, quantiles):
    """For any linear demand in log price, the optimum is the grid's best price, flagged when on an edge."""
    scenario, preprocessor = scored
    coef = [0.0] * len(preprocessor.feature_names)
    coef[preprocessor.feature_names.index("log_price")] = slope
    model = LinearModel(coef, level, "elasticnet") if slope else ConstantModel(level)
    grid = pricing.price_grid(scenario, bins)
    curve = pricing.predict_curve(model, preprocessor, scenario, grid, quantiles)
    frame = curve.curve
    assert frame["unit_price"].tolist() == grid.tolist()
    best = int(np.argmax(frame["sales"].to_numpy()))
    assert curve.optimal_price == grid[best] and curve.optimal_sales == frame["sales"].max()
    assert curve.optimum_on_edge == (best in (0, bins - 1))
    assert (frame["quantity_low"] <= frame["quantity"] + 1e-12).all()
    assert (frame["quantity"] <= frame["quantity_high"] + 1e-12).all()
    assert np.isfinite(frame.to_numpy(dtype=float)).all() and (frame["quantity"] >= 0).all()
