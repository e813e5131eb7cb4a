"""The ``pricing`` console script, run as a user would run it (a subprocess, a real instance)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus

from .components import require
from .conftest import REPO, UCI_DEV, free_port
from .deployment import stop_groups
from .helpers import shifted_source_file

PRICING = str(Path(sys.executable).parent / "pricing")
pytestmark = pytest.mark.slow


def run_cli(tmp_path: Path, *args: str, dagster_home: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update({"PRICING_PROJECT_DIR": str(tmp_path), "PRICING_SYNTHETIC_PRODUCTS": "4"})
    if dagster_home:
        env["DAGSTER_HOME"] = str(dagster_home)
    return subprocess.run([PRICING, "run", *args], env=env, capture_output=True, text=True, timeout=600)


def status_of(tmp_path: Path) -> dict[str, dict]:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["PRICING_PROJECT_DIR"] = str(tmp_path)
    proc = subprocess.run([PRICING, "status", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return {row["stockcode"]: row for row in json.loads(proc.stdout)}


def instance_at(home: Path) -> DagsterInstance:
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        return DagsterInstance.get()
    finally:
        del os.environ["DAGSTER_HOME"]


def test_run_top_two_records_everything_in_the_embedded_instance(tmp_path):
    proc = run_cli(tmp_path, "--top", "2")
    assert proc.returncode == 0, proc.stderr
    assert "drift check" in proc.stdout and "fairness check" in proc.stdout and "passed" in proc.stdout
    assert "failed" not in proc.stdout and "not promoted" not in proc.stdout
    assert "dfn_model dfn: trial 2/2" in proc.stderr  # tuning progress went to the terminal
    assert "promoted_model promoted" in proc.stderr
    home = tmp_path / ".pricing" / "dagster_home"
    with instance_at(home) as instance:
        runs = instance.get_runs()
        assert len(runs) == 3 and all(r.status == DagsterRunStatus.SUCCESS for r in runs)
        partitions = instance.get_dynamic_partitions("stockcode")
        assert len(partitions) == 2
        records = instance.fetch_materializations(AssetKey("promoted_model"), limit=10).records
        assert {r.partition_key for r in records} == set(partitions)
    assert (tmp_path / ".pricing" / "store" / "assets" / "raw_transactions.parquet").exists()
    status = status_of(tmp_path)
    assert set(status) == set(partitions)
    for row in status.values():
        assert row["status"] == "SUCCESS" and row["promoted"] and all(row["checks"].values())
        assert set(row["checks"]) == {"no_feature_drift", "fairness_within_threshold"}


def test_run_uses_dagster_home_when_set(tmp_path):
    home = tmp_path / "elsewhere"
    home.mkdir()
    proc = run_cli(tmp_path, "--top", "1", dagster_home=home)
    assert proc.returncode == 0, proc.stderr
    with instance_at(home) as instance:
        assert len(instance.get_runs()) == 2
    assert not (tmp_path / ".pricing" / "dagster_home").exists()


def test_drift_failure_exits_non_zero_and_says_what_to_do(tmp_path):
    path, code = shifted_source_file(tmp_path)
    proc = run_cli(tmp_path, "--source", "uci", "--data", str(path), "--stockcodes", code)
    assert proc.returncode == 1
    assert "did not pass" in proc.stderr and code in proc.stderr and "drift report" in proc.stderr
    assert "not promoted" in proc.stdout and "previous promoted bundle" in proc.stderr
    # The reason in words (the check's own), not the class of the error Dagster raised for it.
    assert f"{code} drift: " in proc.stderr and "failed (drift)" in proc.stdout
    assert "dagster._core" not in proc.stdout + proc.stderr and "CheckFailedError" not in proc.stdout + proc.stderr
    row = status_of(tmp_path)[code]
    assert row["status"] == "FAILURE" and row["checks"] == {"no_feature_drift": False} and row["promoted"] is None


@pytest.mark.parametrize(
    "args,message",
    [
        (("--source", "uci", "--data", "/nonexistent/retail.csv"), "does not exist"),
        (("--source", "uci"), "--data"),
        (("--stockcodes", "../x"), "invalid stockcode"),
        (("--stockcodes", "99999Z"), "has no usable sales lines in the source"),
        (("--top", "0"), "--top must be at least 1"),
    ],
)
def test_bad_input_gets_a_clear_error(tmp_path, args, message):
    proc = run_cli(tmp_path, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_run_on_the_uci_file(tmp_path):
    """The real file goes through every stage to both verdicts; the exit code follows the verdicts.

    Whether 85123A passes the fairness gate depends on the model the (small) test budget finds, so
    the test pins the contract, not the outcome: promoted with exit 0, or not promoted with exit 1.
    """
    require("dev-data")
    proc = run_cli(
        tmp_path,
        "--source",
        "uci",
        "--data",
        str(UCI_DEV),
        "--stockcodes",
        "85123A",
        "--json",
        str(tmp_path / "out.json"),
    )
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    (outcome,) = report["stockcodes"]
    assert outcome["stockcode"] == "85123A" and set(outcome["checks"]) == {
        "no_feature_drift",
        "fairness_within_threshold",
    }
    assert {"training_splits", "dfn_model", "model_evaluation", "fairness_report"} <= set(outcome["stage_seconds"])
    passed = all(outcome["checks"].values())
    assert (proc.returncode == 0) == passed
    assert ("promoted_model" in outcome["metadata"]) == passed
    assert "85123A" in proc.stdout
    assert "ConvergenceWarning" not in proc.stderr  # non-converged fits are counted per study, not printed each


def test_ui_starts_from_a_shell_without_the_venv_on_path(tmp_path):
    """``.venv/bin/pricing ui`` as the README has it, from a PATH without the venv: the UI answers.

    ``dagster`` is not on such a PATH; the CLI must start Dagster from its own interpreter.
    """
    shutil.copy(REPO / "workspace.yaml", tmp_path / "workspace.yaml")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "VIRTUAL_ENV")}
    env.update({"PRICING_PROJECT_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    log = tmp_path / "ui.log"
    with log.open("wb") as output:
        proc = subprocess.Popen(
            [PRICING, "ui", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    info = None
    try:
        deadline = time.monotonic() + 180
        while info is None and proc.poll() is None and time.monotonic() < deadline:
            try:
                info = httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).json()
            except httpx.HTTPError:
                time.sleep(1)
    finally:
        stop_groups([proc], grace_seconds=1.0)  # nothing to save in a throwaway instance
    assert info is not None, log.read_text(errors="replace")[-3000:]
    assert "dagster_webserver_version" in info
    assert (tmp_path / ".pricing" / "dagster_home" / "dagster.yaml").exists()  # the project's own instance
