"""What every demand model is: a predictor of log1p of a price list's weekly units that saves to plain files.

Models are stored as files that need no pickle: JSON for linear and constant models, a NumPy
``.npz`` (loaded with ``allow_pickle=False``) for SVR, LightGBM's text format, and a torch
``state_dict`` (loaded with ``weights_only=True``) plus a JSON of hyperparameters for the
network. Loading a model from its files gives identical predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..splits import DesignMatrices
from ..tuning import ProgressFn, TuningBudget

# How SHAP should explain each family of model (see core/explain.py).
EXPLAINERS = ("deep", "tree", "linear", "kernel", "none", "ensemble")  # ensemble: each member its own


class DemandModel(Protocol):
    kind: str
    explainer: str

    def predict_log(self, x: np.ndarray) -> np.ndarray:
        """Predicted log1p(weekly units) for rows of the preprocessed matrix."""

    def files(self) -> dict[str, bytes]:
        """Everything needed to load the model again, by file name."""


@dataclass
class Candidate:
    """A trained model and the record of how it was chosen (tuning summary, hyperparameters)."""

    model: Any
    tuning: dict[str, Any] = field(default_factory=dict)


class Trainer(Protocol):
    def __call__(
        self, data: DesignMatrices, budget: TuningBudget, seed: int, progress: ProgressFn | None = None
    ) -> Candidate: ...


def validation_mse(model: DemandModel, data: DesignMatrices) -> float:
    """The tuning score: validation MSE on the log1p scale (inf when a prediction is not finite)."""
    predicted = np.asarray(model.predict_log(data.x["validation"]), dtype=float)
    if not np.isfinite(predicted).all():
        return float("inf")
    return float(np.mean((np.clip(predicted, 0.0, None) - data.y["validation"]) ** 2))
