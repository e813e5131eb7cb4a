import pandas as pd
import pytest
from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context, instance_for_test

from pricing_assets.core.sources import load_source
from pricing_assets.core.stockcodes import stockcode_history
from pricing_assets.definitions import build_definitions, build_resources
from pricing_assets.partitions import STOCKCODE_PARTITIONS_NAME
from pricing_assets.sensors import NEW_DATA_SENSOR, new_source_data_sensor, stockcode_discovery_sensor

from .helpers import materialize_raw, run_lineage, source_file


def evaluate(instance, settings, cursor=None):
    with build_sensor_context(instance=instance, cursor=cursor, resources=build_resources(settings)) as context:
        return stockcode_discovery_sensor(context), context


def test_discovery_registers_eligible_stockcodes_once(settings):
    with DagsterInstance.ephemeral() as instance:
        result, _ = evaluate(instance, settings)
        assert isinstance(result, SkipReason)
        materialize_raw(instance, settings)
        result, _ = evaluate(instance, settings)
        assert isinstance(result, SensorResult)
        (request,) = result.dynamic_partitions_requests
        assert len(request.partition_keys) == 4  # the 4 synthetic products, no POST/M/DOT
        assert all(k[:5].isdigit() for k in request.partition_keys)
        instance.add_dynamic_partitions(STOCKCODE_PARTITIONS_NAME, list(request.partition_keys))
        again, _ = evaluate(instance, settings, cursor=result.cursor)
        assert isinstance(again, SkipReason)  # same materialisation: nothing to do
        # A new materialisation with the same products registers nothing new.
        materialize_raw(instance, settings)
        third, _ = evaluate(instance, settings, cursor=result.cursor)
        assert third.dynamic_partitions_requests == []


def test_history_threshold_is_respected(settings, monkeypatch):
    strict = settings.with_(min_history_rows=10**6)
    monkeypatch.setattr("pricing_assets.sensors.current_settings", lambda: strict)
    with DagsterInstance.ephemeral() as instance:
        materialize_raw(instance, strict)
        result, _ = evaluate(instance, strict)
        assert result.dynamic_partitions_requests == []


def new_data_tick(instance, settings, cursor):
    defs = build_definitions(settings)
    with build_sensor_context(
        instance=instance, cursor=cursor, resources=build_resources(settings), repository_def=defs.get_repository_def()
    ) as context:
        return new_source_data_sensor(context)


def lineage_keys(result) -> dict[str, str]:
    return {r.partition_key: r.run_key for r in result.run_requests or [] if r.partition_key}


def raw_requests(result) -> list:
    return [r for r in result.run_requests or [] if r.job_name == "raw_transactions_job"]


@pytest.mark.slow
def test_new_data_sensor_loads_new_files_and_runs_only_affected_stockcodes(tmp_path, settings, monkeypatch):
    folder = tmp_path / "incoming"
    folder.mkdir()
    path, _ = source_file(folder, "2011-11-01.parquet")
    history = stockcode_history(load_source("uci", str(path)).transactions)
    first, second = history.index[:2]
    watched = settings.with_(watch_dir=str(folder), min_history_rows=int(history.loc[second, "rows"]))
    monkeypatch.setattr("pricing_assets.sensors.current_settings", lambda: watched)
    sensor_tags = {"dagster/sensor_name": NEW_DATA_SENSOR}
    with instance_for_test() as instance:
        # A new file: one raw run, keyed by the file's signature, the same on a repeated tick.
        tick = new_data_tick(instance, watched, None)
        (raw,) = raw_requests(tick)
        assert raw.run_config["ops"]["raw_transactions"]["config"]["data"] == str(path.resolve())
        assert raw_requests(new_data_tick(instance, watched, None))[0].run_key == raw.run_key
        assert materialize_raw(instance, watched, tags=sensor_tags, source="uci", data=str(path)).success

        # Its materialisation: the two eligible stockcodes are registered and run; nothing else.
        tick = new_data_tick(instance, watched, tick.cursor)
        assert set(tick.dynamic_partitions_requests[0].partition_keys) == {first, second}
        assert set(lineage_keys(tick)) == {first, second} and not raw_requests(tick)
        for code in (first, second):
            assert run_lineage(instance, watched, code).success
        quiet = new_data_tick(instance, watched, tick.cursor)
        assert not quiet.run_requests and not quiet.dynamic_partitions_requests

        # The file grows with sales of one product: a new raw run, then only that product runs.
        grown = pd.read_parquet(path)
        extra = grown[grown["StockCode"] == second].tail(5).copy()
        extra["InvoiceDate"] = grown["InvoiceDate"].max() + pd.Timedelta(hours=2)
        extra["InvoiceNo"] = [str(910000 + i) for i in range(len(extra))]
        pd.concat([grown, extra]).to_parquet(path, index=False)
        tick = new_data_tick(instance, watched, quiet.cursor)
        (again,) = raw_requests(tick)
        assert again.run_key != raw.run_key
        assert materialize_raw(instance, watched, tags=sensor_tags, source="uci", data=str(path)).success
        tick = new_data_tick(instance, watched, tick.cursor)
        assert list(lineage_keys(tick)) == [second]
        assert tick.run_requests[0].tags["pricing/reasons"] == "source rows changed"


def test_new_data_sensor_says_what_to_set_when_nothing_is_watched(settings, monkeypatch):
    monkeypatch.setattr("pricing_assets.sensors.current_settings", lambda: settings)
    with instance_for_test() as instance:
        result = new_data_tick(instance, settings, None)
    assert isinstance(result, SkipReason) and "PRICING_WATCH_DIR" in result.skip_message
