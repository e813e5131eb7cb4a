"""The price-response assets through Dagster: the catalogue learned with the source load, then per stockcode."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from pricing_assets.assets.price_response import catalogue_price_response, stockcode_price_response, weekly_demand
from pricing_assets.assets.transactions import cleaned_transactions, raw_transactions
from pricing_assets.core.sources import load_source
from pricing_assets.definitions import build_resources
from pricing_assets.partitions import register_stockcodes

ASSETS = [raw_transactions, catalogue_price_response, cleaned_transactions, weekly_demand, stockcode_price_response]
SOURCE = {"source": "store", "synthetic_products": 30, "seed": 7}


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst


def _materialize(instance, settings, selection, partition=None, source=SOURCE):
    return materialize(
        ASSETS,
        selection=selection,
        partition_key=partition,
        instance=instance,
        resources=build_resources(settings),
        run_config={"ops": {"raw_transactions": {"config": source}}} if raw_transactions in selection else None,
    )


def test_stockcode_response_combines_its_own_changes_with_the_catalogue(instance, settings):
    assert _materialize(instance, settings, [raw_transactions, catalogue_price_response]).success
    catalogue = instance.get_latest_materialization_event(AssetKey("catalogue_price_response")).asset_materialization
    assert catalogue.metadata["stockcodes_with_list_changes"].value >= 1
    truth = load_source("store", None, 7, 30).ground_truth
    changed = truth.sort_values("largest_list_change").iloc[-1]["stock_code"]
    still = truth[truth["list_changes"] == 0].iloc[0]["stock_code"]
    register_stockcodes(instance, [changed, still])
    results = {}
    for code in (changed, still):
        run = _materialize(instance, settings, [cleaned_transactions, weekly_demand, stockcode_price_response], code)
        assert run.success
        results[code] = run.output_for_node("stockcode_price_response")
        panel = run.output_for_node("weekly_demand")
        assert isinstance(panel, pd.DataFrame) and panel["week"].is_monotonic_increasing
    mine, prior_only = results[changed], results[still]
    assert mine["own_weight"] > 0 and mine["list_changes"] >= 1
    assert prior_only["own_weight"] == 0 and prior_only["elasticity"] == pytest.approx(prior_only["prior_elasticity"])
    low, high = mine["interval"]
    assert low < mine["elasticity"] < high < 0
    event = instance.get_latest_materialization_event(AssetKey("stockcode_price_response")).asset_materialization
    assert {"elasticity", "interval_95", "own_weight"} <= set(event.metadata)


def test_a_source_without_list_changes_loads_and_says_the_response_is_not_identified(instance, settings):
    """The synthetic source's prices vary by day, never as a list: nothing to learn, and the load still succeeds."""
    flat = {"source": "store", "synthetic_products": 3, "seed": 2}
    truth = load_source("store", None, 2, 3).ground_truth
    assert (truth["list_changes"] == 0).all()
    result = _materialize(instance, settings, [raw_transactions, catalogue_price_response], source=flat)
    assert result.success
    output = result.output_for_node("catalogue_price_response")
    assert output["identified"] is False and "no stockcode changed its list price" in output["reason"]
