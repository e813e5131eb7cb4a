"""Dagster's overhead: one stockcode through Dagster against the same core functions called directly.

Two comparisons, each interleaved (A B B A A B ...) with ``--repeats`` repetitions per side:

1. **One run, in a warm process.** ``bench/direct.py``'s ``run_lineage`` (the core calls of every
   asset body, in the plan's order, same inputs, same settings and so the same ML budget) against
   ``stockcode_lineage_job.execute_in_process`` for the same partition, configured as
   ``pricing run`` configures it (its progress logger). Both in this process, after a warm-up
   of the lazily imported libraries (Evidently, SHAP, matplotlib), so the difference is Dagster's
   run: the IO manager writing every asset value as Parquet/JSON and reading it back, metadata
   and data-version hashes, the event log in the SQLite instance, step orchestration.
2. **The whole command.** ``pricing run --stockcodes CODE`` in a fresh project folder (interpreter,
   Dagster and code-location imports, instance set-up, raw_transactions, the run) against a fresh
   ``python`` that imports the core, loads the same source and calls ``run_lineage``.

Also recorded: both sides' champion, test RMSLE and optimal price (they must agree: the same
computation), the step order Dagster used against ``direct.STAGE_ORDER``, and per step the
Dagster step duration against the direct stage time, so the extra time can be located.

    .venv/bin/python bench/dagster_overhead.py               # default budget, 3 repetitions
    .venv/bin/python bench/dagster_overhead.py --quick       # smallest budget, 1 repetition, no CLI
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from benchlib import QUICK_BUDGET, RESULTS, TARGETS, begin, budget_from_env, finish, log, stats, write_json
from report import render

SEQUENCE = ("a", "b", "b", "a", "a", "b", "b", "a")  # ABBA: neither side always goes first


def interleaved(repeats: int) -> list[str]:
    return [SEQUENCE[i % len(SEQUENCE)] for i in range(2 * repeats)]


# --- one direct run in a fresh process (comparison 2) -----------------------------------------


def direct_process_main(stock_code: str, store_dir: Path) -> None:
    """What the direct side of the whole-command comparison runs: imports, source, lineage."""
    t0 = time.perf_counter()
    warnings.filterwarnings("ignore")
    import direct

    from pricing_assets.core.store import LocalArtifactStore
    from pricing_assets.settings import Settings

    settings = Settings.from_env()
    source = direct.load_raw(settings)
    outcome = direct.run_lineage(source, stock_code, settings, LocalArtifactStore(store_dir))
    print(json.dumps({"seconds": time.perf_counter() - t0, "champion": outcome.champion}))


def whole_process(stock_code: str, repeats: int, workdir: Path) -> dict[str, Any]:
    """``pricing run --stockcodes CODE`` against a direct process, interleaved, fresh folders each time."""
    times: dict[str, list[float]] = {"pricing_run_cli": [], "direct_process": []}
    exit_codes: list[int] = []
    for i, side in enumerate(interleaved(repeats)):
        folder = workdir / f"whole_{i}"
        folder.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
        env["PRICING_PROJECT_DIR"] = str(folder)
        if side == "a":
            args = [sys.executable, __file__, "--direct-process", stock_code, "--store", str(folder / "store")]
            name = "direct_process"
        else:
            args = [str(Path(sys.executable).parent / "pricing"), "run", "--stockcodes", stock_code]
            name = "pricing_run_cli"
        t0 = time.perf_counter()
        proc = subprocess.run(args, env=env, capture_output=True, text=True)
        times[name].append(round(time.perf_counter() - t0, 2))
        exit_codes.append(proc.returncode)
        if proc.returncode:
            log(f"  {name} exited {proc.returncode}: {proc.stderr[-800:]}")
        log(f"  whole process, {name}: {times[name][-1]} s")
        shutil.rmtree(folder, ignore_errors=True)
    cli, direct_ = stats(times["pricing_run_cli"], 2), stats(times["direct_process"], 2)
    ratio = round(cli["median"] / direct_["median"], 3) if cli["median"] and direct_["median"] else None
    return {
        "repetitions": times,
        "pricing_run_cli_seconds": cli,
        "direct_process_seconds": direct_,
        "ratio_median": ratio,
        "target_met": ratio is not None and ratio <= TARGETS["dagster_overhead_ratio"],
        "failures": sum(code != 0 for code in exit_codes),
    }


# --- one run, in this process (comparison 1) --------------------------------------------------


class InProcess:
    """The direct lineage and the Dagster job side by side in one warm process."""

    def __init__(self, workdir: Path) -> None:
        import direct
        from dagster import DagsterInstance

        from pricing_assets.cli import PROGRESS_LOGGER, PROGRESS_LOGS, progress_logger
        from pricing_assets.core.stockcodes import eligible_stockcodes
        from pricing_assets.definitions import LINEAGE_JOB, RAW_JOB, build_definitions
        from pricing_assets.partitions import register_stockcodes
        from pricing_assets.settings import Settings

        self.direct, self.workdir = direct, workdir
        self.settings = Settings.from_env()
        self.instance = DagsterInstance.get()
        defs = build_definitions(self.settings, loggers={PROGRESS_LOGGER: progress_logger})
        self.run_config = PROGRESS_LOGS
        raw = defs.resolve_job_def(RAW_JOB).execute_in_process(instance=self.instance, run_config=PROGRESS_LOGS)
        assert raw.success, "raw_transactions failed"
        self.source = direct.load_raw(self.settings)
        history = self.source.history
        self.stock_code = eligible_stockcodes(history, self.settings.min_history_rows, self.settings.min_history_days)[
            0
        ]
        register_stockcodes(self.instance, [self.stock_code])
        self.job = defs.resolve_job_def(LINEAGE_JOB)
        self.count = 0

    def warm_up(self) -> float:
        """Import what the stages import lazily (Evidently, SHAP, matplotlib): a direct run, small budget."""
        from pricing_assets.core.store import LocalArtifactStore

        small = self.settings.with_(dfn_trials=1, dfn_max_epochs=2, backup_trials=1)
        t0 = time.perf_counter()
        self.direct.run_lineage(self.source, self.stock_code, small, LocalArtifactStore(self.workdir / "warm"))
        return round(time.perf_counter() - t0, 2)

    def run_direct(self) -> dict[str, Any]:
        from pricing_assets.core.store import LocalArtifactStore

        self.count += 1
        stages = self.direct.Stages()
        store = LocalArtifactStore(self.workdir / f"direct_{self.count}")
        t0 = time.perf_counter()
        outcome = self.direct.run_lineage(self.source, self.stock_code, self.settings, store, stages)
        return {
            "seconds": round(time.perf_counter() - t0, 3),
            "stages": {k: v["seconds"] for k, v in outcome.stages.items()},
            "result": {
                "champion": outcome.champion,
                "champion_test_rmsle": round(outcome.champion_test_rmsle, 6),
                "optimal_price": round(outcome.optimal_price, 6),
            },
        }

    def run_dagster(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        result = self.job.execute_in_process(
            instance=self.instance, partition_key=self.stock_code, run_config=self.run_config, raise_on_error=False
        )
        seconds = time.perf_counter() - t0
        steps, order = {}, []
        for event in result.all_events:
            if event.event_type_value == "STEP_START":
                order.append(event.step_key)
            if event.event_type_value == "STEP_SUCCESS":
                steps[event.step_key] = round(event.event_specific_data.duration_ms / 1000, 3)
        metadata = {}
        for event in result.get_asset_materialization_events():
            mat = event.step_materialization_data.materialization
            metadata[mat.asset_key.path[-1]] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        return {
            "seconds": round(seconds, 3),
            "success": result.success,
            "steps": steps,
            "order": order,
            "result": {
                "champion": metadata.get("model_evaluation", {}).get("champion"),
                "champion_test_rmsle": round(metadata.get("model_evaluation", {}).get("champion_test_rmsle", 0.0), 6),
                "optimal_price": round(metadata.get("price_curve", {}).get("optimal_price", 0.0), 6),
            },
        }


def in_process(workdir: Path, repeats: int, warm_up: bool = True) -> dict[str, Any]:
    bench = InProcess(workdir)
    warm = bench.warm_up() if warm_up else 0.0
    log(f"  in process: stockcode {bench.stock_code}, warm-up {warm} s")
    direct_runs, dagster_runs = [], []
    for side in interleaved(repeats):
        if side == "a":
            direct_runs.append(bench.run_direct())
            log(f"  in process, direct: {direct_runs[-1]['seconds']:.2f} s")
        else:
            dagster_runs.append(bench.run_dagster())
            log(f"  in process, dagster: {dagster_runs[-1]['seconds']:.2f} s, success {dagster_runs[-1]['success']}")
    bench.instance.dispose()
    return summarise_in_process(bench.stock_code, warm, direct_runs, dagster_runs)


def summarise_in_process(
    stock_code: str, warm: float, direct_runs: list[dict], dagster_runs: list[dict]
) -> dict[str, Any]:
    from direct import STAGE_ORDER

    d, g = stats([r["seconds"] for r in direct_runs], 3), stats([r["seconds"] for r in dagster_runs], 3)
    ratio = round(g["median"] / d["median"], 3)
    step_names = list(dagster_runs[0]["steps"]) if dagster_runs else []
    per_step = {}
    for step in step_names:
        direct_s = stats([r["stages"].get(step, 0.0) for r in direct_runs], 3)["median"]
        dagster_s = stats([r["steps"].get(step) for r in dagster_runs], 3)["median"]
        per_step[step] = {
            "direct_median": direct_s,
            "dagster_median": dagster_s,
            "extra": round(dagster_s - direct_s, 3) if dagster_s is not None else None,
        }
    outside = [r["seconds"] - sum(r["steps"].values()) for r in dagster_runs]
    observed = [s for s in dagster_runs[0]["order"] if s in STAGE_ORDER] if dagster_runs else []
    results = [r["result"] for r in direct_runs + dagster_runs]
    return {
        "stock_code": stock_code,
        "warm_up_seconds": warm,
        "direct_seconds": d,
        "dagster_seconds": g,
        "ratio_median": ratio,
        "target_met": ratio <= TARGETS["dagster_overhead_ratio"],
        "dagster_failures": sum(not r["success"] for r in dagster_runs),
        "dagster_outside_steps_seconds": stats(outside, 3),
        "per_step": per_step,
        "step_order": {
            "direct": list(STAGE_ORDER),
            "dagster": observed,
            "same": observed == list(STAGE_ORDER),
        },
        "same_result": {"direct": direct_runs[0]["result"], "dagster": dagster_runs[0]["result"]}
        | {"equal": all(r == results[0] for r in results)},
        "repetitions": {"direct": direct_runs, "dagster": dagster_runs},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--direct-process", metavar="STOCKCODE", help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--products", type=int, default=24, help="PRICING_SYNTHETIC_PRODUCTS (product default 24)")
    parser.add_argument("--no-whole-process", action="store_true", help="skip the pricing run CLI comparison")
    parser.add_argument(
        "--quick", action="store_true", help="smallest budget, 1 repetition, in process only, no warm-up"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "dagster_overhead.json")
    args = parser.parse_args()
    if args.direct_process:
        direct_process_main(args.direct_process, args.store)
        return
    warnings.filterwarnings("ignore")
    extra: dict[str, str] = {}
    if args.quick:
        args.repeats, args.no_whole_process, extra = 1, True, dict(QUICK_BUDGET)
    record = begin("dagster_overhead", args.quick)
    workdir = Path(tempfile.mkdtemp(prefix="dagster_overhead_"))
    home = workdir / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ.update(
        extra,
        PRICING_PROJECT_DIR=str(workdir / "project"),
        DAGSTER_HOME=str(home),
        PRICING_SYNTHETIC_PRODUCTS=str(args.products),
    )
    try:
        first = in_process(workdir, args.repeats, warm_up=not args.quick)
        whole = None if args.no_whole_process else whole_process(first["stock_code"], args.repeats, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = {
        **record,
        "budget": {**budget_from_env(), **extra},
        "source": f"synthetic, seed 7, {args.products} products; the most active eligible stockcode",
        "repeats": args.repeats,
        "order": "interleaved " + "".join(interleaved(args.repeats)).upper() + " (A = direct, B = Dagster)",
        "in_process": first,
        "whole_process": whole,
    }
    write_json(args.output, finish(result))
    print(render("dagster_overhead", result))


if __name__ == "__main__":
    main()
