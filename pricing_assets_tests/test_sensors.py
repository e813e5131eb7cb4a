from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

from pricing_assets.definitions import build_resources
from pricing_assets.partitions import STOCKCODE_PARTITIONS_NAME
from pricing_assets.sensors import stockcode_discovery_sensor

from .helpers import materialize_raw


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
