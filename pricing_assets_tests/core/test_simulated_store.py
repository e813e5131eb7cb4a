"""The simulated store: its truth is consistent, its price setting looks like the real file's, and it is seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pricing_assets.core import cleaning, price_list, simulated_store
from pricing_assets.core.schema import normalise_transactions
from pricing_assets.core.simulated_store import SETTINGS, StoreConfig, expected_outcomes, generate, setting_name
from pricing_assets.core.sources import load_source
from pricing_assets.core.stockcodes import eligible_stockcodes, stockcode_history

# The dev file's price setting (price_list.price_setting_profile over its 597 eligible stockcodes,
# checked against the file itself by test_dev_file_profile_is_what_the_store_is_calibrated_on).
DEV_FILE_PROFILE = {
    "guest_share_of_lines": 0.239,
    "guest_to_list_ratio_median": 1.986,
    "bulk_48_to_list_ratio_median": 0.861,
    "share_of_products_with_monthly_list_change": 0.108,
    "lines_per_product_week_median": 6.38,
    "registered_quantity_median": 6.0,
    "guest_quantity_median": 1.0,
}
# How close the store must come: absolute for shares and ratios, relative for counts.
TOLERANCE = {
    "guest_share_of_lines": 0.03,
    "guest_to_list_ratio_median": 0.05,
    "bulk_48_to_list_ratio_median": 0.03,
    "share_of_products_with_monthly_list_change": 0.06,
    "lines_per_product_week_median": 0.25 * 6.38,
    "registered_quantity_median": 1.0,
    "guest_quantity_median": 0.0,
}


@pytest.fixture(scope="module")
def store() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    raw, truth, curves = generate(StoreConfig(seed=11, n_products=120))
    return normalise_transactions(raw), truth, curves


def test_same_seed_same_store_and_another_seed_another() -> None:
    cfg = StoreConfig(seed=3, n_products=6, start="2011-01-03", end="2011-05-01")
    first, again = generate(cfg), generate(cfg)
    for a, b in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(a, b)
    other = generate(StoreConfig(seed=4, n_products=6, start="2011-01-03", end="2011-05-01"))
    assert not first[0]["Quantity"].equals(other[0]["Quantity"])


def test_stored_optimum_is_the_argmax_of_the_stored_true_curve_in_its_band(store) -> None:
    _, truth, curves = store
    for _, row in truth.iterrows():
        curve = curves[curves["stock_code"] == row["stock_code"]]
        # The stored curve is the truth function itself, not an approximation of it.
        exact = expected_outcomes(row, curve["list_price"].to_numpy())
        np.testing.assert_allclose(curve["margin"].to_numpy(), exact["margin"].to_numpy(), rtol=1e-12)
        current = float(row["current_list_price"])
        for objective, guardrail in SETTINGS:
            name = setting_name(objective, guardrail)
            best = float(row[f"optimal_price_{name}"])
            low, high = simulated_store.guardrail_band(
                current, guardrail, float(row["unit_cost"]) if objective == "margin" else None
            )
            assert low - 1e-9 <= best <= high + 1e-9
            allowed = curve[(curve["list_price"] >= low - 1e-9) & (curve["list_price"] <= high + 1e-9)]
            assert float(allowed[objective].max()) == pytest.approx(float(row[f"optimal_value_{name}"]))
            assert float(expected_outcomes(row, best)[objective].iloc[0]) == pytest.approx(allowed[objective].max())


def test_demand_falls_as_the_list_price_rises_and_margin_has_an_interior_optimum(store) -> None:
    _, truth, curves = store
    for code, curve in curves.groupby("stock_code"):
        assert (np.diff(curve["units"].to_numpy()) < 0).all(), code
    prices = truth["optimal_price_margin_unbounded"] / truth["current_list_price"]
    assert (prices > 0.5).all() and (prices < 2.0).all()  # never on the stored curve's edge
    # Current prices are away from the optimum by a realistic spread: some near, some 10-30 % off.
    off = np.abs(np.log(prices))
    assert 0.2 < (off < 0.03).mean() < 0.5 and 0.2 < (off > 0.1).mean() < 0.5


def test_elasticity_of_units_is_the_stated_one(store) -> None:
    """Away from the quantity band and the rounding, units respond to the list with the product's elasticity."""
    _, truth, _ = store
    row = truth.iloc[0].copy()
    row["band_ratio"] = 1.0
    p = float(row["current_list_price"])
    units = expected_outcomes(row, np.array([p * 0.97, p * 1.03]))["units"].to_numpy()
    arc = np.log(units[1] / units[0]) / np.log(1.03 / 0.97)
    assert arc == pytest.approx(float(row["elasticity"]), abs=0.15)


def test_simulated_order_sizes_follow_the_truth(store) -> None:
    """The generator draws from the distribution the truth function sums over (registered units per order)."""
    transactions, truth, _ = store
    lines = price_list.usable_lines(transactions)
    lines = lines[lines["customer_id"].notna()]
    ratios = []
    for code, rows in lines.groupby("stock_code"):
        row = truth.set_index("stock_code").loc[code]
        if row["list_changes"]:
            continue
        expected = expected_outcomes(row, float(row["current_list_price"]))["registered_units_per_order"].iloc[0]
        ratios.append(rows["quantity"].clip(upper=2000).mean() / expected)
    assert np.median(ratios) == pytest.approx(1.0, abs=0.08)


