"""Candidate demand models: how each is trained and how each is loaded back from its files."""

from __future__ import annotations

from collections.abc import Callable

from ..splits import DesignMatrices
from .base import Candidate, DemandModel, Trainer, validation_mse
from .combination import averaged_with_recent_mean, with_stored_average
from .dfn import DFNModel, train_dfn
from .ensemble import ENSEMBLE_KIND, EnsembleModel, ensemble_of, load_ensemble
from .gbm import LightGBMModel, train_lightgbm
from .linear import (
    CATALOGUE_LEVEL_KIND,
    load_json_model,
    train_catalogue_level,
    train_elasticnet,
    train_recent_mean,
    train_seasonal_naive,
)
from .svr import SVRModel, train_svr

# Every candidate, by kind. Order is the tie-break when two models score the same. Each tuned model
# forecasts its average with the four-week mean (combination.py); the baselines are what is beaten (each is
# also a part of the champion's mean, ensemble.py).
TRAINERS: dict[str, Trainer] = {
    "dfn": averaged_with_recent_mean(train_dfn),
    "lightgbm": averaged_with_recent_mean(train_lightgbm),
    "elasticnet": averaged_with_recent_mean(train_elasticnet),
    "svr": averaged_with_recent_mean(train_svr),
    CATALOGUE_LEVEL_KIND: train_catalogue_level,
    "recent_mean_baseline": train_recent_mean,
    "seasonal_naive_baseline": train_seasonal_naive,
}
BASELINES = ("recent_mean_baseline", "seasonal_naive_baseline")
TUNED = [kind for kind in TRAINERS if kind not in BASELINES and kind != CATALOGUE_LEVEL_KIND]
# What the champion is the weighted mean of (ensemble.py): the catalogue-level forecast carries 0.3 of it, the
# four-week mean 0.3, the seasonal naive 0.1, and the tuned models share the other 0.3 equally.
ENSEMBLE_MEMBERS = [*TUNED, CATALOGUE_LEVEL_KIND, "recent_mean_baseline", "seasonal_naive_baseline"]
ENSEMBLE_FIXED_SHARES = {CATALOGUE_LEVEL_KIND: 0.3, "recent_mean_baseline": 0.3, "seasonal_naive_baseline": 0.1}
# The weights in words, for the evaluation's record and the asset's description (built here so they cannot go stale).
ENSEMBLE_WEIGHTS_TEXT = (
    f"the tuned models ({round(1 - sum(ENSEMBLE_FIXED_SHARES.values()), 6):g} between them), "
    + ", ".join(f"{kind} {share:g}" for kind, share in ENSEMBLE_FIXED_SHARES.items())
)
# Every kind a model evaluation scores: the trained ones and the champion, the members' mean (ensemble.py).
CANDIDATE_KINDS = (*TRAINERS, ENSEMBLE_KIND)

_LOADERS: dict[str, Callable[[dict[str, bytes]], DemandModel]] = {
    "dfn": DFNModel.from_files,
    "lightgbm": LightGBMModel.from_files,
    "svr": SVRModel.from_files,
    "elasticnet": load_json_model,
    CATALOGUE_LEVEL_KIND: load_json_model,
    "recent_mean_baseline": load_json_model,
    "seasonal_naive_baseline": load_json_model,
    # Bundles promoted before the weekly models still load for the challenger's comparison.
    "elasticity_baseline": load_json_model,
    "constant_baseline": load_json_model,
    ENSEMBLE_KIND: lambda files: load_ensemble(files, load_model),
}


def load_model(kind: str, files: dict[str, bytes]) -> DemandModel:
    """Rebuild a model from its files (no pickle involved for any kind), averaged as they say."""
    if kind not in _LOADERS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(_LOADERS)}")
    return with_stored_average(_LOADERS[kind](files), files)


def with_ensemble(models: dict[str, DemandModel], data: DesignMatrices) -> dict[str, DemandModel]:
    """``models`` and, when two or more of the members forecast validation with finite values, their mean."""
    ensemble = ensemble_of(models, ENSEMBLE_MEMBERS, data, ENSEMBLE_FIXED_SHARES)
    return {**models, ENSEMBLE_KIND: ensemble} if ensemble is not None else dict(models)


__all__ = [
    "BASELINES",
    "CANDIDATE_KINDS",
    "CATALOGUE_LEVEL_KIND",
    "ENSEMBLE_FIXED_SHARES",
    "ENSEMBLE_KIND",
    "ENSEMBLE_MEMBERS",
    "ENSEMBLE_WEIGHTS_TEXT",
    "TRAINERS",
    "TUNED",
    "Candidate",
    "DemandModel",
    "EnsembleModel",
    "load_model",
    "validation_mse",
    "with_ensemble",
]
