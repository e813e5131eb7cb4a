"""Demand-model quality on the real data, time-forward: tuned on the past, scored on later months.

For the most active stockcodes of the UCI dev file, runs the product's pipeline
(``pricing_assets.core``: cleaning, features, split, preprocessor, all six trainers, evaluation)
with cut-off dates instead of row fractions:

- train: before ``--train-end`` (default 2011-05-01);
- validation: ``--train-end`` to before ``--validation-end`` (default May 2011), used for tuning,
  early stopping and choosing the champion;
- test: ``--validation-end`` through ``--test-end`` (default 2011-06-01 to 2011-08-31), never
  seen by any trainer, study or the champion choice.

Stockcodes: the ``--top`` codes with the most rows *after the product's cleaning* (the
``--candidates`` codes with the most raw product-code rows are cleaned, then ranked by cleaned
rows), or ``--rank-by raw``. Per stockcode and model it records validation and test RMSLE and
MAE, the champion, and whether the champion beats both baselines on test RMSLE. Writes
bench/results/model_quality.json and .png and prints a Markdown summary; progress goes to stderr.

    .venv/bin/python bench/model_quality.py
"""

from __future__ import annotations

import argparse
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from benchlib import RESULTS, TARGETS, UCI_DEV, begin, finish, log, write_json
from direct import TUNED, Budgets, prepare, train_and_evaluate
from report import render

from pricing_assets.core import cleaning, splits
from pricing_assets.core.features import TARGET
from pricing_assets.core.models import BASELINES, TRAINERS
from pricing_assets.core.sources import load_source

TARGET_BEATS_BOTH = TARGETS["beats_both_baselines"]
TARGET_MEDIAN_RMSLE = TARGETS["median_rmsle"]


def choose_stockcodes(transactions: pd.DataFrame, top: int, rank_by: str, candidates: int) -> list[dict[str, Any]]:
    products = transactions[cleaning.is_product_code(transactions["stock_code"])]
    raw_counts = products["stock_code"].value_counts()
    if rank_by == "raw":
        return [{"stock_code": str(c), "rows_raw": int(n)} for c, n in raw_counts.head(top).items()]
    ranked = []
    for code, n in raw_counts.head(max(candidates, top)).items():
        cleaned, _ = cleaning.clean_transactions(transactions, str(code))
        ranked.append({"stock_code": str(code), "rows_raw": int(n), "rows_clean": len(cleaned)})
    ranked.sort(key=lambda r: (-r["rows_clean"], -r["rows_raw"], r["stock_code"]))
    return ranked[:top]


def diagnostics(frame: pd.DataFrame) -> dict[str, Any]:
    """What the split looks like: level of the target and how much the price moved, per split."""
    out: dict[str, Any] = {}
    for name in splits.SPLITS:
        rows = frame[frame[splits.SPLIT_COLUMN] == name]
        out[name] = {
            "mean_log1p_quantity": round(float(rows[TARGET].mean()), 4),
            "std_log1p_quantity": round(float(rows[TARGET].std()), 4),
            "distinct_prices": int(rows["unit_price"].nunique()),
            "median_price": float(rows["unit_price"].median()),
            "guest_share": round(float((rows["customer_type"] == "guest").mean()), 3),
        }
    return out


