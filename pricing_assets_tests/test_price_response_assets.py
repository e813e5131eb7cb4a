"""The price-response assets through Dagster: the catalogue learned with the source load, then per stockcode."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, asset, materialize

from pricing_assets.assets.catalogue_price_response import catalogue_price_response
from pricing_assets.assets.price_response import (
    list_price_recommendation,
    stockcode_price_response,
    weekly_demand,
)
from pricing_assets.assets.transactions import cleaned_transactions, raw_transactions
from pricing_assets.core import price_list
from pricing_assets.core.forecast import WeeklyForecast
from pricing_assets.core.sources import load_source
from pricing_assets.definitions import build_resources
from pricing_assets.partitions import register_stockcodes, stockcode_partitions

LEVEL_FACTORS = (0.8, 0.9, 1.0, 1.1, 1.2)
QUIET = {"weeks": 0}  # weeks without a sale between the last sale and the week the stand-in forecasts


@asset(name="demand_forecast", partitions_def=stockcode_partitions, group_name="stockcode")
def recent_mean_forecast(weekly_demand: pd.DataFrame) -> dict:
    """Stands in for the champion's forecast (which needs the trained models): the mean units of each price
    list over the last 4 weeks, with a level spread of +-20 %. The recommendation is valued at it."""
    last = weekly_demand.sort_values("week").tail(4)
    return WeeklyForecast(
        week=str((last["week"].iloc[-1] + pd.Timedelta(weeks=1 + QUIET["weeks"])).date()),
        model="recent mean (test stand-in)",
        list_price=float(last["list_price"].iloc[-1]),
        registered_units=float(last["registered_units"].mean()),
        guest_units=float(last["guest_units"].mean()),
        units_interval=[0.8 * float(last["units"].mean()), 1.2 * float(last["units"].mean())],
        level_factors=list(LEVEL_FACTORS),
    ).to_dict()


ASSETS = [
    raw_transactions,
    catalogue_price_response,
    cleaned_transactions,
    weekly_demand,
    stockcode_price_response,
    recent_mean_forecast,
    list_price_recommendation,
]
PER_STOCKCODE = [
    cleaned_transactions,
    weekly_demand,
    stockcode_price_response,
    recent_mean_forecast,
    list_price_recommendation,
]
SOURCE = {"source": "store", "synthetic_products": 30, "seed": 7}


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst


def _materialize(instance, settings, selection, partition=None, source=SOURCE, costs=None, decision=None):
    ops = {}
    if raw_transactions in selection:
        ops["raw_transactions"] = {"config": source}
    if costs is not None or decision:
        config = {**({"costs": str(costs)} if costs is not None else {}), **(decision or {})}
        ops["list_price_recommendation"] = {"config": config}
    return materialize(
        ASSETS,
        selection=selection,
        partition_key=partition,
        instance=instance,
        resources=build_resources(settings),
        run_config={"ops": ops} if ops else None,
    )


def test_stockcode_response_combines_its_own_changes_with_the_catalogue(instance, settings, tmp_path):
    assert _materialize(instance, settings, [raw_transactions, catalogue_price_response]).success
    catalogue = instance.get_latest_materialization_event(AssetKey("catalogue_price_response")).asset_materialization
    assert catalogue.metadata["stockcodes_with_list_changes"].value >= 1
    truth = load_source("store", None, 7, 30).ground_truth
    changed = truth.sort_values("largest_list_change").iloc[-1]["stock_code"]
    still = truth[truth["list_changes"] == 0].iloc[0]["stock_code"]
    register_stockcodes(instance, [changed, still])
    costs = tmp_path / "costs.csv"
    true_cost = float(truth.set_index("stock_code").loc[changed, "unit_cost"])
    costs.write_text(f"stockcode,unit_cost\n{changed},{true_cost}\n")
    results, answers = {}, {}
    for code in (changed, still):
        # The second with a lower gain confidence (PRICING_GAIN_CONFIDENCE through the asset's config).
        decision = {"gain_confidence": 0.9} if code == still else None
        run = _materialize(instance, settings, PER_STOCKCODE, code, costs=costs, decision=decision)
        assert run.success
        results[code] = run.output_for_node("stockcode_price_response")
        answers[code] = run.output_for_node("list_price_recommendation")
        panel = run.output_for_node("weekly_demand")
        assert isinstance(panel, pd.DataFrame) and panel["week"].is_monotonic_increasing
        # Valued at the forecast it was given: next week's units per list and the level's uncertainty.
        forecast = run.output_for_node("demand_forecast")
        shown = run.asset_materializations_for_node("list_price_recommendation")[0].metadata
        expected_units = forecast["registered_units"] + forecast["guest_units"]
        assert shown["expected_weekly_units"].value == pytest.approx(expected_units, abs=1e-4)
        assert tuple(answers[code]["inputs"]["level_factors"]) == LEVEL_FACTORS
    mine, prior_only = results[changed], results[still]
    assert mine["own_weight"] > 0 and mine["list_changes"] >= 1
    assert prior_only["own_weight"] == 0 and prior_only["elasticity"] == pytest.approx(prior_only["prior_elasticity"])
    low, high = mine["interval"]
    assert low < mine["elasticity"] < high < 0
    event = instance.get_latest_materialization_event(AssetKey("stockcode_price_response")).asset_materialization
    assert {"elasticity", "interval_95", "own_weight"} <= set(event.metadata)
    # The recommendation: the file's cost where it has one, else the assumed ratio, flagged; inside its guardrail.
    known, assumed = answers[changed], answers[still]
    assert known["unit_cost"] == pytest.approx(true_cost) and known["cost_assumed"] is False
    assert assumed["cost_assumed"] is True
    assert assumed["unit_cost"] == pytest.approx(0.5 * assumed["current_list_price"], abs=1e-4)
    for answer in (known, assumed):
        low, high = answer["guardrail"]
        assert low <= answer["recommended_list_price"] <= high
        assert answer["hold"] == (answer["action"] == "hold") and (answer["hold_reason"] is not None) == answer["hold"]
    # What the decision says in the UI (its plot is the price curve's, drawn from this answer: test_lineage.py).
    shown = instance.get_latest_materialization_event(AssetKey("list_price_recommendation")).asset_materialization
    assert shown.metadata["expected_weekly_change"].value.startswith("| measure | expected | 95 % interval |")
    assert shown.metadata["action"].value == assumed["action"] and shown.metadata["objective"].value == "margin"
    assert (known["gain_confidence"], assumed["gain_confidence"]) == (settings.gain_confidence, 0.9)
    assert shown.metadata["gain_confidence"].value == 0.9
    if assumed["gain_probability"] is not None:  # how sure the move (or the move not made) is
        assert shown.metadata["gain_probability"].value == pytest.approx(assumed["gain_probability"], abs=1e-4)


def test_a_source_without_list_changes_loads_and_says_the_response_is_not_identified(instance, settings, monkeypatch):
    """The synthetic source's prices vary by day, never as a list: nothing to learn, and the load still succeeds.
    The demand index is learned beside it from the same eligible panel, built once."""
    flat = {"source": "store", "synthetic_products": 3, "seed": 2}
    truth = load_source("store", None, 2, 3).ground_truth
    assert (truth["list_changes"] == 0).all()
    calls = []
    built = price_list.eligible_weekly_demand
    monkeypatch.setattr(price_list, "eligible_weekly_demand", lambda *a: calls.append(a) or built(*a))
    result = _materialize(instance, settings, [raw_transactions, catalogue_price_response], source=flat)
    assert result.success
    output = result.output_for_node("catalogue_price_response", "catalogue_price_response")
    assert output["identified"] is False and "no stockcode changed its list price" in output["reason"]
    index = result.output_for_node("catalogue_price_response", "catalogue_demand_index")
    assert len(index) > 0 and index["demand_index"].iloc[0] == 1.0
    assert len(calls) == 1  # one eligible panel for both catalogue assets


def test_a_product_that_stopped_selling_is_held_and_says_so(instance, settings, monkeypatch):
    """The week forecast lies six weeks after the last sale: the answer holds with that reason, whatever the
    estimate (PRICING_MAX_WEEKS_WITHOUT_SALES through the asset's config); with the guard off it does not."""
    assert _materialize(instance, settings, [raw_transactions, catalogue_price_response]).success
    code = load_source("store", None, 7, 30).ground_truth["stock_code"].iloc[0]
    register_stockcodes(instance, [code])
    monkeypatch.setitem(QUIET, "weeks", 6)
    run = _materialize(instance, settings, PER_STOCKCODE, code)
    answer = run.output_for_node("list_price_recommendation")
    assert answer["hold"] and answer["recommended_list_price"] == answer["current_list_price"]
    assert answer["hold_reason"].startswith("no sale in the last 6 weeks")
    assert answer["inputs"]["mix"]["weeks_without_sales"] == 6
    shown = run.asset_materializations_for_node("list_price_recommendation")[0].metadata
    assert shown["weeks_without_sales"].value == 6
    off = _materialize(instance, settings, PER_STOCKCODE, code, decision={"max_weeks_without_sales": 0})
    assert not str(off.output_for_node("list_price_recommendation")["hold_reason"]).startswith("no sale")
