"""How one stockcode's cost grows with its rows: wall time and peak memory per stage at 1k, 10k, 100k rows.

The source is the synthetic generator with a single product (seed 7, so always the same demand
curve); the number of invoices per day is scaled so that the product has about the target
number of raw order lines. Each (size, repetition) runs in a fresh process, sizes interleaved,
imports the libraries the stages load lazily (Evidently, SHAP, matplotlib) before
the clock starts, and calls the core functions directly (``bench/direct.py``'s ``run_lineage``, the same calls as
the asset bodies; no Dagster), so the figures are the computation's own. Per stage: wall time
and the process's peak RSS during the stage (Linux VmHWM, reset when the stage starts), with
the RSS it started from. The tuning budget is the test suite's (declared in the JSON).

    .venv/bin/python bench/rows_scaling.py                       # 1000 10000 100000, 3 repetitions
    .venv/bin/python bench/rows_scaling.py --quick               # 1000 and 2000 rows, smallest budget
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from benchlib import (
    QUICK_BUDGET,
    REDUCED_BUDGET,
    RESULTS,
    begin,
    budget_from_env,
    finish,
    log,
    peak_rss_mib,
    stats,
    write_json,
)
from report import render

BASE_INVOICES_PER_DAY = 120.0  # the generator's default


def single_product_source(rows: int, seed: int) -> tuple[Any, dict[str, Any]]:
    """One synthetic product with about ``rows`` raw order lines, and how it was made."""
    from pricing_assets.core.schema import normalise_transactions
    from pricing_assets.core.synthetic import SyntheticConfig, generate

    def make(invoices_per_day: float):
        raw, truth = generate(SyntheticConfig(seed=seed, n_products=1, invoices_per_day=invoices_per_day))
        code = str(truth["stock_code"].iloc[0])
        return raw, truth, code, int((raw["StockCode"] == code).sum())

    _, _, _, base_rows = make(BASE_INVOICES_PER_DAY)  # lines grow in proportion to invoices
    invoices_per_day = BASE_INVOICES_PER_DAY * rows / base_rows
    raw, truth, code, product_rows = make(invoices_per_day)
    transactions = normalise_transactions(raw, origin="synthetic source")
    return (transactions, truth, code), {
        "stock_code": code,
        "invoices_per_day": round(invoices_per_day, 1),
        "product_raw_rows": product_rows,
        "source_rows": len(transactions),
    }


def measure_size(rows: int, seed: int, settings: Any, lazy_import_seconds: float) -> dict[str, Any]:
    """Every stage of one stockcode with about ``rows`` raw lines, timed, with its peak memory."""
    import direct

    from pricing_assets.core.stockcodes import stockcode_history
    from pricing_assets.core.store import LocalArtifactStore

    (transactions, truth, code), made = single_product_source(rows, seed)
    stages = direct.Stages(memory=True)
    with stages("stockcode_history"):  # what raw_transactions computes besides loading the source
        history = stockcode_history(transactions)
    source = direct.SourceTables(transactions, truth, history)
    with tempfile.TemporaryDirectory(prefix="rows_scaling_") as folder:
        t0 = time.perf_counter()
        outcome = direct.run_lineage(source, code, settings, LocalArtifactStore(folder), stages)
        seconds = time.perf_counter() - t0
    return {
        **made,
        "rows": outcome.rows,
        "stages": stages.timings,
        "lineage_seconds": round(seconds, 3),
        "lazy_import_seconds": lazy_import_seconds,
        "process_peak_rss_mib": peak_rss_mib(),
        "checks": outcome.checks,
        "champion": outcome.champion,
    }


def worker_main(sizes: list[int], seed: int) -> None:
    """The given sizes one after another in this process, one JSON line each."""
    warnings.filterwarnings("ignore")
    import direct

    from pricing_assets.settings import Settings

    settings = Settings.from_env()
    warm = direct.import_lazy_libraries()  # so a stage's time is its computation, not a first import
    for rows in sizes:
        print(json.dumps({"target_rows": rows, **measure_size(rows, seed, settings, warm)}), flush=True)


def run_sizes(sizes: list[int], seed: int) -> list[dict[str, Any]]:
    """A fresh process that measures ``sizes`` in turn (one size per process for the real figures)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", ",".join(map(str, sizes)), "--seed", str(seed)],
        capture_output=True,
        text=True,
    )
    seconds = round(time.perf_counter() - t0, 2)
    found = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    done = {r["target_rows"] for r in found}
    errors = [{"target_rows": n, "error": proc.stderr[-1500:]} for n in sizes if n not in done]
    return [{**r, "process_seconds": seconds} for r in found + errors]


