"""The challenger gate: is the candidate's demand forecast at least as good as what serves now?

The candidate (the champion of this run) and the serving bundle's champion are scored on the
same rows: the newest weekly rows that *neither* of them was fitted or selected on. The candidate
never saw its own test split; the serving bundle never saw anything from its own test split's
first line onwards (``data_window.test_start`` in its manifest). So the window is the
candidate's test rows from the later of the two test starts. Both are scored by RMSLE of a price
list's weekly units, the project's declared metric (``core/metrics.py``).

The candidate passes when its error is no worse than the serving bundle's times
``1 + tolerance`` (``PRICING_CHALLENGER_TOLERANCE``; a little slack so that two equally good
models do not block each other on noise). When there is nothing to compare with (the first
promotion of a stockcode, a serving bundle that cannot score today's features, or fewer than
``min_rows`` rows unseen by both), the candidate passes only if it is no worse than every
baseline (recent mean and seasonal naive) on its test split, by the same rule and tolerance.
Against the baselines the verdict also asks how sure it is, because a first promotion that is
refused leaves the stockcode with no answer at all, and a dozen weekly rows are noisy: the
ratio of the candidate's RMSLE to a baseline's is bootstrapped over the test weeks (seeded), and
the gate blocks only when its 95 % interval lies wholly beyond ``1 + tolerance`` (surely worse).
Worse by the point estimate but not surely fails with WARN severity: promoted, and said so. On the
dev file that told half of the first promotions from noise (BENCHMARKS.md). Against the serving
bundle a failure blocks, and the serving bundle keeps serving.

Why not refit on everything before promotion: the model that would then serve is not the one
the gate measured. The gate certifies exactly the model it promotes; the price is that the
newest weeks (the test split) are not in its training data, which the weekly retrain makes up
for a week later. The test split decides nothing else: the champion (the models' mean, each
tuned on validation) was fixed before this gate runs, and nothing here tunes or stops training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .metrics import SELECTION_METRIC, regression_metrics
from .weekly_features import TIME_COLUMN


@dataclass(frozen=True)
class ChallengerConfig:
    """Both values come from settings (PRICING_CHALLENGER_TOLERANCE, PRICING_CHALLENGER_MIN_ROWS)."""

    tolerance: float
    min_rows: int


@dataclass(frozen=True)
class ServingScore:
    """The serving bundle's champion scored on the candidate's test rows (``None`` predictions: cannot)."""

    version: str
    champion: str
    seen_until: pd.Timestamp  # its test split's first line: nothing from here on shaped it
    predictions: np.ndarray | None
    problem: str = ""  # why it could not score, in words


@dataclass
class ChallengerResult:
    passed: bool
    reason: str
    basis: str  # "serving bundle" or "baselines"
    window_rows: int
    window: tuple[str, str]
    candidate: str
    candidate_rmsle: float
    baseline_rmsle: dict[str, float]
    serving_version: str | None = None
    serving_champion: str | None = None
    serving_rmsle: float | None = None
    tolerance: float = 0.0
    metric: str = SELECTION_METRIC
    notes: list[str] = field(default_factory=list)
    blocking: bool | None = None  # None: every failure blocks (the serving comparison)
    baseline_ratio_interval: dict[str, list[float]] = field(default_factory=dict)  # 95 % of candidate / baseline

    @property
    def blocks(self) -> bool:
        return not self.passed if self.blocking is None else self.blocking

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "blocks": self.blocks}


def _rmsle(y_true_log: np.ndarray, predicted_log: np.ndarray) -> float:
    return float(regression_metrics(y_true_log, predicted_log)[SELECTION_METRIC])


BOOTSTRAP_DRAWS = 400
BOOTSTRAP_SEED = 11


def ratio_interval(times: pd.Series, y: np.ndarray, candidate_log: np.ndarray, baseline_log: np.ndarray) -> list[float]:
    """95 % interval of RMSLE(candidate) / RMSLE(baseline), the weeks resampled with replacement (seeded)."""
    weeks = times.to_numpy()
    labels, index = np.unique(weeks, return_inverse=True)
    cand = (np.clip(candidate_log, 0.0, None) - y) ** 2
    base = (np.clip(baseline_log, 0.0, None) - y) ** 2
    cand_sums = np.bincount(index, cand, len(labels))
    base_sums = np.bincount(index, base, len(labels))
    counts = np.bincount(index, minlength=len(labels)).astype(float)
    picks = np.random.default_rng(BOOTSTRAP_SEED).integers(0, len(labels), (BOOTSTRAP_DRAWS, len(labels)))
    n = counts[picks].sum(axis=1)
    cand_error, base_error = cand_sums[picks].sum(axis=1), base_sums[picks].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.sqrt(cand_error / n) / np.sqrt(base_error / n)
        ratios = np.where(np.isfinite(ratios), ratios, np.inf)  # a baseline exact on those weeks, the candidate not
        ratios[(cand_error == 0) & (base_error == 0)] = 1.0  # both exact: equal, not infinitely worse
        # Interpolating between two infinite draws gives NaN (inf - inf), which no comparison is true of: it let a
        # candidate worse than an exact baseline pass as "not surely worse". Between infinite draws lies infinity.
        bounds = np.quantile(ratios, [0.025, 0.975])
    return [float(b) if not np.isnan(b) else float("inf") for b in bounds]


def _span(times: pd.Series) -> tuple[str, str]:
    return (str(times.min()), str(times.max())) if len(times) else ("", "")


def challenge(
    test_rows: pd.DataFrame,
    y_true_log: np.ndarray,
    candidate: str,
    candidate_log: np.ndarray,
    baselines_log: dict[str, np.ndarray],
    serving: ServingScore | None,
    cfg: ChallengerConfig,
) -> ChallengerResult:
    """Compare on the candidate's test rows; every prediction array is aligned with ``test_rows``."""
    times = test_rows[TIME_COLUMN].reset_index(drop=True)
    y = np.asarray(y_true_log, dtype=float)
    notes: list[str] = []
    if serving is not None and serving.predictions is not None:
        unseen = (times >= serving.seen_until).to_numpy()
        if unseen.sum() >= cfg.min_rows:
            cand = _rmsle(y[unseen], candidate_log[unseen])
            serv = _rmsle(y[unseen], serving.predictions[unseen])
            base = {k: _rmsle(y[unseen], p[unseen]) for k, p in baselines_log.items()}
            limit = serv * (1 + cfg.tolerance)
            passed = cand <= limit
            reason = (
                f"candidate {candidate} RMSLE {cand:.4f} vs serving {serving.champion} ({serving.version}) "
                f"{serv:.4f} on {int(unseen.sum())} weekly rows neither was trained or selected on "
                f"({_span(times[unseen])[0][:10]} to {_span(times[unseen])[1][:10]}): "
                + (
                    f"no worse than serving within {cfg.tolerance:.0%}, promotes"
                    if passed
                    else f"worse than serving by more than {cfg.tolerance:.0%}, blocks; the serving bundle stays"
                )
            )
            return ChallengerResult(
                passed,
                reason,
                "serving bundle",
                int(unseen.sum()),
                _span(times[unseen]),
                candidate,
                cand,
                base,
                serving.version,
                serving.champion,
                serv,
                cfg.tolerance,
            )
        notes.append(
            f"only {int(unseen.sum())} test rows are newer than what serving bundle {serving.version} saw "
            f"(need {cfg.min_rows}); judged against the baselines instead"
        )
    elif serving is not None:
        notes.append(f"serving bundle {serving.version} cannot be scored: {serving.problem}")
    else:
        notes.append("no bundle serves this stockcode yet (first promotion)")
    cand = _rmsle(y, candidate_log)
    base = {k: _rmsle(y, p) for k, p in baselines_log.items()}
    beaten = {k: cand <= v * (1 + cfg.tolerance) for k, v in base.items() if k != candidate}
    intervals = {k: ratio_interval(times, y, candidate_log, p) for k, p in baselines_log.items() if k != candidate}
    surely_worse = [k for k, ok in beaten.items() if not ok and intervals[k][0] > 1 + cfg.tolerance]
    passed = bool(beaten) and all(beaten.values()) and candidate not in baselines_log
    blocking = candidate in baselines_log or not beaten or bool(surely_worse)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in base.items())

    def against(k: str) -> str:
        """The baseline and how much worse the candidate is; a ratio to an error of (nearly) 0 says nothing."""
        if base[k] < 1e-6:  # nothing sold in the test weeks and the baseline said so: any error is infinitely worse
            return f"{k} (which forecast every test week exactly)"
        return f"{k} (RMSLE ratio 95 % {intervals[k][0]:.2f} to {intervals[k][1]:.2f})"

    if passed:
        verdict = f"is no worse than every baseline within {cfg.tolerance:.0%}, promotes"
    elif candidate in baselines_log:
        verdict = "is itself a baseline (every tuned model failed), blocks"
    elif surely_worse:
        worse = ", ".join(against(k) for k in surely_worse)
        verdict = f"is surely worse than {worse} by more than {cfg.tolerance:.0%}, blocks"
    else:
        worse = ", ".join(against(k) for k, ok in beaten.items() if not ok)
        verdict = (
            f"is worse than {worse} by more than {cfg.tolerance:.0%}, but not surely over these weeks: "
            "a warning, promotes"
        )
    reason = (
        f"{notes[-1]}: candidate {candidate} RMSLE {cand:.4f} on its {len(y)} test rows vs baselines "
        f"({shown}) {verdict}"
    )
    return ChallengerResult(
        passed,
        reason,
        "baselines",
        len(y),
        _span(times),
        candidate,
        cand,
        base,
        serving.version if serving else None,
        serving.champion if serving else None,
        None,
        cfg.tolerance,
        notes=notes,
        blocking=blocking,
        baseline_ratio_interval=intervals,
    )
