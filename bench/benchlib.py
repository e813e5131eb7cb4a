"""Shared plumbing of the model benchmarks: the product's plain-Python pipeline for one stockcode.

Not a benchmark itself. ``bench/model_quality.py`` and ``bench/pricing_regret.py`` import it
(they run as scripts, so ``bench/`` is on ``sys.path``). Everything here calls
``pricing_assets.core`` exactly as the Dagster assets do: clean -> features -> chronological
split -> preprocessor fit on train -> every trainer on train+validation only -> evaluation on
validation and test.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pricing_assets.core import cleaning, evaluation, features, splits, tuning
from pricing_assets.core.models import BASELINES, TRAINERS

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
UCI_DEV = REPO.parent / "shared" / "data" / "online_retail_dev.parquet"
TUNED = tuple(k for k in TRAINERS if k not in BASELINES)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> str:
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        memory = f", {mem:.0f} GiB"
    except (ValueError, OSError):
        memory = ""
    return (
        f"{platform.node()} {platform.machine()} {os.cpu_count()} cores{memory}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def command() -> str:
    """The command line as run, with the interpreter path relative to the repository when possible."""
    exe = Path(sys.executable)
    try:
        exe_text = str(exe.relative_to(REPO))
    except ValueError:
        exe_text = str(exe)
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = str(script.relative_to(REPO))
    except ValueError:
        script_text = sys.argv[0]
    return shlex.join([exe_text, script_text, *sys.argv[1:]])


@dataclass(frozen=True)
class Budgets:
    dfn_trials: int = 10
    backup_trials: int = 15
    seconds: float = 60.0
    dfn_max_epochs: int = 60

    def for_kind(self, kind: str) -> tuning.TuningBudget:
        return tuning.TuningBudget(self.dfn_trials if kind == "dfn" else self.backup_trials, self.seconds)

    def label(self) -> str:
        return f"dfn {self.dfn_trials} / backups {self.backup_trials} trials, {self.seconds:g} s"


@dataclass
class Prepared:
    """One stockcode's features with the split column, the preprocessor and the cleaning report."""

    features: pd.DataFrame  # every feature row (the pricing scenario is built from these)
    frame: pd.DataFrame  # the rows used by the split (maybe cut at test_end), with ``split``
    preprocessor: splits.Preprocessor
    cleaning: dict[str, Any]
    split_rows: dict[str, int]
    split_dates: dict[str, list[str]]


def prepare(
    transactions: pd.DataFrame,
    stock_code: str,
    cfg: splits.SplitConfig,
    test_end: str | None = None,
) -> Prepared:
    cleaned, report = cleaning.clean_transactions(transactions, stock_code)
    feats = features.build_demand_features(cleaned)
    rows = feats
    if test_end is not None:  # features only look back, so dropping later rows changes nothing before
        rows = feats[feats["invoice_date"] < pd.Timestamp(test_end) + pd.Timedelta(days=1)]
    frame = splits.split_chronologically(rows, cfg)
    preprocessor = splits.Preprocessor.fit(frame[frame[splits.SPLIT_COLUMN] == "train"])
    split_rows = {s: int((frame[splits.SPLIT_COLUMN] == s).sum()) for s in splits.SPLITS}
    split_dates = {}
    for s in splits.SPLITS:
        times = frame.loc[frame[splits.SPLIT_COLUMN] == s, "invoice_date"]
        split_dates[s] = [str(times.min().date()), str(times.max().date())]
    return Prepared(
        feats,
        frame,
        preprocessor,
        {"rows_in": report.rows_in, "rows_out": report.rows_out, "dropped": report.dropped},
        split_rows,
        split_dates,
    )


@dataclass
class Trained:
    models: dict[str, Any]
    evaluation: evaluation.Evaluation
    tuning: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def train_and_evaluate(
    prepared: Prepared,
    budgets: Budgets,
    seed: int,
    kinds: tuple[str, ...] = tuple(TRAINERS),
    verbose: bool = False,
    prefix: str = "",
) -> Trained:
    """Train every kind on train (validation for tuning/early stopping only), then evaluate."""
    frame = prepared.frame
    seen = frame[frame[splits.SPLIT_COLUMN] != "test"]  # the trainers never see the test rows
    data = splits.design_matrices(seen, prepared.preprocessor, ("train", "validation"))
    progress = (lambda m: log(f"{prefix}{m}")) if verbose else (lambda m: None)
    models, summaries, seconds = {}, {}, {}
    for kind in kinds:
        t0 = time.perf_counter()
        extra = {"max_epochs": budgets.dfn_max_epochs} if kind == "dfn" else {}
        candidate = TRAINERS[kind](data, budgets.for_kind(kind), seed, progress, **extra)
        seconds[kind] = round(time.perf_counter() - t0, 2)
        models[kind] = candidate.model
        summaries[kind] = {
            k: v
            for k, v in candidate.tuning.items()
            if k in ("best_params", "trials_run", "trials_pruned", "stopped_by_time", "best_epoch", "seconds")
        }
    scored = splits.design_matrices(frame, prepared.preprocessor, ("validation", "test"))
    return Trained(models, evaluation.evaluate_candidates(models, scored), summaries, seconds)


def quantiles(values: list[float]) -> dict[str, float | None]:
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if arr.size == 0:
        return {"n": 0, "median": None, "mean": None, "p90": None, "max": None}
    return {
        "n": int(arr.size),
        "median": float(np.median(arr)),
        "mean": float(np.mean(arr)),
        "p90": float(np.quantile(arr, 0.9)),
        "max": float(np.max(arr)),
    }


def markdown_table(header: list[str], rows: list[list[Any]], align: list[str] | None = None) -> str:
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def code_state() -> dict[str, Any]:
    """The commit and which core files differ from it: the numbers belong to this code."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    dirty = [line[3:] for line in git("status", "--porcelain", "pricing_assets").splitlines() if line.strip()]
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_in_pricing_assets": dirty}
