"""The jobs run with the Settings their code location is built from, not the environment at import."""

import json

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance

from pricing_assets import cli
from pricing_assets.definitions import LINEAGE_JOB, RAW_JOB, REPORT_JOB, build_definitions
from pricing_assets.partitions import register_stockcodes
from pricing_assets.run_config import LINEAGE_CONFIGS, lineage_run_config, overlay
from pricing_assets.settings import current_settings

# Values neither settings.py nor the suite's environment (conftest.TEST_BUDGETS) has.
OTHER = {
    "dfn_trials": 1,
    "dfn_max_epochs": 5,
    "backup_trials": 2,
    "split_train_fraction": 0.6,
    "fairness_threshold": 0.37,
    "challenger_tolerance": 0.05,
    "price_bins": 17,
    "split_min_rows": 3,
    "shap_explain_rows": 40,
    "guardrail": 0.07,
}


def _default_ops(job) -> dict:
    config = job.partitioned_config.get_run_config_for_partition_key("any") if job.partitions_def else job.run_config
    return config["ops"]


def test_every_asset_with_a_config_gets_it_from_the_settings_of_its_location(settings):
    """Each job's default run config covers every op that takes a config, with the Settings' values."""
    other = settings.with_(seed=11, min_history_rows=99, catalogue_slowest=3, **OTHER)
    assert other.seed != current_settings().seed and other.fairness_threshold != current_settings().fairness_threshold
    defs = build_definitions(other)
    seeds = {}
    for name in (RAW_JOB, LINEAGE_JOB, REPORT_JOB):
        job = defs.resolve_job_def(name)
        configured = {
            node.name
            for node in job.graph.node_defs
            if getattr(node.config_schema.as_field().config_type, "fields", None)  # Any: takes no config
        }
        ops = _default_ops(job)
        assert set(ops) == configured, name  # no asset left to read the environment's default
        seeds.update({op: c["config"]["seed"] for op, c in ops.items() if "seed" in c["config"]})
    # The source, every model, SHAP, the forecast's level draws, the decision.
    assert len(seeds) == 11 and set(seeds.values()) == {11}, seeds
    raw = _default_ops(defs.resolve_job_def(RAW_JOB))
    assert raw["catalogue_price_response"]["config"]["min_history_rows"] == 99
    lineage = _default_ops(defs.resolve_job_def(LINEAGE_JOB))
    assert lineage["fairness_report"]["config"]["threshold"] == 0.37
    assert lineage["dfn_model"]["config"] == {"trials": 1, "seconds": other.tuning_seconds, "seed": 11, "max_epochs": 5}
    assert lineage["list_price_recommendation"]["config"]["guardrail"] == 0.07
    assert lineage["training_splits"]["config"]["min_rows_per_split"] == 3
    assert lineage["price_curve"]["config"]["bins"] == 17 and lineage["demand_forecast"]["config"] == {"seed": 11}
    assert _default_ops(defs.resolve_job_def(REPORT_JOB))["catalogue_report"]["config"] == {"slowest": 3}


