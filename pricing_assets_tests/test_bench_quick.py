"""The benchmark suite's smoke run: ``bench/run.py --quick`` works end to end and its report renders.

One quick run (module fixture) into a temporary results folder, then assertions on what it
wrote: the envelope every result file carries, each benchmark's structure, the things that must
hold whatever the timings (the asset bodies are a part of every Dagster step and run; the
multiprocess executor really runs steps in other processes; every request in the serving profile
is a miss), and the Markdown blocks. No timing is asserted: quick figures are not measurements.
Also: how the overhead benchmark reads body time from Dagster's events, the weekly forecast
benchmark's counts on the real file (its own quick run), and BENCHMARKS.md is what report.py
renders from the committed results.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from . import components
from .components import require
from .conftest import REPO

pytestmark = pytest.mark.slow

BENCH = REPO / "bench"
QUICK_SET = ("throughput", "dagster_overhead", "profiles", "ui_scale")
LINEAGE_STEPS = ("weekly_features", "training_splits", "dfn_model", "model_evaluation", "demand_forecast")


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


def test_dagster_overhead_times_the_asset_bodies_inside_dagsters_steps(quick_run):
    out, _, _ = quick_run
    first = result(out, "dagster_overhead")["in_process"]
    assert first["dagster_failures"] == 0 and first["same_champion"], first["champions"]
    assert first["ratio_median"] > 1 and isinstance(first["target_met"], bool)
    for step in LINEAGE_STEPS:
        assert step in first["per_step"], step
    for step, timing in first["per_step"].items():
        assert 0 < timing["body_median"] <= timing["step_median"], step
    for run in first["repetitions"]:
        assert run["bodies_seconds"] < run["steps_seconds"] < run["seconds"]


def test_step_timings_count_only_the_body_intervals():
    """Body = the time up to each STEP_OUTPUT or check evaluation from the event before it, per step."""
    sys.path.insert(0, str(BENCH))
    try:
        from dagster_overhead import step_timings
    finally:
        sys.path.remove(str(BENCH))
    records = [
        (0.0, "RUN_START", None),
        (1.0, "STEP_START", "a"),
        (1.5, "LOADED_INPUT", "a"),  # reading the input: Dagster's
        (4.5, "STEP_OUTPUT", "a"),  # 3 s of body
        (5.0, "HANDLED_OUTPUT", "a"),
        (5.5, "STEP_OUTPUT", "a"),  # a second output: 0.5 s more
        (6.0, "HANDLED_OUTPUT", "a"),
        (7.0, "ASSET_CHECK_EVALUATION", "a"),  # the check's body: 1 s
        (7.5, "STEP_SUCCESS", "a"),
        (8.0, "STEP_START", "b"),
        (9.0, "STEP_OUTPUT", "b"),
        (9.25, "STEP_FAILURE", "b"),
    ]
    assert step_timings(records) == {"a": {"body": 4.5, "step": 6.5}, "b": {"body": 1.0, "step": 1.25}}


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


def test_weekly_forecast_quality_counts_what_each_stockcode_recorded(tmp_path):
    """model_quality.py --quick on the real file (3 codes, the smoke budget): the champion's weekly test
    WAPE and RMSLE against both baselines per code, and the summary's counts are those of the codes."""
    components.require("dev-data")
    output = tmp_path / "model_quality.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICING_") or k == "PRICING_DEV_DATA"}
    args = [sys.executable, str(BENCH / "model_quality.py"), "--quick", "--output", str(output)]
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    data = json.loads(output.read_text())
    rows, summary = data["stockcodes"], data["summary"]
    assert data["quick"] and len(rows) == 3 and not summary["errors"]
    baselines = ("recent_mean_baseline", "seasonal_naive_baseline")
    for row in rows:
        test = {kind: row["forecast"][kind]["test"] for kind in row["forecast"]}
        champion = test[row["champion"]]
        assert row["champion"] not in baselines and champion["weeks"] == row["split_weeks"]["test"] > 0
        assert row["beats_both_wape"] == all(champion["wape"] < test[b]["wape"] for b in baselines)
        assert row["beats_both_rmsle"] == all(champion["rmsle"] < test[b]["rmsle"] for b in baselines)
        assert row["product_beats_on_test"] == {b: champion["wape"] < test[b]["wape"] for b in baselines}
    assert summary["beats_both_wape"] == sum(r["beats_both_wape"] for r in rows)
    assert summary["beats_both_share"] == pytest.approx(summary["beats_both_wape"] / 3, abs=1e-4)
    assert summary["median_champion_test_wape"] == pytest.approx(
        float(np.median([r["forecast"][r["champion"]]["test"]["wape"] for r in rows])), abs=1e-4
    )
    assert "beats both baselines on test WAPE" in proc.stdout


