"""A stockcode's lineage under the multiprocess executor: independent steps run in parallel processes."""

import pytest
from dagster import DagsterEventType, execute_job, instance_for_test, reconstructable

from pricing_assets.assets.models import MODEL_ASSET_NAMES
from pricing_assets.partitions import register_stockcodes
from pricing_assets.settings import Settings

from .helpers import lineage_job_from_environment, materialize_raw, source_file

pytestmark = pytest.mark.slow


def test_multiprocess_executor_runs_the_model_steps_in_parallel(tmp_path, monkeypatch):
    monkeypatch.setenv("PRICING_PROJECT_DIR", str(tmp_path))
    settings = Settings.from_env()
    path, code = source_file(tmp_path)
    with instance_for_test() as instance:
        assert materialize_raw(instance, settings, source="uci", data=str(path)).success
        register_stockcodes(instance, [code])
        run_config = {"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}}
        with execute_job(
            reconstructable(lineage_job_from_environment),
            instance,
            run_config=run_config,
            tags={"dagster/partition": code},
        ) as result:
            assert result.success
            logs = instance.all_logs(result.run_id)
        starts = [e for e in logs if e.dagster_event_type == DagsterEventType.STEP_START]
        began = {e.step_key: e.timestamp for e in starts}
        done = {e.step_key: e.timestamp for e in logs if e.dagster_event_type == DagsterEventType.STEP_SUCCESS}
        pids = {e.dagster_event.pid for e in starts}
        assert len(pids) > 1  # each step in its own process
        models = list(MODEL_ASSET_NAMES)
        overlapping = [(a, b) for a in models for b in models if a < b and began[a] < done[b] and began[b] < done[a]]
        assert overlapping, "no two model steps overlapped in time"
        assert (tmp_path / ".pricing" / "store" / "promoted" / code / "current.json").exists()
