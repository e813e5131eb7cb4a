"""A team deployment end to end: dagster-webserver and dagster-daemon on PostgreSQL, artifacts in S3.

One deployment for the whole module (deploy/dagster.yaml on a fresh PostgreSQL database, S3 on
moto's server), driven the way an operator drives it: everything over the webserver's GraphQL
API. The raw data is loaded by a queued run; the operator adds the one stockcode partition they
want to run now (the launchpad's "Add partition") and launches its lineage through the daemon's
run queue, while the daemon's ``stockcode_discovery_sensor`` (running by default, ticking at most
every 60 s) registers the other eligible stockcodes; the run's per-partition check results are
read back over GraphQL. Headless Chromium then opens the UI on the same deployment and the tests
assert on what it rendered.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import psycopg2
import pytest

from pricing_assets.core.bundle import read_bundle
from pricing_assets.core.store import S3ArtifactStore
from pricing_assets.jobs import LINEAGE_JOB, RAW_JOB
from pricing_assets.partitions import STOCKCODE_PARTITIONS_NAME

from .components import chromium_path, require
from .conftest import ARTIFACTS
from .deployment import LOCATION, PG, REPOSITORY, Deployment, team_deployment
from .helpers import PROMOTED_RANK, source_file

pytestmark = pytest.mark.slow

BUCKET = "pricing-webserver-e2e"
PREFIX = "team"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
# The sensor ticks at most every 60 s; its first tick comes before raw_transactions exists.
SENSOR_WAIT_SECONDS = 150.0
# Every step in the run worker's process: a process per step pays the code location's imports each
# time (5-8 s), which makes one stockcode about 4x slower (README, "Parallelism").
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
ELIGIBLE_STOCKCODES = 4  # every product of the 4-product source has enough history
RUN_WAIT_SECONDS = 420.0

LAUNCH_RUN = """
mutation LaunchRun($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message }
    ... on Error { message }
  }
}
"""
RUN_STATUS = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status jobName tags { key value } }
  }
}
"""
ADD_PARTITION = """
mutation AddPartition($key: String!, $partitionsDefName: String!, $repository: RepositorySelector!) {
  addDynamicPartition(partitionKey: $key, partitionsDefName: $partitionsDefName, repositorySelector: $repository) {
    __typename
  }
}
"""
PARTITION_KEYS = """
query PartitionKeys($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) { ... on AssetNode { partitionKeys } }
}
"""
# The query deploy/OPERATIONS.md gives operators: a check's executions for one stockcode partition.
CHECK_EXECUTIONS = """
query CheckExecutions($assetKey: AssetKeyInput!, $checkName: String!, $partition: String) {
  assetCheckExecutions(assetKey: $assetKey, checkName: $checkName, partition: $partition, limit: 5) {
    runId
    status
    partition
    evaluation {
      success
      partition
      metadataEntries { label ... on TextMetadataEntry { text } }
    }
  }
}
"""


@dataclass(frozen=True)
class LineageRun:
    """What the module's one partitioned run left behind, for the tests to inspect."""

    deployment: Deployment
    stockcode: str
    run_id: str
    first_status: str
    registered: list[str]
    s3_endpoint: str


def job_selector(job_name: str) -> dict:
    return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": job_name}


def launch(deployment: Deployment, job_name: str, run_config: dict, tags: dict[str, str] | None = None) -> dict:
    """launchRun as the UI's launchpad sends it; returns the run as first stored (QUEUED on this instance)."""
    params = {
        "selector": job_selector(job_name),
        "runConfigData": run_config,
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
    }
    answer = deployment.graphql(LAUNCH_RUN, {"params": params})["launchRun"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    return answer["run"]


def wait_for_run(deployment: Deployment, run_id: str) -> dict:
    """Poll runOrError until the run ends; a run that fails shows the servers' logs in the message."""
    deadline = time.monotonic() + RUN_WAIT_SECONDS
    while time.monotonic() < deadline:
        run = deployment.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]
        assert run["__typename"] == "Run", run
        if run["status"] in TERMINAL:
            assert run["status"] == "SUCCESS", f"run {run_id} ended {run['status']}\n{deployment.log_tail()}"
            return run
        time.sleep(2.0)
    raise AssertionError(f"run {run_id} did not end in {RUN_WAIT_SECONDS:.0f} s\n{deployment.log_tail()}")


def add_partition(deployment: Deployment, stockcode: str) -> None:
    """What the launchpad's "Add partition" sends; the sensor may have registered it first, which is fine."""
    variables = {
        "key": stockcode,
        "partitionsDefName": STOCKCODE_PARTITIONS_NAME,
        "repository": {"repositoryName": REPOSITORY, "repositoryLocationName": LOCATION},
    }
    answer = deployment.graphql(ADD_PARTITION, variables)["addDynamicPartition"]
    assert answer["__typename"] in ("AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"), answer


