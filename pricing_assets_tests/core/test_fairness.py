import numpy as np
import pandas as pd
import pytest

from pricing_assets.core.fairness import FairnessConfig, clustered_variance_of_mean, customer_clusters, fairness_report

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
    assert "does not block" in result.reason and "over 3 registered and 40 guest clusters" in result.reason


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


def weekly(weeks: int) -> pd.DataFrame:
    """Test weeks of a stockcode: one row per week and price list, as weekly_features builds them."""
    days = np.repeat(pd.date_range("2011-09-05", periods=weeks, freq="7D"), 2)
    return pd.DataFrame({"week": days, "customer_type": ["guest", "registered"] * weeks})


def test_weekly_rows_cluster_by_week_and_count_weeks_not_customers():
    test = weekly(8)
    clusters = customer_clusters(test)
    assert len(set(clusters)) == 8 and clusters[0] == clusters[1] == "week:2011-09-05"
    truth = np.tile([np.log1p(40.0), np.log1p(120.0)], 8)  # guests buy less a week
    predicted = truth + np.random.default_rng(4).normal(0, 0.05, 16)
    result = fairness_report(test, predicted, truth, FairnessConfig(threshold=0.25, min_group_rows=4))
    assert result.verdict == "within" and result.passed, result.reason
    assert result.groups["guest"]["rows"] == 8
    assert result.groups["guest"]["customers"] == 8 and result.groups["registered"]["customers"] == 8
    assert result.groups["guest"]["mean_observed"] == pytest.approx(40.0)
    assert "over 8 registered and 8 guest clusters" in result.reason


def test_a_price_list_under_forecast_every_week_blocks():
    test = weekly(10)
    truth = np.full(20, np.log1p(60.0))
    predicted = truth + np.random.default_rng(5).normal(0, 0.05, 20)
    predicted[::2] -= 0.7  # the guest list's weeks, under-forecast
    result = fairness_report(test, predicted, truth, FairnessConfig(threshold=0.25, min_group_rows=4))
    assert result.verdict == "beyond" and result.blocks
    assert result.excess_outcome_difference == pytest.approx(0.7, abs=0.06)


def test_weeks_of_one_list_below_the_minimum_give_no_verdict():
    test = weekly(3)
    truth = np.full(6, 2.0)
    result = fairness_report(test, truth, truth, FairnessConfig(threshold=0.25, min_group_rows=4))
    assert result.verdict == "too_few_rows" and result.small_groups == {"registered": 3, "guest": 3}


def test_six_weeks_are_judged_with_students_t_not_the_normal():
    """Six test weeks, the guest list under-forecast by 0.7 with a standard error of 0.2: the normal's 1.96
    would put the whole interval beyond 0.25 and block; t with 5 degrees of freedom (2.57) reaches back
    inside, so the gap warns (six weeks cannot tell it from noise with 95 % confidence)."""
    test = weekly(6)
    truth = np.full(12, np.log1p(60.0))
    spread = np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])
    spread = spread / spread.std(ddof=1)
    predicted = truth.copy()
    predicted[::2] += -0.7 + 0.2 * np.sqrt(6) * spread  # the guest list's weeks
    result = fairness_report(test, predicted, truth, FairnessConfig(threshold=0.25, min_group_rows=4))
    assert result.excess_outcome_difference == pytest.approx(0.7) and result.excess_standard_error == pytest.approx(0.2)
    assert result.excess_outcome_difference - 1.96 * result.excess_standard_error > 0.25  # the normal would block
    assert result.verdict == "inconclusive" and not result.blocks, result.reason
    assert result.excess_interval[0] == pytest.approx(0.7 - 2.5706 * 0.2, abs=1e-3)
