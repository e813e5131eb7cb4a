"""Every tuned model's forecast, averaged with the four-week mean's: what a tuned candidate forecasts.

Why: over more weeks than the product's six test weeks, a tuned model alone was no better than
the mean of the last four weeks. On a rolling origin (four origins, about 21 test weeks a code)
the champion beat both baselines on 41 of the dev file's 100 most active codes and on 21 of the
store's 100; its errors and the four-week mean's are far from the same, so their average beats
both baselines on more codes than the model alone (a forecast combination). Each tuned model, once tuned
on its own, forecasts the equal-weight average of its ``log1p`` units and the four-week mean's
(BENCHMARKS.md, "Weekly forecast accuracy", has the figures).

- **In log1p units** (a geometric mean of ``1 + units``), so the average is linear in the two
  parts' outputs: its SHAP values are the same average of each part's (Shapley values are linear
  in the model), so averaging adds no approximation of its own to each part's explainer
  (``core/explain.py``). The price still enters only through the price response
  (``weekly_features``), so demand stays non-increasing in the own list price whatever the champion.
- **Equal weights, fixed**: weights chosen on the six validation weeks did worse than equal
  weights on the test weeks (the forecast-combination puzzle); there is nothing to tune.
- **Stored beside the model's own files** (``recent_mean_average.json``: the model's weight and
  the four-week mean's linear form), so a bundle promoted before this loads as the model alone.
- **What the baselines gate**: a candidate is half the four-week mean, so it is judged against the
  four-week mean alone (the first-promotion challenger, ``forecast_beats_baselines``) as a
  combination against one of its parts; it is surely worse less often than a model alone was.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np

from ..splits import DesignMatrices
from ..tuning import ProgressFn, TuningBudget
from ..weekly_features import RECENT_MEAN_FEATURE
from .base import Candidate, DemandModel, Trainer, validation_mse
from .linear import RECENT_MEAN_KIND, LinearModel, feature_baseline

AVERAGE_FILE = "recent_mean_average.json"
MODEL_WEIGHT = 0.5  # the tuned model's share of the average; the four-week mean has the rest


@dataclass
class AveragedWithRecentMean:
    """``model_weight * model + (1 - model_weight) * four-week mean``, both in log1p of a list's weekly units."""

    model: DemandModel
    recent_mean: LinearModel
    model_weight: float = MODEL_WEIGHT

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def explainer(self) -> str:
        return self.model.explainer

    def parts(self) -> list[tuple[float, DemandModel]]:
        """The weighted models this forecast is the sum of (SHAP explains each, ``core/explain.py``)."""
        return [(self.model_weight, self.model), (1.0 - self.model_weight, self.recent_mean)]

    def predict_log(self, x: np.ndarray) -> np.ndarray:
        own = np.asarray(self.model.predict_log(x), dtype=float)
        return self.model_weight * own + (1.0 - self.model_weight) * self.recent_mean.predict_log(x)

    def files(self) -> dict[str, bytes]:
        files = self.model.files()
        if AVERAGE_FILE in files:
            raise ValueError(f"{self.kind} already writes {AVERAGE_FILE}; the average cannot be stored beside it")
        average = {"model_weight": self.model_weight, "recent_mean": self.recent_mean.payload()}
        return {**files, AVERAGE_FILE: json.dumps(average).encode()}


def with_stored_average(model: DemandModel, files: dict[str, bytes]) -> DemandModel:
    """The loaded ``model`` averaged as its files say; unchanged when they hold no average (older bundles)."""
    if AVERAGE_FILE not in files:
        return model
    stored = json.loads(files[AVERAGE_FILE])
    weight = float(stored["model_weight"])
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"{AVERAGE_FILE} of {model.kind} gives the model weight {weight}; it must lie in [0, 1]")
    return AveragedWithRecentMean(model, LinearModel.from_payload(stored["recent_mean"]), weight)


def averaged_with_recent_mean(trainer: Trainer) -> Trainer:
    """``trainer``, whose tuned model then forecasts its average with the four-week mean.

    The study tunes the model on its own; the candidate's ``best_validation_mse_log1p`` is the
    average's (what the candidate forecasts), the study's best is kept as ``tuned_model_validation_mse_log1p``.
    """

    @functools.wraps(trainer)
    def train(
        data: DesignMatrices, budget: TuningBudget, seed: int, progress: ProgressFn | None = None, **kwargs: object
    ) -> Candidate:
        tuned = trainer(data, budget, seed, progress, **kwargs)
        recent_mean = feature_baseline(data, RECENT_MEAN_FEATURE, RECENT_MEAN_KIND)
        model = AveragedWithRecentMean(tuned.model, recent_mean)
        summary = {
            **tuned.tuning,
            "tuned_model_validation_mse_log1p": tuned.tuning.get("best_validation_mse_log1p"),
            "best_validation_mse_log1p": validation_mse(model, data),
            "model_weight": model.model_weight,
        }
        return Candidate(model, summary)

    return train
