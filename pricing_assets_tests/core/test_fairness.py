import numpy as np
import pandas as pd
import pytest

from pricing_assets.core.fairness import FairnessConfig, fairness_report


def rows(registered: int, guest: int) -> pd.DataFrame:
    return pd.DataFrame({"customer_type": ["registered"] * registered + ["guest"] * guest})


def test_a_model_that_tracks_both_groups_passes_and_reports_per_group_metrics():
    test = rows(60, 40)
    truth = np.r_[np.full(60, np.log1p(12.0)), np.full(40, np.log1p(3.0))]  # guests really buy less
    predicted = truth + np.random.default_rng(0).normal(0, 0.05, len(truth))
    result = fairness_report(test, predicted, truth, FairnessConfig(threshold=0.25, min_group_rows=20))
    assert result.passed, result.reason
    assert result.mean_outcome_difference == pytest.approx(np.log1p(12) - np.log1p(3), abs=0.05)
    assert abs(result.excess_outcome_difference) < 0.05
    assert 0 < result.excess_standard_error < 0.05  # residual spread 0.05 over 40-60 rows per group
    for group in ("registered", "guest"):
        assert {"rows", "mse_log1p", "mae", "rmsle", "mean_prediction"} <= set(result.groups[group])
    assert result.groups["guest"]["rows"] == 40


def test_a_model_biased_against_one_group_fails():
    test = rows(60, 40)
    truth = np.full(100, np.log1p(6.0))
    predicted = truth.copy()
    predicted[60:] -= 0.6  # guests under-predicted
    result = fairness_report(test, predicted, truth, FairnessConfig(threshold=0.5, min_group_rows=20))
    assert not result.passed
    assert result.excess_outcome_difference == pytest.approx(0.6)
    assert "beyond" in result.reason


@pytest.mark.parametrize("guests", [0, 5])
def test_a_small_or_empty_group_gets_no_verdict(guests):
    test = rows(80, guests)
    truth = np.full(len(test), 2.0)
    result = fairness_report(test, truth, truth, FairnessConfig(threshold=0.25, min_group_rows=20))
    assert not result.passed and result.excess_outcome_difference is None
    assert "no verdict" in result.reason and "guest" in result.reason


def test_default_threshold_is_declared_on_the_log1p_scale():
    assert FairnessConfig().threshold == 0.5 and FairnessConfig().min_group_rows == 20