def partition_keys(deployment: Deployment) -> list[str]:
    node = deployment.graphql(PARTITION_KEYS, {"assetKey": {"path": ["cleaned_transactions"]}})["assetNodeOrError"]
    return node["partitionKeys"]


def wait_for_sensor_partitions(deployment: Deployment) -> list[str]:
    """Until the discovery sensor, ticking in the daemon, has registered every eligible stockcode."""
    deadline = time.monotonic() + SENSOR_WAIT_SECONDS
    while time.monotonic() < deadline:
        keys = partition_keys(deployment)
        if len(keys) >= ELIGIBLE_STOCKCODES:
            return keys
        time.sleep(2.0)
    raise AssertionError(f"the sensor registered only {partition_keys(deployment)} in {SENSOR_WAIT_SECONDS:.0f} s")


def check_executions(deployment: Deployment, asset: str, check: str, partition: str) -> list[dict]:
    variables = {"assetKey": {"path": [asset]}, "checkName": check, "partition": partition}
    return deployment.graphql(CHECK_EXECUTIONS, variables)["assetCheckExecutions"]


@pytest.fixture(scope="module")
def lineage_run(moto_s3: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LineageRun]:
    """Start the deployment, load the source, run one stockcode; the sensor registers the rest meanwhile."""
    workdir = tmp_path_factory.mktemp("team_deployment")
    boto3.client("s3", endpoint_url=moto_s3).create_bucket(Bucket=BUCKET)
    source, stockcode = source_file(workdir, stockcode_rank=PROMOTED_RANK)  # one the challenger promotes
    code_location_env = {
        "PRICING_ENV": "production",
        "PRICING_S3_BUCKET": BUCKET,
        "PRICING_S3_PREFIX": PREFIX,
        "PRICING_S3_ENDPOINT_URL": moto_s3,
        "PRICING_PROJECT_DIR": str(workdir),  # nothing may land in the checkout's .pricing/
    }
    with team_deployment(workdir, code_location_env) as deployment:
        raw_config = {"ops": {"raw_transactions": {"config": {"source": "uci", "data": str(source)}}}}
        raw = launch(deployment, RAW_JOB, {**IN_PROCESS, **raw_config})
        wait_for_run(deployment, raw["runId"])
        add_partition(deployment, stockcode)
        lineage = launch(deployment, LINEAGE_JOB, IN_PROCESS, {"dagster/partition": stockcode})
        wait_for_run(deployment, lineage["runId"])
        registered = wait_for_sensor_partitions(deployment)  # it ticked while the lineage ran
        yield LineageRun(deployment, stockcode, lineage["runId"], lineage["status"], registered, moto_s3)


def test_the_run_goes_through_the_queue_and_the_sensor_registers_the_other_stockcodes(lineage_run: LineageRun) -> None:
    assert lineage_run.first_status == "QUEUED"  # the queued run coordinator held it until the daemon took it
    # The operator's partition once (no duplicate from the sensor), and the other eligible ones.
    assert len(lineage_run.registered) == len(set(lineage_run.registered)) == ELIGIBLE_STOCKCODES
    assert lineage_run.stockcode in lineage_run.registered
    run = lineage_run.deployment.graphql(RUN_STATUS, {"runId": lineage_run.run_id})["runOrError"]
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert run["jobName"] == LINEAGE_JOB and tags["dagster/partition"] == lineage_run.stockcode


def test_check_results_per_partition_over_graphql(lineage_run: LineageRun) -> None:
    code = lineage_run.stockcode
    drift = check_executions(lineage_run.deployment, "drift_report", "no_feature_drift", code)
    fairness = check_executions(lineage_run.deployment, "fairness_report", "fairness_within_threshold", code)
    for executions in (drift, fairness):
        assert len(executions) == 1  # one run of this partition, one execution of each check
        latest = executions[0]
        assert latest["runId"] == lineage_run.run_id
        assert latest["partition"] == code and latest["evaluation"]["partition"] == code
        assert latest["status"] == ("SUCCEEDED" if latest["evaluation"]["success"] else "FAILED")
    assert drift[0]["status"] == "SUCCEEDED"  # unshifted data does not drift
    # On this seeded source the excess difference of the weekly rows is within the threshold (0.25): a pass.
    assert fairness[0]["status"] == "SUCCEEDED"
    reason = {e["label"]: e.get("text") for e in fairness[0]["evaluation"]["metadataEntries"]}["reason"]
    assert "is within" in reason
    # Another partition has no executions: the filter really is per partition.
    others = [c for c in lineage_run.registered if c != code]
    assert check_executions(lineage_run.deployment, "drift_report", "no_feature_drift", others[0]) == []


