"""The one declared metric scale used everywhere models are compared.

Models predict ``log1p`` of a price list's weekly units (at the reference list price, see
``weekly_features``). Every score is computed from that prediction and the true log1p units:

- ``rmsle``: root mean squared log error of the units, ``sqrt(mean((log1p q̂ - log1p q)^2))``;
- ``mae``: mean absolute error of the units themselves (per week and price list);
- ``mse_log1p``: mean squared error on the log1p scale (the training loss).

The single tuned models are ranked by validation ``rmsle`` (the fallback order; the champion is their
mean, ``core/evaluation.py``).
"""

from __future__ import annotations

import numpy as np

METRICS = ("rmsle", "mae", "mse_log1p")
SELECTION_METRIC = "rmsle"
SCALE = "log1p(weekly units) per week and price list; mae in units"


def to_quantity(log1p_quantity: np.ndarray) -> np.ndarray:
    """Back from the model scale to units, never below zero."""
    return np.expm1(np.clip(np.asarray(log1p_quantity, dtype=float), 0.0, None))


def regression_metrics(y_true_log: np.ndarray, y_pred_log: np.ndarray) -> dict[str, float]:
    """Scores of predictions on the log1p scale; non-finite predictions make every score inf."""
    t = np.asarray(y_true_log, dtype=float)
    p = np.asarray(y_pred_log, dtype=float)
    if t.shape != p.shape or t.size == 0:
        raise ValueError(f"need equal, non-empty shapes, got {t.shape} and {p.shape}")
    if not np.isfinite(p).all():
        return {name: float("inf") for name in METRICS}
    p = np.clip(p, 0.0, None)
    mse = float(np.mean((p - t) ** 2))
    return {
        "rmsle": float(np.sqrt(mse)),
        "mae": float(np.mean(np.abs(np.expm1(p) - np.expm1(t)))),
        "mse_log1p": mse,
    }
