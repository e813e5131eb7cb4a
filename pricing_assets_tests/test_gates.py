"""The three gate checks as Dagster sees them: severity (ERROR blocks, WARN does not) and the reason in words."""

import numpy as np
import pandas as pd
from dagster import AssetCheckSeverity

from pricing_assets.assets.challenger import candidate_no_worse_than_serving
from pricing_assets.assets.drift import no_feature_drift
from pricing_assets.assets.fairness import fairness_within_threshold
from pricing_assets.core import challenger, fairness


def fairness_dict(guests: int, bias: float) -> dict:
    rows = pd.DataFrame(
        {
            "customer_type": ["registered"] * 60 + ["guest"] * guests,
            "customer_id": [float(i) for i in range(60)] + [np.nan] * guests,
            "invoice_no": [str(i) for i in range(60 + guests)],
        }
    )
    truth = np.full(len(rows), 2.0)
    predicted = truth + np.random.default_rng(0).normal(0, 0.05, len(rows))
    predicted[60:] -= bias
    return fairness.fairness_report(rows, predicted, truth, fairness.FairnessConfig(0.25, 20)).to_dict()


def test_fairness_warns_on_a_small_group_and_blocks_only_a_confident_gap():
    small = fairness_within_threshold(fairness_dict(guests=12, bias=0.0))
    assert not small.passed and small.severity == AssetCheckSeverity.WARN
    assert small.metadata["group_rows"].value == {"registered": 60, "guest": 12}
    assert "guest 12" in small.description and "does not block" in small.description
    biased = fairness_within_threshold(fairness_dict(guests=40, bias=0.6))
    assert not biased.passed and biased.severity == AssetCheckSeverity.ERROR
    assert biased.metadata["blocks_promotion"].value is True and "excess_interval_95" in biased.metadata
    fair = fairness_within_threshold(fairness_dict(guests=40, bias=0.0))
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
    times = pd.DataFrame({"invoice_date": pd.date_range("2011-09-01", periods=40, freq="D")})
    truth = np.full(40, 2.0)
    serving = challenger.ServingScore("v1", "lightgbm", times["invoice_date"][0], truth + 0.2)
    result = challenger.challenge(
        times,
        truth,
        "dfn",
        truth + 0.3,
        {"constant_baseline": truth + 0.5},
        serving,
        challenger.ChallengerConfig(0.02, 20),
    )
    check = candidate_no_worse_than_serving({**result.to_dict(), "data_window": {}})
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert abs(check.metadata["candidate_rmsle"].value - 0.3) < 1e-9
    assert abs(check.metadata["serving_rmsle"].value - 0.2) < 1e-9 and check.metadata["serving_version"].value == "v1"
    assert "worse than serving" in check.description
