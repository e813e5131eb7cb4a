"""The lineage as plain calls of ``pricing_assets.core``: what the benchmarks compare Dagster against.

Two levels:

- :func:`prepare` and :func:`train_and_evaluate`: clean -> features -> chronological split ->
  preprocessor fit on train -> every trainer on train+validation only -> evaluation. The model
  benchmarks (``model_quality.py``, ``pricing_regret.py``) use these.
- :func:`run_lineage`: one stockcode from raw transactions to a promoted bundle, calling the
  exact core functions the asset bodies in ``pricing_assets/assets/*.py`` call, in the order
  Dagster's plan runs the steps, with the same inputs and the same settings (so the same ML
  budget). It includes the artifact writes the asset bodies make themselves (drift HTML,
  preprocessor JSON, model files, SHAP values and plot, scenario, the bundle), and leaves out
  what the Dagster wiring adds: the IO manager's Parquet/JSON copy of every asset value and its
  reading back, metadata and data-version hashes, the event log, and the upstream versions in
  the manifest (they come from the instance). ``dagster_overhead.py``, ``rows_scaling.py`` and
  ``profiles.py`` use it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from benchlib import log, peak_rss_mib, reset_peak_rss, rss_mib

from pricing_assets.core import (
    bundle,
    cleaning,
    drift,
    evaluation,
    explain,
    fairness,
    features,
    pricing,
    splits,
    stockcodes,
    tuning,
)
from pricing_assets.core.models import BASELINES, TRAINERS, load_model
from pricing_assets.core.sources import load_source
from pricing_assets.core.store import ArtifactStore, frame_to_parquet, sha256_hex
from pricing_assets.settings import Settings

TUNED = tuple(k for k in TRAINERS if k not in BASELINES)

# The steps of stockcode_lineage_job in the order Dagster's in-process executor runs them
# (asset name per model kind from pricing_assets/assets/models.py). dagster_overhead.py checks
# this against the order of a real run.
MODEL_STEPS = {
    "constant_baseline": "constant_baseline",
    "dfn_model": "dfn",
    "elasticity_baseline": "elasticity_baseline",
    "elasticnet_model": "elasticnet",
    "lightgbm_model": "lightgbm",
    "svr_model": "svr",
}
STAGE_ORDER = (
    "cleaned_transactions",
    "demand_features",
    "drift_report",
    "training_splits",
    *MODEL_STEPS,
    "model_evaluation",
    "fairness_report",
    "price_curve",
    "shap_explanations",
    "promoted_model",
)


# --- the model benchmarks' pipeline ---------------------------------------------------------


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
    transactions: pd.DataFrame, stock_code: str, cfg: splits.SplitConfig, test_end: str | None = None
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


# --- the whole lineage, stage by stage ----------------------------------------------------------


def import_lazy_libraries() -> float:
    """Import what the drift and SHAP stages import on first use; returns the seconds it took."""
    t0 = time.perf_counter()
    import evidently.presets  # noqa: F401
    import matplotlib
    import shap  # noqa: F401

    matplotlib.use("Agg")  # as explain.importance_plot does
    import matplotlib.pyplot  # noqa: F401

    return round(time.perf_counter() - t0, 2)


class Stages:
    """Wall time of each stage and, with ``memory``, its peak RSS (VmHWM reset when the stage starts).

    ``peak_rss_mib`` is the process's resident memory at its highest during the stage;
    ``rss_start_mib`` what it held when the stage began (the stage's own growth is the difference).
    """

    def __init__(self, memory: bool = False) -> None:
        self.memory = memory and reset_peak_rss()
        self.timings: dict[str, dict[str, float | None]] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start_rss = rss_mib() if self.memory else None
        if self.memory:
            reset_peak_rss()
        t0 = time.perf_counter()
        yield
        seconds = time.perf_counter() - t0
        entry: dict[str, float | None] = {"seconds": round(seconds, 3)}
        if self.memory:
            entry.update(peak_rss_mib=peak_rss_mib(), rss_start_mib=start_rss)
        self.timings[name] = entry

    @property
    def total_seconds(self) -> float:
        return round(sum(float(t["seconds"]) for t in self.timings.values()), 3)


@dataclass
class SourceTables:
    transactions: pd.DataFrame
    ground_truth: pd.DataFrame | None
    history: pd.DataFrame


def load_raw(settings: Settings, stages: Stages | None = None) -> SourceTables:
    """raw_transactions' core calls: the source and the per-stockcode history."""
    stage = stages or Stages()
    with stage("raw_transactions"):
        data = load_source(settings.source, settings.data, settings.seed, settings.synthetic_products)
        history = stockcodes.stockcode_history(data.transactions)
    return SourceTables(data.transactions, data.ground_truth, history)


@dataclass
class LineageOutcome:
    """What the direct lineage produced: enough to compare with a Dagster run of the same stockcode."""

    stock_code: str
    stages: dict[str, dict[str, float | None]]
    champion: str
    champion_test_rmsle: float
    optimal_price: float
    checks: dict[str, bool]
    promoted_version: str | None
    rows: dict[str, int]


def _design(frame: pd.DataFrame, preprocessor: splits.Preprocessor, names: tuple[str, ...]) -> splits.DesignMatrices:
    return splits.design_matrices(frame, preprocessor, names)


def _train_models(
    training: pd.DataFrame,
    preprocessor_json: bytes,
    settings: Settings,
    store: ArtifactStore,
    stock_code: str,
    stage: Stages,
) -> dict[str, dict[str, Any]]:
    """The six model assets' bodies: each trains on train+validation and writes its files."""
    cards: dict[str, dict[str, Any]] = {}
    for asset_name, kind in MODEL_STEPS.items():
        with stage(asset_name):
            preprocessor = splits.Preprocessor.from_json(preprocessor_json)
            seen = training[training[splits.SPLIT_COLUMN] != "test"]
            data = _design(seen, preprocessor, ("train", "validation"))
            trials = settings.dfn_trials if kind == "dfn" else settings.backup_trials
            extra = {"max_epochs": settings.dfn_max_epochs} if kind == "dfn" else {}
            candidate = TRAINERS[kind](
                data, tuning.TuningBudget(trials, settings.tuning_seconds), settings.seed, lambda _: None, **extra
            )
            files = {}
            for name, blob in sorted(candidate.model.files().items()):
                key = f"artifacts/{asset_name}/{stock_code}/{name}"
                store.put_bytes(key, blob)
                files[name] = {"key": key, "sha256": sha256_hex(blob)}
            cards[kind] = {
                "kind": kind,
                "asset": asset_name,
                "explainer": candidate.model.explainer,
                "files": files,
                "tuning": candidate.tuning,
            }
    return cards


def _load_candidate(store: ArtifactStore, card: dict[str, Any]) -> Any:
    return load_model(card["kind"], {name: store.get_bytes(entry["key"]) for name, entry in card["files"].items()})


def run_lineage(
    source: SourceTables,
    stock_code: str,
    settings: Settings,
    store: ArtifactStore,
    stages: Stages | None = None,
) -> LineageOutcome:
    """One stockcode from the source table to a promoted bundle in ``store``, stage by stage."""
    stage = stages or Stages()
    run_id = uuid.uuid4().hex
    seed = settings.seed

    with stage("cleaned_transactions"):
        cleaned, _report = cleaning.clean_transactions(source.transactions, stock_code)
        if cleaned.empty:
            raise ValueError(f"stockcode {stock_code} has no usable rows after cleaning")
    with stage("demand_features"):
        table = features.build_demand_features(cleaned)
    with stage("drift_report"):
        cfg = drift.DriftConfig(
            settings.drift_window_days,
            settings.drift_reference_days,
            settings.drift_price_ratio_limit,
            settings.drift_order_size_ratio_limit,
            settings.drift_vanished_share,
            settings.drift_demand_ratio_limit,
            settings.drift_min_rows,
            settings.drift_column_threshold,
        )
        drift_result, html = drift.detect_drift(table, cfg)
        if html is not None:
            store.put_bytes(f"reports/drift_report/{stock_code}/{run_id}.html", html.encode())
    with stage("training_splits"):
        split_cfg = splits.SplitConfig(
            settings.split_train_fraction,
            settings.split_validation_fraction,
            settings.split_train_end,
            settings.split_validation_end,
        )
        training = splits.split_chronologically(table, split_cfg)
        preprocessor_json = splits.Preprocessor.fit(training[training[splits.SPLIT_COLUMN] == "train"]).to_json()
        store.put_bytes(f"artifacts/training_splits/{stock_code}/preprocessor.json", preprocessor_json)
    cards = _train_models(training, preprocessor_json, settings, store, stock_code, stage)
    with stage("model_evaluation"):
        models = {kind: _load_candidate(store, cards[kind]) for kind in MODEL_STEPS.values()}
        preprocessor = splits.Preprocessor.from_json(preprocessor_json)
        result = evaluation.evaluate_candidates(models, _design(training, preprocessor, ("validation", "test")))
        report = {**result.to_dict(), "candidates": cards}
    champion = report["champion"]
    with stage("fairness_report"):
        model = _load_candidate(store, cards[champion])
        test_rows = training[training[splits.SPLIT_COLUMN] == "test"]
        data = _design(training, preprocessor, ("test",))
        fair = fairness.fairness_report(
            test_rows,
            model.predict_log(data.x["test"]),
            data.y["test"],
            fairness.FairnessConfig(settings.fairness_threshold, settings.fairness_min_group_rows),
        )
    with stage("price_curve"):
        model = _load_candidate(store, cards[champion])
        scenario = pricing.scenario_rows(table, settings.pricing_recent_days)
        prices = pricing.price_grid(scenario, settings.price_bins)
        curve = pricing.predict_curve(model, preprocessor, scenario, prices, report["residual_quantiles"][champion])
        scenario_bytes = frame_to_parquet(scenario)
        store.put_bytes(f"artifacts/price_curve/{stock_code}/scenario.parquet", scenario_bytes)
        grid = {"recent_days": settings.pricing_recent_days, "bins": settings.price_bins}
        store.put_bytes(f"artifacts/price_curve/{stock_code}/grid.json", json.dumps(grid).encode())
        if source.ground_truth is not None and stock_code in set(source.ground_truth["stock_code"]):
            truth = source.ground_truth.set_index("stock_code").loc[stock_code]
            pricing.revenue_regret(truth["shape"], truth["a"], truth["b"], curve.optimal_price)
    with stage("shap_explanations"):
        model = _load_candidate(store, cards[champion])
        data = _design(training, preprocessor, ("train", "test"))
        explained = explain.explain(
            model,
            data.feature_names,
            data.x["train"],
            data.x["test"],
            settings.shap_background_rows,
            settings.shap_explain_rows,
            seed,
        )
        store.put_bytes(
            f"artifacts/shap_explanations/{stock_code}/shap_values.parquet", frame_to_parquet(explained.values)
        )
        store.put_bytes(
            f"artifacts/shap_explanations/{stock_code}/importance.png",
            explain.importance_plot(explained, f"{stock_code}: SHAP importance of {champion}"),
        )
    checks = {"no_feature_drift": bool(drift_result.passed), "fairness_within_threshold": bool(fair.passed)}
    version = None
    with stage("promoted_model"):
        if not drift_result.blocks and not fair.blocks:  # a warning is recorded, it does not stop promotion
            version = _promote(
                store, stock_code, report, preprocessor_json, scenario_bytes, curve, explained, grid, run_id
            )
    return LineageOutcome(
        stock_code=stock_code,
        stages=stage.timings,
        champion=champion,
        champion_test_rmsle=float(report["metrics"][champion]["test"]["rmsle"]),
        optimal_price=float(curve.optimal_price),
        checks=checks,
        promoted_version=version,
        rows={"cleaned": len(cleaned), "features": len(table)},
    )


def _promote(
    store: ArtifactStore,
    stock_code: str,
    report: dict[str, Any],
    preprocessor_json: bytes,
    scenario_bytes: bytes,
    curve: pricing.PriceCurve,
    explained: explain.Explanation,
    grid: dict[str, int],
    run_id: str,
) -> str:
    """promoted_model's body: the files and manifest of the bundle, written by bundle.write_bundle."""
    champion = report["champion"]
    files: dict[str, bytes] = {}
    models = []
    for kind in [champion, *report["fallback_chain"]]:
        card = report["candidates"][kind]
        _load_candidate(store, card)
        for name, entry in card["files"].items():
            files[f"models/{kind}/{name}"] = store.get_bytes(entry["key"])
        models.append(
            {
                "kind": kind,
                "role": "champion" if kind == champion else "fallback",
                "explainer": card["explainer"],
                "files": sorted(card["files"]),
                "validation": report["metrics"][kind]["validation"],
                "test": report["metrics"][kind]["test"],
                "residual_quantiles": report["residual_quantiles"][kind],
                "tuning": card["tuning"],
            }
        )
    files["preprocessor.json"] = preprocessor_json
    files["scenario.parquet"] = scenario_bytes
    files["price_curve.parquet"] = frame_to_parquet(curve.curve)
    best = curve.curve.loc[curve.curve["sales"].idxmax()]
    manifest = {
        "created_at": time.time(),
        "champion": champion,
        "fallback_chain": report["fallback_chain"],
        "models": models,
        "metric_scale": report["metric_scale"],
        "pricing": {
            "recent_days": grid["recent_days"],
            "bins": grid["bins"],
            "price_min": float(curve.curve["unit_price"].min()),
            "price_max": float(curve.curve["unit_price"].max()),
            "optimal_price": float(best["unit_price"]),
            "interval_quantiles": report["interval_quantiles"],
        },
        "shap_top_features": {k: float(v) for k, v in list(explained.importance.items())[:10]},
        "upstream": {"note": "direct benchmark run: no Dagster instance"},
    }
    pointer = bundle.write_bundle(store, stock_code, files, json.loads(json.dumps(manifest, default=str)), run_id)
    return pointer["version"]
