"""Data drift of a stockcode's latest window against its training window, with Evidently 0.7.

Evidently runs locally (no workspace, no service): its ``DataDriftPreset`` tests each column
with the statistical test it picks for the column's type and size, and we read back which
columns drifted. The verdict is ours: the stockcode has drifted when the share of drifted
columns reaches ``share_threshold``; too few rows in either window is a failure with a reason,
never a silent pass.

Only columns that could *stay* stable are tested (``features.DRIFT_COLUMNS``): dates, time
indexes, identifiers and calendar features differ between two time windows by construction.

Each column is scored by effect size, not significance: the normed Wasserstein distance for
numbers and the Jensen-Shannon distance for categories, drifted at ``column_threshold`` (0.2).
p-value tests call every ordinary price change "drift" once the reference holds a few thousand
rows, and Evidently's default distance threshold of 0.1 flags two thirds of the real stockcodes
on unremarkable 28-day windows (measured on the developers' share of the UCI file).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import pandas as pd

from .features import CATEGORICAL_FEATURES, DRIFT_COLUMNS


@dataclass(frozen=True)
class DriftConfig:
    window_days: int = 28
    reference_days: int | None = None  # None: everything before the latest window
    share_threshold: float = 0.5
    column_threshold: float = 0.2
    min_rows: int = 30


@dataclass
class DriftResult:
    passed: bool
    reason: str
    drift_share: float
    drifted_columns: list[str]
    tested_columns: list[str]
    column_scores: dict[str, dict[str, object]] = field(default_factory=dict)
    reference_rows: int = 0
    current_rows: int = 0
    reference_window: tuple[str, str] = ("", "")
    current_window: tuple[str, str] = ("", "")
    config: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def split_windows(features: pd.DataFrame, cfg: DriftConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(reference, current)``: the last ``window_days`` against what came before them."""
    times = features["invoice_date"]
    end = times.max()
    current_start = end - pd.Timedelta(days=cfg.window_days)
    current = features[times > current_start]
    before = features[times <= current_start]
    if cfg.reference_days is not None:
        before = before[before["invoice_date"] > current_start - pd.Timedelta(days=cfg.reference_days)]
    return before, current


def _window(frame: pd.DataFrame) -> tuple[str, str]:
    if frame.empty:
        return ("", "")
    return (str(frame["invoice_date"].min()), str(frame["invoice_date"].max()))


def _is_drifted(method: str, score: float, threshold: float) -> bool:
    """Evidently reports p-values for some tests (drift when small) and distances for others."""
    if math.isnan(score):
        return False
    return score < threshold if "p_value" in method else score >= threshold


def detect_drift(features: pd.DataFrame, cfg: DriftConfig = DriftConfig()) -> tuple[DriftResult, str | None]:
    """Run the drift test; return the result and Evidently's HTML report (None if not run)."""
    reference, current = split_windows(features, cfg)
    columns = [c for c in DRIFT_COLUMNS if c in features.columns]
    base = dict(
        tested_columns=columns,
        reference_rows=len(reference),
        current_rows=len(current),
        reference_window=_window(reference),
        current_window=_window(current),
        config=asdict(cfg),
    )
    if len(reference) < cfg.min_rows or len(current) < cfg.min_rows:
        reason = (
            f"not enough rows to test drift: reference {len(reference)}, current {len(current)}, "
            f"need {cfg.min_rows} in each (lower drift min_rows or widen the windows)"
        )
        return DriftResult(False, reason, math.nan, [], **base), None

    # Evidently pulls in a large stack; import it only where the test runs.
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    categorical = [c for c in columns if c in CATEGORICAL_FEATURES]
    numerical = [c for c in columns if c not in categorical]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    report = Report(
        [
            DataDriftPreset(
                columns=columns,
                drift_share=cfg.share_threshold,
                threshold=cfg.column_threshold,
                num_method="wasserstein",
                cat_method="jensenshannon",
            )
        ]
    )
    snapshot = report.run(
        reference_data=Dataset.from_pandas(reference[columns].reset_index(drop=True), data_definition=definition),
        current_data=Dataset.from_pandas(current[columns].reset_index(drop=True), data_definition=definition),
    )
    scores: dict[str, dict[str, object]] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            method = str(config.get("method", ""))
            threshold = float(config.get("threshold", cfg.column_threshold))
            score = float(metric["value"])
            scores[config["column"]] = {
                "method": method,
                "score": score,
                "threshold": threshold,
                "drifted": _is_drifted(method, score, threshold),
            }
    drifted = sorted(c for c, s in scores.items() if s["drifted"])
    share = len(drifted) / len(columns) if columns else 0.0
    passed = share < cfg.share_threshold
    reason = (
        f"{len(drifted)} of {len(columns)} columns drifted (share {share:.2f}, "
        f"{'below' if passed else 'at or above'} threshold {cfg.share_threshold:.2f})"
    )
    return DriftResult(passed, reason, share, drifted, column_scores=scores, **base), snapshot.get_html_str(
        as_iframe=False
    )
