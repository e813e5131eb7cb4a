"""``pricing`` on a project whose promotions were damaged, and its bad-input edges, run as a user would."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from pricing_assets.core.bundle import pointer_key, read_bundle, read_pointer
from pricing_assets.core.store import LocalArtifactStore

from .conftest import PROMOTED_STOCKCODES

PRICING = str(Path(sys.executable).parent / "pricing")
pytestmark = pytest.mark.slow
DAMAGED, GONE = PROMOTED_STOCKCODES  # one pointer truncated, one deleted


def pricing(project: Path, *args: str, unbuffered: bool = True, **popen: object) -> subprocess.CompletedProcess:
    """``pricing`` in its own process; ``unbuffered=False``: stdout block-buffered, as in a shell pipe."""
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "PYTHONUNBUFFERED")}
    env.update({"PRICING_PROJECT_DIR": str(project), "PRICING_SYNTHETIC_PRODUCTS": "4"})
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    popen = {"capture_output": True, **popen}
    return subprocess.run([PRICING, *args], env=env, text=True, timeout=900, **popen)


def store_of(project: Path) -> LocalArtifactStore:
    return LocalArtifactStore(project / ".pricing" / "store")


@pytest.fixture
def project(promoted_project: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(promoted_project, copy)
    return copy


def test_a_damaged_or_lost_pointer_is_shown_and_promoted_again(project, tmp_path):
    store = store_of(project)
    truncated = store.root / pointer_key(DAMAGED)
    truncated.write_bytes(truncated.read_bytes()[:20])
    (store.root / pointer_key(GONE)).unlink()

    # Status names the damage and its fix, for that stockcode alone; before, a traceback.
    table = pricing(project, "status")
    assert table.returncode == 0 and "Traceback" not in table.stderr, table.stderr
    assert "refused (damaged)" in table.stdout
    assert f"{DAMAGED} serving bundle refused: the promotion pointer" in table.stderr
    assert f"promote {DAMAGED} again (pricing run --stockcodes {DAMAGED})" in table.stderr
    rows = {row["stockcode"]: row for row in json.loads(pricing(project, "status", "--json").stdout)}
    assert rows[DAMAGED]["promoted"] is None and "is not valid JSON" in rows[DAMAGED]["serving_refused"]
    assert rows[GONE]["promoted"] is None and rows[GONE]["serving_refused"] == ""
    summary = pricing(project, "status", "--summary")
    assert summary.returncode == 0 and "Traceback" not in summary.stderr, summary.stderr

    # run --all redoes both with the reason (before: a traceback, and "skipped ... (promoted None)").
    report = tmp_path / "run.json"
    run = pricing(project, "run", "--all", "--json", str(report))
    said = " ".join(run.stderr.split())  # rich wraps long lines at 80 columns off a terminal
    assert "Traceback" not in said and "promoted None" not in said, run.stderr
    assert f"{DAMAGED}: running (" in said and "serving refuses its promotion (the promotion pointer" in said
    assert f"{GONE}: running (" in said and "its promotion pointer is gone: nothing serves it" in said
    outcomes = {o["stockcode"]: o for o in json.loads(report.read_text())["stockcodes"]}
    for code in PROMOTED_STOCKCODES:
        assert outcomes[code]["success"], outcomes[code]["error"]
        assert read_bundle(store, code).pointer["version"] == outcomes[code]["metadata"]["promoted_model"]["version"]
    assert "damaged" in outcomes[DAMAGED]["check_reasons"]["candidate_no_worse_than_serving"]

    # A fallback model file that fails its SHA-256: the promotion its error asks for goes through.
    before = read_pointer(store, DAMAGED)
    fallback = read_bundle(store, DAMAGED).manifest["fallback_chain"][-1]
    folder = store.root / before["manifest_key"].rsplit("/", 1)[0] / "models" / fallback
    model_file = sorted(p for p in folder.iterdir() if p.is_file())[0]
    model_file.write_bytes(model_file.read_bytes()[:20])
    again = pricing(project, "run", "--stockcodes", DAMAGED)
    assert again.returncode == 0 and "fails its SHA-256 check" in " ".join(again.stderr.split()), again.stderr
    after = read_bundle(store, DAMAGED)
    assert after.pointer["version"] != before["version"]
    os.environ["DAGSTER_HOME"] = str(project / ".pricing" / "dagster_home")
    try:
        with DagsterInstance.get() as instance:
            records = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey("challenger_comparison"), asset_partitions=[DAMAGED]), limit=1
            ).records
    finally:
        del os.environ["DAGSTER_HOME"]
    metadata = records[0].asset_materialization.metadata
    assert f"models/{fallback}/{model_file.name}" in metadata["serving_damaged"].value
    assert metadata["basis"].value == "baselines"


def test_an_unwritable_json_report_is_refused_before_anything_runs(tmp_path):
    proc = pricing(tmp_path, "run", "--top", "1", "--json", str(tmp_path / "no" / "such" / "out.json"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--json" in proc.stderr and f"{tmp_path / 'no' / 'such'} does not exist" in proc.stderr
    assert "raw_transactions" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [("status",), ("status", "--json"), ("run", "--top", "1")])
def test_a_project_dir_that_is_a_file_is_refused_in_words(tmp_path, args):
    not_a_folder = tmp_path / "project.txt"
    not_a_folder.write_text("not a folder")
    proc = pricing(not_a_folder, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "PRICING_PROJECT_DIR" in proc.stderr and "Not a directory" in proc.stderr
    assert "Traceback" not in proc.stderr and "NotADirectoryError" not in proc.stderr


@pytest.mark.parametrize("args", [("status",), ("status", "--json"), ("status", "--summary")])
def test_a_reader_that_goes_away_ends_status_quietly(project, args):
    """``pricing status --json | head``: the pipe's reader is gone before anything is written (stdout
    unbuffered: the print itself fails). The tables go through rich, which already stopped quietly with 1;
    the JSON went through print: a traceback."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = pricing(project, *args, stdout=write, stderr=subprocess.PIPE, capture_output=False)
    finally:
        os.close(write)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr and "Exception" not in proc.stderr


def test_a_reader_that_goes_away_before_a_short_answer_is_flushed_ends_quietly(tmp_path):
    """Block-buffered stdout (a shell pipe without PYTHONUNBUFFERED): ``[]`` (nothing registered) stays in
    the buffer until the console script flushes it on the way out, and that flush fails."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = pricing(
            tmp_path, "status", "--json", unbuffered=False, stdout=write, stderr=subprocess.PIPE, capture_output=False
        )
    finally:
        os.close(write)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
