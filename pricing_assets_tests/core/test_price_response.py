"""The list-price response (pooled, then per stockcode) and the recommendation it drives, on the store source."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pricing_assets.core import price_list, price_response, recommendation, simulated_store
from pricing_assets.core.schema import normalise_transactions
from pricing_assets.core.simulated_store import StoreConfig
from pricing_assets.core.stockcodes import eligible_stockcodes, stockcode_history
from pricing_assets.settings import Settings


@pytest.fixture(scope="module")
def store() -> dict:
    """A store where list changes never land on a product's own seasonal bump: the response is identified.

    (Where they do, as in the default store, the bump and the move cannot be told apart from
    that product's data; ``bench/decision_quality.py`` measures what that costs.)
    """
    raw, truth, _ = simulated_store.generate(
        StoreConfig(seed=11, n_products=80, change_probability=0.4, seasonal_change_share=0.0)
    )
    data = normalise_transactions(raw)
    eligible = eligible_stockcodes(stockcode_history(data), 150, 60)
    transactions = data[data["stock_code"].isin(eligible)]
    lines, panel = price_list.catalogue_weekly_demand(data, eligible)
    catalogue = price_response.estimate_catalogue_response(panel, lines)
    return {
        "transactions": transactions,
        "truth": truth.set_index("stock_code"),
        "lines": lines,
        "panel": panel,
        "catalogue": catalogue,
        "eligible": eligible,
    }


def test_catalogue_response_recovers_the_changers_elasticity_within_its_interval(store) -> None:
    catalogue, truth, panel = store["catalogue"], store["truth"], store["panel"]
    changers = [c for c, n in price_response.list_changes(panel).items() if n > 0]
    assert catalogue.changers >= 5
    true_mean = float(truth.loc[changers, "elasticity"].mean())
    low, high = catalogue.interval
    assert low <= true_mean <= high, (catalogue.elasticity, catalogue.standard_error, true_mean)
    assert catalogue.elasticity < -1.0  # elastic, as the store is


def test_per_stockcode_intervals_cover_the_true_elasticity(store) -> None:
    truth = store["truth"]
    moved = price_response.list_changes(store["panel"])
    codes = [c for c in store["eligible"] if moved.get(c, 0) > 0] + [
        c for c in store["eligible"] if not moved.get(c, 0)
    ][:15]
    responses = [
        price_response.stockcode_response(store["panel"], store["lines"], c, store["catalogue"]) for c in codes
    ]
    covered = [r.interval[0] <= truth.loc[r.stock_code, "elasticity"] <= r.interval[1] for r in responses]
    assert np.mean(covered) >= 0.85
    for r in responses:
        assert r.elasticity < 0  # demand falls as the own price rises
        if r.list_changes == 0:  # nothing of its own: the answer is the prior, and says so
            assert r.own_weight == 0 and r.elasticity == pytest.approx(store["catalogue"].elasticity)
        elif r.own_elasticity is not None:  # its own evidence narrowed the prior, without replacing it
            assert 0 < r.own_weight < 1 and r.standard_error < r.prior_standard_error
    # Its own list changes move a changer's answer towards its own truth: closer than the prior alone.
    changers = [r for r in responses if r.own_elasticity is not None]
    assert len(changers) >= 10
    own_error = np.mean([abs(r.elasticity - truth.loc[r.stock_code, "elasticity"]) for r in changers])
    prior_error = np.mean([abs(r.prior_elasticity - truth.loc[r.stock_code, "elasticity"]) for r in changers])
    assert own_error < 0.9 * prior_error, (own_error, prior_error)


def test_no_list_change_anywhere_is_refused_in_words(store) -> None:
    panel = store["panel"]
    stable = panel[price_response.list_changes(panel).reindex(panel["stock_code"]).to_numpy() == 0]
    with pytest.raises(ValueError, match="no stockcode changed its list price"):
        price_response.estimate_catalogue_response(stable, store["lines"])


def test_weekly_demand_keeps_weeks_without_sales(store) -> None:
    panel = store["panel"]
    for _, rows in panel.groupby("stock_code"):
        weeks = pd.DatetimeIndex(rows["week"])
        assert (weeks.to_series().diff().dropna() == pd.Timedelta(days=7)).all()
    assert (panel["units"] == 0).any()
    assert (panel["units"] == panel["registered_units"] + panel["guest_units"]).all()


def test_the_catalogue_learns_from_lines_cleaned_as_each_stockcodes_lineage_cleans_them(store) -> None:
    """A registered order later cancelled did not happen: the catalogue's weekly demand leaves it out, as the
    stockcode's own cleaned lines do (on raw lines one such order, of 1,930 units, moved the dev file's index by
    a quarter in its week); the same order not cancelled counts."""
    data = store["transactions"]
    code = store["eligible"][0]
    line = data[(data["stock_code"] == code) & data["customer_id"].notna()].iloc[[len(data) // 3 % 50]].copy()
    size = 2 * int(line["quantity"].iloc[0])  # within what is usual for the customer: no outlier
    order = line.assign(invoice_no="999001", quantity=size)
    cancel = line.assign(
        invoice_no="C999002", quantity=-size, invoice_date=line["invoice_date"] + pd.Timedelta(hours=2)
    )
    _, before = price_list.catalogue_weekly_demand(data, store["eligible"])
    _, after = price_list.catalogue_weekly_demand(pd.concat([data, order, cancel]), store["eligible"])
    pd.testing.assert_frame_equal(before, after)
    _, kept = price_list.catalogue_weekly_demand(pd.concat([data, order]), store["eligible"])  # not cancelled
    week = (line["invoice_date"].dt.to_period("W-SUN").dt.start_time).iloc[0]
    units = {
        name: t.set_index(["stock_code", "week"]).loc[(code, week), "registered_units"]
        for name, t in (("before", before), ("kept", kept))
    }
    assert units["kept"] == units["before"] + size


def test_observed_mix_measures_the_store_policy(store) -> None:
    truth = store["truth"]
    transactions = store["transactions"]
    for code in store["eligible"][:8]:
        mix = recommendation.observed_mix(transactions[transactions["stock_code"] == code])
        assert mix.current_list_price == pytest.approx(truth.loc[code, "current_list_price"])
        assert mix.guest_ratio == pytest.approx(truth.loc[code, "guest_ratio"], abs=0.02)
        if mix.band_units > 0:
            assert mix.band_ratio == pytest.approx(truth.loc[code, "band_ratio"], abs=0.02)


def test_observed_mix_counts_the_weeks_without_a_sale_before_the_week_forecast(store) -> None:
    """The weeks between the last sale and the week forecast; the mix itself is that of the last weeks with sales."""
    code = store["eligible"][0]
    lines = store["transactions"][store["transactions"]["stock_code"] == code]
    last_week = price_list.lines_with_list(lines)["week"].max()  # of its last usable sale line
    plain = recommendation.observed_mix(lines)
    for gap in (0, 1, 5):
        mix = recommendation.observed_mix(lines, forecast_week=last_week + pd.Timedelta(weeks=1 + gap))
        assert mix.weeks_without_sales == gap
        assert mix.units == pytest.approx(plain.units)
    assert plain.weeks_without_sales == 0  # no week forecast given: none counted


def _mix(regular: float, band: float, guest: float) -> recommendation.ObservedMix:
    return recommendation.ObservedMix(2.0, regular, band, guest, band_ratio=0.85, guest_ratio=2.0, weeks=13)


@pytest.mark.parametrize("elasticity", [-1.5, -2.0, -3.2])
def test_margin_optimum_is_the_known_answer(elasticity: float) -> None:
    cost = 0.9
    # Only lines at the list: the constant-elasticity formula, to the penny.
    best, edge = recommendation.best_list_price(_mix(10, 0, 0), elasticity, cost, "margin", cost, 10.0)
    assert not edge and best == pytest.approx(cost * elasticity / (1 + elasticity), abs=0.006)
    # With band and guest lines the effective price per unit is (sum of units x ratio) / units.
    mix = _mix(6, 3, 1)
    ratio = (6 + 3 * 0.85 + 1 * 2.0) / 10
    best, _ = recommendation.best_list_price(mix, elasticity, cost, "margin", cost, 10.0)
    assert best == pytest.approx(cost / ratio * elasticity / (1 + elasticity), abs=0.006)


def test_inelastic_estimate_runs_to_the_edge_and_says_so() -> None:
    best, edge = recommendation.best_list_price(_mix(10, 1, 1), -0.6, 0.5, "margin", 0.5, 6.0)
    assert edge and best == 6.0


def test_predicted_units_never_rise_with_the_list_price() -> None:
    prices = recommendation.pence_grid(0.5, 8.0)
    for elasticity in (-0.05, -1.0, -2.5):
        units = recommendation.expected_outcomes(_mix(5, 2, 1), elasticity, 0.4, prices)["units"].to_numpy()
        assert (np.diff(units) <= 0).all()


def _recommend(elasticity: float, se: float = 0.02, own_weight: float = 0.5, cost: float = 0.9, **config):
    """The decision with the product's default objective and guardrail (settings.py) unless ``config`` says."""
    defaults = Settings.from_env({})
    config = {"objective": defaults.objective, "guardrail": defaults.guardrail, **config}
    return recommendation.recommend(
        _mix(6, 3, 1), elasticity, se, own_weight, cost, False, recommendation.RecommendationConfig(**config)
    )


