"""Linear models: the recent-mean and seasonal-naive baselines, and tuned ElasticNet.

The baselines are the forecasts a merchandiser would make by hand, there for honest comparison:
a model that cannot beat "the mean of the last four weeks" or "the same week last year (last
week where the history is shorter)" is not worth promoting. Each is a one-feature linear model
that gives back that feature's raw value (the preprocessor's scaling undone), so it is stored,
loaded, explained and served like any other linear model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import ElasticNet

from ..splits import DesignMatrices
from ..tuning import ProgressFn, TuningBudget, tune
from ..weekly_features import CATALOGUE_LEVEL_FEATURE, RECENT_MEAN_FEATURE, SEASONAL_NAIVE_FEATURE
from .base import Candidate, validation_mse

RECENT_MEAN_KIND = "recent_mean_baseline"
CATALOGUE_LEVEL_KIND = "catalogue_level"


@dataclass
class ConstantModel:
    """Predicts one value for every row (the baseline of bundles promoted before the weekly models)."""

    value: float
    kind: str = "constant_baseline"
    explainer: str = "none"

    def predict_log(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), self.value, dtype=float)

    def files(self) -> dict[str, bytes]:
        return {"model.json": json.dumps({"kind": self.kind, "value": self.value}).encode()}


@dataclass
class LinearModel:
    """``x @ coef + intercept`` on the preprocessed matrix."""

    coef: list[float]
    intercept: float
    kind: str
    explainer: str = "linear"

    def predict_log(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=float) @ np.asarray(self.coef, dtype=float) + self.intercept

    def payload(self) -> dict[str, Any]:
        """The model as JSON-ready data (what ``from_payload`` reads back)."""
        return {"kind": self.kind, "coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> LinearModel:
        return cls([float(c) for c in payload["coef"]], float(payload["intercept"]), str(payload["kind"]))

    def files(self) -> dict[str, bytes]:
        return {"model.json": json.dumps(self.payload()).encode()}


def load_json_model(files: dict[str, bytes]) -> ConstantModel | LinearModel:
    payload = json.loads(files["model.json"])
    if payload["kind"] == "constant_baseline":
        return ConstantModel(float(payload["value"]))
    return LinearModel.from_payload(payload)


def feature_baseline(data: DesignMatrices, feature: str, kind: str) -> LinearModel:
    """The raw value of ``feature`` as the forecast: its scaled column times the scale, plus the mean."""
    column = data.feature_names.index(feature)
    mean, scale = data.scaling[feature]
    coef = [0.0] * len(data.feature_names)
    coef[column] = float(scale)
    return LinearModel(coef, float(mean), kind)


def _baseline_candidate(data: DesignMatrices, feature: str, kind: str) -> Candidate:
    model = feature_baseline(data, feature, kind)
    return Candidate(model, {"best_params": {}, "best_validation_mse_log1p": validation_mse(model, data)})


def train_recent_mean(
    data: DesignMatrices, budget: TuningBudget, seed: int, progress: ProgressFn | None = None
) -> Candidate:
    """Baseline: log1p of the mean units of the four weeks before (at the reference list price)."""
    return _baseline_candidate(data, RECENT_MEAN_FEATURE, RECENT_MEAN_KIND)


def train_seasonal_naive(
    data: DesignMatrices, budget: TuningBudget, seed: int, progress: ProgressFn | None = None
) -> Candidate:
    """Baseline: the units of the same week a year before, or of last week when the history is shorter."""
    return _baseline_candidate(data, SEASONAL_NAIVE_FEATURE, "seasonal_naive_baseline")


def train_catalogue_level(
    data: DesignMatrices, budget: TuningBudget, seed: int, progress: ProgressFn | None = None
) -> Candidate:
    """The catalogue-level forecast: the product's mean units of the 26 weeks before, each week divided by the
    catalogue's demand index, times the index's last week (``weekly_features``, ``core/demand_index.py``).

    Why: a product's own weeks are too few and too lumpy to estimate its level, and the recent mean lags the
    season while a longer mean ignores it; with the shop-wide movement taken out, 26 weeks can be averaged
    without lagging it. Nothing is fit (like the baselines), so no validation week flatters it; it is a member
    of the champion's mean (``models/ensemble.py``), where it lifted the codes whose forecast beats both
    baselines on the store from 27 to 50 of 100 (BENCHMARKS.md, "Weekly forecast accuracy")."""
    return _baseline_candidate(data, CATALOGUE_LEVEL_FEATURE, CATALOGUE_LEVEL_KIND)


# Coordinate descent passes per fit. At 5000, small alphas on the real file's correlated features
# stopped short (2 of 15 random trials on 22423 and on 21212); at 20000 all converged, for about
# 0.05 s more per fit. Fits that still stop short are counted by tune() and reported per study.
ELASTICNET_MAX_ITER = 20_000


def train_elasticnet(
    data: DesignMatrices, budget: TuningBudget, seed: int, progress: ProgressFn | None = None
) -> Candidate:
    def objective(trial):
        alpha = trial.suggest_float("alpha", 1e-4, 1.0, log=True)
        l1_ratio = trial.suggest_float("l1_ratio", 0.0, 1.0)
        fitted = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, max_iter=ELASTICNET_MAX_ITER, random_state=seed)
        fitted.fit(data.x["train"].astype(float), data.y["train"].astype(float))
        model = LinearModel([float(c) for c in fitted.coef_], float(fitted.intercept_), "elasticnet")
        return validation_mse(model, data), model

    result = tune("elasticnet", objective, budget, seed, progress)
    return Candidate(result.best_model, result.summary())
