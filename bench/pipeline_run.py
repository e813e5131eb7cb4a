"""Wall time and peak memory of `pricing run --top N` on each source, by stage, over repetitions.

Runs the real CLI in a fresh project folder per run (so nothing is cached: a new SQLite instance
and store each time), reads the stage timings the CLI writes with --json, and the child's peak
RSS from getrusage. Sources are interleaved (synthetic, uci, synthetic, uci, ...) so background
load hits both alike. Writes bench/results/pipeline_run.json with every repetition and the
median, min and max of each figure.

    .venv/bin/python bench/pipeline_run.py --top 1 --repeats 3
    .venv/bin/python bench/pipeline_run.py --quick      # one synthetic run, smallest budget
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import QUICK_BUDGET, RESULTS, TARGETS, UCI_DEV, begin, budget_from_env, finish, log, stats, write_json
from report import render


def child_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_once(source: str, top: int, extra_env: dict[str, str]) -> dict[str, Any]:
    """One `pricing run` in a fresh project folder; the stage seconds summed over its stockcodes."""
    with tempfile.TemporaryDirectory(prefix="pipeline_run_") as project:
        env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
        env.update(extra_env, PRICING_PROJECT_DIR=project)
        out = Path(project) / "run.json"
        args = [str(Path(sys.executable).parent / "pricing"), "run", "--top", str(top), "--json", str(out)]
        if source == "uci":
            args += ["--source", "uci", "--data", str(UCI_DEV)]
        # ru_maxrss of children is the largest child so far: run each measurement in its own
        # wrapper process so one run's peak is not hidden by an earlier, larger one.
        wrapper = [sys.executable, __file__, "--child", "--", *args]
        t0 = time.perf_counter()
        proc = subprocess.run(wrapper, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        report = json.loads(out.read_text()) if out.exists() else {}
    child = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
    stages: dict[str, float] = dict(report.get("stages", {}))
    for sc in report.get("stockcodes", []):
        for step, seconds in sc["stage_seconds"].items():
            stages[step] = stages.get(step, 0.0) + seconds
    return {
        "exit_code": child.get("exit_code", proc.returncode),
        "process_wall_seconds": round(child.get("wall_seconds", wall), 2),
        "peak_rss_mib": child.get("peak_rss_mib"),
        "stage_seconds": {k: round(v, 3) for k, v in stages.items()},
        "run_seconds": round(sum(sc["seconds"] for sc in report.get("stockcodes", [])), 2),
        "stockcodes": [sc["stockcode"] for sc in report.get("stockcodes", [])],
        "checks": {sc["stockcode"]: sc["checks"] for sc in report.get("stockcodes", [])},
        "stderr_tail": proc.stderr[-800:] if proc.returncode else "",
    }


def child_main(args: list[str]) -> None:
    """Run the CLI and report its wall time and its own peak RSS (the only child of this process)."""
    t0 = time.perf_counter()
    proc = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=sys.stderr)
    wall = time.perf_counter() - t0
    print(
        json.dumps({"exit_code": proc.returncode, "wall_seconds": wall, "peak_rss_mib": round(child_peak_rss_mib(), 1)})
    )


def summarise(runs: list[dict[str, Any]], top: int) -> dict[str, Any]:
    stage_names: list[str] = []
    for r in runs:
        stage_names += [s for s in r["stage_seconds"] if s not in stage_names]
    walls = [r["process_wall_seconds"] for r in runs if r["exit_code"] == 0]
    wall = stats(walls, 2)
    return {
        "description": ", ".join(runs[0]["stockcodes"]) if runs and runs[0]["stockcodes"] else "-",
        "stage_seconds": {s: stats([r["stage_seconds"].get(s) for r in runs], 3) for s in stage_names},
        "run_seconds": stats([r["run_seconds"] for r in runs], 2),
        "process_wall_seconds": wall,
        "peak_rss_mib": stats([r["peak_rss_mib"] for r in runs], 1),
        "checks_passed": all(all(c.values()) for r in runs for c in r["checks"].values()) and bool(runs),
        "failed_runs": sum(r["exit_code"] != 0 for r in runs),
        "target_met": (wall["median"] is not None and wall["median"] <= TARGETS["one_stockcode_seconds"])
        if top == 1
        else None,
    }


def main() -> None:
    if "--child" in sys.argv:
        child_main(sys.argv[sys.argv.index("--") + 1 :])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one synthetic run with the smallest budget")
    parser.add_argument("--output", type=Path, default=RESULTS / "pipeline_run.json")
    args = parser.parse_args()
    extra_env: dict[str, str] = {}
    sources = ["synthetic"] + (["uci"] if UCI_DEV.exists() else [])
    if args.quick:
        args.top, args.repeats, sources, extra_env = 1, 1, ["synthetic"], dict(QUICK_BUDGET)
    record = begin("pipeline_run", args.quick)
    budget = {**budget_from_env(), **extra_env}
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in sources}
    for rep in range(args.repeats):
        for source in sources if rep % 2 == 0 else sources[::-1]:
            log(f"pipeline_run: {source}, repetition {rep + 1}/{args.repeats}")
            runs[source].append({"repetition": rep + 1, **run_once(source, args.top, extra_env)})
            log(f"  {runs[source][-1]['process_wall_seconds']} s, exit {runs[source][-1]['exit_code']}")
    result = {
        **record,
        "top": args.top,
        "repeats": args.repeats,
        "budget": ", ".join(f"{k}={v}" for k, v in budget.items()),
        "sources": {s: summarise(r, args.top) for s, r in runs.items()},
        "repetitions": runs,
    }
    write_json(args.output, finish(result))
    print(render("pipeline_run", result))


if __name__ == "__main__":
    main()
