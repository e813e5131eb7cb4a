from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context, instance_for_test

from pricing_assets.core.bundle import read_bundle, read_pointer
from pricing_assets.core.sources import load_source
from pricing_assets.core.stockcodes import stockcode_history
from pricing_assets.core.store import LocalArtifactStore
from pricing_assets.core.synthetic import SyntheticConfig, generate
from pricing_assets.definitions import build_definitions, build_resources
from pricing_assets.partitions import STOCKCODE_PARTITIONS_NAME
from pricing_assets.sensors import DISCOVERY_SENSOR, NEW_DATA_SENSOR
from serving.registry import BundleRegistry

from .helpers import materialize_raw, run_lineage

SENSOR_TAGS = {"dagster/sensor_name": NEW_DATA_SENSOR}


def evaluate(instance, settings, cursor=None):
    """A tick of the discovery sensor of the code location built from ``settings``."""
    sensor = build_definitions(settings).resolve_sensor_def(DISCOVERY_SENSOR)
    with build_sensor_context(instance=instance, cursor=cursor, resources=build_resources(settings)) as context:
        return sensor(context), context


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


def test_history_threshold_is_respected(settings):
    strict = settings.with_(min_history_rows=10**6)  # the Settings the code location is built from, nothing else
    with DagsterInstance.ephemeral() as instance:
        materialize_raw(instance, strict)
        result, _ = evaluate(instance, strict)
        assert result.dynamic_partitions_requests == []


def new_data_tick(instance, settings, cursor):
    defs = build_definitions(settings)
    with build_sensor_context(
        instance=instance, cursor=cursor, resources=build_resources(settings), repository_def=defs.get_repository_def()
    ) as context:
        return defs.resolve_sensor_def(NEW_DATA_SENSOR)(context)


def lineage_keys(result) -> dict[str, str]:
    return {r.partition_key: r.run_key for r in result.run_requests or [] if r.partition_key}


def raw_requests(result) -> list:
    return [r for r in result.run_requests or [] if r.job_name == "raw_transactions_job"]


def seasonal_files(folder: Path) -> tuple[Path, pd.DataFrame, list[str]]:
    """The 4-product source cut four weeks before its end, and the weeks that arrive later.

    In the new weeks the most active product has a seasonal shift (prices up 80 %, five times the
    quantities, guest buyers from a new market); the second sells as before; the third sells nothing."""
    raw, _ = generate(SyntheticConfig(seed=7, n_products=4))
    codes = [c for c in raw["StockCode"].value_counts().index if c[:5].isdigit()][:3]
    cutoff = raw["InvoiceDate"].max() - pd.Timedelta(days=28)
    later = raw[(raw["InvoiceDate"] > cutoff) & raw["StockCode"].isin(codes[:2])].copy()
    shifted = later["StockCode"] == codes[0]
    later.loc[shifted, "UnitPrice"] *= 1.8
    later.loc[shifted, "Quantity"] *= 5
    later.loc[shifted, "CustomerID"] = float("nan")
    later.loc[shifted, "Country"] = "France"
    path = folder / "2011-11-01.parquet"
    raw[raw["InvoiceDate"] <= cutoff].to_parquet(path, index=False)
    return path, later, codes