def test_a_sure_gain_beyond_the_guardrail_moves_to_the_band_edge_and_says_capped() -> None:
    answer = _recommend(-2.2)  # unconstrained margin optimum 1.56, below the band 1.70-2.30
    assert answer["unconstrained_optimum"] == pytest.approx(1.56, abs=0.011)
    assert answer["recommended_list_price"] == 1.70 and answer["capped"] and answer["action"] == "decrease"
    assert not answer["hold"] and answer["expected_change"]["margin"]["interval"][0] > 0
    assert recommendation.verdict(answer) == "decrease, capped by the guardrail"
    assert answer["guest_list_price"] == pytest.approx(1.70 * 2.0)


def test_an_unsure_gain_holds_the_current_price_and_says_why() -> None:
    answer = _recommend(-2.2, se=0.6)
    assert answer["hold"] and answer["recommended_list_price"] == 2.0
    assert "interval includes zero" in answer["hold_reason"]
    low, high = answer["optimal_list_price_interval"]
    assert low <= answer["best_list_price_in_band"] <= high and high - low > 0.1


def _sure_gain(price: float, elasticity: float, se: float, cost: float = 0.9, quantile: float = 0.025) -> float:
    """The ``quantile`` (2.5 % by default) over the recommendation's elasticity draws of the margin gain of
    ``price`` over 2.00, each draw valued on its own through the public ``expected_outcomes``."""
    gains = []
    for drawn in recommendation.elasticity_draws(elasticity, se, 400, 7):
        margins = recommendation.expected_outcomes(_mix(6, 3, 1), drawn, cost, np.array([2.0, price]))["margin"]
        gains.append(margins.iloc[1] - margins.iloc[0])
    return float(np.quantile(gains, quantile, method="lower"))  # the draw at the quantile, as recommend() takes it


