"""Wall time and peak memory of `pricing run --top N` on each source, by stage.

Runs the real CLI in a fresh project folder per source (so nothing is cached), reads the stage
timings the CLI writes with --json, and the child's peak RSS from getrusage. Writes
bench/results/pipeline_run.json and prints a Markdown table for BENCHMARKS.md.

    python bench/pipeline_run.py --top 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UCI_DEV = REPO.parent / "shared" / "data" / "online_retail_dev.parquet"


def run(source: str, top: int) -> dict:
    with tempfile.TemporaryDirectory() as project:
        env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
        env["PRICING_PROJECT_DIR"] = project
        out = Path(project) / "run.json"
        args = [str(Path(sys.executable).parent / "pricing"), "run", "--top", str(top), "--json", str(out)]
        if source == "uci":
            args += ["--source", "uci", "--data", str(UCI_DEV)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = subprocess.run(args, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        report = json.loads(out.read_text()) if out.exists() else {}
    stages: dict[str, float] = dict(report.get("stages", {}))
    for sc in report.get("stockcodes", []):
        for step, seconds in sc["stage_seconds"].items():
            stages[step] = stages.get(step, 0.0) + seconds
    return {
        "source": source,
        "top": top,
        "exit_code": proc.returncode,
        "process_wall_seconds": round(wall, 2),
        "peak_rss_mib": round(max(peak_kb, before) / 1024, 1),
        "stage_seconds_total": {k: round(v, 2) for k, v in stages.items()},
        "per_stockcode_seconds": [sc["seconds"] for sc in report.get("stockcodes", [])],
        "checks": {sc["stockcode"]: sc["checks"] for sc in report.get("stockcodes", [])},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    sources = ["synthetic"] + (["uci"] if UCI_DEV.exists() else [])
    results = {
        "command": f"python bench/pipeline_run.py --top {args.top}",
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "runs": [run(source, args.top) for source in sources],
    }
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "pipeline_run.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
