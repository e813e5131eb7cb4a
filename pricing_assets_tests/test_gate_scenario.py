"""Issue 16, item 4: ten new weeks of the store source arrive through the new-data sensor.

The weeks run into the Christmas ramp; one stockcode's feed breaks (its prices arrive x10). The
ramp's stockcode is retrained and promoted exactly when its challenger is no worse than the bundle
serving it; the broken one keeps its old bundle; the instance records why for each, in words.
"""

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, DagsterEventType, instance_for_test

from pricing_assets.core.bundle import read_pointer
from pricing_assets.core.simulated_store import StoreConfig, generate
from pricing_assets.core.store import LocalArtifactStore

from .helpers import materialize_raw, run_lineage
from .test_sensors import SENSOR_TAGS, lineage_keys, new_data_tick, raw_requests

pytestmark = pytest.mark.slow
CUTOFF = pd.Timestamp("2011-09-15")  # ten weeks before the end: the new weeks are the ramp
DRIFT = {"ops": {"drift_report": {"config": {"window_days": 56}}}}  # ~7 lines a week per store product


def check_evaluations(instance, run_id: str) -> dict:
    found = {}
    for event in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = event.dagster_event.event_specific_data
        found[evaluation.check_name] = evaluation
    return found


def test_ten_new_weeks_promote_the_ramp_where_better_and_hold_the_broken_feed(tmp_path, settings):
    raw, _, _ = generate(StoreConfig(seed=7, n_products=4, start="2009-12-01", end="2011-11-24"))
    ramp, broken = [c for c in raw["StockCode"].value_counts().index if c[:5].isdigit()][:2]
    raw = raw[raw["StockCode"].isin([ramp, broken])]
    folder = tmp_path / "incoming"
    folder.mkdir()
    path = folder / "store.parquet"
    raw[raw["InvoiceDate"] <= CUTOFF].to_parquet(path, index=False)
    later = raw[raw["InvoiceDate"] > CUTOFF].copy()
    later.loc[later["StockCode"] == broken, "UnitPrice"] *= 10
    watched = settings.with_(watch_dir=str(folder))
    store = LocalArtifactStore(watched.artifact_root)
    with instance_for_test() as instance:
        tick = new_data_tick(instance, watched, None)
        assert raw_requests(tick)
        assert materialize_raw(instance, watched, tags=SENSOR_TAGS, source="uci", data=str(path)).success
        tick = new_data_tick(instance, watched, tick.cursor)
        assert set(lineage_keys(tick)) == {ramp, broken}
        for request in tick.run_requests:
            first = run_lineage(instance, watched, request.partition_key, tags=request.tags, run_config=DRIFT)
            assert first.success, check_evaluations(instance, first.run_id)
        before = {code: read_pointer(store, code) for code in (ramp, broken)}
        quiet = new_data_tick(instance, watched, tick.cursor)

        pd.concat([pd.read_parquet(path), later]).to_parquet(path, index=False)
        tick = new_data_tick(instance, watched, quiet.cursor)
        assert raw_requests(tick)
        assert materialize_raw(instance, watched, tags=SENSOR_TAGS, source="uci", data=str(path)).success
        tick = new_data_tick(instance, watched, tick.cursor)
        assert set(lineage_keys(tick)) == {ramp, broken}
        checks = {}
        for request in tick.run_requests:
            result = run_lineage(instance, watched, request.partition_key, tags=request.tags, run_config=DRIFT)
            checks[request.partition_key] = check_evaluations(instance, result.run_id)

    # The broken feed: drift blocks, naming the list price; the old bundle keeps serving.
    drift = checks[broken]["no_feature_drift"]
    assert not drift.passed and drift.severity == AssetCheckSeverity.ERROR
    assert "list price" in drift.description and "blocks promotion" in drift.description
    assert read_pointer(store, broken) == before[broken]
    # The ramp: never blocked by drift (compared with the same weeks a year earlier); promoted
    # exactly when the challenger says the retrained model is no worse than the serving one.
    assert (
        checks[ramp]["no_feature_drift"].severity == AssetCheckSeverity.WARN or checks[ramp]["no_feature_drift"].passed
    )
    gate = checks[ramp]["candidate_no_worse_than_serving"]
    assert "serving" in gate.description and before[ramp]["version"] in gate.description
    promoted = read_pointer(store, ramp)["version"] != before[ramp]["version"]
    assert promoted == gate.passed, gate.description
