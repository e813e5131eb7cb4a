"""The recommendation valued at the weekly forecast: the forecast sets the level of the recent mix, its level
uncertainty widens the intervals, and neither moves the price that is best."""

import numpy as np
import pytest

from pricing_assets.core import recommendation
from pricing_assets.core.recommendation import ObservedMix, RecommendationConfig
from pricing_assets.core.recommendation_inputs import RecommendationInputs

MIX = ObservedMix(2.0, regular_units=6.0, band_units=3.0, guest_units=1.0, band_ratio=0.85, guest_ratio=2.0, weeks=13)
CONFIG = RecommendationConfig("margin", 0.15, draws=400, seed=7)
LEVELS = np.random.default_rng(3).choice([0.6, 0.8, 1.0, 1.2, 1.4], 400)  # a forecast level known to +-40 %


def test_the_mix_at_the_forecast_keeps_the_recent_shares_at_the_forecast_total():
    mix = recommendation.mix_at_forecast(MIX, registered_units=30.0, guest_units=4.5)  # 34.5 units, 3.45 x 10
    assert (mix.regular_units, mix.band_units, mix.guest_units) == pytest.approx((20.7, 10.35, 3.45))
    # What each kind of line pays, the list and the weeks measured stay as observed.
    assert (mix.current_list_price, mix.band_ratio, mix.guest_ratio, mix.weeks) == (2.0, 0.85, 2.0, 13)
    # So the best price is the observed mix's, whatever the forecast's split between the lists.
    for registered, guest in ((30.0, 4.5), (4.5, 30.0)):
        at_forecast = recommendation.recommend(
            recommendation.mix_at_forecast(MIX, registered, guest), -2.5, 0.02, 1.0, 0.9, False, CONFIG
        )
        assert at_forecast["recommended_list_price"] == recommend(-2.5)["recommended_list_price"]
    # Nothing sold in the recent weeks: the forecast's split, the registered units all at the list.
    nothing = ObservedMix(2.0, 0.0, 0.0, 0.0, 1.0, 2.0, 13)
    mix = recommendation.mix_at_forecast(nothing, registered_units=5.0, guest_units=2.0)
    assert (mix.regular_units, mix.band_units, mix.guest_units) == (5.0, 0.0, 2.0)


def recommend(elasticity, levels=None, mix=MIX, se=0.02):
    return recommendation.recommend(mix, elasticity, se, 1.0, 0.9, False, CONFIG, levels)


@pytest.mark.parametrize("elasticity", [-2.2, -3.0, -4.5])
def test_the_level_uncertainty_widens_the_expected_change_but_not_the_price(elasticity):
    known, unsure = recommend(elasticity), recommend(elasticity, LEVELS)
    for key in ("recommended_list_price", "best_list_price_in_band", "optimal_list_price_interval", "action"):
        assert unsure[key] == known[key], key
    assert not unsure["hold"]  # a sure gain either way: the width changes, not the decision
    for name in ("units", "revenue", "margin"):
        narrow, wide = known["expected_change"][name]["interval"], unsure["expected_change"][name]["interval"]
        assert wide[1] - wide[0] > 1.5 * (narrow[1] - narrow[0]), name
        assert unsure["expected_change"][name]["mean"] == pytest.approx(known["expected_change"][name]["mean"], rel=0.1)


def test_a_week_forecast_to_sell_nothing_does_not_hold_a_sure_move():
    """Intermittent demand: one level draw in ten is a week with no sale (the forecast's residuals put both
    lists at 0). Such a draw scales the gain to 0, it is no evidence against the price: the move stays."""
    quiet = np.where(np.arange(400) % 10 == 0, 0.0, LEVELS)
    for elasticity in (-2.2, -3.0):
        known, unsure = recommend(elasticity), recommend(elasticity, quiet)
        assert not known["hold"]
        assert not unsure["hold"], unsure["hold_reason"]
        assert unsure["recommended_list_price"] == known["recommended_list_price"]
        assert unsure["expected_change"]["margin"]["interval"][0] == 0.0  # the shown interval keeps the quiet weeks
    # And an unsure response still holds, whatever the level.
    assert recommend(-2.0, quiet, se=1.5)["hold"]


def test_a_level_that_is_surely_higher_scales_the_change_and_keeps_the_price():
    known, doubled = recommend(-3.0), recommend(-3.0, np.full(400, 2.0))
    assert doubled["recommended_list_price"] == known["recommended_list_price"]
    for name in ("units", "revenue", "margin"):
        assert doubled["expected_change"][name]["mean"] == pytest.approx(2 * known["expected_change"][name]["mean"])


def test_the_curve_bands_carry_the_level_and_the_point_does_not():
    prices = recommendation.pence_grid(1.5, 2.5)
    known = recommendation.recommendation_curve(MIX, -2.5, 0.02, 0.9, prices, 7)
    unsure = recommendation.recommendation_curve(MIX, -2.5, 0.02, 0.9, prices, 7, level_factors=LEVELS)
    for name in ("units", "revenue", "margin"):
        assert np.allclose(unsure[name], known[name])
        assert ((unsure[f"{name}_high"] - unsure[f"{name}_low"]) > (known[f"{name}_high"] - known[f"{name}_low"])).all()


def test_inputs_keep_the_level_factors_and_old_inputs_have_none():
    inputs = RecommendationInputs(MIX, -2.5, 0.02, 1.0, 0.9, False, CONFIG, tuple(float(f) for f in LEVELS))
    again = RecommendationInputs.from_dict(inputs.to_dict())
    assert again == inputs and again.recommend() == inputs.recommend() == recommend(-2.5, LEVELS)
    old = inputs.to_dict()
    del old["level_factors"]  # a bundle promoted before the weekly forecast
    assert RecommendationInputs.from_dict(old).level_factors == ()
    assert RecommendationInputs.from_dict(old).recommend() == recommend(-2.5)


@pytest.mark.parametrize("quiet", [0, 3, 4, 15])
def test_a_product_without_a_sale_for_weeks_is_held_whatever_its_estimate(quiet):
    """A sure move (a precise, steep response) is made up to ``max_weeks_without_sales - 1`` quiet weeks, held from
    there with the reason; a guard of 0 never holds for it, and below cost it still holds (it is not selling)."""
    from dataclasses import replace

    mix = replace(MIX, weeks_without_sales=quiet)
    answer = recommend(-3.0, mix=mix)
    assert answer["hold"] == (quiet >= 4)
    if quiet >= 4:
        assert answer["hold_reason"] == (
            f"no sale in the last {quiet} weeks: the data cannot support a move (is it still stocked?)"
        )
        assert answer["recommended_list_price"] == MIX.current_list_price
        below_cost = recommendation.recommend(mix, -3.0, 0.02, 1.0, 2.5, False, CONFIG)
        assert below_cost["hold"] and below_cost["hold_reason"].startswith("no sale")
    never = recommendation.recommend(mix, -3.0, 0.02, 1.0, 0.9, False, replace(CONFIG, max_weeks_without_sales=0))
    assert not never["hold"]
