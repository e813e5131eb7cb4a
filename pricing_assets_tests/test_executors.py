"""A stockcode's lineage under the multiprocess executor, each step in a process of its own."""

import pytest
from dagster import DagsterEventType, execute_job, instance_for_test, reconstructable

from pricing_assets.assets.models import MODEL_ASSET_NAMES
from pricing_assets.partitions import register_stockcodes
from pricing_assets.settings import Settings

from .helpers import PROMOTED_RANK, lineage_job_from_environment, materialize_raw, source_file

pytestmark = pytest.mark.slow


def test_multiprocess_executor_runs_every_step_in_its_own_process(tmp_path, monkeypatch):
    monkeypatch.setenv("PRICING_PROJECT_DIR", str(tmp_path))
    settings = Settings.from_env()
    path, code = source_file(tmp_path, stockcode_rank=PROMOTED_RANK)  # one the challenger promotes
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
        assert len(pids) == len(starts) > 10  # every step in a process of its own
        assert set(MODEL_ASSET_NAMES) <= set(began) and set(MODEL_ASSET_NAMES) <= set(done)
        assert (tmp_path / ".pricing" / "store" / "promoted" / code / "current.json").exists()
