"""The benchmark suite's smoke run: ``bench/run.py --quick`` works end to end and its report renders.

One quick run (module fixture) into a temporary results folder, then assertions on what it
wrote: the envelope every result file carries, each benchmark's structure, the things that must
hold whatever the timings (the direct lineage and the Dagster run compute the same champion and
price; the multiprocess executor really runs steps in other processes; every request in the
serving profile is a miss), and the Markdown blocks. No timing is asserted: quick figures are not
measurements. Also: BENCHMARKS.md is what report.py renders from the committed results.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .components import require
from .conftest import REPO

pytestmark = pytest.mark.slow

BENCH = REPO / "bench"
QUICK_SET = ("throughput", "dagster_overhead", "rows_scaling", "profiles", "ui_scale")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """``run.py --quick`` into a temporary folder, with a copy of BENCHMARKS.md to render into."""
    out = tmp_path_factory.mktemp("bench_quick")
    markdown = out / "BENCHMARKS.md"
    shutil.copyfile(REPO / "BENCHMARKS.md", markdown)
    # The quick run declares its own budget; the suite's PRICING_* must not leak into it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICING_") and k != "DAGSTER_HOME"}
    args = [sys.executable, str(BENCH / "run.py"), "--quick", "--results-dir", str(out), "--markdown", str(markdown)]
    proc = subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:  # run workers, step processes and servers go with their group
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    logs = "".join(f"\n--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted((out / "logs.tmp").glob("*.log")))
    assert proc.returncode == 0, output + logs
    return out, markdown, output


def result(out: Path, name: str) -> dict:
    return json.loads((out / f"{name}.json").read_text())


def test_every_result_has_the_envelope(quick_run):
    out, _, _ = quick_run
    for name in QUICK_SET:
        data = result(out, name)
        assert data["benchmark"] == name and data["quick"] is True
        assert "bench/" in data["command"] and "--quick" in data["command"]
        assert data["machine"]["cpu_count"] >= 1 and data["machine"]["python"].startswith("3.11")
        assert "cpu_model" in data["machine"] and data["date"][:2] == "20"
        assert len(data["loadavg_start"]) == 3 and len(data["loadavg_end"]) == 3
        assert data["wall_seconds"] > 0 and len(data["code"]["commit"]) == 40
    assert not list(out.glob("*.json.tmp"))  # written atomically


def test_throughput_backfills_with_both_executors(quick_run):
    out, _, _ = quick_run
    data = result(out, "throughput")
    assert data["sizes"] == [1, 2] and data["concurrency"] == 2
    measured = {(m["executor"], m["stockcodes"]) for m in data["measurements"]}
    assert measured == {(e, n) for e in ("in_process", "multiprocess_forkserver") for n in (1, 2)}
    for m in data["measurements"]:
        assert m["failed"] == 0 and m["succeeded"] == m["stockcodes"] == len(m["runs"])
        assert m["stockcodes_per_minute"] > 0
        assert len({r["stock_code"] for r in m["runs"]}) == m["stockcodes"]  # one run per stockcode
        for run in m["runs"]:
            assert run["steps"] == 2  # the quick subset: cleaned_transactions and demand_features
            if m["executor"] == "in_process":
                assert run["step_processes"] == 1
            else:  # every step in a process of its own, forked from the preloaded server
                assert run["step_processes"] == 2
    summary = data["summary"]["by_executor"]
    for executor in ("in_process", "multiprocess_forkserver"):
        spm = summary[executor]["2"]["stockcodes_per_minute"]
        assert spm["n"] == 1 and spm["min"] <= spm["median"] <= spm["max"]


def test_dagster_overhead_compares_the_same_computation(quick_run):
    out, _, _ = quick_run
    first = result(out, "dagster_overhead")["in_process"]
    assert first["same_result"]["equal"], first["same_result"]
    assert first["step_order"]["same"], first["step_order"]
    assert first["dagster_failures"] == 0
    assert first["ratio_median"] > 0 and isinstance(first["target_met"], bool)
    assert set(first["step_order"]["direct"]) <= set(first["per_step"])


def test_rows_scaling_times_and_measures_every_stage(quick_run):
    out, _, _ = quick_run
    data = result(out, "rows_scaling")
    small, large = (data["summary"][str(n)] for n in data["sizes"])
    assert small["errors"] == large["errors"] == 0
    assert large["product_raw_rows"] > small["product_raw_rows"] and large["cleaned_rows"] > small["cleaned_rows"]
    for size in (small, large):
        assert "dfn_model" in size["stage_seconds"] and "promoted_model" in size["stage_seconds"]
        for stage, peak in size["stage_peak_rss_mib"].items():
            assert peak["median"] > 0, stage


def test_profiles_are_written_and_every_request_missed_the_cache(quick_run):
    out, _, _ = quick_run
    data = result(out, "profiles")
    assert (out / data["dfn_tuning"]["text"]).read_text().strip()
    assert data["dfn_tuning"]["by_library_seconds"]
    for request in data["uncached_request"].values():
        assert request["all_uncached_200"]
        assert (out / request["text"]).read_text().strip()
        assert request["handler_ms"]["n"] == request["requests"]


def test_ui_scale_answers_for_every_partition_and_loads_the_pages(quick_run):
    """The benchmark checks each GraphQL answer against what it recorded (it exits non-zero otherwise);
    here: it recorded every partition, measured every query, and loaded every page in Chromium."""
    out, _, _ = quick_run
    data = result(out, "ui_scale")["storages"]["sqlite"]
    assert data["partitions"] == 4 and data["runless_events"] > 0  # the synthetic source's eligible products
    assert data["materialized"]["drift_report"] == data["partitions"]
    graphql = data["graphql_seconds"]
    assert set(graphql) == {
        "check_partition_statuses",
        "check_executions_every_partition",
        "asset_partition_statuses",
        "check_executions_one_partition",
    }
    require("chromium")  # without it (outside CI) the pages were not measured, and the result says so
    assert data["pages_not_measured"] is None
    assert set(data["page_seconds"]) == {"asset_partitions_page", "asset_checks_page", "check_partitions_tab"}
    for measured in (*graphql.values(), *data["page_seconds"].values()):
        assert measured["n"] == 1 and measured["first"] > 0 and measured["median"] > 0


def test_report_renders_every_quick_result_between_its_markers(quick_run):
    out, markdown, _ = quick_run
    text = markdown.read_text()
    for name in QUICK_SET:
        start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
        assert text.count(start) == 1 and text.count(end) == 1, name
        block = text.split(start)[1].split(end)[0]
        assert "Quick smoke run" in block and "| ---" in block, name
    # Hand-written prose outside the markers survives a render.
    assert "## Where the time goes" in text


def test_benchmarks_md_is_rendered_from_the_committed_results():
    proc = subprocess.run(
        [sys.executable, str(BENCH / "report.py"), "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
