"""Does the champion serve registered and guest customers equally well, and how sure are we?

Per group (``customer_type``: the registered price list or the guest one) on the held-out test
split of weekly rows: rows, clusters, MSE on the log1p scale, MAE on units, RMSLE, mean predicted
and mean observed weekly units.

The checked figure, on the declared scale log1p(weekly units):

    excess_outcome_difference = (mean predicted, registered - mean predicted, guest)
                              - (mean observed,  registered - mean observed,  guest)

that is, how much wider (or narrower) the model makes the gap between the groups' predicted
outcomes than the data shows, which equals the difference of the groups' mean residuals. The raw
mean outcome difference is reported too, but not checked on its own: guests of an online
wholesaler really do buy in smaller quantities, and a model that learns so is not unfair.

Honest uncertainty. Rows that share a source of error move together and n of them carry less
than n rows' worth of evidence, so the standard error is clustered, with the usual G/(G-1)
small-sample factor: weekly rows by week (one row per week and list, so each week is its own
cluster within a group); order lines, where a frame of them is judged, by customer (registered
lines by ``customer_id``; a guest checkout is an unknown customer, so guest lines cluster by
invoice). The row-by-row (iid) standard error is reported beside it.

The verdict uses the interval, at a stated confidence (95 %, two-sided; Student's t with one degree
of freedom fewer than the smaller group's clusters, :func:`critical_value`):

- ``within``: the estimate is within ±threshold: passes.
- ``inconclusive``: the estimate is beyond the threshold but the interval reaches back inside
  it; a warning (the check fails with WARN severity and does not block promotion), because the
  data cannot tell this product's bias from sampling noise.
- ``beyond``: the whole interval lies beyond the threshold: the check fails with ERROR severity
  and blocks promotion.
- ``too_few_rows``: a group has fewer test rows than the minimum: no verdict, a warning with the
  counts that does not block (a small guest group is a fact about the product, not evidence of
  bias; blocking on it kept such products from ever being promoted).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from .metrics import regression_metrics, to_quantity

GROUP_COLUMN = "customer_type"
GROUPS = ("registered", "guest")
SCALE = "log1p(weekly units)"
CONFIDENCE = 0.95  # two-sided; the verdict's "with confidence"
VERDICTS = ("within", "inconclusive", "beyond", "too_few_rows")
BLOCKING_VERDICTS = ("beyond",)


@dataclass(frozen=True)
class FairnessConfig:
    """Both values come from settings (PRICING_FAIRNESS_THRESHOLD, PRICING_FAIRNESS_MIN_GROUP_ROWS)."""

    threshold: float
    min_group_rows: int


@dataclass
class FairnessResult:
    groups: dict[str, dict[str, float]]
    mean_outcome_difference: float | None
    observed_outcome_difference: float | None
    excess_outcome_difference: float | None
    excess_standard_error: float | None  # clustered by customer
    threshold: float
    min_group_rows: int
    passed: bool
    reason: str
    verdict: str = "within"
    blocks: bool = False  # True only when the excess is beyond the threshold with confidence
    excess_interval: tuple[float, float] | None = None
    excess_standard_error_iid: float | None = None  # lines treated as independent (understated)
    confidence: float = CONFIDENCE
    scale: str = SCALE
    small_groups: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def customer_clusters(test_rows: pd.DataFrame) -> np.ndarray:
    """One label per row naming its cluster: its week for weekly rows; for order lines the customer id,
    or the guest's invoice."""
    if "week" in test_rows.columns and "customer_id" not in test_rows.columns:
        return ("week:" + test_rows["week"].astype(str)).to_numpy().astype(str)
    missing = [c for c in ("customer_id", "invoice_no") if c not in test_rows.columns]
    if missing:
        raise ValueError(f"fairness needs {missing} to cluster lines by customer")
    ids = test_rows["customer_id"]
    invoices = test_rows["invoice_no"].astype(str)
    return np.where(ids.notna(), "customer:" + ids.astype(str), "guest-invoice:" + invoices).astype(str)


def clustered_variance_of_mean(residuals: np.ndarray, clusters: np.ndarray) -> float:
    """Variance of the mean residual with lines correlated within a cluster (CR1, G/(G-1) factor).

    Infinite with a single cluster: one customer's lines say nothing about sampling noise.
    """
    n = len(residuals)
    deviations = pd.Series(residuals - residuals.mean())
    sums = deviations.groupby(clusters).sum().to_numpy()
    g = len(sums)
    if g < 2:
        return float("inf")
    return float(g / (g - 1) * np.sum(sums**2) / n**2)