def test_expected_weekly_units_are_what_the_store_sells_each_week(store) -> None:
    """The perfect forecast of the mean the forecast benchmark compares with: summed over the catalogue,
    each week's cleaned units are within 20 % of it, partial first and last weeks included (the season
    and the trading days it covers), and the year's within 5 % (cleaning drops the cancelled lines)."""
    transactions, truth, _ = store
    truth = truth.set_index("stock_code")
    observed, expected = [], []
    for code, rows in transactions[transactions["stock_code"].isin(truth.index)].groupby("stock_code"):
        panel = price_list.weekly_demand(cleaning.clean_transactions(rows, str(code))[0])
        weeks = pd.DatetimeIndex(panel["week"])
        units = simulated_store.expected_weekly_units(
            truth.loc[code], weeks, panel["list_price"].to_numpy(), StoreConfig(seed=11, n_products=120)
        )
        observed.append(pd.Series((panel["registered_units"] + panel["guest_units"]).to_numpy(), index=weeks))
        expected.append(pd.Series(units, index=weeks))
    observed_weekly, expected_weekly = (pd.concat(s).groupby(level=0).sum() for s in (observed, expected))
    ratio = observed_weekly / expected_weekly
    assert len(ratio) >= 50 and ratio.between(0.8, 1.2).all(), ratio[~ratio.between(0.8, 1.2)]
    assert observed_weekly.sum() / expected_weekly.sum() == pytest.approx(0.985, abs=0.05)
    with pytest.raises(ValueError, match="outside the store's calendar"):
        simulated_store.expected_weekly_units(truth.iloc[0], pd.DatetimeIndex(["2012-06-04"]), np.array([1.0]))


def test_fresh_draws_of_a_products_demand_are_its_demand_and_their_median_is_below_the_mean(store) -> None:
    """The perfect forecast of the median the forecast benchmark compares with: fresh draws of one product's
    weekly units average to its exact expected units (so they are that product's demand, at its list prices,
    in the right weeks), the draws differ from the store's own sales, and the median of lumpy weeks sits
    below the mean."""
    _, truth, _ = store
    cfg = StoreConfig(seed=11, n_products=120)
    row = truth.sort_values("registered_rate", ascending=False).iloc[0]
    weeks = simulated_store._weeks(cfg)[20:30]
    path = np.asarray(simulated_store._products_of(cfg)[row["stock_code"]]["path"])[20:30]
    draws = simulated_store.weekly_units_draws(row["stock_code"], weeks, draws=1500, cfg=cfg)
    expected = simulated_store.expected_weekly_units(row, weeks, path, cfg)
    assert draws.shape == (1500, 10)
    assert np.allclose(draws.mean(axis=0), expected, rtol=0.06)
    assert (np.median(draws, axis=0) < expected).all()
    assert draws.std(axis=0).min() > 0
    with pytest.raises(ValueError, match="not one of the store's 120 products"):
        simulated_store.weekly_units_draws("99999Z", weeks, cfg=cfg)
    with pytest.raises(ValueError, match="outside the store's calendar"):
        simulated_store.weekly_units_draws(row["stock_code"], pd.DatetimeIndex(["2012-06-04"]), cfg=cfg)


def test_price_setting_reproduces_the_dev_file_within_tolerance(store) -> None:
    transactions, _, _ = store
    eligible = eligible_stockcodes(stockcode_history(transactions), 150, 60)
    profile = price_list.price_setting_profile(transactions, eligible, "2010-12-01", "2011-08-31")
    for name, target in DEV_FILE_PROFILE.items():
        assert abs(profile[name] - target) <= TOLERANCE[name], (name, profile[name], target)


def test_the_list_price_is_recovered_from_the_prices_paid(store) -> None:
    transactions, truth, _ = store
    truth = truth.set_index("stock_code")
    weekly = price_list.weekly_list_prices(transactions)
    products = transactions[transactions["stock_code"].isin(set(truth.index))]
    current = {code: price_list.current_list_price(rows) for code, rows in products.groupby("stock_code")}
    known = sorted(current)
    assert np.mean([current[c] == pytest.approx(truth.loc[c, "current_list_price"]) for c in known]) >= 0.98
    changes = weekly.groupby("stock_code")["list_price"].agg(lambda s: int((s.diff().fillna(0) != 0).sum()))
    assert np.mean([changes[c] == truth.loc[c, "list_changes"] for c in known]) >= 0.95
    guest = weekly.groupby("stock_code")["guest_price"].last() / weekly.groupby("stock_code")["list_price"].last()
    assert (np.abs(guest[known] - truth.loc[known, "guest_ratio"]) < 0.02).mean() >= 0.95


def test_store_source_through_load_source_keeps_its_truth() -> None:
    data = load_source("store", None, seed=5, synthetic_products=4)
    assert data.description == "store(seed=5, products=4)"
    assert set(data.ground_truth["stock_code"]) == set(data.true_curves["stock_code"])
    assert set(data.ground_truth["stock_code"]) <= set(data.transactions["stock_code"])


def test_too_short_a_window_is_refused_in_words() -> None:
    with pytest.raises(ValueError, match="at least eight weeks"):
        generate(StoreConfig(n_products=2, start="2011-01-03", end="2011-01-20"))


def test_dev_file_profile_is_what_the_store_is_calibrated_on() -> None:
    from pricing_assets_tests import components

    components.require("dev-data")
    dev = load_source("uci", str(components.dev_data_file())).transactions
    eligible = eligible_stockcodes(stockcode_history(dev), 150, 60)
    profile = price_list.price_setting_profile(dev, eligible)
    for name, value in DEV_FILE_PROFILE.items():
        assert profile[name] == pytest.approx(value, rel=0.01, abs=0.002), name
