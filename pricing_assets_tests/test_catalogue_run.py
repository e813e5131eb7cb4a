"""``pricing run --all`` on a small synthetic catalogue, its rerun, Ctrl-C, and the catalogue report."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, RunsFilter

from pricing_assets.core.bundle import promoted_stockcodes, read_bundle
from pricing_assets.core.catalogue import FAILED, HELD, PROMOTED
from pricing_assets.core.stockcodes import eligible_stockcodes
from pricing_assets.core.store import LocalArtifactStore, parquet_to_frame
from pricing_assets.settings import Settings

from .helpers import guests_buy_more_lately, source_file

PRICING = str(Path(sys.executable).parent / "pricing")
pytestmark = pytest.mark.slow
PRODUCTS = "4"
# Above this many stockcodes `pricing run` prints the counts and tables only the failures: 4 exercises it.
COMPACT = {"PRICING_CATALOGUE_COMPACT_ABOVE": "2"}


def _env(project: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update({"PRICING_PROJECT_DIR": str(project), "PRICING_SYNTHETIC_PRODUCTS": PRODUCTS, **COMPACT})
    return {**env, **(extra or {})}


def pricing(project: Path, *args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PRICING, *args], env=_env(project, extra), capture_output=True, text=True, timeout=900, cwd=project
    )


def instance_at(project: Path) -> DagsterInstance:
    os.environ["DAGSTER_HOME"] = str(project / ".pricing" / "dagster_home")
    try:
        return DagsterInstance.get()
    finally:
        del os.environ["DAGSTER_HOME"]


def store_of(project: Path) -> LocalArtifactStore:
    return LocalArtifactStore(project / ".pricing" / "store")


def lineage_runs(project: Path) -> int:
    with instance_at(project) as instance:
        return len(instance.get_runs(filters=RunsFilter(job_name="stockcode_lineage_job")))


def uci_source(path: Path) -> dict[str, str]:
    return {"PRICING_SOURCE": "uci", "PRICING_DATA": str(path)}


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory) -> dict:
    """A project after `pricing run --all` (the 4 synthetic products as a file) and the same command again. The
    most active product's guests buy six times as much in its last weeks, so its fairness check holds it back:
    the catalogue has a hold to report whatever the challenger decides."""
    project = tmp_path_factory.mktemp("catalogue")
    path, unfair = source_file(project, change=guests_buy_more_lately)
    source = uci_source(path)
    first = pricing(project, "run", "--all", "--json", str(project / "first.json"), extra=source)
    assert first.returncode == 0, first.stdout + first.stderr  # 0 even when a check held a stockcode back
    runs_after_first = lineage_runs(project)
    again = pricing(project, "run", "--all", "--json", str(project / "again.json"), extra=source)
    return {
        "project": project,
        "unfair": unfair,
        "first": first,
        "first_json": json.loads((project / "first.json").read_text()),
        "runs_after_first": runs_after_first,
        "again": again,
        "again_json": json.loads((project / "again.json").read_text()),
    }


def test_all_runs_every_eligible_stockcode_and_the_report_counts_what_ran(catalogue):
    project, report = catalogue["project"], catalogue["first_json"]
    history = parquet_to_frame(store_of(project).get_bytes("artifacts/raw_transactions/stockcode_history.parquet"))
    defaults = Settings.from_env({})
    eligible = eligible_stockcodes(
        history.set_index("stock_code"), defaults.min_history_rows, defaults.min_history_days
    )
    assert len(eligible) >= 3  # a catalogue, not one product
    ran = {o["stockcode"]: o for o in report["stockcodes"]}
    assert sorted(ran) == sorted(eligible) and report["skipped"] == {} and not report["interrupted"]
    promoted = sorted(code for code, o in ran.items() if o["metadata"].get("promoted_model"))
    blocked = sorted(code for code, o in ran.items() if not o["success"])
    assert promoted == promoted_stockcodes(store_of(project))
    # The catalogue report counts exactly what ran: promoted, held by each check, failed.
    summary = report["catalogue"]
    assert summary["stockcodes"] == len(eligible)
    assert summary["outcomes"][PROMOTED] == len(promoted)
    assert summary["outcomes"][HELD] + summary["outcomes"][FAILED] == len(blocked)
    # One row per blocking check that failed (a stockcode held by two checks has two).
    assert sorted(row["stockcode"] for row in summary["held"]) == sorted(
        code
        for code in blocked
        for check, passed in ran[code]["checks"].items()
        if not passed and ran[code]["check_severity"].get(check, "ERROR") != "WARN"
    )
    assert sum(summary["recommendations"][k] for k in ("hold", "increase", "decrease", "none")) == len(eligible)
    actions = [o["recommendation"]["action"] for o in ran.values() if o["recommendation"]]
    assert summary["recommendations"]["hold"] == actions.count("hold")
    assert {r["stockcode"] for r in summary["slowest"]} == set(eligible)  # 4 < PRICING_CATALOGUE_SLOWEST
    # Each stockcode's progress line says why it ran and, from the second on, the time left.
    stderr = catalogue["first"].stderr
    assert f"[1/{len(eligible)}] {eligible[0]}: running (never run)" in stderr
    assert f"[2/{len(eligible)}] {eligible[1]}: running (never run), ETA " in stderr
    # Above PRICING_CATALOGUE_COMPACT_ABOVE: the counts, and the table only for what did not pass.
    stdout = catalogue["first"].stdout
    assert "did not pass; --json FILE has every row" in stderr and "held by" in stdout
    assert (catalogue["unfair"], "fairness") in {(row["stockcode"], row["check"]) for row in summary["held"]}
    for code in set(promoted) - set(blocked):
        assert f"│ {code} " not in stdout
    # The asset is in the instance, its metadata has the counts, a Markdown table and the plot.
    with instance_at(project) as instance:
        (record,) = instance.fetch_materializations(AssetKey("catalogue_report"), limit=1).records
        metadata = record.asset_materialization.metadata
    assert metadata["promoted"].value == len(promoted) and metadata["stockcodes"].value == len(eligible)
    assert "| outcome | stockcodes |" in metadata["summary"].value
    assert metadata["plot"].value.startswith("![catalogue](data:image/png;base64,")
    assert Path(metadata["plot_path"].value).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rerun_with_nothing_changed_runs_nothing_and_says_so(catalogue):
    proc, report = catalogue["again"], catalogue["again_json"]
    first = catalogue["first_json"]
    assert proc.returncode == 0, proc.stderr  # a stockcode still held is listed, not an error
    assert report["stockcodes"] == [] and sorted(report["skipped"]) == sorted(
        o["stockcode"] for o in first["stockcodes"]
    )
    assert lineage_runs(catalogue["project"]) == catalogue["runs_after_first"]
    assert f"0 to run, {len(report['skipped'])} skipped" in proc.stderr
    for o in first["stockcodes"]:
        code = o["stockcode"]
        why = "unchanged since its last successful run" if o["success"] else "held by a check with the same rows"
        assert f"{code}: skipped, {why}" in proc.stderr
    # The report still covers the whole catalogue, the same as after the first run.
    assert report["catalogue"]["outcomes"] == first["catalogue"]["outcomes"]


def test_status_summary_prints_what_the_catalogue_report_holds(catalogue):
    project = catalogue["project"]
    proc = pricing(project, "status", "--summary", "--json")
    assert proc.returncode == 0, proc.stderr
    stored = json.loads(store_of(project).get_bytes("assets/catalogue_report.json"))
    assert json.loads(proc.stdout) == stored
    table = pricing(project, "status", "--summary")
    assert table.returncode == 0, table.stderr
    outcomes = stored["outcomes"]
    lines = table.stdout.splitlines()
    assert any(line.split() == ["promoted", str(outcomes[PROMOTED])] for line in lines), table.stdout
    assert any(line.split() == ["held", str(outcomes[HELD])] for line in lines), table.stdout
    for row in stored["held"]:  # each hold with its check and the start of its reason
        assert any(row["stockcode"] in line and f"held by {row['check']}" in line for line in lines)
    assert "slowest stockcode" in table.stdout


def test_ctrl_c_stops_between_stockcodes_with_nothing_half_promoted(catalogue, tmp_path):
    """SIGINT while the second stockcode runs: the run stops there, says what was done, exits 130; every
    pointer still names a bundle whose every byte verifies, and the next --all redoes only what did not finish."""
    project = tmp_path / "project"
    shutil.copytree(catalogue["project"], project)
    # Another source (the synthetic one of seed 8: other stockcodes, other rows): everything must run.
    other_source = uci_source(source_file(project, "seed-8.parquet", seed=8)[0])
    proc = subprocess.Popen(
        [PRICING, "run", "--all", "--json", str(project / "interrupted.json")],
        env=_env(project, other_source),
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    deadline = time.monotonic() + 600
    for line in proc.stderr:  # the first stockcode has finished and the second is tuning its models
        seen.append(line)
        if any(s.startswith("[2/") for s in seen) and "trial" in line:
            proc.send_signal(signal.SIGINT)
            break
        assert time.monotonic() < deadline, "".join(seen)
    stdout, rest = proc.communicate(timeout=300)
    stderr = "".join(seen) + rest
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted" in stderr and "1 stockcode(s) finished" in stderr and "Traceback" not in stderr
    report = json.loads((project / "interrupted.json").read_text())
    assert report["interrupted"] and len(report["stockcodes"]) == 1
    (finished,) = [o["stockcode"] for o in report["stockcodes"]]
    stopped, *untouched = report["not_run"]
    store = store_of(project)
    for code in promoted_stockcodes(store):
        assert read_bundle(store, code).pointer["version"]  # every byte verifies
    # What the next `pricing run --all` would do: the finished one is skipped; the stopped and untouched run.
    from pricing_assets import cli
    from pricing_assets.definitions import build_definitions

    settings = Settings.from_env(_env(project, other_source))
    with instance_at(project) as instance:
        to_run, plan = cli._what_to_rerun(instance, build_definitions(settings), store, [finished, stopped, *untouched])
    assert finished in plan.skipped or finished in plan.held_before
    assert stopped in to_run and "its last run did not finish (failure: interrupted" in to_run[stopped]
    assert set(untouched) <= set(to_run)


def test_two_worker_processes_run_the_catalogue_side_by_side(tmp_path):
    """`--processes 2`: every eligible stockcode runs once, two at a time in worker processes (their runs
    overlap in time on the one instance), each promoted or held with its reason; a rerun runs nothing."""
    project = tmp_path / "project"
    project.mkdir()
    first = pricing(project, "run", "--all", "--processes", "2", "--json", str(project / "first.json"))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "in 2 worker processes side by side" in first.stderr
    report = json.loads((project / "first.json").read_text())
    codes = [o["stockcode"] for o in report["stockcodes"]]
    assert len(codes) == len(set(codes)) == int(PRODUCTS) and not report["interrupted"]
    for outcome in report["stockcodes"]:
        held = [k for k, ok in outcome["checks"].items() if not ok and outcome["check_severity"][k] != "WARN"]
        assert outcome["success"] or held, outcome["error"]
        assert outcome["metadata"]["model_evaluation"]["champion"]  # the worker's metadata came back
    with instance_at(project) as instance:
        runs = instance.get_run_records(filters=RunsFilter(job_name="stockcode_lineage_job"))
    assert sorted(r.dagster_run.tags["dagster/partition"] for r in runs) == sorted(codes)
    spans = sorted((r.start_time, r.end_time) for r in runs)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)), spans
    again = pricing(project, "run", "--all", "--processes", "2", "--json", str(project / "again.json"))
    assert again.returncode == 0, again.stderr
    assert json.loads((project / "again.json").read_text())["stockcodes"] == []
    assert f"0 to run, {len(codes)} skipped" in again.stderr and lineage_runs(project) == len(codes)
