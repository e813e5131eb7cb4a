import numpy as np
import pandas as pd
import pytest

from pricing_assets.core.fairness import FairnessConfig, clustered_variance_of_mean, fairness_report

CFG = FairnessConfig(threshold=0.25, min_group_rows=20)


def rows(registered: int, guest: int, customers: int | None = None) -> pd.DataFrame:
    """Test lines: registered ones from ``customers`` customers (default: one each), guests by invoice."""
    customers = customers or registered
    ids = [float(1000 + i % customers) for i in range(registered)] + [np.nan] * guest
    return pd.DataFrame(
        {
            "customer_type": ["registered"] * registered + ["guest"] * guest,
            "customer_id": ids,
            "invoice_no": [str(500000 + i) for i in range(registered + guest)],
        }
    )


def test_a_model_that_tracks_both_groups_passes_and_reports_per_group_metrics():
    test = rows(60, 40)
    truth = np.r_[np.full(60, np.log1p(12.0)), np.full(40, np.log1p(3.0))]  # guests really buy less
    predicted = truth + np.random.default_rng(0).normal(0, 0.05, len(truth))
    result = fairness_report(test, predicted, truth, CFG)
    assert result.passed and result.verdict == "within" and not result.blocks, result.reason
    assert result.mean_outcome_difference == pytest.approx(np.log1p(12) - np.log1p(3), abs=0.05)
    assert abs(result.excess_outcome_difference) < 0.05
    assert 0 < result.excess_standard_error < 0.05  # residual spread 0.05 over 40-60 rows per group
    for group in ("registered", "guest"):
        assert {"rows", "customers", "mse_log1p", "mae", "rmsle", "mean_prediction"} <= set(result.groups[group])
    assert result.groups["guest"]["rows"] == 40 and result.groups["guest"]["customers"] == 40


def test_a_model_biased_against_one_group_with_confidence_blocks():
    test = rows(60, 40)
    truth = np.full(100, np.log1p(6.0))
    predicted = truth + np.random.default_rng(1).normal(0, 0.1, 100)
    predicted[60:] -= 0.6  # guests under-predicted
    result = fairness_report(test, predicted, truth, CFG)
    assert not result.passed and result.blocks and result.verdict == "beyond"
    assert result.excess_outcome_difference == pytest.approx(0.6, abs=0.06)
    low, high = result.excess_interval
    assert CFG.threshold < low < result.excess_outcome_difference < high
    assert "with 95% confidence: blocks" in result.reason


def test_reordering_customers_widen_the_interval_so_a_noisy_gap_warns_instead_of_blocking():
    """Three registered customers, 20 lines each, each with its own habit: 60 lines, 3 customers' evidence.

    Treated as independent lines the gap (0.45 against a 0.25 threshold) looks certain; clustered
    by customer it is not, so the check warns and does not block.
    """
    test = rows(60, 40, customers=3)
    truth = np.full(100, np.log1p(6.0))
    habit = np.array([0.3, 0.0, -0.3])[np.arange(60) % 3]
    predicted = truth.copy()
    predicted[:60] += 0.45 + habit + np.random.default_rng(2).normal(0, 0.01, 60)
    result = fairness_report(test, predicted, truth, CFG)
    assert result.excess_outcome_difference == pytest.approx(0.45, abs=0.01)
    assert result.excess_standard_error > 3 * result.excess_standard_error_iid
    # The iid interval would have excluded the threshold; the clustered one does not.
    assert result.excess_outcome_difference - 1.96 * result.excess_standard_error_iid > CFG.threshold
    assert result.verdict == "inconclusive" and not result.passed and not result.blocks, result.reason
    assert "does not block" in result.reason and "3 registered customers" in result.reason


@pytest.mark.parametrize("guests", [0, 5])
def test_a_small_or_empty_group_warns_with_the_count_and_does_not_block(guests):
    test = rows(80, guests)
    truth = np.full(len(test), 2.0)
    result = fairness_report(test, truth, truth, CFG)
    assert not result.passed and not result.blocks and result.verdict == "too_few_rows"
    assert result.excess_outcome_difference is None and result.small_groups == {"guest": guests}
    assert "no verdict" in result.reason and f"guest {guests}" in result.reason and "does not block" in result.reason


def test_clustered_variance_equals_the_iid_one_when_every_line_is_its_own_customer():
    residuals = np.random.default_rng(3).normal(0, 1, 50)
    iid = residuals.var(ddof=1) / len(residuals)
    assert clustered_variance_of_mean(residuals, np.arange(50).astype(str)) == pytest.approx(iid)
    assert clustered_variance_of_mean(residuals, np.zeros(50).astype(str)) == float("inf")