@pytest.mark.slow
def test_new_weeks_with_a_seasonal_shift_block_only_the_shifted_stockcode(tmp_path, settings):
    """New data arrives through the sensor: only affected stockcodes run; drift keeps the old bundle in service."""
    folder = tmp_path / "incoming"
    folder.mkdir()
    path, later, (shifted, steady, quiet_code) = seasonal_files(folder)
    history = stockcode_history(load_source("uci", str(path)).transactions)
    watched = settings.with_(watch_dir=str(folder), min_history_rows=int(history.loc[quiet_code, "rows"]))
    store = LocalArtifactStore(watched.artifact_root)
    with instance_for_test() as instance:
        # A new file: one raw run, keyed by the file's signature, the same on a repeated tick.
        tick = new_data_tick(instance, watched, None)
        (raw,) = raw_requests(tick)
        assert raw.run_config["ops"]["raw_transactions"]["config"]["data"] == str(path.resolve())
        assert raw_requests(new_data_tick(instance, watched, None))[0].run_key == raw.run_key
        assert materialize_raw(instance, watched, tags=SENSOR_TAGS, source="uci", data=str(path)).success

        # Its materialisation: the three eligible stockcodes are registered and run; nothing else.
        tick = new_data_tick(instance, watched, tick.cursor)
        assert set(tick.dynamic_partitions_requests[0].partition_keys) == {shifted, steady, quiet_code}
        assert set(lineage_keys(tick)) == {shifted, steady, quiet_code} and not raw_requests(tick)
        # A first promotion is held when its champion forecasts the newest weeks surely worse than the four-week
        # mean: since each stockcode's weeks end at the catalogue's last complete week, one of the three is just so
        # on this cut of the file (RMSLE ratio 95 % 1.04 to 1.78 against a 2 % tolerance). What this test judges
        # is the sensor's routing and the drift gate; that gate has its own tests (core/test_challenger.py).
        first_round = watched.with_(challenger_tolerance=0.1)
        for request in tick.run_requests:
            assert run_lineage(instance, first_round, request.partition_key, tags=request.tags).success
        pointers = {code: read_pointer(store, code) for code in (shifted, steady, quiet_code)}
        quiet = new_data_tick(instance, watched, tick.cursor)
        assert not quiet.run_requests and not quiet.dynamic_partitions_requests

        # Four new weeks are appended to the file: a new raw run, then lineage runs for the two
        # stockcodes with new rows only.
        pd.concat([pd.read_parquet(path), later]).to_parquet(path, index=False)
        tick = new_data_tick(instance, watched, quiet.cursor)
        (again,) = raw_requests(tick)
        assert again.run_key != raw.run_key
        assert materialize_raw(instance, watched, tags=SENSOR_TAGS, source="uci", data=str(path)).success
        tick = new_data_tick(instance, watched, tick.cursor)
        assert set(lineage_keys(tick)) == {shifted, steady}
        assert {r.tags["pricing/reasons"] for r in tick.run_requests} == {"source rows changed"}
        # The steady product's retrain is scored against its own serving bundle on its 18 newest rows, and the two
        # forecast them within a few per cent of each other (2.0 % worse with the tuned models' mean), which the
        # default 2 % tolerance calls either way. What this test judges is the sensor's routing and the drift gate;
        # the challenger's tolerance has its own tests (core/test_challenger.py).
        second_round = watched.with_(challenger_tolerance=0.05)
        checks = {}
        for request in tick.run_requests:
            result = run_lineage(instance, second_round, request.partition_key, tags=request.tags)
            checks[request.partition_key] = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert not new_data_tick(instance, watched, tick.cursor).run_requests

    # The shifted stockcode fails its drift check and keeps serving its previous bundle; the other is promoted.
    # (All its new lines are guest checkouts: registered customers vanished, which blocks as a broken feed.)
    assert checks[shifted] == {"no_feature_drift": False}
    assert checks[steady] == {
        "no_feature_drift": True,
        "fairness_within_threshold": True,
        "candidate_no_worse_than_serving": True,
    }
    assert read_pointer(store, shifted) == pointers[shifted]
    assert read_pointer(store, quiet_code) == pointers[quiet_code]
    assert read_pointer(store, steady)["version"] != pointers[steady]["version"]
    served = BundleRegistry(store)
    assert served.get(shifted).version == pointers[shifted]["version"]
    assert served.get(steady).version == read_pointer(store, steady)["version"]
    assert read_bundle(store, shifted).manifest["version"] == pointers[shifted]["version"]


def test_new_data_sensor_says_what_to_set_when_nothing_is_watched(settings):
    with instance_for_test() as instance:
        result = new_data_tick(instance, settings, None)
    assert isinstance(result, SkipReason) and "PRICING_WATCH_DIR" in result.skip_message
