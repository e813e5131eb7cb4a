from dataclasses import dataclass

import numpy as np
import pytest

from pricing_assets.core.evaluation import evaluate_candidates
from pricing_assets.core.metrics import regression_metrics
from pricing_assets.core.splits import DesignMatrices


@dataclass
class RowLookup:
    """A fake model whose predictions per split are fixed, to steer validation and test scores apart."""

    by_split: dict
    kind: str = "fake"
    explainer: str = "none"

    def predict_log(self, x):
        return self.by_split[len(x)]


def data(n_val=10, n_test=12):
    rng = np.random.default_rng(0)
    return DesignMatrices(
        ["f"],
        {"validation": np.zeros((n_val, 1)), "test": np.zeros((n_test, 1))},
        {"validation": rng.uniform(1, 3, n_val), "test": rng.uniform(1, 3, n_test)},
    )


def model(d, val_error, test_error):
    return RowLookup(
        {len(d.y["validation"]): d.y["validation"] + val_error, len(d.y["test"]): d.y["test"] + test_error}
    )


def test_champion_is_chosen_on_validation_even_when_test_disagrees():
    d = data()
    models = {
        "dfn": model(d, 0.1, 0.9),  # best on validation, worst on test
        "lightgbm": model(d, 0.3, 0.05),  # best on test
        "elasticnet": model(d, 0.2, 0.5),
        "svr": model(d, 0.25, 0.5),
        "elasticity_baseline": model(d, 0.4, 0.4),
        "constant_baseline": model(d, 0.8, 0.8),
    }
    result = evaluate_candidates(models, d)
    assert result.champion == "dfn"
    assert result.fallback_chain == ["elasticnet", "svr", "lightgbm", "elasticity_baseline", "constant_baseline"]
    assert result.metrics["lightgbm"]["test"]["rmsle"] < result.metrics["dfn"]["test"]["rmsle"]
    assert result.beats_baselines["validation"] == {"elasticity_baseline": True, "constant_baseline": True}
    assert result.beats_baselines["test"] == {"elasticity_baseline": False, "constant_baseline": False}


def test_baselines_are_compared_against_not_promoted():
    d = data()
    models = {
        "dfn": model(d, 0.5, 0.5),
        "elasticity_baseline": model(d, 0.1, 0.1),
        "constant_baseline": model(d, 0.2, 0.2),
    }
    result = evaluate_candidates(models, d)
    assert result.champion == "dfn" and result.beats_baselines["validation"]["elasticity_baseline"] is False
    assert result.fallback_chain == ["elasticity_baseline", "constant_baseline"]


def test_a_model_with_non_finite_predictions_is_never_champion():
    d = data()
    broken = RowLookup({10: np.full(10, np.nan), 12: np.full(12, np.nan)})
    models = {"dfn": broken, "lightgbm": model(d, 0.3, 0.3), "constant_baseline": model(d, 0.9, 0.9)}
    result = evaluate_candidates(models, d)
    assert result.champion == "lightgbm" and "dfn" not in result.fallback_chain
    assert result.metrics["dfn"]["validation"]["rmsle"] == float("inf")


def test_metrics_are_on_the_declared_scale():
    truth = np.log1p(np.array([1.0, 4.0, 9.0]))
    predicted = np.log1p(np.array([2.0, 4.0, 6.0]))
    scores = regression_metrics(truth, predicted)
    assert scores["mae"] == pytest.approx((1 + 0 + 3) / 3)
    assert scores["mse_log1p"] == pytest.approx(np.mean((predicted - truth) ** 2))
    assert scores["rmsle"] == pytest.approx(np.sqrt(scores["mse_log1p"]))
    with pytest.raises(ValueError, match="non-empty"):
        regression_metrics(np.array([]), np.array([]))
