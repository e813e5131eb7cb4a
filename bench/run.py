"""The benchmark suite's one entry point: run the chosen benchmarks, then regenerate BENCHMARKS.md.

Each benchmark is its own script (``bench/<name>.py``), run here in a subprocess of its own (so
one benchmark's imports and memory never colour another's), writing
``<results-dir>/<name>.json``; then ``report.py`` renders every result into the Markdown file.

    .venv/bin/python bench/run.py                          # everything, full size (make bench; about an hour)
    .venv/bin/python bench/run.py --only throughput,dagster_overhead
    .venv/bin/python bench/run.py --quick                  # smoke run (make bench-quick)

``--quick`` runs the benchmarks marked quick below in their ``--quick`` mode (tiny budgets and
sizes: it checks that they work, it measures nothing), two at a time, into
``bench/results/quick.tmp/`` (git-ignored) and renders a copy of BENCHMARKS.md there, so the
committed results and BENCHMARKS.md are never overwritten by smoke figures. The benchmarks left
out of the quick set (they need the real-data file, or minutes even when small) still have a
``--quick`` mode: ``run.py --quick --only model_quality``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import report
from benchlib import REPO, RESULTS, log

BENCH = REPO / "bench"


@dataclass(frozen=True)
class Benchmark:
    script: str
    full_args: tuple[str, ...] = ()
    in_quick_set: bool = True


BENCHMARKS: dict[str, Benchmark] = {
    "pipeline_run": Benchmark("pipeline_run.py", ("--top", "1", "--repeats", "2"), in_quick_set=False),
    "throughput": Benchmark("throughput.py", ("--repeats", "1", "--max-minutes", "8")),
    "dagster_overhead": Benchmark("dagster_overhead.py", ("--repeats", "3")),
    "profiles": Benchmark("profiles.py"),
    # The weekly forecast on the real file's 100 most active codes (needs the real file).
    "model_quality": Benchmark("model_quality.py", ("--processes", "2", "--origins", "4"), in_quick_set=False),
    # The same on the simulated store, with its true expected demand scored beside: the ceiling.
    "model_quality_store": Benchmark(
        "model_quality.py", ("--source", "store", "--processes", "2", "--origins", "4"), in_quick_set=False
    ),
    "serving_latency": Benchmark("serving_latency.py", in_quick_set=False),
    # Needs the real file and minutes even when quick; the suite smoke-tests it on its own
    # (pricing_assets_tests/test_decision_quality_bench.py).
    "decision_quality": Benchmark("decision_quality.py", in_quick_set=False),
    # The real file at the default budget, the whole catalogue too: a quarter of an hour, not in the quick set.
    "catalogue_run": Benchmark(
        "catalogue_run.py", ("--stockcodes", "12", "--side-by-side", "2", "--all"), in_quick_set=False
    ),
    # The Dagster UI over every eligible stockcode of the real file (quick: the 4-product synthetic source).
    "ui_scale": Benchmark("ui_scale.py", ("--storage", "sqlite,postgres")),
}
QUICK_RESULTS = RESULTS / "quick.tmp"


def command_for(name: str, quick: bool, results_dir: Path) -> list[str]:
    bench = BENCHMARKS[name]
    args = ["--quick"] if quick else list(bench.full_args)
    output = results_dir / f"{name}.json"
    if output.resolve().is_relative_to(REPO):  # the command recorded in the JSON stays rerunnable elsewhere
        output = output.resolve().relative_to(REPO)
    return [sys.executable, str(Path("bench") / bench.script), *args, "--output", str(output)]


def run_one(name: str, quick: bool, results_dir: Path) -> tuple[str, int, float]:
    """Run one benchmark; its progress goes to ``<results-dir>/logs.tmp/<name>.log`` (git-ignored)."""
    args = command_for(name, quick, results_dir)
    log(f"[run] {name}: {' '.join(args[1:])}")
    started = time.perf_counter()
    logs = results_dir / "logs.tmp"
    logs.mkdir(exist_ok=True)
    with open(logs / f"{name}.log", "w") as output:
        code = subprocess.run(args, cwd=REPO, stdout=output, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - started
    log(f"[run] {name}: {'ok' if code == 0 else f'FAILED (exit {code})'} in {seconds:.0f} s")
    return name, code, seconds


def choose(only: str | None, quick: bool) -> list[str]:
    if only:
        names = [n.strip() for n in only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BENCHMARKS]
        if unknown:
            raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
        return names
    return [n for n, b in BENCHMARKS.items() if b.in_quick_set or not quick]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the smoke run: tiny sizes, nothing measured")
    parser.add_argument("--only", help=f"comma-separated, from: {', '.join(BENCHMARKS)}")
    parser.add_argument("--results-dir", type=Path, help="default bench/results (quick: bench/results/quick.tmp)")
    parser.add_argument("--markdown", type=Path, help="default BENCHMARKS.md (quick: a copy in the results dir)")
    parser.add_argument("--jobs", type=int, help="benchmarks at once (default 1; quick: 2, timings are not the point)")
    args = parser.parse_args(argv)
    results_dir = args.results_dir or (QUICK_RESULTS if args.quick else RESULTS)
    results_dir.mkdir(parents=True, exist_ok=True)
    markdown = args.markdown or (results_dir / "BENCHMARKS.md" if args.quick else report.MARKDOWN)
    if markdown != report.MARKDOWN and not markdown.exists():
        shutil.copyfile(report.MARKDOWN, markdown)
    jobs = args.jobs or (2 if args.quick else 1)
    names = choose(args.only, args.quick)
    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        outcomes = list(pool.map(lambda n: run_one(n, args.quick, results_dir), names))
    failed = [name for name, code, _ in outcomes if code]
    report.main(["--results-dir", str(results_dir), "--markdown", str(markdown)])
    log(
        f"[run] {len(names) - len(failed)} of {len(names)} benchmarks ok in {time.perf_counter() - started:.0f} s; "
        f"results in {results_dir}, report {markdown}" + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
