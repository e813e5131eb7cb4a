"""Backfill throughput: stockcodes per minute for 1, 4, 16 and 64 stockcodes, by executor.

What a backfill of N stockcodes is here (the same for every executor):

- the synthetic source (``PRICING_SYNTHETIC_PRODUCTS`` products, so that at least N are eligible)
  is loaded once into ``raw_transactions`` and the N most active eligible stockcodes are
  registered as partitions; this setup is not timed;
- then one run of ``stockcode_lineage_job`` per stockcode, each run in a run-worker process of
  its own (as Dagster's default run launcher does: a fresh ``python`` that imports the code
  location and calls ``execute_job``), at most ``--concurrency`` runs at a time (2 = the cores,
  like a run queue with ``max_concurrent_runs: 2``), the next one launched as soon as one ends;
- the backfill's wall time runs from the first launch to the last run's end; stockcodes per
  minute = N / wall * 60.

Inside each run the executor differs: ``in_process`` (every step in the run worker),
``multiprocess_spawn`` (a fresh interpreter per step, Dagster's default start method) and
``multiprocess_forkserver`` (steps forked from a server that has imported
``pricing_assets.definitions`` once per run), both multiprocess with ``max_concurrent: 2``.
Measurements are interleaved: for each size, the executors in turn (rotated per repetition), so
background load hits them alike. The tuning budget is the test suite's (declared in the JSON),
not the product default; the default-budget one-stockcode figure is pipeline_run.py's.

A (size, executor) pair whose extrapolated wall (linear in N from the largest size measured
with that executor) exceeds ``--max-minutes`` is not run and recorded as "not measured" with
the extrapolation.

    .venv/bin/python bench/throughput.py                 # 1 4 16 64, all three executors
    .venv/bin/python bench/throughput.py --quick         # 1 and 2 stockcodes, two cheap steps, no spawn
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchlib import (
    QUICK_BUDGET,
    REDUCED_BUDGET,
    RESULTS,
    begin,
    budget_from_env,
    finish,
    loadavg,
    log,
    stats,
    write_json,
)
from report import render

PRELOAD = ["pricing_assets.definitions"]
EXECUTORS: dict[str, dict[str, Any]] = {
    "in_process": {"in_process": {}},
    "multiprocess_spawn": {"multiprocess": {"max_concurrent": 2, "start_method": {"spawn": {}}}},
    "multiprocess_forkserver": {
        "multiprocess": {"max_concurrent": 2, "start_method": {"forkserver": {"preload_modules": PRELOAD}}}
    },
}
QUICK_ASSETS = ["cleaned_transactions", "weekly_demand"]
CODE_LOCATION = ("pricing_assets.definitions", "defs")


# --- the run worker (one run of the lineage job, in its own process) ----------------------------


def worker_main(stock_code: str, executor: str, result_path: Path, assets: list[str] | None) -> None:
    """What a run worker does: import the code location, execute one run, report how it went."""
    started = time.perf_counter()
    from dagster import AssetKey, DagsterEventType, DagsterInstance, execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from pricing_assets.jobs import LINEAGE_JOB

    recon = ReconstructableRepository.for_module(*CODE_LOCATION).get_reconstructable_job(LINEAGE_JOB)
    recon.get_definition()  # load the code location now, as a run worker does before the run starts
    imported = time.perf_counter()
    selection = [AssetKey(a) for a in assets] if assets else None
    with (
        DagsterInstance.get() as instance,
        execute_job(
            recon,
            instance,
            run_config={"execution": {"config": EXECUTORS[executor]}},
            tags={"dagster/partition": stock_code},
            asset_selection=selection,
        ) as result,
    ):
        events = instance.all_logs(result.run_id)
        stats_ = instance.get_run_stats(result.run_id)
        steps = {
            e.step_key: round(e.dagster_event.event_specific_data.duration_ms / 1000, 3)
            for e in events
            if e.dagster_event_type == DagsterEventType.STEP_SUCCESS
        }
        pids = {e.dagster_event.pid for e in events if e.dagster_event_type == DagsterEventType.STEP_START}
        checks = {
            e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data.passed
            for e in events
            if e.dagster_event_type == DagsterEventType.ASSET_CHECK_EVALUATION
        }
        step_errors = [
            e.dagster_event.event_specific_data.error.cls_name
            for e in events
            if e.dagster_event_type == DagsterEventType.STEP_FAILURE
        ]
        outcome = {
            "stock_code": stock_code,
            "success": result.success,
            # A blocking check that fails stops the run before promotion: an outcome, not an error (as in
            # `pricing run`); the run did its work up to the gate.
            "held_by_check": bool(step_errors) and all(c == "DagsterAssetCheckFailedError" for c in step_errors),
            "run_id": result.run_id,
            "import_seconds": round(imported - started, 2),
            "run_seconds": round((stats_.end_time or 0) - (stats_.start_time or 0), 2),
            "steps_seconds_sum": round(sum(steps.values()), 2),
            "steps": len(steps),
            "step_processes": len(pids),
            "checks": checks,
        }
    outcome["worker_seconds"] = round(time.perf_counter() - started, 2)
    result_path.write_text(json.dumps(outcome))


# --- the parent: setup, backfills, summary ----------------------------------------------------


def prepare_environment(workdir: Path, products: int, budget: dict[str, str]) -> dict[str, str]:
    """Env for this process and every run worker: a private project, instance and budget."""
    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        "PRICING_PROJECT_DIR": str(workdir / "project"),
        "DAGSTER_HOME": str(home),
        "PRICING_SOURCE": "synthetic",
        "PRICING_SYNTHETIC_PRODUCTS": str(products),
        **budget,
    }
    os.environ.update(env)
    return env


def setup_partitions(count: int) -> tuple[list[str], dict[str, Any]]:
    """Load raw_transactions once and register the ``count`` most active eligible stockcodes."""
    t0 = time.perf_counter()
    from dagster import DagsterInstance

    from pricing_assets.core.stockcodes import eligible_stockcodes, read_history
    from pricing_assets.definitions import RAW_JOB, build_definitions
    from pricing_assets.partitions import register_stockcodes
    from pricing_assets.settings import Settings

    settings = Settings.from_env()
    defs = build_definitions(settings)
    with DagsterInstance.get() as instance:
        raw = defs.resolve_job_def(RAW_JOB).execute_in_process(instance=instance)
        if not raw.success:
            raise RuntimeError("raw_transactions failed; see the instance in the work folder")
        history = read_history(defs.resources["store"].get_store())
        eligible = eligible_stockcodes(history, settings.min_history_rows, settings.min_history_days)
        if len(eligible) < count:
            raise SystemExit(f"only {len(eligible)} eligible stockcodes; raise --products")
        register_stockcodes(instance, eligible[:count])
    source = {
        "synthetic_products": settings.synthetic_products,
        "seed": settings.seed,
        "eligible": len(eligible),
        "setup_seconds": round(time.perf_counter() - t0, 1),
    }
    return eligible[:count], source


def run_backfill(
    codes: list[str], executor: str, concurrency: int, workdir: Path, assets: list[str] | None
) -> dict[str, Any]:
    """One run per stockcode in its own worker process, ``concurrency`` at a time."""
    pending = list(codes)
    running: dict[str, tuple[subprocess.Popen, float, Path, Any]] = {}
    finished: list[dict[str, Any]] = []
    load_start = loadavg()
    t0 = time.perf_counter()
    try:
        while pending or running:
            while pending and len(running) < concurrency:
                code = pending.pop(0)
                out = workdir / f"run_{executor}_{code}_{time.time_ns()}.json"
                args = [sys.executable, __file__, "--worker", code, "--executor", executor, "--result", str(out)]
                if assets:
                    args += ["--assets", ",".join(assets)]
                # Its log goes to a file: a pipe read only at the end fills (64 KB) with a spawn run's step
                # logs and blocks the run worker for good. Own session: the run's step processes and
                # forkserver can be killed as one group.
                log_file = (workdir / f"{out.stem}.stderr").open("w+b")
                proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log_file, start_new_session=True)
                running[code] = (proc, time.perf_counter(), out, log_file)
            time.sleep(0.05)
            for code, (proc, started, out, log_file) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[code]
                log_file.seek(0)
                stderr = log_file.read().decode(errors="replace")
                log_file.close()
                run = json.loads(out.read_text()) if out.exists() else {"stock_code": code, "success": False}
                run.update(
                    process_seconds=round(time.perf_counter() - started, 2),
                    exit_code=proc.returncode,
                    started_at=round(started - t0, 2),
                )
                if proc.returncode or not _completed(run):
                    run["stderr_tail"] = stderr[-1500:]
                finished.append(run)
    finally:
        for proc, _, _, log_file in running.values():
            _kill_group(proc)
            log_file.close()
    wall = time.perf_counter() - t0
    ok = [r for r in finished if _completed(r)]
    return {
        "executor": executor,
        "stockcodes": len(codes),
        "wall_seconds": round(wall, 2),
        "stockcodes_per_minute": round(len(ok) / wall * 60, 2),
        "succeeded": len(ok),
        "held_by_check": sum(1 for r in finished if r.get("held_by_check")),
        "failed": len(finished) - len(ok),
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
        "per_run_seconds": stats([r["process_seconds"] for r in finished], 2),
        "per_run_import_seconds": stats([r.get("import_seconds") for r in finished], 2),
        "per_run_dagster_run_seconds": stats([r.get("run_seconds") for r in finished], 2),
        "per_run_steps_seconds_sum": stats([r.get("steps_seconds_sum") for r in finished], 2),
        "runs": finished,
    }


def _completed(run: dict[str, Any]) -> bool:
    """The run ended as `pricing run` counts an outcome: promoted, or held by a blocking check."""
    return bool(run.get("success") or run.get("held_by_check"))


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def plan(sizes: list[int], executors: list[str], repeats: int, repeat_max_size: int) -> list[tuple[int, str, int]]:
    """Interleaved order: per size and repetition, every executor in turn (rotated per repetition)."""
    order = []
    for size in sizes:
        for rep in range(repeats if size <= repeat_max_size else 1):
            shift = rep % len(executors)
            for executor in executors[shift:] + executors[:shift]:
                order.append((size, executor, rep + 1))
    return order


def extrapolate(measured: list[dict[str, Any]], executor: str, size: int) -> tuple[float, str] | None:
    """Minutes a backfill of ``size`` would take, linear in N from the largest measured size."""
    done = [m for m in measured if m["executor"] == executor and m["stockcodes"] < size]
    if not done:
        return None
    base = max(done, key=lambda m: (m["stockcodes"], -m["wall_seconds"]))
    minutes = base["wall_seconds"] * size / base["stockcodes"] / 60
    return minutes, f"{base['stockcodes']} stockcodes in {base['wall_seconds']:.0f} s"


def summarise(measured: list[dict[str, Any]], executors: list[str], sizes: list[int]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for executor in executors:
        by_size = {}
        for size in sizes:
            runs = [m for m in measured if m["executor"] == executor and m["stockcodes"] == size]
            if runs:
                by_size[str(size)] = {
                    "stockcodes_per_minute": stats([m["stockcodes_per_minute"] for m in runs], 2),
                    "wall_seconds": stats([m["wall_seconds"] for m in runs], 1),
                    "per_run_seconds_median": stats([m["per_run_seconds"]["median"] for m in runs], 1),
                    "failed_runs": sum(m["failed"] for m in runs),
                }
        summary[executor] = by_size
    ratios = {}
    if "multiprocess_spawn" in summary and "multiprocess_forkserver" in summary:
        for size, spawn in summary["multiprocess_spawn"].items():
            fork = summary["multiprocess_forkserver"].get(size)
            if fork and spawn["stockcodes_per_minute"]["median"]:
                ratios[size] = round(
                    fork["stockcodes_per_minute"]["median"] / spawn["stockcodes_per_minute"]["median"], 2
                )
    return {"by_executor": summary, "forkserver_over_spawn_throughput": ratios}


def measured_backfills(
    codes: list[str], args: argparse.Namespace, workdir: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The plan, one backfill at a time; a backfill extrapolated beyond ``--max-minutes`` is skipped."""
    measured: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for size, executor, rep in plan(args.sizes, args.executors, args.repeats, args.repeat_max_size):
        estimate = extrapolate(measured, executor, size)
        if estimate and estimate[0] > args.max_minutes:
            if not any(s["executor"] == executor and s["stockcodes"] == size for s in skipped):
                skipped.append(
                    {
                        "executor": executor,
                        "stockcodes": size,
                        "estimated_minutes": round(estimate[0], 1),
                        "extrapolated_from": estimate[1],
                    }
                )
                log(f"  {executor} x{size}: not measured, would take ~{estimate[0]:.0f} min ({estimate[1]})")
            continue
        log(f"  {executor} x{size} (repetition {rep}) ...")
        result = run_backfill(codes[:size], executor, args.concurrency, workdir, None)
        result["repetition"] = rep
        measured.append(result)
        log(
            f"  {executor} x{size}: {result['wall_seconds']} s, {result['stockcodes_per_minute']} stockcodes/min, "
            f"{result['failed']} failed"
        )
    return measured, skipped


