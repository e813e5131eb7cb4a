"""The promotion gates before and after issue 16, on the dev file's top 20 at two cut-offs.

For each of the 20 most active eligible stockcodes of the developers' file, with the data cut at
2011-07-31 and then at 2011-08-31 (a month of new weeks): every model is trained once (the
same core calls as ``direct.py``, a reduced tuning budget, seeded), then judged by

- *before*: the gates as of commit ``BEFORE`` (Evidently drift share of 28 days against all
  earlier rows; fairness on the point estimate at 0.5, a small group blocks), loaded from git,
  so the comparison runs the old code itself;
- *after*: this checkout's gates (like-for-like drift blocking only on a broken feed, fairness on
  the clustered interval at 0.25, the challenger gate against the bundle promoted at the first
  cut-off).

Writes ``bench/results/gates.json`` and prints the BENCHMARKS.md table. Run (CPU-heavy: under the
shared lock): ``flock /tmp/pricing-full-suite.lock .venv/bin/python bench/gates.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import warnings
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from benchlib import REPO, begin, finish, log, markdown_table, write_json
from direct import Budgets, prepare, train_and_evaluate

from pricing_assets.core import challenger, drift, fairness, splits, stockcodes
from pricing_assets.core.models import BASELINES
from pricing_assets.core.sources import load_source
from pricing_assets.settings import current_settings

BEFORE = "52c5e1e"  # the last commit before the issue-16 gates
CUTOFFS = ("2011-07-31", "2011-08-31")
BUDGETS = Budgets(dfn_trials=4, backup_trials=6, seconds=20.0, dfn_max_epochs=30)


def old_module(name: str) -> ModuleType:
    """``pricing_assets.core.<name>`` as it was at ``BEFORE``, importable beside today's."""
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:pricing_assets/core/{name}.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    spec = importlib.util.spec_from_loader(f"pricing_assets.core._before_{name}", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    exec(compile(source, f"{BEFORE}:{name}.py", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


def judge(code: str, cut: pd.DataFrame, serving: dict[str, Any] | None, old: dict[str, ModuleType]) -> dict[str, Any]:
    s = current_settings()
    prepared = prepare(cut, code, splits.SplitConfig(s.split_train_fraction, s.split_validation_fraction))
    trained = train_and_evaluate(prepared, BUDGETS, s.seed)
    champion = trained.evaluation.champion
    frame = prepared.frame
    test_rows = frame[frame[splits.SPLIT_COLUMN] == "test"].reset_index(drop=True)
    data = splits.design_matrices(frame, prepared.preprocessor, ("test",))
    predicted = np.asarray(trained.models[champion].predict_log(data.x["test"]), dtype=float)

    before_drift, _ = old["drift"].detect_drift(prepared.features, old["drift"].DriftConfig())
    before_fair = old["fairness"].fairness_report(
        test_rows, predicted, data.y["test"], old["fairness"].FairnessConfig()
    )
    drift_cfg = drift.DriftConfig(
        s.drift_window_days,
        s.drift_reference_days,
        s.drift_price_ratio_limit,
        s.drift_order_size_ratio_limit,
        s.drift_vanished_share,
        s.drift_demand_ratio_limit,
        s.drift_min_rows,
        s.drift_column_threshold,
    )
    after_drift, _ = drift.detect_drift(prepared.features, drift_cfg)
    fair_cfg = fairness.FairnessConfig(s.fairness_threshold, s.fairness_min_group_rows)
    after_fair = fairness.fairness_report(test_rows, predicted, data.y["test"], fair_cfg)
    score = None
    if serving is not None:
        serving_log = serving["model"].predict_log(serving["preprocessor"].transform(test_rows))
        score = challenger.ServingScore(
            serving["version"], serving["champion"], serving["seen_until"], np.asarray(serving_log, dtype=float)
        )
    baselines = {k: np.asarray(trained.models[k].predict_log(data.x["test"]), dtype=float) for k in BASELINES}
    gate = challenger.challenge(
        test_rows,
        data.y["test"],
        champion,
        predicted,
        baselines,
        score,
        challenger.ChallengerConfig(s.challenger_tolerance, s.challenger_min_rows),
    )
    before_held = [n for n, ok in (("drift", before_drift.passed), ("fairness", before_fair.passed)) if not ok]
    after_held = [
        n
        for n, blocks in zip(
            ("drift", "fairness", "challenger"), (after_drift.blocks, after_fair.blocks, gate.blocks), strict=True
        )
        if blocks
    ]
    return {
        "stockcode": code,
        "champion": champion,
        "test_rows": len(test_rows),
        "before": {
            "promoted": not before_held,
            "held_by": before_held,
            "drift": before_drift.reason,
            "fairness": before_fair.reason,
        },
        "after": {
            "promoted": not after_held,
            "held_by": after_held,
            "warned_by": [
                n for n, r in (("drift", after_drift), ("fairness", after_fair)) if not r.passed and not r.blocks
            ],
            "drift": after_drift.reason,
            "fairness": after_fair.reason,
            "challenger": gate.reason,
        },
        "_serving": {
            "model": trained.models[champion],
            "preprocessor": prepared.preprocessor,
            "champion": champion,
            "version": f"{code}@{cut['invoice_date'].max().date()}",
            "seen_until": pd.Timestamp(test_rows["invoice_date"].min()),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=str(current_settings().project_dir.parent / "shared/data/online_retail_dev.parquet")
    )
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    record = begin("gates", quick=args.top < 20)
    record["budgets"] = BUDGETS.label()
    old = {name: old_module(name) for name in ("drift", "fairness")}
    transactions = load_source("uci", args.data).transactions
    history = stockcodes.stockcode_history(transactions)
    s = current_settings()
    codes = stockcodes.eligible_stockcodes(history, s.min_history_rows, s.min_history_days)[: args.top]
    promoted_after: dict[str, dict[str, Any]] = {}
    results: dict[str, list[dict[str, Any]]] = {}
    for cutoff in CUTOFFS:
        cut = transactions[transactions["invoice_date"] < pd.Timestamp(cutoff) + pd.Timedelta(days=1)]
        rows = []
        for code in codes:
            try:
                row = judge(code, cut, promoted_after.get(code), old)
            except ValueError as exc:  # too little history at this cut-off
                row = {"stockcode": code, "error": str(exc)}
            serving = row.pop("_serving", None)
            if serving is not None and row["after"]["promoted"]:
                promoted_after[code] = serving
            log(
                f"{cutoff} {code}: held before {row.get('before', {}).get('held_by')}, "
                f"after {row.get('after', {}).get('held_by')}"
            )
            rows.append(row)
        results[cutoff] = rows
    record["cutoffs"] = results
    write_json(REPO / "bench" / "results" / "gates.json", finish(record))
    print(report(results))


def report(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = []
    for side in ("before", "after"):
        header = ["cut-off", "stockcodes", "promoted", "held by drift", "held by fairness", "held by challenger"]
        rows = []
        for cutoff, found in results.items():
            ok = [r for r in found if "error" not in r]
            held = {g: sum(g in r[side]["held_by"] for r in ok) for g in ("drift", "fairness", "challenger")}
            rows.append(
                [
                    cutoff,
                    len(found),
                    sum(r[side]["promoted"] for r in ok),
                    held["drift"],
                    held["fairness"],
                    held["challenger"] if side == "after" else "-",
                ]
            )
        lines.append(f"**{side}**\n\n" + markdown_table(header, rows))
    return "\n\n".join(lines)


if __name__ == "__main__":
    main()