def run_stockcode(
    transactions: pd.DataFrame,
    pick: dict[str, Any],
    cfg: splits.SplitConfig,
    args: argparse.Namespace,
) -> dict[str, Any]:
    code = pick["stock_code"]
    row: dict[str, Any] = dict(pick)
    started = time.perf_counter()
    try:
        prepared = prepare(transactions, code, cfg, args.test_end)
        row["description"] = str(transactions.loc[transactions["stock_code"] == code, "description"].mode().iloc[0])
        row["cleaning"] = prepared.cleaning
        row["split_rows"] = prepared.split_rows
        row["split_dates"] = prepared.split_dates
        row["diagnostics"] = diagnostics(prepared.frame)
        budgets = Budgets(args.dfn_trials, args.backup_trials, args.seconds, args.dfn_max_epochs)
        trained = train_and_evaluate(prepared, budgets, args.seed, verbose=args.verbose, prefix=f"  {code} ")
        ev = trained.evaluation
        metrics = {
            kind: {split: {m: round(by_split[split][m], 5) for m in ("rmsle", "mae")} for split in by_split}
            for kind, by_split in ev.metrics.items()
        }
        test = {kind: ev.metrics[kind]["test"]["rmsle"] for kind in ev.metrics}
        validation = {kind: ev.metrics[kind]["validation"]["rmsle"] for kind in ev.metrics}
        champion = ev.champion
        row.update(
            metrics=metrics,
            champion=champion,
            champion_test_rmsle=round(test[champion], 5),
            champion_test_mae=round(ev.metrics[champion]["test"]["mae"], 5),
            beats_on_test=ev.beats_baselines.get("test", {}),
            beats_both_baselines_on_test=all(test[champion] < test[b] for b in BASELINES if b != champion),
            lowest_validation_any_kind=min(validation, key=validation.get),
            lowest_test_any_kind=min(test, key=test.get),  # hindsight, for diagnosis only
            fallback_chain=ev.fallback_chain,
            tuning=trained.tuning,
            train_seconds=trained.seconds,
        )
    except Exception as exc:  # record and carry on: one bad stockcode must not lose the others
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc(limit=4)
    row["seconds"] = round(time.perf_counter() - started, 2)
    return row


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if "error" not in r]
    champion_rmsle = [r["champion_test_rmsle"] for r in ok]
    beats_both = sum(bool(r["beats_both_baselines_on_test"]) for r in ok)
    per_kind = (
        {
            kind: {
                "median_test_rmsle": round(float(np.median([r["metrics"][kind]["test"]["rmsle"] for r in ok])), 4),
                "median_validation_rmsle": round(
                    float(np.median([r["metrics"][kind]["validation"]["rmsle"] for r in ok])), 4
                ),
                "median_test_mae": round(float(np.median([r["metrics"][kind]["test"]["mae"] for r in ok])), 4),
                "champion_count": sum(r["champion"] == kind for r in ok),
                "lowest_test_count": sum(r["lowest_test_any_kind"] == kind for r in ok),
            }
            for kind in TRAINERS
        }
        if ok
        else {}
    )
    median = float(np.median(champion_rmsle)) if ok else None
    # Other ways the champion could have been chosen (all on validation; test only scores them).
    rules = {
        "product: lowest validation RMSLE among tuned models": list(TUNED),
        "lowest validation RMSLE among all six (baselines may win)": list(TRAINERS),
        "lowest validation RMSLE among lightgbm and elasticnet": ["lightgbm", "elasticnet"],
        "always lightgbm": ["lightgbm"],
        "always elasticnet": ["elasticnet"],
        "always dfn": ["dfn"],
    }
    alternatives = {}
    for rule, kinds in rules.items():
        test_rmsle, beats = [], 0
        for r in ok:
            m = r["metrics"]
            chosen = min(kinds, key=lambda k: (m[k]["validation"]["rmsle"], kinds.index(k)))
            test_rmsle.append(m[chosen]["test"]["rmsle"])
            beats += all(m[chosen]["test"]["rmsle"] < m[b]["test"]["rmsle"] for b in BASELINES if b != chosen)
        alternatives[rule] = {
            "beats_both_on_test": beats,
            "median_test_rmsle": round(float(np.median(test_rmsle)), 4) if ok else None,
        }
    hindsight = [min(m["test"]["rmsle"] for m in r["metrics"].values()) for r in ok]
    alternatives["hindsight: best of six on test (not a rule, a floor)"] = {
        "beats_both_on_test": None,
        "median_test_rmsle": round(float(np.median(hindsight)), 4) if ok else None,
    }
    return {
        "stockcodes": len(rows),
        "evaluated": len(ok),
        "errors": {r["stock_code"]: r["error"] for r in rows if "error" in r},
        "champion_beats_both_baselines_on_test": beats_both,
        "champion_beats_constant_on_test": sum(r["beats_on_test"].get("constant_baseline", False) for r in ok),
        "champion_beats_elasticity_on_test": sum(r["beats_on_test"].get("elasticity_baseline", False) for r in ok),
        "median_champion_test_rmsle": round(median, 4) if median is not None else None,
        "mean_champion_test_rmsle": round(float(np.mean(champion_rmsle)), 4) if ok else None,
        "median_champion_test_mae": round(float(np.median([r["champion_test_mae"] for r in ok])), 4) if ok else None,
        "median_champion_validation_rmsle": round(
            float(np.median([r["metrics"][r["champion"]]["validation"]["rmsle"] for r in ok])), 4
        )
        if ok
        else None,
        "per_kind": per_kind,
        "champion_rule_alternatives": alternatives,
        "targets": {
            "beats_both": f">= {TARGET_BEATS_BOTH} of 20",
            "beats_both_met": beats_both >= TARGET_BEATS_BOTH,
            "median_champion_test_rmsle": f"<= {TARGET_MEDIAN_RMSLE}",
            "median_met": median is not None and median <= TARGET_MEDIAN_RMSLE,
        },
    }


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "error" not in r]
    if not ok:
        return
    if len(ok) < len(rows):
        title += f"\nnot shown, failed: {', '.join(r['stock_code'] for r in rows if 'error' in r)}"
    fig, (ax, box) = plt.subplots(1, 2, figsize=(15, 5.5), gridspec_kw={"width_ratios": [3, 1.2]})
    x = np.arange(len(ok))
    series = [
        ("constant_baseline", "constant baseline", "#bbbbbb", "s"),
        ("elasticity_baseline", "elasticity baseline", "#e69f00", "^"),
    ]
    for kind, label, colour, marker in series:
        ax.scatter(x, [r["metrics"][kind]["test"]["rmsle"] for r in ok], label=label, c=colour, marker=marker, s=40)
    champ = [r["champion_test_rmsle"] for r in ok]
    colours = ["#0072b2" if r["beats_both_baselines_on_test"] else "#d55e00" for r in ok]
    ax.scatter(x, champ, c=colours, marker="o", s=60, label="champion (red: does not beat both)", zorder=3)
    for xi, r in zip(x, ok, strict=True):
        ax.annotate(
            r["champion"],
            (xi, r["champion_test_rmsle"]),
            fontsize=7,
            rotation=90,
            xytext=(4, -4),
            textcoords="offset points",
            va="top",
        )
    ax.axhline(TARGET_MEDIAN_RMSLE, ls="--", c="k", lw=0.8, label=f"target median {TARGET_MEDIAN_RMSLE}")
    ax.axhline(float(np.median(champ)), ls=":", c="#0072b2", lw=1.2, label=f"champion median {np.median(champ):.3f}")
    ax.set_xticks(x, [r["stock_code"] for r in ok], rotation=60, fontsize=8)
    ax.set_ylabel("test RMSLE (log1p quantity per order line)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    kinds = list(TRAINERS)
    box.boxplot([[r["metrics"][k]["test"]["rmsle"] for r in ok] for k in kinds], showmeans=True)
    box.set_xticks(range(1, len(kinds) + 1), [k.replace("_baseline", "\nbaseline") for k in kinds], fontsize=7)
    box.axhline(TARGET_MEDIAN_RMSLE, ls="--", c="k", lw=0.8)
    box.set_title("test RMSLE by model, all stockcodes", fontsize=10)
    box.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(UCI_DEV))
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--rank-by", choices=("cleaned", "raw"), default="cleaned")
    parser.add_argument("--candidates", type=int, default=40, help="raw-ranked codes cleaned to rank by cleaned rows")
    parser.add_argument("--codes", nargs="*", help="explicit stockcodes instead of the top N")
    parser.add_argument("--train-end", default="2011-05-01")
    parser.add_argument("--validation-end", default="2011-06-01", help="also the start of the test period")
    parser.add_argument("--test-end", default="2011-08-31", help="last day of the test period (inclusive)")
    parser.add_argument("--dfn-trials", type=int, default=10)
    parser.add_argument("--backup-trials", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=60.0, help="time budget per study")
    parser.add_argument("--dfn-max-epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--split",
        choices=("dates", "fractions"),
        default="dates",
        help="DIAGNOSTIC: 'fractions' uses the product default 0.7/0.15 row fractions instead of the dates",
    )
    parser.add_argument("--verbose", action="store_true", help="every tuning trial on stderr")
    parser.add_argument("--quick", action="store_true", help="3 stockcodes by raw rows, 1 trial each: a smoke run")
    parser.add_argument("--output", default=str(RESULTS / "model_quality.json"))
    parser.add_argument("--plot", default=None, help="where to draw the plot (default: beside --output)")
    args = parser.parse_args()
    if args.quick:
        args.top, args.rank_by, args.dfn_trials, args.backup_trials, args.dfn_max_epochs = 3, "raw", 1, 1, 2
    if args.plot is None:
        args.plot = str(Path(args.output).with_suffix(".png"))
    warnings.filterwarnings("ignore")

    record = begin("model_quality", args.quick)
    transactions = load_source("uci", args.data, args.seed, 0).transactions
    if args.codes:
        picks = [{"stock_code": c, "rows_raw": int((transactions["stock_code"] == c).sum())} for c in args.codes]
        rank_by = "explicit --codes"
    else:
        log(f"ranking stockcodes by {args.rank_by} rows ...")
        picks = choose_stockcodes(transactions, args.top, args.rank_by, args.candidates)
        rank_by = f"{args.rank_by} rows (top {args.top}" + (
            f" of the {args.candidates} codes with most raw rows, cleaned)" if args.rank_by == "cleaned" else ")"
        )
    if args.split == "dates":
        cfg = splits.SplitConfig(train_end=args.train_end, validation_end=args.validation_end)
        split_text = (
            f"train < {args.train_end} <= validation < {args.validation_end} <= test <= {args.test_end} (inclusive)"
        )
    else:
        cfg = splits.SplitConfig(train_fraction=0.7, validation_fraction=0.15)
        split_text = f"row fractions 0.7 / 0.15 / 0.15 by time, rows up to {args.test_end}"
    budgets = Budgets(args.dfn_trials, args.backup_trials, args.seconds, args.dfn_max_epochs)
    rows = []
    for i, pick in enumerate(picks, 1):
        row = run_stockcode(transactions, pick, cfg, args)
        rows.append(row)
        if "error" in row:
            log(f"[{i}/{len(picks)}] {pick['stock_code']}: ERROR {row['error']} ({row['seconds']:.1f}s)")
        else:
            m = row["metrics"]
            log(
                f"[{i}/{len(picks)}] {row['stock_code']}: split {row['split_rows']}, champion {row['champion']} "
                f"test RMSLE {row['champion_test_rmsle']:.3f} (constant {m['constant_baseline']['test']['rmsle']:.3f}, "
                f"elasticity {m['elasticity_baseline']['test']['rmsle']:.3f}) "
                f"beats both: {row['beats_both_baselines_on_test']} ({row['seconds']:.1f}s)"
            )
    result = {
        **record,
        "data": str(Path(args.data).name),
        "stockcode_selection": rank_by,
        "split": split_text,
        "features": "product features",
        "budgets": budgets.label() + f", dfn max {args.dfn_max_epochs} epochs",
        "seed": args.seed,
        "tuned_kinds": list(TUNED),
        "champion_rule": "evaluate_candidates as in the working tree (lowest validation RMSLE among tuned models)",
        "summary": summarise(rows),
        "stockcodes": rows,
    }
    out = write_json(Path(args.output), finish(result))
    if args.plot:
        plot(
            rows,
            Path(args.plot),
            f"Champion vs baselines, test {args.validation_end}..{args.test_end} "
            f"(trained < {args.train_end}, validated to {args.validation_end})",
        )
    log(f"wrote {out}" + (f" and {args.plot}" if args.plot else ""))
    print(render("model_quality", result))


if __name__ == "__main__":
    main()
