from dataclasses import dataclass

import numpy as np
import pandas as pd
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


def weekly_rows(d: DesignMatrices, price_factor: float = 1.0) -> pd.DataFrame:
    """The split weekly rows ``d`` came from: two price lists a week, units at the list then in force."""
    frames = []
    start = pd.Timestamp("2011-06-06")
    for split in ("validation", "test"):
        n = len(d.y[split])
        weeks = pd.date_range(start, periods=n // 2, freq="7D")
        start = weeks[-1] + pd.Timedelta(weeks=1)
        frames.append(
            pd.DataFrame(
                {
                    "week": np.repeat(weeks, 2),
                    "customer_type": ["guest", "registered"] * (n // 2),
                    "units": np.expm1(d.y[split]) * price_factor,
                    "price_factor": price_factor,
                    "split": split,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


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
        "recent_mean_baseline": model(d, 0.4, 0.4),
        "seasonal_naive_baseline": model(d, 0.8, 0.8),
    }
    result = evaluate_candidates(models, d, weekly_rows(d))
    assert result.champion == "dfn"
    assert result.fallback_chain == ["elasticnet", "svr", "lightgbm", "recent_mean_baseline", "seasonal_naive_baseline"]
    assert result.metrics["lightgbm"]["test"]["rmsle"] < result.metrics["dfn"]["test"]["rmsle"]
    assert result.beats_baselines["validation"] == {"recent_mean_baseline": True, "seasonal_naive_baseline": True}
    assert result.beats_baselines["test"] == {"recent_mean_baseline": False, "seasonal_naive_baseline": False}
    # The weekly forecast's comparison says the same here: the errors are the same on every row.
    assert result.forecast_beats_baselines == result.beats_baselines


def test_baselines_are_compared_against_not_promoted():
    d = data()
    models = {
        "dfn": model(d, 0.5, 0.5),
        "recent_mean_baseline": model(d, 0.1, 0.1),
        "seasonal_naive_baseline": model(d, 0.2, 0.2),
    }
    result = evaluate_candidates(models, d, weekly_rows(d))
    assert result.champion == "dfn" and result.beats_baselines["validation"]["recent_mean_baseline"] is False
    assert result.fallback_chain == ["recent_mean_baseline", "seasonal_naive_baseline"]
    assert result.forecast_beats_baselines["test"] == {"recent_mean_baseline": False, "seasonal_naive_baseline": False}


def test_a_model_with_non_finite_predictions_is_never_champion():
    d = data()
    broken = RowLookup({10: np.full(10, np.nan), 12: np.full(12, np.nan)})
    models = {"dfn": broken, "lightgbm": model(d, 0.3, 0.3), "seasonal_naive_baseline": model(d, 0.9, 0.9)}
    result = evaluate_candidates(models, d, weekly_rows(d))
    assert result.champion == "lightgbm" and "dfn" not in result.fallback_chain
    assert result.metrics["dfn"]["validation"]["rmsle"] == float("inf")
    assert result.forecast["dfn"]["test"] == {"wape": float("inf"), "rmsle": float("inf"), "weeks": 0}
    assert result.validation_residuals["dfn"] == []


def test_weekly_forecast_scores_and_validation_residuals():
    """Per kind and split: weekly WAPE and RMSLE of units (both lists summed, at the list in force), and the
    validation residuals the forecast smears with (observed minus predicted log1p units, prediction >= 0)."""
    d = data()
    exact, over = model(d, 0.0, 0.0), model(d, np.log(2.0), np.log(2.0))
    result = evaluate_candidates({"dfn": exact, "lightgbm": over}, d, weekly_rows(d))
    assert result.forecast["dfn"]["validation"] == {"wape": pytest.approx(0.0, abs=1e-9), "rmsle": 0.0, "weeks": 5}
    assert result.forecast["dfn"]["test"]["weeks"] == 6
    # Doubling 1 + units: every week's forecast is its units plus the row count (2) plus the units again.
    rows = weekly_rows(d)
    test = rows[rows["split"] == "test"].groupby("week")["units"].sum().to_numpy()
    forecast = test * 2 + 2
    assert result.forecast["lightgbm"]["test"]["wape"] == pytest.approx((forecast - test).sum() / test.sum())
    assert result.forecast["lightgbm"]["test"]["rmsle"] == pytest.approx(
        np.sqrt(np.mean((np.log1p(forecast) - np.log1p(test)) ** 2))
    )
    assert result.validation_residuals["lightgbm"] == pytest.approx(np.full(10, -np.log(2.0)), abs=1e-6)
    assert result.validation_residuals["dfn"] == pytest.approx(np.zeros(10), abs=1e-6)
    assert result.to_dict()["forecast"] is result.forecast


def test_the_forecast_is_scored_at_the_list_that_was_in_force():
    """Rows whose list was above today's sold fewer units (price_factor < 1): the forecast at today's list
    is moved there before it is compared, so an exact model is still exact."""
    d = data()
    result = evaluate_candidates({"dfn": model(d, 0.0, 0.0)}, d, weekly_rows(d, price_factor=0.5))
    assert result.forecast["dfn"]["test"]["wape"] == pytest.approx(0.0, abs=1e-9)


def test_metrics_are_on_the_declared_scale():
    truth = np.log1p(np.array([1.0, 4.0, 9.0]))
    predicted = np.log1p(np.array([2.0, 4.0, 6.0]))
    scores = regression_metrics(truth, predicted)
    assert scores["mae"] == pytest.approx((1 + 0 + 3) / 3)
    assert scores["mse_log1p"] == pytest.approx(np.mean((predicted - truth) ** 2))
    assert scores["rmsle"] == pytest.approx(np.sqrt(scores["mse_log1p"]))
    with pytest.raises(ValueError, match="non-empty"):
        regression_metrics(np.array([]), np.array([]))


def test_the_tuned_models_mean_is_champion_even_when_a_single_model_scores_lower_on_validation():
    """Each tuned model was tuned on validation, so the lowest validation score is not what chooses: the
    mean leads, the single models follow it by validation RMSLE, the baselines last."""
    d = data()
    models = {
        "dfn": model(d, 0.05, 0.6),
        "lightgbm": model(d, 0.2, 0.3),
        "ensemble": model(d, 0.3, 0.2),
        "recent_mean_baseline": model(d, 0.4, 0.4),
        "seasonal_naive_baseline": model(d, 0.5, 0.5),
    }
    result = evaluate_candidates(models, d, weekly_rows(d))
    assert result.champion == "ensemble"
    assert result.fallback_chain == ["dfn", "lightgbm", "recent_mean_baseline", "seasonal_naive_baseline"]
    broken = {**models, "ensemble": model(d, np.nan, 0.2)}
    result = evaluate_candidates(broken, d, weekly_rows(d))
    assert result.champion == "dfn" and "ensemble" not in result.fallback_chain