def summarise(runs: list[dict[str, Any]], sizes: list[int]) -> dict[str, Any]:
    summary = {}
    for size in sizes:
        ok = [r for r in runs if r["target_rows"] == size and "error" not in r]
        if not ok:
            summary[str(size)] = {"errors": sum(r["target_rows"] == size for r in runs)}
            continue
        names = list(ok[0]["stages"])
        summary[str(size)] = {
            "product_raw_rows": ok[0]["product_raw_rows"],
            "cleaned_rows": ok[0]["rows"]["cleaned"],
            "stage_seconds": {n: stats([r["stages"][n]["seconds"] for r in ok], 3) for n in names},
            "stage_peak_rss_mib": {n: stats([r["stages"][n].get("peak_rss_mib") for r in ok], 1) for n in names},
            "stage_rss_growth_mib": {
                n: stats(
                    [
                        (r["stages"][n]["peak_rss_mib"] or 0) - (r["stages"][n]["rss_start_mib"] or 0)
                        for r in ok
                        if r["stages"][n].get("peak_rss_mib") is not None
                    ],
                    1,
                )
                for n in names
            },
            "lineage_seconds": stats([r["lineage_seconds"] for r in ok], 2),
            "process_peak_rss_mib": stats([r["process_peak_rss_mib"] for r in ok], 1),
            "checks": ok[0]["checks"],
            "errors": sum(r["target_rows"] == size and "error" in r for r in runs),
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--quick", action="store_true", help="1000 and 2000 rows in one process, smallest budget, 1 repetition"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "rows_scaling.json")
    args = parser.parse_args()
    if args.worker:
        worker_main([int(n) for n in args.worker.split(",")], args.seed)
        return
    budget = dict(REDUCED_BUDGET)
    if args.quick:
        args.sizes, args.repeats, budget = [1000, 2000], 1, dict(QUICK_BUDGET)
    os.environ.update(budget)
    record = begin("rows_scaling", args.quick)
    runs = []
    if args.quick:  # a smoke run: both sizes in one process (memory figures then not independent)
        runs = [{"repetition": 1, **r} for r in run_sizes(args.sizes, args.seed)]
    for rep in range(0 if args.quick else args.repeats):
        for size in args.sizes if rep % 2 == 0 else args.sizes[::-1]:
            log(f"rows_scaling: {size} rows, repetition {rep + 1}/{args.repeats}")
            runs += [{"repetition": rep + 1, **r} for r in run_sizes([size], args.seed)]
            log(f"  {runs[-1].get('lineage_seconds', 'ERROR')} s lineage, {runs[-1]['process_seconds']} s process")
    result = {
        **record,
        "path": "core functions directly (bench/direct.py run_lineage), "
        + ("both sizes in one process (quick)" if args.quick else "one fresh process per size and repetition"),
        "budget": {**budget_from_env(), **budget},
        "seed": args.seed,
        "sizes": args.sizes,
        "repeats": args.repeats,
        "summary": summarise(runs, args.sizes),
        "runs": runs,
    }
    write_json(args.output, finish(result))
    print(render("rows_scaling", result))


if __name__ == "__main__":
    main()
