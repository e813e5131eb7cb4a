"""Revenue regret of the recommended price on synthetic products whose true demand curve is known.

For every product of ``load_source("synthetic", None, seed, N)`` with enough history (the
product's own eligibility rule: at least ``--min-rows`` usable lines on ``--min-days`` days),
runs the product's pipeline from ``pricing_assets.core``: cleaning, features, the default
chronological split by row fractions (0.7 / 0.15 / 0.15), preprocessor fit on train, all six
trainers, evaluation, then the champion's price curve over ``scenario_rows(features, 90)`` with
a 50-bin grid. Regret = share of the best achievable expected sales lost by charging the
recommended price (``pricing.revenue_regret`` against the closed-form optimum).

Also reported per product:

- ``oracle``: the regret of the best price *on the same grid*, scored with the true curve. It
  isolates the grid-range error (the true optimum outside the recently charged prices) from
  the model error (champion regret minus oracle regret);
- ``current``: the regret of the retailer's own base price (the synthetic ``base_price``);
- the regret each other candidate would have given, had it been the champion.

Every budget in ``--budgets`` (``dfn_trials:backup_trials``) is run on the same products in the
same run, so the effect of the tuning budget is measured side by side. Products run in
``--jobs`` worker processes (every trainer is single-threaded). Writes
bench/results/pricing_regret.json and prints a Markdown summary; progress goes to stderr.

    .venv/bin/python bench/pricing_regret.py --products 60 --budgets 3:3 10:15
"""

from __future__ import annotations

import argparse
import time
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import RESULTS, TARGETS, begin, finish, log, quantiles, write_json
from direct import TUNED, Budgets, prepare, train_and_evaluate
from report import render

from pricing_assets.core import pricing, splits
from pricing_assets.core.models import BASELINES
from pricing_assets.core.sources import load_source
from pricing_assets.core.stockcodes import eligible_stockcodes, stockcode_history
from pricing_assets.core.synthetic import expected_quantity

TARGET_MEDIAN_REGRET = TARGETS["median_regret"]
_SOURCE: dict[str, Any] = {}


def _load(seed: int, products: int) -> None:
    """Worker initialiser: every process generates the (deterministic) source once."""
    warnings.filterwarnings("ignore")
    data = load_source("synthetic", None, seed, products)
    _SOURCE["transactions"] = data.transactions
    _SOURCE["truth"] = data.ground_truth.set_index("stock_code")


def parse_budget(text: str, seconds: float, max_epochs: int) -> Budgets:
    dfn, _, backups = text.partition(":")
    return Budgets(int(dfn), int(backups or dfn), seconds, max_epochs)


