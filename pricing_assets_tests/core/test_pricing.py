"""Price curves over wholesale list prices: the forecast moved along the price response, charged by store policy."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing_assets.core import pricing, recommendation
from pricing_assets.core.forecast import forecast_next_week
from pricing_assets.core.models import CANDIDATE_KINDS
from pricing_assets.core.models.linear import LinearModel
from pricing_assets.core.recommendation import ObservedMix, RecommendationConfig
from pricing_assets.core.recommendation_inputs import RecommendationInputs

MIX = ObservedMix(2.0, regular_units=6.0, band_units=3.0, guest_units=1.0, band_ratio=0.85, guest_ratio=2.0, weeks=13)
PAID = 6.0 + 3.0 * 0.85 + 1.0 * 2.0  # list-price equivalents paid per unit of the mix at the current list


def inputs(elasticity=-2.0, se=0.0, mix=MIX, cost=0.9, levels=(), objective="margin", guardrail=0.15):
    config = RecommendationConfig(objective, guardrail, draws=200, seed=7)
    return RecommendationInputs(mix, elasticity, se, 1.0, cost, False, config, tuple(levels))


def by_list(preprocessor, registered_log: float, guest_log: float) -> LinearModel:
    """A model that predicts ``registered_log`` for the registered list's row and ``guest_log`` for the guest's."""
    coef = [0.0] * len(preprocessor.feature_names)
    coef[preprocessor.feature_names.index("customer_type=guest")] = guest_log - registered_log
    return LinearModel(coef, registered_log, "elasticnet")


def test_the_curve_is_the_mix_moved_along_a_constant_elasticity():
    """q(p) = 10 (p / 2) ** -2 units a week; revenue p x PAID x (p / 2) ** -2; margin that less 0.9 a unit."""
    prices = np.linspace(1.0, 4.0, 31)
    curve = pricing.list_price_curve(inputs(), prices)
    assert list(curve.columns) == list(pricing.CURVE_COLUMNS) and curve["unit_price"].tolist() == prices.tolist()
    scale = (prices / 2.0) ** -2.0
    assert np.allclose(curve["quantity"], 10.0 * scale)
    assert np.allclose(curve["sales"], prices * PAID * scale)
    assert np.allclose(curve["margin"], curve["sales"] - 0.9 * curve["quantity"])
    # No uncertainty (standard error 0, no level draws): the bands are the curve.
    for name in ("quantity", "sales", "margin"):
        assert np.allclose(curve[f"{name}_low"], curve[name]) and np.allclose(curve[f"{name}_high"], curve[name])
    # Another unit cost moves the margin only.
    cheaper = pricing.list_price_curve(inputs(), prices, unit_cost=0.5)
    assert np.allclose(cheaper["sales"], curve["sales"])
    assert np.allclose(cheaper["margin"], cheaper["sales"] - 0.5 * cheaper["quantity"])


def test_uncertainty_makes_bands_around_the_curve():
    prices = np.linspace(1.5, 2.5, 21)
    curve = pricing.list_price_curve(inputs(se=0.4, levels=(0.8, 1.0, 1.2)), prices)
    for name in ("quantity", "sales", "margin"):
        assert (curve[f"{name}_low"] <= curve[name] + 1e-9).all() and (
            curve[name] <= curve[f"{name}_high"] + 1e-9
        ).all()
        assert (curve[f"{name}_high"] - curve[f"{name}_low"] > 0).all()


def test_the_bands_are_the_quantiles_of_each_outcome_over_the_draws():
    """Each band is its outcome's 2.5 and 97.5 % quantiles over the elasticity x level draws (the answer's),
    where the margin is a loss (below cost) too."""
    given = inputs(se=0.5, levels=(0.6, 0.9, 1.0, 1.3), cost=1.9)
    prices = np.linspace(1.0, 3.0, 41)
    curve = pricing.list_price_curve(given, prices)
    elasticities = recommendation.elasticity_draws(-2.0, 0.5, 200, 7)
    levels = recommendation.level_draws(given.level_factors, 200, 7)
    scale = (prices[None, :] / 2.0) ** elasticities[:, None] * levels[:, None]
    units = 10.0 * scale
    sales = prices * PAID * scale
    margin = sales - 1.9 * units
    assert (margin[:, 0] < 0).all() and (margin[:, -1] > 0).all()  # a loss at the cheapest price, a gain at the dearest
    for name, drawn in (("quantity", units), ("sales", sales), ("margin", margin)):
        low, high = np.quantile(drawn, [0.025, 0.975], axis=0)
        np.testing.assert_allclose(curve[f"{name}_low"], low, rtol=1e-9, err_msg=name)
        np.testing.assert_allclose(curve[f"{name}_high"], high, rtol=1e-9, err_msg=name)


@pytest.mark.parametrize("objective,column", [("margin", "margin"), ("revenue", "sales")])
@pytest.mark.parametrize("elasticity", [-1.6, -2.4, -3.5])
def test_the_recommendation_is_the_peak_of_its_curve(objective, column, elasticity):
    """Over every whole-pence list price of the guardrail band, the best in band is where the curve peaks."""
    given_inputs = inputs(elasticity, se=0.3, objective=objective, guardrail=0.4)
    answer = given_inputs.recommend()
    low, high = answer["guardrail"]
    prices = recommendation.pence_grid(low, high)
    curve = pricing.list_price_curve(given_inputs, prices)
    assert answer["best_list_price_in_band"] == pytest.approx(prices[int(np.argmax(curve[column]))])


def test_a_models_curve_moves_its_own_forecast_along_the_response(preprocessor, next_rows):
    """A fallback model forecasting 2 and 3 on the log scale (registered, guest): its curve is the bundle's inputs
    with its own forecast as the mix and its residuals as the level draws."""
    model = by_list(preprocessor, 2.0, 3.0)
    residuals = [-0.3, 0.0, 0.3]
    given_inputs = inputs(elasticity=-2.5, se=0.2)
    prices = np.linspace(1.6, 2.4, 9)  # 2.0, today's list, is the fifth
    result = pricing.predict_curve(model, preprocessor, next_rows, given_inputs, residuals, prices)
    assert result.model == "elasticnet"
    assert result.summary() == {"price_min": 1.6, "price_max": 2.4, "bins": 9}
    registered = np.mean(np.expm1(2.0 + np.array(residuals)))
    guest = np.mean(np.expm1(3.0 + np.array(residuals)))
    assert result.curve["quantity"].iloc[4] == pytest.approx(registered + guest)
    mix = recommendation.mix_at_forecast(MIX, registered, guest)
    assert mix.band_units / (mix.regular_units + mix.band_units) == pytest.approx(1 / 3)
    forecast = forecast_next_week(model, preprocessor, next_rows, residuals, given_inputs.config.seed)
    expected = pricing.list_price_curve(
        replace(given_inputs, mix=mix, level_factors=tuple(forecast.level_factors)), prices
    )
    assert np.allclose(result.curve.to_numpy(dtype=float), expected.to_numpy(dtype=float))
    # The champion's curve (the inputs as bundled) is another one: this is the model's own.
    assert not np.allclose(pricing.list_price_curve(given_inputs, prices)["quantity"], result.curve["quantity"])


def test_bad_curves_are_refused(preprocessor, next_rows):
    broken = LinearModel([float("nan")] * len(preprocessor.feature_names), 0.0, "elasticnet")
    with pytest.raises(FloatingPointError, match="non-finite"):
        pricing.predict_curve(broken, preprocessor, next_rows, inputs(), [0.0], np.array([1.0, 2.0]))
    model = by_list(preprocessor, 1.0, 1.0)
    for prices in ([2.0, 1.0], [1.0], [0.0, 1.0], [1.0, 1.0]):
        with pytest.raises(ValueError, match="increasing"):
            pricing.predict_curve(model, preprocessor, next_rows, inputs(), [0.0], np.array(prices))
        with pytest.raises(ValueError, match="increasing"):
            pricing.list_price_curve(inputs(), np.array(prices))


def test_list_price_grid():
    grid = pricing.list_price_grid(1.7, 2.3, 7)
    assert np.allclose(grid, [1.7, 1.8, 1.9, 2.0, 2.1, 2.2, 2.3])
    assert np.allclose(pricing.list_price_grid(2.0, 2.0, 3), [1.8, 2.0, 2.2])  # one price: 10 % either side
    for bins in (1, pricing.MAX_BINS + 1):
        with pytest.raises(ValueError, match="bins"):
            pricing.list_price_grid(1.0, 2.0, bins)
    for low, high in ((0.0, 1.0), (2.0, 1.0), (1.0, float("inf")), (float("nan"), 1.0)):
        with pytest.raises(ValueError, match="positive, finite and in order"):
            pricing.list_price_grid(low, high, 5)


@pytest.fixture(scope="module")
def fitted(candidates, design, product_lines):
    """Every candidate kind with its validation residuals, and the product's observed mix."""
    residuals = {}
    for kind, candidate in candidates.items():
        predicted = np.clip(candidate.model.predict_log(design.x["validation"]), 0.0, None)
        residuals[kind] = (design.y["validation"] - predicted).tolist()
    return candidates, residuals, recommendation.observed_mix(product_lines)