def test_promoted_bundle_in_s3_and_the_run_in_postgres(lineage_run: LineageRun) -> None:
    code = lineage_run.stockcode
    client = boto3.client("s3", endpoint_url=lineage_run.s3_endpoint)
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/promoted/{code}/")
    keys = {item["Key"] for item in listing.get("Contents", [])}
    assert f"{PREFIX}/promoted/{code}/current.json" in keys
    assert any(key.endswith("/manifest.json") for key in keys) and any("/models/" in key for key in keys)
    pointer = json.loads(client.get_object(Bucket=BUCKET, Key=f"{PREFIX}/promoted/{code}/current.json")["Body"].read())
    assert pointer["run_id"] == lineage_run.run_id  # promoted by the daemon-launched run
    bundle = read_bundle(S3ArtifactStore(client, BUCKET, PREFIX), code)  # every byte verified
    assert bundle.manifest["checks"]["no_feature_drift"]["passed"]
    with psycopg2.connect(dbname=lineage_run.deployment.database, **PG) as conn, conn.cursor() as cursor:
        cursor.execute("select pipeline_name, status, partition from runs where run_id = %s", (lineage_run.run_id,))
        assert cursor.fetchall() == [(LINEAGE_JOB, "SUCCESS", code)]
        cursor.execute(
            "select partition from dynamic_partitions where partitions_def_name = %s", (STOCKCODE_PARTITIONS_NAME,)
        )
        assert sorted(row[0] for row in cursor.fetchall()) == sorted(lineage_run.registered)
    conn.close()


# --- the UI, rendered by headless Chromium -------------------------------------------------------------------

# Long names are middle-truncated in the graph's boxes (clea…_transactions); these render in full.
GRAPH_ASSETS = (
    "raw_transactions",
    "demand_features",
    "drift_report",
    "weekly_features",
    "training_splits",
    "dfn_model",
    "lightgbm_model",
    "model_evaluation",
    "fairness_report",
    "demand_forecast",
    "price_curve",
    "promoted_model",
)


def render(url: str, screenshot: Path, window: str, budget_ms: int = 15000) -> str:
    """The DOM after the SPA rendered (virtual time waits for pending fetches), with a screenshot of it."""
    command = [
        str(chromium_path()),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--virtual-time-budget={budget_ms}",
        f"--window-size={window}",
        f"--screenshot={screenshot}",
        "--dump-dom",
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120).stdout


def render_until(url: str, screenshot: Path, window: str, expected: str) -> str:
    """Render again with more virtual time when the page had not finished loading its data."""
    dom = ""
    for budget_ms in (15000, 45000):
        dom = render(url, screenshot, window, budget_ms)
        if expected in dom:
            break
    return dom


@pytest.fixture(scope="module")
def ui(lineage_run: LineageRun) -> Deployment:
    """The deployment with the UI's one-time community dialog dismissed, as clicking "Skip" does."""
    require("chromium")
    assert lineage_run.deployment.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True
    ARTIFACTS.mkdir(exist_ok=True)
    return lineage_run.deployment


def test_ui_asset_graph_shows_the_lineage(ui: Deployment) -> None:
    screenshot = ARTIFACTS / "dagster_asset_graph.png"
    url = f"{ui.url}/locations/{REPOSITORY}@{LOCATION}/asset-groups/stockcode_lineage"
    dom = render_until(url, screenshot, "1800,2600", "promoted_model")
    missing = [name for name in GRAPH_ASSETS if name not in dom]
    assert not missing, f"the asset graph does not show {missing}"
    assert "Join the Dagster community" not in dom  # no dialog over the graph in the screenshot
    assert screenshot.stat().st_size > 30_000


def test_ui_asset_checks_page_shows_the_passed_check_for_the_partition(lineage_run: LineageRun, ui: Deployment) -> None:
    screenshot = ARTIFACTS / "dagster_asset_checks.png"
    url = f"{ui.url}/assets/drift_report?view=checks&checkDetail=no_feature_drift"
    dom = render_until(url, screenshot, "1400,1000", "Evaluation result")
    assert "no_feature_drift" in dom and "Succeeded" in dom  # the check list's status
    assert "Evaluation result" in dom and "Passed" in dom  # the latest execution's outcome
    assert f">{lineage_run.stockcode}<" in dom  # ...and the partition it ran for
    assert screenshot.stat().st_size > 30_000