def quick_backfills(
    codes: list[str], args: argparse.Namespace, workdir: Path, assets: list[str] | None
) -> list[dict[str, Any]]:
    """The smoke run measures nothing, so each size's backfills run side by side, one per executor."""
    measured = []
    for size in args.sizes:
        with ThreadPoolExecutor(len(args.executors)) as pool:
            found = list(
                pool.map(
                    lambda e, n=size: run_backfill(codes[:n], e, args.concurrency, workdir, assets), args.executors
                )
            )
        measured += [{**m, "repetition": 1} for m in found]
        log(f"  x{size}: " + ", ".join(f"{m['executor']} {m['wall_seconds']} s, {m['failed']} failed" for m in found))
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", metavar="STOCKCODE", help=argparse.SUPPRESS)
    parser.add_argument("--executor", choices=list(EXECUTORS), help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--assets", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--executors", nargs="+", choices=list(EXECUTORS), default=list(EXECUTORS))
    parser.add_argument("--concurrency", type=int, default=2, help="runs at once (default 2 = the cores)")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions of each size up to --repeat-max-size")
    parser.add_argument("--repeat-max-size", type=int, default=4)
    parser.add_argument("--products", type=int, default=80, help="PRICING_SYNTHETIC_PRODUCTS of the source")
    parser.add_argument("--max-minutes", type=float, default=12.0, help="skip a backfill extrapolated beyond this")
    parser.add_argument("--quick", action="store_true", help="1 and 2 stockcodes, two cheap steps: a smoke run")
    parser.add_argument("--output", type=Path, default=RESULTS / "throughput.json")
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker, args.executor, args.result, args.assets.split(",") if args.assets else None)
        return
    assets = None
    budget = dict(REDUCED_BUDGET)
    if args.quick:
        args.sizes, args.repeats, args.products, budget, assets = [1, 2], 1, 6, dict(QUICK_BUDGET), QUICK_ASSETS
        args.executors = [e for e in args.executors if e != "multiprocess_spawn"]
    record = begin("throughput", args.quick)
    workdir = Path(tempfile.mkdtemp(prefix="throughput_"))
    try:
        env = prepare_environment(workdir, args.products, budget)
        codes, source = setup_partitions(max(args.sizes))
        log(f"throughput: {source['eligible']} eligible stockcodes, setup {source['setup_seconds']} s")
        skipped: list[dict[str, Any]] = []
        if args.quick:
            measured = quick_backfills(codes, args, workdir, assets)
        else:
            measured, skipped = measured_backfills(codes, args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = {
        **record,
        "definition": (
            f"one run of stockcode_lineage_job per stockcode, each in its own run-worker process (execute_job of "
            f"the code location {CODE_LOCATION[0]}), at most {args.concurrency} runs at a time, the next launched "
            "when one ends; wall from the first launch to the last end; raw_transactions loaded once before, untimed"
            + ("; quick: the executors' backfills of a size run side by side" if args.quick else "")
        ),
        "steps": "quick: " + ", ".join(assets) + " only" if assets else "the whole lineage (its every asset and check)",
        "budget": {**budget_from_env(), **budget},
        "environment": {k: v for k, v in env.items() if k.startswith("PRICING_") and k not in ("PRICING_PROJECT_DIR",)},
        "source": source,
        "concurrency": args.concurrency,
        "executors": {name: EXECUTORS[name] for name in args.executors},
        "sizes": args.sizes,
        "measurements": measured,
        "not_measured": skipped,
        "summary": summarise(measured, args.executors, args.sizes),
    }
    write_json(args.output, finish(result))
    print(render("throughput", result))


if __name__ == "__main__":
    main()