def test_an_unsure_best_price_gives_way_to_the_shorter_step_whose_gain_is_sure() -> None:
    """The point estimate's best price (the band's edge, 1.70) may lose margin if demand is less elastic than
    estimated, but every plausible elasticity gains from part of the way down: the move goes to the price
    whose gain is surest, between today's and the best, and the band did not stop it (not capped)."""
    answer = _recommend(-2.2, se=0.25)
    assert answer["best_list_price_in_band"] == 1.70 and _sure_gain(1.70, -2.2, 0.25) < 0
    assert not answer["hold"] and answer["action"] == "decrease" and not answer["capped"]
    chosen = answer["recommended_list_price"]
    assert 1.70 < chosen < 2.0 and answer["expected_change"]["margin"]["interval"][0] > 0
    surest = _sure_gain(chosen, -2.2, 0.25)
    assert all(_sure_gain(p, -2.2, 0.25) <= surest + 1e-9 for p in recommendation.pence_grid(1.70, 2.30))
    assert answer["guest_list_price"] == pytest.approx(chosen * 2.0)
    assert recommendation.verdict(answer) == "decrease, short of the estimate's best 1.70, where the gain is surest"


def test_a_lower_gain_confidence_moves_where_the_default_holds() -> None:
    """PRICING_GAIN_CONFIDENCE: at 0.75 a move needs to gain on three draws in four, not on 97.5 %: the
    response the default holds on (its reason naming the 95 % interval) moves to the price whose 25 %
    quantile of gain is the largest; a wider response still holds, and the reason names the 50 % interval."""
    held = _recommend(-2.2, se=0.6)
    assert held["hold"] and "gain's 95 % interval includes zero" in held["hold_reason"]
    moved = _recommend(-2.2, se=0.6, gain_confidence=0.75)
    assert not moved["hold"] and moved["action"] == "decrease"
    chosen = moved["recommended_list_price"]
    surest = _sure_gain(chosen, -2.2, 0.6, quantile=0.25)
    assert surest > 0
    assert all(_sure_gain(p, -2.2, 0.6, quantile=0.25) <= surest + 1e-9 for p in recommendation.pence_grid(1.70, 2.30))
    wider = _recommend(-2.2, se=1.0, gain_confidence=0.75)
    assert wider["hold"] and "gain's 50 % interval includes zero" in wider["hold_reason"]
    with pytest.raises(ValueError, match="gain_confidence must be in"):
        _recommend(-2.2, gain_confidence=1.0)


