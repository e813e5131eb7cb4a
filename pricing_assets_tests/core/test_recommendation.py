"""The recommendation valued at the weekly forecast: the forecast sets the level of the recent mix, its level
uncertainty widens the intervals, and neither moves the price that is best."""

from dataclasses import replace

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


def test_a_list_below_cost_is_raised_only_when_what_the_mix_pays_is_below_it():
    """Guests pay about twice the list: a list under the unit cost can still earn a margin, and the gain rule decides
    as for any product (it used to force a move to the point's best price, gaining on 8 % of the draws). When what
    the mix pays per unit is below the cost, any rise gains, so the move is made and says why."""
    guests = ObservedMix(
        1.65, regular_units=4.8, band_units=0.0, guest_units=5.2, band_ratio=1.0, guest_ratio=1.99, weeks=13
    )
    answer = recommendation.recommend(guests, -3.5, 0.4, 1.0, 1.70, False, CONFIG)
    assert not answer["selling_at_a_loss"]
    assert answer["hold"] or answer["gain_probability"] >= CONFIG.gain_confidence
    listed = ObservedMix(
        1.65, regular_units=10.0, band_units=0.0, guest_units=0.0, band_ratio=1.0, guest_ratio=2.0, weeks=13
    )
    loss = recommendation.recommend(listed, -3.5, 0.4, 1.0, 1.70, False, CONFIG)
    assert loss["selling_at_a_loss"] and loss["action"] == "increase"
    assert loss["recommended_list_price"] >= 1.70 and loss["gain_probability"] == 1.0
    assert recommendation.verdict(loss).endswith("today's price sells below the unit cost")


def test_a_cost_above_the_whole_band_stops_at_the_band_s_top_penny():
    mix = replace(MIX, current_list_price=2.95)
    answer = recommendation.recommend(mix, -2.0, 0.1, 1.0, 4.0, False, CONFIG)
    assert answer["guardrail"] == [3.39, 3.39]  # 2.95 x 1.15 = 3.3925: not 3.40, beyond the guardrail
    assert answer["recommended_list_price"] <= 3.39


def test_no_sale_forecast_next_week_holds_and_says_so():
    nothing = replace(MIX, regular_units=0.0, band_units=0.0, guest_units=0.0)
    answer = recommendation.recommend(nothing, -2.5, 0.3, 1.0, 0.9, False, CONFIG)
    assert answer["hold"] and not answer["capped"]
    assert answer["hold_reason"] == "no sale is forecast next week: there is no demand to price a move with"


@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.975, 0.999])
def test_a_move_gains_on_at_least_the_share_of_draws_asked(confidence):
    """Over random products, every move made gains on at least ``gain_confidence`` of the elasticity's draws
    (an interpolated quantile let 0.999 move with the lowest of 400 draws losing)."""
    rng = np.random.default_rng(5)
    moves = 0
    for _ in range(60):
        mix = replace(MIX, current_list_price=float(rng.uniform(0.5, 8.0)), guest_units=float(rng.uniform(0, 5)))
        config = replace(CONFIG, gain_confidence=confidence, guardrail=float(rng.choice([0.05, 0.15, 0.4])))
        cost = float(rng.uniform(0.2, 0.7)) * mix.current_list_price
        answer = recommendation.recommend(
            mix, float(rng.uniform(-4, -1)), float(rng.uniform(0.02, 1.5)), 1.0, cost, False, config
        )
        if not answer["hold"] and not answer["selling_at_a_loss"]:
            moves += 1
            assert answer["gain_probability"] >= confidence, answer
    assert moves >= 5


def test_at_0_999_one_losing_draw_in_400_holds(monkeypatch):
    """399 draws want a lower price, one (-1.8) loses on it: 99.75 % of the draws is short of the 99.9 % asked."""
    draws = np.full(400, -3.0)
    draws[0] = -1.8
    monkeypatch.setattr(recommendation, "elasticity_draws", lambda *args: draws)
    listed = replace(MIX, regular_units=10.0, band_units=0.0, guest_units=0.0)
    sure = replace(CONFIG, gain_confidence=0.999)
    assert recommendation.recommend(listed, -3.0, 0.1, 1.0, 1.0, False, sure)["hold"]
    assert not recommendation.recommend(listed, -3.0, 0.1, 1.0, 1.0, False, replace(sure, gain_confidence=0.99))["hold"]
