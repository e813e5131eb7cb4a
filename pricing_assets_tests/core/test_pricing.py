import numpy as np
import pytest

from pricing_assets.core import pricing
from pricing_assets.core.features import PRICE_FEATURES
from pricing_assets.core.models.linear import LinearModel
from pricing_assets.core.synthetic import expected_quantity


def log_price_model(preprocessor, intercept: float, elasticity: float) -> LinearModel:
    """log1p(q) = intercept + elasticity * log(price), written on the preprocessor's scaled column."""
    column = preprocessor.feature_names.index("log_price")
    coef = [0.0] * len(preprocessor.feature_names)
    coef[column] = elasticity * preprocessor.scales[column]
    return LinearModel(coef, intercept + elasticity * preprocessor.means[column], "elasticnet")


def test_every_price_feature_is_recomputed_at_each_grid_price(product_features, preprocessor):
    scenario = pricing.scenario_rows(product_features, 90)
    prices = np.array([1.0, 2.0])
    matrix = pricing.grid_matrix(preprocessor, scenario, prices)
    assert matrix.shape == (2 * len(scenario), len(preprocessor.feature_names))
    for name in PRICE_FEATURES:
        column = preprocessor.numeric.index(name)
        raw = matrix[:, column] * preprocessor.scales[column] + preprocessor.means[column]
        at_one, at_two = raw[: len(scenario)], raw[len(scenario) :]
        if name == "log_price":
            assert np.allclose(at_one, 0.0, atol=1e-5) and np.allclose(at_two, np.log(2.0), atol=1e-5)
        else:
            assert np.allclose(at_two, 2 * at_one, rtol=1e-4)  # a ratio to a history statistic doubles
    # History features are the rows' own, unchanged by the price.
    other = preprocessor.numeric.index("past_lines_28d")
    assert np.array_equal(matrix[: len(scenario), other], matrix[len(scenario) :, other])


def test_optimum_of_a_known_curve(product_features, preprocessor):
    """With q = e^3 p^-0.5 - 1 the sales p*q keep rising: the optimum is the grid's top edge."""
    scenario = pricing.scenario_rows(product_features, 90)
    prices = pricing.price_grid(scenario, 40)
    curve = pricing.predict_curve(log_price_model(preprocessor, 3.0, -0.5), preprocessor, scenario, prices, [-0.1, 0.1])
    assert curve.optimal_price == pytest.approx(prices[-1]) and curve.optimum_on_edge
    frame = curve.curve
    assert (frame["quantity_low"] <= frame["quantity"]).all() and (frame["quantity"] <= frame["quantity_high"]).all()
    assert np.allclose(frame["sales"], frame["unit_price"] * frame["quantity"])
    expected = np.expm1(3.0 - 0.5 * np.log(prices))
    assert np.allclose(frame["quantity"], expected, rtol=1e-4)


def test_an_interior_optimum_is_found_and_not_flagged(product_features, preprocessor):
    """log1p(q) = 1.5 - 0.5 log p: sales e^1.5 sqrt(p) - p peak where p = (e^1.5 / 2)^2, about 5.02.

    Exact, not within a grid step: the answer is the grid price whose known sales are highest (one
    step off fails), and an interval around the point prediction must not move it (the upper band's
    own peak, with residual quantile +0.2, is near 7.5).
    """
    scenario = pricing.scenario_rows(product_features, 90)
    prices = np.linspace(1.0, 12.0, 111)  # a 0.1 step; the true optimum is 0.02 from 5.0, 0.08 from 5.1
    model = log_price_model(preprocessor, 1.5, -0.5)
    curve = pricing.predict_curve(model, preprocessor, scenario, prices, [-0.2, 0.2])
    known_sales = np.exp(1.5) * np.sqrt(prices) - prices
    assert np.allclose(curve.curve["sales"], known_sales, rtol=1e-5)
    assert curve.optimal_price == prices[np.argmax(known_sales)] == pytest.approx(5.0)
    assert curve.optimal_sales == pytest.approx(known_sales.max(), rel=1e-5)
    assert abs(curve.optimal_price - (np.exp(1.5) / 2) ** 2) < (prices[1] - prices[0]) / 2
    assert not curve.optimum_on_edge


def test_regret_is_zero_at_the_true_optimum_and_grows_away_from_it():
    a, b = 30.0, 0.5  # exponential: optimum at 1 / b = 2
    assert pricing.revenue_regret("exponential", a, b, 2.0) == pytest.approx(0.0, abs=1e-12)
    near, far = pricing.revenue_regret("exponential", a, b, 2.2), pricing.revenue_regret("exponential", a, b, 3.0)
    assert 0 < near < far
    best = 2.0 * expected_quantity("exponential", a, b, 2.0)
    assert far == pytest.approx(1 - 3.0 * expected_quantity("exponential", a, b, 3.0) / best)


@pytest.mark.parametrize("bins", [1, 5000])
def test_grid_size_is_bounded(product_features, bins):
    with pytest.raises(ValueError, match="bins"):
        pricing.price_grid(pricing.scenario_rows(product_features, 90), bins)


def test_scenario_is_the_latest_rows_and_bounded(product_features):
    scenario = pricing.scenario_rows(product_features, 90)
    assert pricing.MIN_SCENARIO_ROWS <= len(scenario) <= pricing.MAX_SCENARIO_ROWS
    assert scenario["invoice_date"].max() == product_features["invoice_date"].max()
    single = product_features.tail(40).assign(unit_price=2.5)
    grid = pricing.price_grid(pricing.scenario_rows(single, 90), 5)
    assert grid[0] < 2.5 < grid[-1]


def test_non_finite_predictions_are_refused(product_features, preprocessor):
    scenario = pricing.scenario_rows(product_features, 90)
    broken = LinearModel([float("nan")] * len(preprocessor.feature_names), 0.0, "elasticnet")
    with pytest.raises(FloatingPointError, match="non-finite"):
        pricing.predict_curve(broken, preprocessor, scenario, np.array([1.0, 2.0]), [0, 0])
    with pytest.raises(ValueError, match="increasing"):
        pricing.predict_curve(broken, preprocessor, scenario, np.array([2.0, 1.0]), [0, 0])