@pytest.mark.parametrize("confidence", [0.975, 0.75])
@pytest.mark.parametrize("se", [0.02, 0.25, 0.6, 1.0])
@pytest.mark.parametrize("elasticity", [-0.6, -2.2, -3.5])
def test_the_gain_probability_says_how_sure_the_move_is(elasticity, se, confidence) -> None:
    """The share of the elasticity's draws on which the move gains: a move made reaches the gain confidence
    it was judged at, a hold for an unsure gain falls short of it (both within one draw in 400), and it is
    the share of the draws' own changes that are gains."""
    answer = _recommend(elasticity, se=se, gain_confidence=confidence)
    share = answer["gain_probability"]
    if answer["hold"] and "already the best" in answer["hold_reason"]:
        assert share is None
        return
    draws = recommendation.elasticity_draws(elasticity, se, 400, 7)
    target = answer["best_list_price_in_band"] if answer["hold"] else answer["recommended_list_price"]
    margins = [
        recommendation.expected_outcomes(_mix(6, 3, 1), d, 0.9, np.array([2.0, target]))["margin"] for d in draws
    ]
    assert share == pytest.approx(np.mean([m.iloc[1] - m.iloc[0] > 0 for m in margins]))
    if answer["hold"]:
        assert share <= confidence + 1 / 400
    else:
        assert share >= confidence - 1 / 400


def test_too_little_own_evidence_holds_when_a_setting_asks_for_it() -> None:
    answer = _recommend(-2.2, own_weight=0.1, min_own_weight=0.3)
    assert answer["hold"] and "catalogue prior" in answer["hold_reason"]


def test_inelastic_estimate_holds_instead_of_raising_without_bound() -> None:
    answer = _recommend(-0.6, guardrail=None)
    assert answer["hold"] and "not elastic enough" in answer["hold_reason"]
    assert answer["recommended_list_price"] == 2.0 and answer["unconstrained_optimum"] is None


def test_inelastic_estimate_within_a_guardrail_is_a_capped_move_when_its_gain_is_sure() -> None:
    """No optimum below 3x the price, but the guardrail bounds the move: a capped increase to its edge
    when every elasticity draw gains there, a hold for the gain's interval when some lose."""
    answer = _recommend(-0.6)  # default guardrail, band 1.70-2.30
    assert answer["action"] == "increase" and answer["capped"] and not answer["hold"]
    assert answer["recommended_list_price"] == 2.30 and answer["unconstrained_optimum"] is None
    assert answer["expected_change"]["margin"]["interval"][0] > 0
    unsure = _recommend(-0.6, se=1.5)  # draws down to about -3.5, where +15 % loses margin
    assert unsure["hold"] and "interval includes zero" in unsure["hold_reason"] and unsure["capped"]


def test_never_below_cost_and_never_outside_the_guardrail() -> None:
    for elasticity in (-1.2, -2.0, -4.0):
        for cost in (0.5, 1.8, 2.2):
            for objective in ("margin", "revenue"):
                answer = _recommend(elasticity, cost=cost, objective=objective)
                low, high = answer["guardrail"]
                assert low >= 1.70 - 1e-9 and high <= 2.30 + 1e-9
                assert low - 1e-9 <= answer["recommended_list_price"] <= high + 1e-9
                if objective == "margin" and not answer["hold"]:
                    assert answer["recommended_list_price"] >= cost


@pytest.mark.parametrize("guardrail", [1.0, 0.0, 1.5])
def test_a_guardrail_that_would_let_the_price_reach_nothing_is_refused_in_words(guardrail) -> None:
    """At 1 the band would start at a list price of 0, where demand is infinite and the revenue not a number:
    it recommended 0.00 with an expected change of nan."""
    with pytest.raises(ValueError, match="guardrail must be above 0 and below 1"):
        _recommend(-0.5, objective="revenue", guardrail=guardrail)
    assert _recommend(-0.5, objective="revenue", guardrail=0.99)["recommended_list_price"] >= 0.01


def test_revenue_with_elastic_demand_goes_to_the_lowest_allowed_price_capped() -> None:
    answer = _recommend(-2.5, objective="revenue")
    assert answer["recommended_list_price"] == 1.70 and answer["capped"] and not answer["hold"]


