"""The three gate checks as Dagster sees them: severity (ERROR blocks, WARN does not) and the reason in words."""

import numpy as np
import pandas as pd
from dagster import AssetCheckSeverity

from pricing_assets.assets.challenger import candidate_no_worse_than_serving
from pricing_assets.assets.drift import no_feature_drift
from pricing_assets.assets.fairness import fairness_within_threshold
from pricing_assets.core import challenger, fairness


def fairness_dict(guest_weeks: int, bias: float) -> dict:
    """Test weekly rows: 20 weeks of the registered list, the guest list in its last ``guest_weeks`` weeks."""
    weeks = pd.date_range("2011-06-06", periods=20, freq="W-MON")
    rows = pd.DataFrame(
        {
            "week": [*weeks, *weeks[20 - guest_weeks :]],
            "customer_type": ["registered"] * 20 + ["guest"] * guest_weeks,
        }
    )
    truth = np.full(len(rows), 2.0)
    predicted = truth + np.random.default_rng(0).normal(0, 0.05, len(rows))
    predicted[20:] -= bias
    return fairness.fairness_report(rows, predicted, truth, fairness.FairnessConfig(0.25, 4)).to_dict()


def test_fairness_warns_on_a_small_group_and_blocks_only_a_confident_gap():
    small = fairness_within_threshold(fairness_dict(guest_weeks=3, bias=0.0))
    assert not small.passed and small.severity == AssetCheckSeverity.WARN
    assert small.metadata["group_rows"].value == {"registered": 20, "guest": 3}
    assert "guest 3" in small.description and "does not block" in small.description
    biased = fairness_within_threshold(fairness_dict(guest_weeks=16, bias=0.6))
    assert not biased.passed and biased.severity == AssetCheckSeverity.ERROR
    assert biased.metadata["blocks_promotion"].value is True and "excess_interval_95" in biased.metadata
    fair = fairness_within_threshold(fairness_dict(guest_weeks=16, bias=0.0))
    assert fair.passed


def drift_dict(blocks: bool, warns: bool) -> dict:
    return {
        "passed": not blocks and not warns,
        "blocks": blocks,
        "reason": "blocks promotion, the feed looks broken: list price" if blocks else "warning, does not block",
        "blocking_failures": ["list_price"] if blocks else [],
        "warnings": ["demand_per_week"] if warns else [],
        "reference_kind": "same weeks a year earlier",
    }


def test_drift_blocks_a_broken_feed_and_warns_on_demand():
    broken = no_feature_drift(drift_dict(blocks=True, warns=False))
    assert broken.severity == AssetCheckSeverity.ERROR and not broken.passed and "list price" in broken.description
    demand = no_feature_drift(drift_dict(blocks=False, warns=True))
    assert demand.severity == AssetCheckSeverity.WARN and not demand.passed
    assert demand.metadata["warnings"].value == ["demand_per_week"]
    assert no_feature_drift(drift_dict(blocks=False, warns=False)).passed


def test_the_challenger_check_shows_both_errors_and_blocks_when_worse():
    """On the test weeks (two rows a week, one per price list) that serving never saw."""
    weeks = pd.date_range("2011-09-05", periods=10, freq="W-MON")
    rows = pd.DataFrame({"week": weeks.repeat(2), "customer_type": ["registered", "guest"] * 10})
    truth = np.full(20, 2.0)
    serving = challenger.ServingScore("v1", "lightgbm", weeks[0], truth + 0.2)
    result = challenger.challenge(
        rows,
        truth,
        "dfn",
        truth + 0.3,
        {"recent_mean_baseline": truth + 0.5, "seasonal_naive_baseline": truth + 0.4},
        serving,
        challenger.ChallengerConfig(0.02, 8),
    )
    check = candidate_no_worse_than_serving({**result.to_dict(), "data_window": {}})
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert abs(check.metadata["candidate_rmsle"].value - 0.3) < 1e-9
    assert abs(check.metadata["serving_rmsle"].value - 0.2) < 1e-9 and check.metadata["serving_version"].value == "v1"
    assert "worse than serving" in check.description and "20 weekly rows" in check.description
    # Serving saw all but the last 3 weeks (6 rows, fewer than 8): judged against the baselines instead.
    newer = challenger.ServingScore("v2", "lightgbm", weeks[7], truth + 0.2)
    result = challenger.challenge(
        rows,
        truth,
        "dfn",
        truth + 0.3,
        {"recent_mean_baseline": truth + 0.5, "seasonal_naive_baseline": truth + 0.4},
        newer,
        challenger.ChallengerConfig(0.02, 8),
    )
    check = candidate_no_worse_than_serving({**result.to_dict(), "data_window": {}})
    assert check.passed and result.basis == "baselines" and "only 6 test rows" in " ".join(result.notes)
