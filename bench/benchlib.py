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


CUSTOMER_FEATURES = {
    "basic": (
        "customer_seen_before_all",
        "customer_past_mean_log_quantity_all",
        "customer_seen_before_code",
        "customer_past_mean_log_quantity_code",
    ),
}
CUSTOMER_FEATURES["full"] = CUSTOMER_FEATURES["basic"] + (
    "customer_past_lines_capped_all",
    "customer_last_log_quantity_all",
    "customer_past_lines_capped_code",
    "customer_last_log_quantity_code",
)
LINES_CAP = 10.0


def customer_history(transactions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """EXPERIMENT ONLY (not a product feature): each customer's earlier buying, strictly before ``t``.

    From usable sale lines of every product (not a cancellation, positive quantity and price),
    per customer and timestamp: whether the customer bought before, and the mean log1p(quantity)
    of those earlier lines, over all products and for each product; the ``full`` set adds the
    log1p(quantity) of the customer's most recent earlier timestamp and the count of earlier
    lines capped at 10 (uncapped, a count only grows with time, so test rows would sit outside
    the train range). Lines of the same timestamp
    (the same invoice) are not counted, so nothing is known before it happened.
    Returns ``(by customer and time, by customer, stockcode and time)``.
    """
    t = transactions
    usable = (
        cleaning.is_product_code(t["stock_code"])
        & ~t["invoice_no"].str.match(r"^[CA]").fillna(False).astype(bool)
        & (t["quantity"] > 0)
        & (t["unit_price"] > 0)
        & t["customer_id"].notna()
    )
    sales = t.loc[usable, ["customer_id", "stock_code", "invoice_date"]].copy()
    sales["log_q"] = np.log1p(t.loc[usable, "quantity"].astype(float))
    sales["stock_code"] = sales["stock_code"].astype(str)

    def past(keys: list[str], suffix: str) -> pd.DataFrame:
        per_ts = sales.groupby([*keys, "invoice_date"], sort=True)["log_q"].agg(["sum", "size"]).reset_index()
        grouped = per_ts.groupby(keys, sort=False)
        lines = grouped["size"].cumsum() - per_ts["size"]
        total = grouped["sum"].cumsum() - per_ts["sum"]
        per_ts[f"customer_seen_before_{suffix}"] = (lines > 0).astype(float)
        per_ts[f"customer_past_lines_capped_{suffix}"] = np.minimum(lines, LINES_CAP) / LINES_CAP
        per_ts[f"customer_last_log_quantity_{suffix}"] = grouped["sum"].shift(1) / grouped["size"].shift(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_ts[f"customer_past_mean_log_quantity_{suffix}"] = np.where(lines > 0, total / lines, np.nan)
        return per_ts.drop(columns=["sum", "size"])

    return past(["customer_id"], "all"), past(["customer_id", "stock_code"], "code")


def add_customer_features(feats: pd.DataFrame, history: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """Join :func:`customer_history` onto feature rows; guests and first-time buyers get the prior.

    The prior for a missing mean is the row's own ``past_mean_log_quantity_28d`` (the product's
    recent level, already a past-only feature), and "not seen before".
    """
    by_all, by_code = history
    out = feats.merge(by_all, on=["customer_id", "invoice_date"], how="left")
    out = out.merge(by_code, on=["customer_id", "stock_code", "invoice_date"], how="left")
    for suffix in ("all", "code"):
        out[f"customer_seen_before_{suffix}"] = out[f"customer_seen_before_{suffix}"].fillna(0.0)
        out[f"customer_past_lines_capped_{suffix}"] = out[f"customer_past_lines_capped_{suffix}"].fillna(0.0)
        for name in (f"customer_past_mean_log_quantity_{suffix}", f"customer_last_log_quantity_{suffix}"):
            out[name] = out[name].fillna(out["past_mean_log_quantity_28d"])
    assert len(out) == len(feats)
    return out


def fit_preprocessor(train: pd.DataFrame, extra_numeric: tuple[str, ...] = ()) -> splits.Preprocessor:
    """``Preprocessor.fit`` with extra numeric columns appended (same scaling rule)."""
    base = splits.Preprocessor.fit(train)
    if not extra_numeric:
        return base
    values = train[list(extra_numeric)].to_numpy(dtype=float)
    scales = values.std(axis=0)
    return splits.Preprocessor(
        base.numeric + list(extra_numeric),
        base.categorical,
        base.means + values.mean(axis=0).tolist(),
        base.scales + np.where(scales > 1e-12, scales, 1.0).tolist(),
        base.categories,
        base.fitted_rows,
    )


def prepare(
    transactions: pd.DataFrame,
    stock_code: str,
    cfg: splits.SplitConfig,
    test_end: str | None = None,
    customer: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    customer_set: str = "basic",
) -> Prepared:
    cleaned, report = cleaning.clean_transactions(transactions, stock_code)
    feats = features.build_demand_features(cleaned)
    if customer is not None:
        feats = add_customer_features(feats, customer)
    rows = feats
    if test_end is not None:  # features only look back, so dropping later rows changes nothing before
        rows = feats[feats["invoice_date"] < pd.Timestamp(test_end) + pd.Timedelta(days=1)]
    frame = splits.split_chronologically(rows, cfg)
    extra = CUSTOMER_FEATURES[customer_set] if customer is not None else ()
    preprocessor = fit_preprocessor(frame[frame[splits.SPLIT_COLUMN] == "train"], extra)
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
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    dirty = [line[3:] for line in git("status", "--porcelain", "pricing_assets").splitlines() if line.strip()]
    return {"commit": git("rev-parse", "HEAD").strip(), "uncommitted_in_pricing_assets": dirty}


def code_record(at_start: dict[str, Any]) -> dict[str, Any]:
    """Code state at the start and end of a run: other people commit while benchmarks run."""
    at_end = code_state()
    return {**at_start, "at_end": at_end, "changed_during_run": at_end != at_start}
