"""Dagster's overhead: how much of a stockcode's run is the asset bodies, and how much is Dagster.

There is no second copy of the lineage to compare with: the bodies *are* the computation, and
Dagster's event log says when each one ran. In a step, Dagster logs ``STEP_START``, one
``LOADED_INPUT`` after each input the IO manager read, ``STEP_OUTPUT`` when the body has produced
an output (``ASSET_CHECK_EVALUATION`` for a check), ``HANDLED_OUTPUT`` once the IO manager stored
it, then the materialization and ``STEP_SUCCESS``. The time from the event before a
``STEP_OUTPUT`` (or check evaluation) to it is the body computing; everything else in the run is
Dagster's: reading inputs, storing outputs, metadata, the event log, planning, starting and
ending the run. The ratio is run wall time / the bodies' time: what the same code would take
called as plain functions, up to the cost of writing one event (SQLite, a millisecond or two)
that falls inside each body interval.

Two measurements, ``--repeats`` each:

1. **One run, in a warm process.** ``stockcode_lineage_job.execute_in_process`` for the most active
   eligible stockcode, configured as ``pricing run`` configures it (``cli._lineage_run_config``),
   after one warm-up run (lazy imports: Evidently, SHAP, matplotlib) that is not counted.
2. **The whole command.** ``pricing run --stockcodes CODE`` in a fresh project folder against what
   a plain script would need for the same work: a fresh interpreter that imports the core and the
   model libraries and loads the source (measured), plus the bodies of the command's own runs
   (raw job and lineage job, read from its instance's event log).

Also recorded: per step, the body time, the step's time and the rest (IO manager, events), and
the champion each run chose (the same every repetition: the runs are seeded). The challenger gate
is opened (``PRICING_CHALLENGER_TOLERANCE=1000``) so that every run reaches ``promoted_model``
whatever the challenger decides (a budget or a source on which the champion forecasts surely worse
than a baseline would otherwise stop every run before it).

    .venv/bin/python bench/dagster_overhead.py               # default budget, 3 repetitions
    .venv/bin/python bench/dagster_overhead.py --quick       # smallest budget, 1 repetition, no CLI
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchlib import QUICK_BUDGET, RESULTS, TARGETS, begin, budget_from_env, finish, log, stats, write_json
from report import render

from pricing_assets.instance_storage import EMBEDDED_DAGSTER_YAML

BODY_END = ("STEP_OUTPUT", "ASSET_CHECK_EVALUATION")
CHALLENGER_TOLERANCE = "1000"
# The instance `pricing run` makes for itself (its own dagster.yaml): what a user's run pays for.
INSTANCE = "the embedded instance pricing run sets up (instance_storage.EmbeddedInstance, SQLite)"
# What a plain script doing the same work would import and load before computing anything.
PLAIN_START = (
    "import time, warnings; t0 = time.perf_counter(); warnings.filterwarnings('ignore')\n"
    "import pricing_assets.core.models, pricing_assets.core.drift, pricing_assets.core.explain\n"
    "import pricing_assets.core.recommendation, pricing_assets.core.price_response\n"
    "from pricing_assets.core.sources import load_source\nfrom pricing_assets.settings import Settings\n"
    "s = Settings.from_env(); load_source(s.source, s.data, s.seed, s.synthetic_products)\n"
    "print(time.perf_counter() - t0)\n"
)


def step_timings(records: list[tuple[float, str, str | None]]) -> dict[str, dict[str, float]]:
    """Per step: ``body`` (the asset bodies computing) and ``step`` (STEP_START to STEP_SUCCESS), in seconds.

    ``records``: (timestamp, event type, step key) of one run's Dagster events, in log order.
    """
    previous: dict[str, float] = {}
    start: dict[str, float] = {}
    found: dict[str, dict[str, float]] = defaultdict(lambda: {"body": 0.0, "step": 0.0})
    for timestamp, kind, step in records:
        if step is None:
            continue
        if kind == "STEP_START":
            start[step] = timestamp
        elif kind in BODY_END and step in previous:
            found[step]["body"] += timestamp - previous[step]
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and step in start:
            found[step]["step"] = timestamp - start[step]
        previous[step] = timestamp
    return {k: {n: round(v, 4) for n, v in t.items()} for k, t in found.items()}


def run_records(instance: Any, run_id: str) -> list[tuple[float, str, str | None]]:
    return [
        (entry.timestamp, entry.dagster_event.event_type_value, entry.step_key)
        for entry in instance.all_logs(run_id)
        if entry.dagster_event is not None
    ]


# --- the whole command (comparison 2) ---------------------------------------------------------


def plain_start_seconds() -> float:
    """A fresh interpreter importing the core and model libraries and loading the source."""
    proc = subprocess.run([sys.executable, "-c", PLAIN_START], capture_output=True, text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def whole_process(stock_code: str, repeats: int, workdir: Path) -> dict[str, Any]:
    """``pricing run --stockcodes CODE`` (fresh folder each time) against a plain script's start plus the bodies."""
    from dagster import DagsterInstance

    cli_times, plain, failures = [], [], 0
    for i in range(repeats):
        folder = workdir / f"whole_{i}"
        folder.mkdir()
        home = folder / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(EMBEDDED_DAGSTER_YAML)
        env = {**os.environ, "PRICING_PROJECT_DIR": str(folder), "DAGSTER_HOME": str(home)}
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "pricing"), "run", "--stockcodes", stock_code],
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
        failures += proc.returncode != 0
        if proc.returncode:
            log(f"  pricing run exited {proc.returncode}: {proc.stderr[-800:]}")
        instance = DagsterInstance.from_config(str(home))
        bodies = sum(
            t["body"] for run in instance.get_runs() for t in step_timings(run_records(instance, run.run_id)).values()
        )
        instance.dispose()
        start = plain_start_seconds()
        cli_times.append(round(wall, 2))
        plain.append(round(start + bodies, 2))
        log(f"  whole command: pricing run {wall:.2f} s; plain start {start:.2f} s + bodies {bodies:.2f} s")
        shutil.rmtree(folder, ignore_errors=True)
    cli, script = stats(cli_times, 2), stats(plain, 2)
    ratio = round(cli["median"] / script["median"], 3) if cli["median"] and script["median"] else None
    return {
        "repetitions": {"pricing_run_cli": cli_times, "plain_script": plain},
        "pricing_run_cli_seconds": cli,
        "plain_script_seconds": script,
        "ratio_median": ratio,
        "target_met": ratio is not None and ratio <= TARGETS["dagster_overhead_ratio"],
        "failures": failures,
    }


