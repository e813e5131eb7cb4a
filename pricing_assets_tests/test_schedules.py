"""The weekly schedule requests runs for changed stockcodes only, and says which it skipped."""

import pandas as pd
import pytest
from dagster import AssetKey, SkipReason, build_schedule_context, instance_for_test

from pricing_assets.definitions import build_definitions, build_resources
from pricing_assets.partitions import register_stockcodes
from pricing_assets.schedules import WEEKLY_SCHEDULE, change_reasons, lineage_code_versions

from .conftest import PROMOTED_STOCKCODES
from .helpers import PROMOTED_RANK, materialize_raw, run_lineage, source_file

pytestmark = pytest.mark.slow


def tick(instance, settings):
    defs = build_definitions(settings)
    with build_schedule_context(
        instance=instance, resources=build_resources(settings), repository_def=defs.get_repository_def()
    ) as context:
        result = defs.resolve_schedule_def(WEEKLY_SCHEDULE)(context)
    return result if isinstance(result, SkipReason) else list(result)


def requested(result) -> dict[str, str]:
    return {} if isinstance(result, SkipReason) else {r.partition_key: r.tags["pricing/reasons"] for r in result}


def test_schedule_runs_changed_stockcodes_only(tmp_path, settings):
    # Two stockcodes the lineage promotes (conftest.PROMOTED_STOCKCODES), so each run of theirs succeeds.
    path, first = source_file(tmp_path, stockcode_rank=PROMOTED_RANK)
    with instance_for_test() as instance:  # a schedule context needs an instance it can reopen by ref
        assert materialize_raw(instance, settings, source="uci", data=str(path)).success
        history = pd.read_parquet(settings.artifact_root / "artifacts/raw_transactions/stockcode_history.parquet")
        (second,) = [code for code in history["stock_code"] if code in PROMOTED_STOCKCODES and code != first]
        register_stockcodes(instance, [first, second])
        assert run_lineage(instance, settings, first).success

        # 1. Only the stockcode that never ran is requested; the other is reported as skipped.
        data = tick(instance, settings)
        assert requested(data) == {second: "never run"}
        assert data[0].run_key.startswith(f"weekly:{second}:")

        # 2. Once both ran, a tick requests nothing and says why.
        assert run_lineage(instance, settings, second).success
        data = tick(instance, settings)
        assert isinstance(data, SkipReason)
        assert "0 to run, 2 unchanged" in data.skip_message and first in data.skip_message

        # 3. New rows for one stockcode: only that one runs again.
        grown_raw = pd.read_parquet(path)
        extra = grown_raw[grown_raw["StockCode"] == second].tail(5).copy()
        extra["InvoiceDate"] = grown_raw["InvoiceDate"].max() + pd.Timedelta(hours=1)
        extra["InvoiceNo"] = [str(900000 + i) for i in range(len(extra))]
        grown = tmp_path / "grown.parquet"
        pd.concat([grown_raw, extra]).to_parquet(grown, index=False)
        assert materialize_raw(instance, settings, source="uci", data=str(grown)).success
        data = tick(instance, settings)
        assert requested(data) == {second: "source rows changed"}
        assert first not in requested(data)  # the unchanged one is not requested


def test_a_code_change_is_a_reason_to_run_again(tmp_path, settings):
    path, code = source_file(tmp_path, stockcode_rank=PROMOTED_RANK)
    with instance_for_test() as instance:  # a schedule context needs an instance it can reopen by ref
        assert materialize_raw(instance, settings, source="uci", data=str(path)).success
        assert run_lineage(instance, settings, code).success
        defs = build_definitions(settings)
        versions = lineage_code_versions(defs.get_repository_def().asset_graph)
        history = pd.read_parquet(settings.artifact_root / "artifacts/raw_transactions/stockcode_history.parquet")
        fingerprint = history.set_index("stock_code").loc[code, "fingerprint"]
        assert change_reasons(instance, versions, code, fingerprint) == []
        edited = {**versions, AssetKey("dfn_model"): "edited0000"}
        assert change_reasons(instance, edited, code, fingerprint) == ["code of dfn_model changed"]
        assert change_reasons(instance, versions, code, "0" * 24) == ["source rows changed"]