def test_costs_file_is_read_and_bad_ones_are_refused_in_words(tmp_path) -> None:
    good = tmp_path / "costs.csv"
    good.write_text("StockCode,Unit_Cost\n85123A,1.25\n22423 ,6.0\n")
    assert recommendation.read_unit_costs(str(good)) == {"85123A": 1.25, "22423": 6.0}
    assert recommendation.unit_cost_for("85123A", {"85123A": 1.25}, 2.95, 0.5) == (1.25, False)
    assert recommendation.unit_cost_for("21212", {"85123A": 1.25}, 0.55, 0.5) == (0.275, True)
    missing = tmp_path / "missing.csv"
    missing.write_text("stockcode,cost\n85123A,1.25\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['unit_cost'\]"):
        recommendation.read_unit_costs(str(missing))
    negative = tmp_path / "negative.csv"
    negative.write_text("stockcode,unit_cost\n85123A,-1\n22423,abc\n")
    with pytest.raises(ValueError, match="not positive numbers for \\['85123A', '22423'\\]"):
        recommendation.read_unit_costs(str(negative))
    with pytest.raises(ValueError, match="must be a .csv"):
        recommendation.read_unit_costs(str(tmp_path / "costs.xlsx"))
    # Numeric stockcodes stay as written, whatever the header's case; a row without one is refused, not read as nan.
    numeric = tmp_path / "numeric.csv"
    numeric.write_text("stockcode,unit_cost\n22423,6.0\n85099,1.0\n")
    assert recommendation.read_unit_costs(str(numeric)) == {"22423": 6.0, "85099": 1.0}
    numeric.write_text("stockcode,unit_cost\n22423,6.0\n85099,1.0\n,1.2\n")
    with pytest.raises(ValueError, match=r"has rows with no stockcode \(lines \[4\]\)"):
        recommendation.read_unit_costs(str(numeric))


def test_a_single_changer_still_gives_a_catalogue_response(store) -> None:
    """One product with a list change: no clusters to compare, so the errors are HAC, not a division by zero."""
    panel, lines = store["panel"], store["lines"]
    moved = price_response.list_changes(panel)
    one = moved[moved > 0].index[:1].tolist() + moved[moved == 0].index[:10].tolist()
    response = price_response.estimate_catalogue_response(
        panel[panel["stock_code"].isin(one)], lines[lines["stock_code"].isin(one)]
    )
    assert response.changers == 1 and np.isfinite(response.standard_error) and response.standard_error > 0


def test_an_elasticity_interval_never_says_demand_may_rise_with_the_price(store) -> None:
    """The interval shown is the one the answer's draws have: the normal's, capped at MAX_ELASTICITY."""
    draws = recommendation.elasticity_draws(-0.4, 1.0, 200_000, 7)
    low, high = price_response.elasticity_interval(-0.4, 1.0)
    assert high == np.quantile(draws, 0.975) == price_response.MAX_ELASTICITY
    assert low == pytest.approx(np.quantile(draws, 0.025), abs=0.02)
    assert price_response.elasticity_interval(-2.0, 0.1) == pytest.approx((-2.0 - 0.196, -2.0 + 0.196), abs=1e-3)
    assert _recommend(-0.4, se=1.0)["elasticity_interval"] == [low, high]
    wide = [
        price_response.stockcode_response(store["panel"], store["lines"], c, store["catalogue"])
        for c in store["eligible"]
    ]
    assert max(r.interval[1] for r in wide) <= price_response.MAX_ELASTICITY
    assert store["catalogue"].interval[1] <= price_response.MAX_ELASTICITY


def test_the_catalogue_result_says_why_when_nothing_can_be_learned(store, monkeypatch) -> None:
    """What catalogue_price_response stores and the benchmarks use, made one way: the response, or the reason."""
    from pricing_assets.core import demand_index

    learned = price_response.catalogue_result(store["panel"], store["lines"])
    assert learned["identified"] is True and learned["elasticity"] < 0
    assert price_response.CatalogueResponse.from_dict(learned).changers >= 1
    empty = price_response.catalogue_result(store["panel"].iloc[0:0], store["lines"].iloc[0:0])
    assert empty["identified"] is False and "catalogue panel is empty" in empty["reason"]

    def singular(*args, **kwargs):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(price_response, "estimate_catalogue_response", singular)
    unsolved = price_response.catalogue_result(store["panel"], store["lines"])
    assert unsolved == {"identified": False, "reason": "the estimator could not solve this panel (Singular matrix)"}
    table = demand_index.catalogue_index(store["panel"].iloc[0:0], store["lines"].iloc[0:0])
    assert table.empty and list(table.columns) == ["week", "demand_index", "complete"]