# --- one run, in this process (comparison 1) --------------------------------------------------


class InProcess:
    """The lineage job for one stockcode, run repeatedly in one warm process."""

    def __init__(self) -> None:
        from dagster import DagsterInstance

        from pricing_assets import cli
        from pricing_assets.core.sources import load_source
        from pricing_assets.core.stockcodes import eligible_stockcodes, stockcode_history
        from pricing_assets.definitions import LINEAGE_JOB, RAW_JOB, build_definitions
        from pricing_assets.partitions import register_stockcodes
        from pricing_assets.settings import Settings

        self.settings = Settings.from_env()
        self.instance = DagsterInstance.get()
        defs = build_definitions(self.settings, loggers={cli.PROGRESS_LOGGER: cli.progress_logger})
        raw = defs.resolve_job_def(RAW_JOB).execute_in_process(
            instance=self.instance, run_config=cli._raw_run_config(self.settings)
        )
        assert raw.success, "raw_transactions failed"
        s = self.settings
        source = load_source(s.source, s.data, s.seed, s.synthetic_products)
        history = stockcode_history(source.transactions)
        self.stock_code = eligible_stockcodes(history, s.min_history_rows, s.min_history_days)[0]
        register_stockcodes(self.instance, [self.stock_code])
        self.job = defs.resolve_job_def(LINEAGE_JOB)
        self.run_config = cli._lineage_run_config(self.settings)

    def run(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        result = self.job.execute_in_process(
            instance=self.instance, partition_key=self.stock_code, run_config=self.run_config, raise_on_error=False
        )
        seconds = time.perf_counter() - t0
        steps = step_timings(run_records(self.instance, result.run_id))
        champion = None
        for event in result.get_asset_materialization_events():
            mat = event.step_materialization_data.materialization
            if mat.asset_key.path[-1] == "model_evaluation":
                value = mat.metadata.get("champion")
                champion = getattr(value, "value", value)
        failed = {
            e.step_key: e.event_specific_data.error.cls_name
            for e in result.all_events
            if e.event_type_value == "STEP_FAILURE"
        }
        bodies = sum(t["body"] for t in steps.values())
        in_steps = sum(t["step"] for t in steps.values())
        return {
            "seconds": round(seconds, 3),
            "bodies_seconds": round(bodies, 3),
            "steps_seconds": round(in_steps, 3),
            "outside_steps_seconds": round(seconds - in_steps, 3),
            "success": result.success,
            # A blocking check that fails (the quick budget's models lose to a baseline) stops promotion: not an error.
            "blocked_by_check": sorted(k for k, c in failed.items() if c == "DagsterAssetCheckFailedError"),
            "errors": {k: c for k, c in failed.items() if c != "DagsterAssetCheckFailedError"},
            "steps": steps,
            "champion": champion,
        }


def in_process(repeats: int, warm_up: bool = True) -> dict[str, Any]:
    bench = InProcess()
    warm = 0.0
    if warm_up:
        t0 = time.perf_counter()
        bench.run()
        warm = round(time.perf_counter() - t0, 2)
    log(f"  in process: stockcode {bench.stock_code}, warm-up run {warm} s (not counted)")
    runs = []
    for _ in range(repeats):
        runs.append(bench.run())
        r = runs[-1]
        log(
            f"  in process: run {r['seconds']:.2f} s, bodies {r['bodies_seconds']:.2f} s, "
            f"errors {r['errors'] or 'none'}"
            f", blocked by {r['blocked_by_check'] or 'no check'}"
        )
    bench.instance.dispose()
    return summarise_in_process(bench.stock_code, warm, runs)


def summarise_in_process(stock_code: str, warm: float, runs: list[dict[str, Any]]) -> dict[str, Any]:
    wall, bodies = stats([r["seconds"] for r in runs], 3), stats([r["bodies_seconds"] for r in runs], 3)
    ratio = round(wall["median"] / bodies["median"], 3) if wall["median"] and bodies["median"] else None
    per_step = {}
    for step in runs[0]["steps"] if runs else []:
        body = stats([r["steps"].get(step, {}).get("body") for r in runs], 3)["median"]
        whole = stats([r["steps"].get(step, {}).get("step") for r in runs], 3)["median"]
        per_step[step] = {
            "body_median": body,
            "step_median": whole,
            "dagster": round(whole - body, 3) if whole is not None and body is not None else None,
        }
    champions = [r["champion"] for r in runs]
    return {
        "stock_code": stock_code,
        "warm_up_seconds": warm,
        "run_seconds": wall,
        "bodies_seconds": bodies,
        "ratio_median": ratio,
        "target_met": ratio is not None and ratio <= TARGETS["dagster_overhead_ratio"],
        "dagster_failures": sum(bool(r["errors"]) for r in runs),
        "blocked_by_check": sum(bool(r["blocked_by_check"]) for r in runs),
        "outside_steps_seconds": stats([r["outside_steps_seconds"] for r in runs], 3),
        "per_step": per_step,
        "champions": champions,
        "same_champion": len(set(champions)) == 1 and champions[0] is not None,
        "repetitions": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--products", type=int, default=24, help="PRICING_SYNTHETIC_PRODUCTS (product default 24)")
    parser.add_argument("--no-whole-process", action="store_true", help="skip the pricing run CLI comparison")
    parser.add_argument(
        "--quick", action="store_true", help="smallest budget, 1 repetition, in process only, no warm-up"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "dagster_overhead.json")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    extra: dict[str, str] = {}
    if args.quick:
        args.repeats, args.no_whole_process, extra = 1, True, dict(QUICK_BUDGET)
    record = begin("dagster_overhead", args.quick)
    workdir = Path(tempfile.mkdtemp(prefix="dagster_overhead_"))
    home = workdir / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(EMBEDDED_DAGSTER_YAML)
    os.environ.update(
        extra,
        PRICING_PROJECT_DIR=str(workdir / "project"),
        DAGSTER_HOME=str(home),
        PRICING_SYNTHETIC_PRODUCTS=str(args.products),
        # Every run goes as far as promotion, whatever the challenger decides (a candidate surely worse than a
        # baseline is held): the gate is opened. It changes which steps run, not what a step costs.
        PRICING_CHALLENGER_TOLERANCE=CHALLENGER_TOLERANCE,
    )
    try:
        first = in_process(args.repeats, warm_up=not args.quick)
        whole = None if args.no_whole_process else whole_process(first["stock_code"], args.repeats, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = {
        **record,
        "budget": {**budget_from_env(), **extra},
        "challenger_tolerance": CHALLENGER_TOLERANCE,
        "source": f"synthetic, seed 7, {args.products} products; the most active eligible stockcode",
        "repeats": args.repeats,
        "method": "asset bodies timed from Dagster's event log (STEP_OUTPUT / ASSET_CHECK_EVALUATION)",
        "instance": INSTANCE,
        "in_process": first,
        "whole_process": whole,
    }
    write_json(args.output, finish(result))
    print(render("dagster_overhead", result))


if __name__ == "__main__":
    main()