def critical_value(clusters: int) -> float:
    """The two-sided critical value at :data:`CONFIDENCE` for a clustered standard error over ``clusters``
    clusters (the smaller group's): Student's t with ``clusters - 1`` degrees of freedom, not the normal's.

    Why: a product's test split has about six weeks, so the weekly rows' standard error rests on six
    clusters a group, and with so few the normal critical value (1.96) gives an interval too narrow, which
    blocks a fair model more often than 5 % of the time; t with G - 1 degrees of freedom is the usual
    correction for a CR1 error with few clusters (Cameron and Miller, "A Practitioner's Guide to
    Cluster-Robust Inference", 2015): 2.57 over six weeks. With the hundreds of customers of order lines
    it is the normal's."""
    if clusters < 2:
        return float("inf")
    return float(student_t.ppf(0.5 + CONFIDENCE / 2, clusters - 1))


def fairness_report(
    test_rows: pd.DataFrame, predicted_log: np.ndarray, y_true_log: np.ndarray, cfg: FairnessConfig
) -> FairnessResult:
    predicted_log = np.clip(np.asarray(predicted_log, dtype=float), 0.0, None)
    y_true_log = np.asarray(y_true_log, dtype=float)
    labels = test_rows[GROUP_COLUMN].astype(str).to_numpy()
    clusters = customer_clusters(test_rows)
    residuals = predicted_log - y_true_log
    groups: dict[str, dict[str, float]] = {}
    for group in GROUPS:
        mask = labels == group
        stats: dict[str, float] = {"rows": int(mask.sum()), "customers": int(len(set(clusters[mask])))}
        if mask.any():
            stats.update(regression_metrics(y_true_log[mask], predicted_log[mask]))
            stats["mean_prediction"] = float(to_quantity(predicted_log[mask]).mean())
            stats["mean_observed"] = float(to_quantity(y_true_log[mask]).mean())
            stats["mean_prediction_log1p"] = float(predicted_log[mask].mean())
            stats["mean_observed_log1p"] = float(y_true_log[mask].mean())
        groups[group] = stats
    small = {g: int(s["rows"]) for g, s in groups.items() if s["rows"] < cfg.min_group_rows}
    if small:
        return FairnessResult(
            groups,
            None,
            None,
            None,
            None,
            cfg.threshold,
            cfg.min_group_rows,
            passed=False,
            reason=(
                f"no verdict (warning, does not block): too few test rows in "
                f"{', '.join(f'{g} {n}' for g, n in small.items())} (need {cfg.min_group_rows} per group); "
                "the bias of a group this small cannot be told from noise"
            ),
            verdict="too_few_rows",
            small_groups=small,
        )
    reg, guest = groups["registered"], groups["guest"]
    predicted_gap = reg["mean_prediction_log1p"] - guest["mean_prediction_log1p"]
    observed_gap = reg["mean_observed_log1p"] - guest["mean_observed_log1p"]
    excess = predicted_gap - observed_gap
    standard_error = float(
        np.sqrt(sum(clustered_variance_of_mean(residuals[labels == g], clusters[labels == g]) for g in GROUPS))
    )
    iid_error = float(np.sqrt(sum(residuals[labels == g].var(ddof=1) / groups[g]["rows"] for g in GROUPS)))
    z = critical_value(min(int(reg["customers"]), int(guest["customers"])))
    interval = (excess - z * standard_error, excess + z * standard_error)
    if abs(excess) <= cfg.threshold:
        verdict = "within"
    elif abs(excess) - z * standard_error > cfg.threshold:
        verdict = "beyond"
    else:
        verdict = "inconclusive"
    words = {
        "within": f"within ±{cfg.threshold}: passes",
        "inconclusive": (
            f"beyond ±{cfg.threshold} but not with {CONFIDENCE:.0%} confidence (the interval reaches back "
            "inside it): a warning, does not block"
        ),
        "beyond": f"beyond ±{cfg.threshold} with {CONFIDENCE:.0%} confidence: blocks promotion",
    }
    reason = (
        f"excess outcome difference {excess:+.3f}, {CONFIDENCE:.0%} interval [{interval[0]:+.3f}, "
        f"{interval[1]:+.3f}] ({SCALE}, standard error {standard_error:.3f} clustered over "
        f"{reg['customers']} registered and {guest['customers']} guest clusters), is "
        f"{words[verdict]} (predicted gap {predicted_gap:+.3f}, observed gap {observed_gap:+.3f})"
    )
    return FairnessResult(
        groups,
        predicted_gap,
        observed_gap,
        excess,
        standard_error,
        cfg.threshold,
        cfg.min_group_rows,
        passed=verdict == "within",
        reason=reason,
        verdict=verdict,
        blocks=verdict in BLOCKING_VERDICTS,
        excess_interval=interval,
        excess_standard_error_iid=iid_error,
    )