def run_product(code: str, budgets: list[Budgets], bins: int, recent_days: int, seed: int) -> dict[str, Any]:
    truth = _SOURCE["truth"].loc[code]
    shape, a, b = str(truth["shape"]), float(truth["a"]), float(truth["b"])
    row: dict[str, Any] = {
        "stock_code": code,
        "shape": shape,
        "a": a,
        "b": b,
        "true_optimal_price": float(truth["optimal_price"]),
        "base_price": float(truth["base_price"]),
        "current_regret": pricing.revenue_regret(shape, a, b, float(truth["base_price"])),
    }
    started = time.perf_counter()
    try:
        cfg = splits.SplitConfig(train_fraction=0.7, validation_fraction=0.15)
        prepared = prepare(_SOURCE["transactions"], code, cfg)
        row["rows_clean"] = prepared.cleaning["rows_out"]
        row["split_rows"] = prepared.split_rows
        scenario = pricing.scenario_rows(prepared.features, recent_days)
        prices = pricing.price_grid(scenario, bins)
        true_sales = prices * expected_quantity(shape, a, b, prices)
        oracle_price = float(prices[int(np.argmax(true_sales))])
        row.update(
            scenario_rows=len(scenario),
            grid=[float(prices[0]), float(prices[-1])],
            true_optimum_in_grid_range=bool(prices[0] <= row["true_optimal_price"] <= prices[-1]),
            oracle_price=oracle_price,
            oracle_regret=pricing.revenue_regret(shape, a, b, oracle_price),
            by_budget={},
        )
        for budget in budgets:
            t0 = time.perf_counter()
            trained = train_and_evaluate(prepared, budget, seed)
            ev = trained.evaluation
            per_kind = {}
            for kind, model in trained.models.items():
                curve = pricing.predict_curve(
                    model, prepared.preprocessor, scenario, prices, ev.residual_quantiles[kind]
                )
                per_kind[kind] = {
                    "recommended_price": curve.optimal_price,
                    "regret": pricing.revenue_regret(shape, a, b, curve.optimal_price),
                    "optimum_on_edge": curve.optimum_on_edge,
                    "validation_rmsle": round(ev.metrics[kind]["validation"]["rmsle"], 5),
                    "test_rmsle": round(ev.metrics[kind]["test"]["rmsle"], 5),
                }
            champion = per_kind[ev.champion]
            row["by_budget"][budget.label()] = {
                "champion": ev.champion,
                "recommended_price": champion["recommended_price"],
                "regret": champion["regret"],
                "optimum_on_edge": champion["optimum_on_edge"],
                "champion_test_rmsle": champion["test_rmsle"],
                "beats_both_baselines_on_test": all(
                    champion["test_rmsle"] < per_kind[k]["test_rmsle"] for k in BASELINES if k != ev.champion
                ),
                "per_kind": per_kind,
                "train_seconds": trained.seconds,
                "seconds": round(time.perf_counter() - t0, 2),
            }
    except Exception as exc:  # record and carry on
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc(limit=4)
    row["seconds"] = round(time.perf_counter() - started, 2)
    return row