def test_pricing_run_options_reach_every_asset_that_reads_them(tmp_path, monkeypatch):
    """``pricing run --seed/--min-history-rows/--costs`` build the location's Settings; the lineage run config
    the CLI passes is the job's own (with its progress logger), so every seed is the option's."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "costs.csv").write_text("stock_code,unit_cost\nA,1.0\n")
    args = cli.build_parser().parse_args(
        ["run", "--seed", "13", "--min-history-rows", "77", "--costs", "costs.csv", "--top", "1"]
    )
    settings = cli.run_settings(args)
    config = cli._lineage_run_config(settings)
    assert config["loggers"] == {cli.PROGRESS_LOGGER: {}}
    assert set(config["ops"]) == set(LINEAGE_CONFIGS)
    seeds = {op: c["config"]["seed"] for op, c in config["ops"].items() if "seed" in c["config"]}
    assert set(seeds) == {"list_price_recommendation", "demand_forecast", "dfn_model", "lightgbm_model",
                          "elasticnet_model", "svr_model", "catalogue_level_model", "recent_mean_baseline",
                          "seasonal_naive_baseline", "shap_explanations"}  # fmt: skip
    assert set(seeds.values()) == {13}
    assert config["ops"]["list_price_recommendation"]["config"]["costs"] == str(tmp_path / "costs.csv")
    raw = cli._raw_run_config(settings)
    assert raw["ops"] == build_definitions(settings).resolve_job_def(RAW_JOB).run_config["ops"]  # the job's own
    assert raw["loggers"] == {cli.PROGRESS_LOGGER: {}}
    assert raw["ops"]["raw_transactions"]["config"]["seed"] == 13
    assert raw["ops"]["catalogue_price_response"]["config"]["min_history_rows"] == 77
    assert set(raw["ops"]) == {"raw_transactions", "catalogue_price_response"}  # one op for both catalogue assets


def test_overlay_changes_part_of_a_run_config_and_keeps_the_rest(settings):
    base = lineage_run_config(settings)
    changed = overlay(base, {"ops": {"drift_report": {"config": {"window_days": 56}}}, "loggers": {"x": {}}})
    assert changed["ops"]["drift_report"]["config"]["window_days"] == 56
    assert changed["ops"]["drift_report"]["config"]["min_rows"] == settings.drift_min_rows
    assert changed["ops"]["fairness_report"] == base["ops"]["fairness_report"] and changed["loggers"] == {"x": {}}
    assert base["ops"]["drift_report"]["config"]["window_days"] == settings.drift_window_days  # not changed in place


@pytest.mark.slow
def test_a_location_built_from_other_settings_runs_its_jobs_with_them_without_run_config(settings):
    """Raw data to a promoted bundle with no run config anywhere: the source size, the split, the tuning
    budgets, the SHAP sample, the grid, the gates' thresholds and the guardrail are those of the Settings
    the location was built from (the environment says otherwise for each)."""
    other = settings.with_(**OTHER)
    defs = build_definitions(other)
    with DagsterInstance.ephemeral() as instance:
        raw = defs.resolve_job_def(RAW_JOB).execute_in_process(instance=instance)
        assert raw.success
        meta = instance.get_latest_materialization_event(AssetKey("raw_transactions")).asset_materialization.metadata
        assert meta["source"].value == "synthetic(seed=7, products=4)"  # the environment's has 24 products
        history = pd.read_parquet(other.artifact_root / "artifacts/raw_transactions/stockcode_history.parquet")
        code = history.sort_values("rows", ascending=False)["stock_code"].iloc[0]
        register_stockcodes(instance, [code])
        result = defs.resolve_job_def(LINEAGE_JOB).execute_in_process(
            instance=instance, partition_key=code, raise_on_error=False
        )

        def metadata(asset: str) -> dict:
            event = instance.get_latest_materialization_event(AssetKey(asset)).asset_materialization
            return {k: v.value for k, v in event.metadata.items()}

        def stored(asset: str) -> dict:
            return json.loads((other.artifact_root / "assets" / asset / f"{code}.json").read_text())

        splits = metadata("training_splits")
        train, validation, test = (splits[f"{name}_rows"] for name in ("train", "validation", "test"))
        assert train / (train + validation + test) == pytest.approx(0.6, abs=0.01)
        assert metadata("dfn_model")["trials_run"] == 1 and metadata("lightgbm_model")["trials_run"] == 2
        assert metadata("shap_explanations")["explained_rows"] == min(40, test)
        assert stored("fairness_report")["threshold"] == 0.37
        assert stored("challenger_comparison")["tolerance"] == 0.05
        assert len(pd.read_parquet(other.artifact_root / "assets" / "price_curve" / f"{code}.parquet")) == 17
        recommendation = stored("list_price_recommendation")
        assert recommendation["inputs"]["config"]["guardrail"] == 0.07  # the decision's band: +-7 %, not +-15 %
        low, high = recommendation["guardrail"]
        current = recommendation["current_list_price"]
        assert current * 0.93 - 0.011 <= low < current < high <= current * 1.07 + 0.011
        assert result.success
