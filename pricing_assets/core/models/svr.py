"""Support vector regression (RBF kernel), tuned; stored as arrays, predicted without sklearn.

SVR costs grow with the square of the rows, so it trains on a seeded sample of at most
``MAX_TRAIN_ROWS`` train rows; it is a backup, not the champion we expect.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from sklearn.svm import SVR

from ..splits import DesignMatrices
from ..tuning import ProgressFn, TuningBudget, tune
from .base import Candidate, validation_mse

MAX_TRAIN_ROWS = 1500


@dataclass
class SVRModel:
    """``sum_i dual_i * exp(-gamma |x - sv_i|^2) + intercept``: the fitted SVR, as plain arrays."""

    support_vectors: np.ndarray
    dual_coef: np.ndarray
    intercept: float
    gamma: float
    kind: str = "svr"
    explainer: str = "kernel"

    @classmethod
    def from_sklearn(cls, fitted: SVR) -> SVRModel:
        return cls(
            np.asarray(fitted.support_vectors_, dtype=float),
            np.asarray(fitted.dual_coef_, dtype=float).ravel(),
            float(fitted.intercept_[0]),
            float(fitted._gamma),
        )

    def predict_log(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        out = np.empty(len(x))
        for start in range(0, len(x), 4096):  # bounded memory for long price grids
            chunk = x[start : start + 4096]
            sq = (
                (chunk**2).sum(axis=1)[:, None]
                + (self.support_vectors**2).sum(axis=1)[None, :]
                - 2.0 * chunk @ self.support_vectors.T
            )
            out[start : start + 4096] = np.exp(-self.gamma * np.clip(sq, 0.0, None)) @ self.dual_coef + self.intercept
        return out

    def files(self) -> dict[str, bytes]:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            support_vectors=self.support_vectors,
            dual_coef=self.dual_coef,
            intercept=np.array([self.intercept]),
            gamma=np.array([self.gamma]),
        )
        return {"model.npz": buffer.getvalue()}

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> SVRModel:
        with np.load(io.BytesIO(files["model.npz"]), allow_pickle=False) as arrays:
            return cls(
                arrays["support_vectors"], arrays["dual_coef"], float(arrays["intercept"][0]), float(arrays["gamma"][0])
            )


def train_svr(data: DesignMatrices, budget: TuningBudget, seed: int, progress: ProgressFn | None = None) -> Candidate:
    x, y = data.x["train"].astype(float), data.y["train"].astype(float)
    if len(x) > MAX_TRAIN_ROWS:
        keep = np.sort(np.random.default_rng(seed).choice(len(x), MAX_TRAIN_ROWS, replace=False))
        x, y = x[keep], y[keep]

    def objective(trial):
        fitted = SVR(
            kernel="rbf",
            C=trial.suggest_float("C", 0.05, 50.0, log=True),
            epsilon=trial.suggest_float("epsilon", 0.01, 0.5, log=True),
            gamma=trial.suggest_float("gamma", 1e-3, 1.0, log=True),
            cache_size=200,
        )
        fitted.fit(x, y)
        model = SVRModel.from_sklearn(fitted)
        return validation_mse(model, data), model

    result = tune("svr", objective, budget, seed, progress)
    summary = result.summary()
    summary["train_rows_used"] = len(x)
    return Candidate(result.best_model, summary)