def test_forecast_quality_on_the_store_scores_its_true_expected_demand_on_the_same_weeks(tmp_path):
    """model_quality.py --quick --source store: beside the champion, the store's exact expected units on each
    code's test weeks, judged against the same baselines (the ceiling of any forecast)."""
    output = tmp_path / "model_quality_store.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICING_")}
    args = [sys.executable, str(BENCH / "model_quality.py"), "--quick", "--source", "store", "--output", str(output)]
    proc = subprocess.run([*args, "--origins", "2"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    data = json.loads(output.read_text())
    rows, summary = data["stockcodes"], data["summary"]
    assert data["benchmark"] == "model_quality_store" and len(rows) == 3 and not summary["errors"]
    baselines = ("recent_mean_baseline", "seasonal_naive_baseline")
    for row in rows:
        oracle, test = row["true_expected_demand"], {k: row["forecast"][k]["test"] for k in row["forecast"]}
        assert oracle["weeks"] == row["split_weeks"]["test"] and 0 < oracle["wape"] < 1.5
        beats = all(oracle["wape"] < test[b]["wape"] for b in baselines)
        assert row["true_expected_demand_beats_both_wape"] == beats
        # The rolling origin pools the product's test weeks with an earlier origin's, just before them.
        rolling = row["rolling_origin"]
        assert rolling["origins"] == 2 and rolling["test_weeks"] > row["split_weeks"]["test"]
        assert rolling["test_from"] < row["split_dates"]["test"][0]
        scores = rolling["scores"]
        assert rolling["beats_both_wape"] == all(scores["champion"]["wape"] < scores[b]["wape"] for b in baselines)
        assert 0 < rolling["true_expected_demand"]["wape"] < 1.5
        # The true recent mean: the truth of the four weeks before each test week, on the same weeks.
        recent = row["true_recent_mean"]
        assert recent["weeks"] == row["split_weeks"]["test"] and 0 < recent["wape"] < 1.5
        assert row["true_recent_mean_beats_both_wape"] == all(recent["wape"] < test[b]["wape"] for b in baselines)
    # It looks back only: were it the week's own truth, it would score exactly as the true expected demand.
    assert any(r["true_recent_mean"] != r["true_expected_demand"] for r in rows)
    assert any(r["rolling_origin"]["true_recent_mean"] != r["rolling_origin"]["true_expected_demand"] for r in rows)
    assert summary["true_expected_demand_beats_both_wape"] == sum(
        r["true_expected_demand_beats_both_wape"] for r in rows
    )
    assert summary["true_recent_mean_beats_both_wape"] == sum(r["true_recent_mean_beats_both_wape"] for r in rows)
    assert summary["rolling_origin"]["beats_both_wape"] == sum(r["rolling_origin"]["beats_both_wape"] for r in rows)
    assert "The true expected demand" in proc.stdout and "On a rolling origin" in proc.stdout
    # --skip leaves out the most active codes first: skipping two, the first code scored is the third.
    later = tmp_path / "model_quality_store_skip.json"
    args = [*args[:-2], "--output", str(later), "--skip", "2", "--top", "1"]
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    skipped = json.loads(later.read_text())
    assert [r["stock_code"] for r in skipped["stockcodes"]] == [rows[2]["stock_code"]]
    assert skipped["selection"].startswith("after the 2 most active, the 1 most active")


def test_an_earlier_origin_sees_only_the_weeks_before_the_later_ones_test():
    """core_calls.earlier_origin: the weeks before the product's test weeks, split again the product's way,
    the preprocessor fit on the new train split alone; each row's features as they were."""
    from pricing_assets.core import splits
    from pricing_assets.core.sources import load_source
    from pricing_assets.settings import Settings

    sys.path.insert(0, str(BENCH))
    try:
        from core_calls import catalogue_of, earlier_origin, prepare_weekly
    finally:
        sys.path.remove(str(BENCH))
    settings = Settings.from_env({}).with_(source="store", data=None, synthetic_products=24)
    transactions = load_source("store", None, settings.seed, 24).transactions
    eligible, catalogue, demand_index = catalogue_of(transactions, settings)
    run = prepare_weekly(transactions, eligible[0], catalogue, demand_index, settings)
    earlier = earlier_origin(run, settings)
    later, frame = run.training_splits, earlier.training_splits
    first_test = later.loc[later[splits.SPLIT_COLUMN] == "test", "week"].min()
    assert frame["week"].max() < first_test
    assert frame["week"].nunique() == later.loc[later["week"] < first_test, "week"].nunique()
    assert (frame.groupby(splits.SPLIT_COLUMN)["week"].nunique() > 0).all()
    assert frame.loc[frame[splits.SPLIT_COLUMN] == "test", "week"].max() == frame["week"].max()
    train = frame[frame[splits.SPLIT_COLUMN] == "train"]
    assert earlier.preprocessor.means == pytest.approx(splits.Preprocessor.fit(train).means)
    assert earlier.preprocessor.means != pytest.approx(run.preprocessor.means)
    kept = later[later["week"] < first_test].drop(columns=[splits.SPLIT_COLUMN]).reset_index(drop=True)
    pd.testing.assert_frame_equal(frame.drop(columns=[splits.SPLIT_COLUMN]).reset_index(drop=True), kept)


def test_the_benchmarks_forecast_falls_back_as_the_asset_does(monkeypatch):
    """core_calls.demand_forecast walks the fallback chain as demand_forecast does: an implausible champion gives
    way to the next model (before, the benchmarks raised where the product answered with a fallback)."""
    from types import SimpleNamespace

    from pricing_assets.core import forecast, weekly_features

    sys.path.insert(0, str(BENCH))
    try:
        from core_calls import demand_forecast
    finally:
        sys.path.remove(str(BENCH))

    def forecast_next_week(model, preprocessor, rows, residuals, seed):
        if model == "dfn model":
            raise forecast.ImplausibleForecastError("dfn forecast 1e17 units a week")
        return f"forecast by the {model}"

    monkeypatch.setattr(weekly_features, "next_week_rows", lambda *args: "next week's rows")
    monkeypatch.setattr(forecast, "forecast_next_week", forecast_next_week)
    evaluation = SimpleNamespace(
        champion="dfn", fallback_chain=["svr", "recent_mean_baseline"], validation_residuals={"dfn": [], "svr": []}
    )
    run = SimpleNamespace(
        stock_code="85123A",
        weekly_demand=None,
        elasticity=-1.0,
        demand_index=None,
        evaluation=evaluation,
        models={"dfn": "dfn model", "svr": "svr model"},
        preprocessor=None,
    )
    assert demand_forecast(run, SimpleNamespace(seed=7)) == "forecast by the svr model"
