"""The catalogue with the command a user runs: `pricing run` over the dev file's most active codes,
one process against two side by side, each stockcode's cost by stage, extrapolated to every
eligible stockcode.

Each arrangement runs in fresh project folders (a new SQLite instance and store, so nothing is
cached or skipped) at the default tuning budget:

- ``sequential``: one ``pricing run --stockcodes <all N>`` (one warm process, stockcodes one after
  the other, as ``pricing run --all`` does);
- ``side_by_side``: K ``pricing run --stockcodes <every K-th>`` processes started together, each
  in its own project folder (each loads the source and learns the catalogue response itself, and
  that load counts in the wall time);
- ``processes``: one ``pricing run --stockcodes <all N> --processes K`` (the source loaded once, the
  stockcodes handed to K worker processes on the one instance);
- ``whole_catalogue`` (with ``--all``): the command the catalogue target names, ``pricing run --all``
  with its default workers (one per core for a catalogue) over every eligible stockcode, timed end to
  end (source, catalogue response, every stockcode, the catalogue report): measured, not extrapolated.

The most active codes are taken (the ``--top`` rule), which are the largest, so the extrapolation
to the whole catalogue errs on the slow side: each process's source load plus its share of the
catalogue at the mean cost per stockcode measured in that arrangement. Per-stage figures come from the CLI's ``--json``
(Dagster's step durations); "outside steps" is each stockcode's run time not spent in a step
(Dagster's run set-up and event log, the IO manager between steps).

    .venv/bin/python bench/catalogue_run.py --stockcodes 12 --side-by-side 2
    .venv/bin/python bench/catalogue_run.py --stockcodes 12 --side-by-side 2 --all   # and the whole catalogue
    .venv/bin/python bench/catalogue_run.py --quick     # 2 synthetic stockcodes, smallest budget
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import QUICK_BUDGET, RESULTS, UCI_DEV, begin, budget_from_env, finish, log, stats, write_json
from report import render

from pricing_assets import cli
from pricing_assets.core.sources import load_source
from pricing_assets.core.stockcodes import eligible_stockcodes, stockcode_history
from pricing_assets.settings import Settings

PRICING = str(Path(sys.executable).parent / "pricing")


def chosen_codes(source: str, data: str | None, n: int, settings: Settings) -> tuple[list[str], int]:
    """The ``n`` most active eligible stockcodes (the CLI's --top rule) and how many are eligible."""
    table = load_source(source, data, settings.seed, settings.synthetic_products).transactions
    history = stockcode_history(table)
    eligible = eligible_stockcodes(history, settings.min_history_rows, settings.min_history_days)
    return list(eligible[:n]), len(eligible)


def start(codes: list[str], source_args: list[str], env_extra: dict[str, str], folder: Path) -> subprocess.Popen:
    """``pricing run`` over ``codes`` (every eligible stockcode, ``--all``, when ``codes`` is empty)."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(env_extra, PRICING_PROJECT_DIR=str(folder))
    selection = ["--stockcodes", ",".join(codes)] if codes else ["--all"]
    args = [PRICING, "run", *selection, *source_args, "--json", str(folder / "run.json")]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=open(folder / "stderr.log", "w"))


def store_megabytes(folder: Path, env_extra: dict[str, str]) -> dict[str, float]:
    """Megabytes in the artifact store of a `pricing run` of :func:`start`: all of it, the drift reports' pages,
    Evidently's script and font they share."""
    root = Settings.from_env({**os.environ, **env_extra, "PRICING_PROJECT_DIR": str(folder)}).artifact_root

    def size(path: Path) -> float:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20 if path.exists() else 0.0

    return {
        "total": size(root),
        "drift_reports": size(root / "reports" / "drift_report"),
        "evidently": size(root / "reports" / "evidently"),
    }


def arrangement(
    name: str, groups: list[list[str]], source_args: list[str], env_extra: dict[str, str], workers: int = 1
) -> dict[str, Any]:
    """Run every group as its own `pricing run` process, all started together; wall until the last ends.
    ``workers``: the worker processes each `pricing run` runs its stockcodes in (``--processes``)."""
    with tempfile.TemporaryDirectory(prefix=f"catalogue_{name}_") as tmp:
        folders = [Path(tmp) / f"p{i}" for i in range(len(groups))]
        for folder in folders:
            folder.mkdir()
        load = os.getloadavg()
        t0 = time.perf_counter()
        extra_args = ["--processes", str(workers)] if workers > 1 else []  # 0: the command's default
        procs = [start(g, [*source_args, *extra_args], env_extra, f) for g, f in zip(groups, folders, strict=True)]
        codes = [p.wait() for p in procs]
        wall = time.perf_counter() - t0
        load_end = os.getloadavg()
        reports = [json.loads((f / "run.json").read_text()) if (f / "run.json").exists() else {} for f in folders]
        stored = [store_megabytes(f, env_extra) for f in folders]
        tails = [(f / "stderr.log").read_text()[-600:] for f, c in zip(folders, codes, strict=True) if c not in (0,)]
    stockcodes = [sc for r in reports for sc in r.get("stockcodes", [])]
    stages: dict[str, list[float]] = {}
    outside = []
    for sc in stockcodes:
        for step, seconds in sc["stage_seconds"].items():
            stages.setdefault(step, []).append(seconds)
        outside.append(sc["seconds"] - sum(sc["stage_seconds"].values()))
    raw = [r.get("stages", {}).get("raw_transactions") for r in reports]
    per_stockcode = [sc["seconds"] for sc in stockcodes]
    outcomes = {"promoted": 0, "held": 0, "failed": 0}
    for sc in stockcodes:  # the CLI's own verdict of each (held by a check, failed, or promoted)
        outcome = cli.StockcodeOutcome(**sc)
        outcomes["held" if cli._held(outcome) else "failed" if cli._failed(outcome) else "promoted"] += 1
    return {
        "processes": len(groups),
        "workers": workers,
        "stockcodes": len(stockcodes),
        "exit_codes": codes,
        "wall_seconds": round(wall, 1),
        "stockcodes_per_minute": round(60 * len(stockcodes) / wall, 2) if wall else None,
        "seconds_per_stockcode": stats(per_stockcode, 2),
        "mean_seconds_per_stockcode": round(sum(per_stockcode) / len(per_stockcode), 2) if per_stockcode else None,
        "raw_transactions_seconds": stats(raw, 2),
        "stage_seconds": {step: stats(values, 2) for step, values in stages.items()},
        "stage_share": {step: round(sum(values) / max(sum(per_stockcode), 1e-9), 3) for step, values in stages.items()},
        "outside_steps_seconds": stats(outside, 2),
        "outcomes": outcomes,
        # what the run left in its artifact stores: every file, and the drift reports' pages among them
        "store_megabytes": {k: round(sum(m[k] for m in stored), 1) for k in ("total", "drift_reports", "evidently")},
        "load_average_at_start": [round(x, 2) for x in load],
        "load_average_at_end": [round(x, 2) for x in load_end],
        # what the catalogue report said at the end of each command (held by which check, the decisions)
        "catalogue": [
            {k: r["catalogue"].get(k) for k in ("outcomes", "held_by_check", "recommendations", "hold_reasons")}
            for r in reports
            if r.get("catalogue")
        ],
        "stderr_tails": tails,
    }


def extrapolate(run: dict[str, Any], eligible: int) -> float | None:
    """Minutes for every eligible stockcode in this arrangement: each process loads the source once,
    then runs its share of the stockcodes at the mean cost per stockcode measured here."""
    n, per_stockcode = run["stockcodes"], run["mean_seconds_per_stockcode"]
    raw = run["raw_transactions_seconds"]["median"] or 0.0
    if not n or per_stockcode is None:
        return None
    side_by_side = run["processes"] * run.get("workers", 1)
    return round((raw + eligible / side_by_side * per_stockcode) / 60, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stockcodes", type=int, default=12, help="how many of the most active codes")
    parser.add_argument("--side-by-side", type=int, default=2, help="processes started together (0: skip)")
    parser.add_argument("--quick", action="store_true", help="2 synthetic stockcodes, smallest budget")
    parser.add_argument(
        "--all", action="store_true", help="also time `pricing run --all` (default workers) over the whole catalogue"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "catalogue_run.json")
    args = parser.parse_args()
    settings = Settings.from_env()
    env_extra: dict[str, str] = {}
    if args.quick:
        source, data, args.stockcodes, env_extra = "synthetic", None, 2, dict(QUICK_BUDGET)
        source_args: list[str] = []
    else:
        source, data = "uci", str(UCI_DEV)
        source_args = ["--source", "uci", "--data", data]
    record = begin("catalogue_run", args.quick)
    codes, eligible = chosen_codes(source, data, args.stockcodes, settings)
    log(f"catalogue_run: {len(codes)} of {eligible} eligible stockcodes ({source})")
    runs = {}
    log("  sequential: one process")
    runs["sequential"] = arrangement("sequential", [codes], source_args, env_extra)
    log(f"  {runs['sequential']['wall_seconds']} s")
    if args.side_by_side > 1:
        k = args.side_by_side
        log(f"  side by side: {k} processes")
        runs["side_by_side"] = arrangement("side_by_side", [codes[i::k] for i in range(k)], source_args, env_extra)
        log(f"  {runs['side_by_side']['wall_seconds']} s")
        log(f"  one command, --processes {k}")
        runs["processes"] = arrangement("processes", [codes], source_args, env_extra, workers=k)
        log(f"  {runs['processes']['wall_seconds']} s")
    for run in runs.values():
        run["catalogue_minutes_extrapolated"] = extrapolate(run, eligible)
    if args.all:
        log(f"  the whole catalogue: pricing run --all ({eligible} stockcodes)")
        runs["whole_catalogue"] = arrangement("whole_catalogue", [[]], source_args, env_extra, workers=0)
        runs["whole_catalogue"]["workers"] = cli.worker_processes(settings.run_processes, eligible)
        runs["whole_catalogue"]["catalogue_minutes_measured"] = round(runs["whole_catalogue"]["wall_seconds"] / 60, 1)
        log(f"  {runs['whole_catalogue']['wall_seconds']} s")
    result = {
        **record,
        "source": source,
        "eligible": eligible,
        "chosen": codes,
        "budget": ", ".join(f"{k}={v}" for k, v in {**budget_from_env(), **env_extra}.items()),
        "arrangements": runs,
    }
    write_json(args.output, finish(result))
    print(render("catalogue_run", result))


if __name__ == "__main__":
    main()