def non_increasing(values) -> bool:
    values = np.asarray(values, dtype=float)
    return bool(np.all(np.diff(values) <= 1e-9 * max(1.0, float(np.abs(values).max()))))


@pytest.mark.parametrize("kind", CANDIDATE_KINDS)
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    elasticity=st.floats(-6.0, 0.0),
    standard_error=st.floats(0.0, 2.0),
    low=st.floats(0.05, 3.0),
    span=st.floats(1.001, 8.0),
    bins=st.integers(2, 120),
    seed=st.integers(0, 2**16),
)
def test_demand_never_rises_with_the_list_price(
    fitted, preprocessor, next_rows, kind, elasticity, standard_error, low, span, bins, seed
):
    """For every kind of candidate (the baselines included) and any elasticity <= 0: the expected weekly units, and
    both ends of their band, never rise with the list price, on the model's curve and on the inputs' own."""
    candidates, residuals, mix = fitted
    config = RecommendationConfig("margin", 0.15, draws=100, seed=seed)
    given_inputs = RecommendationInputs(
        mix, elasticity, standard_error, 1.0, 0.4 * mix.current_list_price, False, config
    )
    prices = np.linspace(low, low * span, bins) * mix.current_list_price
    curve = pricing.predict_curve(
        candidates[kind].model, preprocessor, next_rows, given_inputs, residuals[kind], prices
    )
    frame = curve.curve
    assert curve.model == kind and np.isfinite(frame.to_numpy(dtype=float)).all()
    for column in ("quantity", "quantity_low", "quantity_high"):
        assert non_increasing(frame[column]), column
    assert (frame["quantity_low"] >= 0).all()
    bundled = pricing.list_price_curve(replace(given_inputs, level_factors=(0.7, 1.0, 1.4)), prices)
    for column in ("quantity", "quantity_low", "quantity_high"):
        assert non_increasing(bundled[column]), column
