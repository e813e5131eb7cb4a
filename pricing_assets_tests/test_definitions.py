import os
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey

from pricing_assets.definitions import LINEAGE_JOB, REPORT_JOB, defs
from pricing_assets.partitions import stockcode_partitions

REPO = Path(__file__).resolve().parent.parent


def test_definitions_load_with_fixed_names():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    partitioned = {
        "cleaned_transactions",
        "weekly_demand",
        "stockcode_price_response",
        "list_price_recommendation",
        "demand_features",
        "drift_report",
        "weekly_features",
        "training_splits",
        "preprocessor",
        "dfn_model",
        "lightgbm_model",
        "elasticnet_model",
        "svr_model",
        "catalogue_level_model",
        "recent_mean_baseline",
        "seasonal_naive_baseline",
        "model_evaluation",
        "shap_explanations",
        "fairness_report",
        "challenger_comparison",
        "price_scenario",
        "demand_forecast",
        "price_curve",
        "promoted_model",
    }
    catalogue = {"catalogue_price_response", "catalogue_demand_index"}
    assert keys == partitioned | {"raw_transactions", *catalogue, "catalogue_report"}
    for name in partitioned:
        node = graph.get(AssetKey(name))
        assert node.partitions_def == stockcode_partitions
        assert node.code_version and node.description
    assert graph.get(AssetKey("raw_transactions")).partitions_def is None
    # The catalogue's price response is learned once, upstream of every stockcode's own.
    assert graph.get(AssetKey("catalogue_price_response")).partitions_def is None
    assert AssetKey("catalogue_price_response") in graph.get(AssetKey("stockcode_price_response")).parent_keys
    # So is the catalogue's weekly demand index, which the weekly features and the week to forecast read.
    assert graph.get(AssetKey("catalogue_demand_index")).partitions_def is None
    for reader in ("weekly_features", "price_scenario"):
        assert AssetKey("catalogue_demand_index") in graph.get(AssetKey(reader)).parent_keys
    checks = {graph.get_check_spec(key).name: graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert set(checks) == {"no_feature_drift", "fairness_within_threshold", "candidate_no_worse_than_serving"}
    assert checks["no_feature_drift"].asset_key == AssetKey("drift_report")
    assert checks["fairness_within_threshold"].asset_key == AssetKey("fairness_report")
    assert checks["candidate_no_worse_than_serving"].asset_key == AssetKey("challenger_comparison")
    for check in checks.values():
        assert check.blocking and check.partitions_def == stockcode_partitions
    # Promotion sits downstream of every checked asset, so a blocking check failing with ERROR stops it.
    upstream = graph.get(AssetKey("promoted_model")).parent_keys
    assert {AssetKey("drift_report"), AssetKey("fairness_report"), AssetKey("challenger_comparison")} <= upstream

    # The weekly demand models: weekly rows per price list -> splits; the next week -> the champion's forecast,
    # which the recommendation is valued at, and the price curve is drawn from the recommendation.
    def parents(name: str) -> set[str]:
        return {key.to_user_string() for key in graph.get(AssetKey(name)).parent_keys}

    assert parents("weekly_features") == {"weekly_demand", "stockcode_price_response", "catalogue_demand_index"}
    assert "weekly_features" in parents("training_splits") and "demand_features" not in parents("training_splits")
    assert parents("price_scenario") == {"weekly_demand", "stockcode_price_response", "catalogue_demand_index"}
    assert {"price_scenario", "model_evaluation", "preprocessor"} <= parents("demand_forecast")
    assert "demand_forecast" in parents("list_price_recommendation")
    assert parents("price_curve") == {"list_price_recommendation"}
    assert defs.resolve_job_def(LINEAGE_JOB).partitions_def == stockcode_partitions
    # The catalogue report is one asset after every partition's outcome, in its own (unpartitioned) job.
    report = graph.get(AssetKey("catalogue_report"))
    assert report.partitions_def is None and report.code_version and report.description
    assert {AssetKey("promoted_model"), AssetKey("list_price_recommendation")} <= report.parent_keys
    assert (
        AssetKey("catalogue_report")
        not in defs.resolve_job_def(LINEAGE_JOB).asset_layer.asset_graph.executable_asset_keys
    )
    assert defs.resolve_job_def(REPORT_JOB).partitions_def is None
    assert defs.resolve_sensor_def("stockcode_discovery_sensor")


def test_loading_the_code_location_leaves_the_s3_client_library_unimported(tmp_path):
    """Every process that loads the location (pricing run, the webserver, the daemon, each run worker) pays
    for what it imports: the S3 client (boto3, 0.7-0.8 s with dagster-aws's resource) only when S3 is used."""
    code = (
        "import sys\n"
        "from pricing_assets.definitions import build_definitions\n"
        "from pricing_assets.settings import Settings\n"
        "defs = build_definitions(Settings.from_env())\n"
        "defs.resolve_job_def('stockcode_lineage_job')\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'dagster_aws') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICING_")}
    env["PRICING_PROJECT_DIR"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_dagster_definitions_validate_on_the_workspace(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "PRICING_PROJECT_DIR": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pricing_assets" in proc.stdout + proc.stderr


def test_the_schedule_and_the_sensors_read_the_settings_the_location_is_built_from(tmp_path):
    """Not the environment at import: a code location built from other Settings schedules and watches by them."""
    from dagster import DagsterInstance, build_sensor_context

    from pricing_assets.definitions import build_definitions, build_resources
    from pricing_assets.schedules import WEEKLY_SCHEDULE
    from pricing_assets.sensors import NEW_DATA_SENSOR
    from pricing_assets.settings import current_settings

    settings = current_settings().with_(
        schedule_cron="15 6 * * 2", schedule_timezone="Europe/Paris", watch_dir=None, watch_s3_prefix=None
    )
    schedule = build_definitions(settings).resolve_schedule_def(WEEKLY_SCHEDULE)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("15 6 * * 2", "Europe/Paris")
    assert "15 6 * * 2" in schedule.description
    watched = settings.with_(watch_dir=str(tmp_path))  # an empty folder: watched, nothing new in it
    with DagsterInstance.ephemeral() as instance:
        ticks = {}
        for name, built_from in (("idle", settings), ("watching", watched)):
            sensor = build_definitions(built_from).resolve_sensor_def(NEW_DATA_SENSOR)
            with build_sensor_context(instance=instance, resources=build_resources(built_from)) as context:
                ticks[name] = sensor(context)
    assert "nothing to watch" in ticks["idle"].skip_message
    assert "no new or changed source file" in ticks["watching"].skip_reason.skip_message


def test_a_code_version_changes_with_the_asset_module_that_asks_for_it(tmp_path, monkeypatch):
    """Two asset modules running the same core module but wired differently get different code versions, so an
    edit to wiring that holds logic (the challenger's scoring of the serving bundle) re-runs what it feeds."""
    import importlib

    template = (
        "import json\nfrom pricing_assets.assets.common import code_version_of\n"
        "VERSION = code_version_of(json)\ndef body():\n    return {}\n"
    )
    (tmp_path / "wiring_a.py").write_text(template)
    (tmp_path / "wiring_b.py").write_text(template.replace("return {}", "return {'edited': True}"))
    (tmp_path / "wiring_c.py").write_text(template)
    monkeypatch.syspath_prepend(str(tmp_path))
    a, b, c = (importlib.import_module(f"wiring_{n}").VERSION for n in "abc")
    assert a == c  # the same source, the same version
    assert a != b