def summarise(rows: list[dict[str, Any]], labels: list[str], skipped: list[str]) -> dict[str, Any]:
    ok = [r for r in rows if "error" not in r]
    by_budget = {}
    for label in labels:
        regrets = [r["by_budget"][label]["regret"] for r in ok]
        model_error = [r["by_budget"][label]["regret"] - r["oracle_regret"] for r in ok]
        q = quantiles(regrets)
        by_budget[label] = {
            "champion_regret": q,
            "champion_regret_minus_oracle": quantiles(model_error),
            "optimum_on_grid_edge": sum(r["by_budget"][label]["optimum_on_edge"] for r in ok),
            "champion_counts": {
                k: sum(r["by_budget"][label]["champion"] == k for r in ok)
                for k in (*TUNED, *BASELINES)
                if any(r["by_budget"][label]["champion"] == k for r in ok)
            },
            "per_kind_median_regret": {
                k: round(float(np.median([r["by_budget"][label]["per_kind"][k]["regret"] for r in ok])), 5)
                for k in (*TUNED, *BASELINES)
            }
            if ok
            else {},
            "per_kind_on_edge": {
                k: sum(r["by_budget"][label]["per_kind"][k]["optimum_on_edge"] for r in ok)
                for k in (*TUNED, *BASELINES)
            },
            "champion_beats_both_baselines_on_test": sum(
                r["by_budget"][label]["beats_both_baselines_on_test"] for r in ok
            ),
            "median_champion_test_rmsle": round(
                float(np.median([r["by_budget"][label]["champion_test_rmsle"] for r in ok])), 4
            )
            if ok
            else None,
            "seconds_total": round(sum(r["by_budget"][label]["seconds"] for r in ok), 1),
            "target_median_regret_met": q["median"] is not None and q["median"] <= TARGET_MEDIAN_REGRET,
        }
    return {
        "products": len(rows) + len(skipped),
        "evaluated": len(ok),
        "skipped_too_little_history": skipped,
        "errors": {r["stock_code"]: r["error"] for r in rows if "error" in r},
        "oracle_regret": quantiles([r["oracle_regret"] for r in ok]),
        "current_price_regret": quantiles([r["current_regret"] for r in ok]),
        "true_optimum_outside_grid_range": sum(not r["true_optimum_in_grid_range"] for r in ok),
        "by_budget": by_budget,
        "target": f"median champion regret <= {TARGET_MEDIAN_REGRET:.0%}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--budgets", nargs="+", default=["3:3", "10:15"], help="dfn_trials:backup_trials, one run per budget"
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="time budget per study")
    parser.add_argument("--dfn-max-epochs", type=int, default=60)
    parser.add_argument("--bins", type=int, default=50)
    parser.add_argument("--recent-days", type=int, default=90)
    parser.add_argument("--min-rows", type=int, default=150, help="product eligibility: usable lines")
    parser.add_argument("--min-days", type=int, default=60, help="product eligibility: distinct sale days")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (products in parallel)")
    parser.add_argument("--quick", action="store_true", help="4 products, budget 1:1, for a smoke run")
    parser.add_argument("--output", default=str(RESULTS / "pricing_regret.json"))
    args = parser.parse_args()
    if args.quick:
        args.products, args.budgets, args.dfn_max_epochs = 4, ["1:1"], 2
    warnings.filterwarnings("ignore")

    started = time.perf_counter()
    record = begin("pricing_regret", args.quick)
    budgets = [parse_budget(text, args.seconds, args.dfn_max_epochs) for text in args.budgets]
    labels = [bud.label() for bud in budgets]
    source = load_source("synthetic", None, args.seed, args.products)
    truth = source.ground_truth
    history = stockcode_history(source.transactions)
    history = history[history.index.isin(set(truth["stock_code"]))]
    eligible = eligible_stockcodes(history, args.min_rows, args.min_days)
    skipped = sorted(set(truth["stock_code"]) - set(eligible))
    log(f"{len(eligible)} of {len(truth)} products eligible; budgets {labels}; {args.jobs} worker(s)")
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(args.jobs, initializer=_load, initargs=(args.seed, args.products)) as pool:
        # Longest first, so the last product to finish is a short one.
        futures = {
            pool.submit(run_product, code, budgets, args.bins, args.recent_days, args.seed): code for code in eligible
        }
        for i, future in enumerate(as_completed(futures), 1):
            row = future.result()
            rows.append(row)
            if "error" in row:
                log(f"[{i}/{len(futures)}] {row['stock_code']}: ERROR {row['error']}")
                continue
            parts = ", ".join(
                f"{lab.split(',')[0]}: {r['champion']} {r['regret']:.2%}{' EDGE' if r['optimum_on_edge'] else ''}"
                for lab, r in row["by_budget"].items()
            )
            log(
                f"[{i}/{len(futures)}] {row['stock_code']} ({row['shape']}, {row['rows_clean']} rows): oracle "
                f"{row['oracle_regret']:.2%}; {parts} ({row['seconds']:.0f}s, {time.perf_counter() - started:.0f}s)"
            )
    rows.sort(key=lambda r: eligible.index(r["stock_code"]))
    result = {
        **record,
        "source": f"synthetic(seed={args.seed}, products={args.products})",
        "eligibility": f">= {args.min_rows} usable lines on >= {args.min_days} days (stockcodes.eligible_stockcodes)",
        "split": "row fractions 0.7 / 0.15 / 0.15 by time (product default)",
        "pricing": f"scenario_rows(features, {args.recent_days}), price_grid(scenario, {args.bins})",
        "budgets": labels,
        "dfn_max_epochs": args.dfn_max_epochs,
        "jobs": args.jobs,
        "seed": args.seed,
        "summary": summarise(rows, labels, skipped),
        "products": rows,
    }
    out = write_json(Path(args.output), finish(result))
    log(f"wrote {out}")
    print(render("pricing_regret", result))


if __name__ == "__main__":
    main()
