"""LightGBM, tuned, with early stopping on the validation split; stored in LightGBM's text format."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from ..splits import DesignMatrices
from ..tuning import ProgressFn, TuningBudget, tune
from .base import Candidate, validation_mse

MAX_ROUNDS = 600
EARLY_STOPPING_ROUNDS = 30


@dataclass
class LightGBMModel:
    booster: lgb.Booster
    kind: str = "lightgbm"
    explainer: str = "tree"

    def predict_log(self, x: np.ndarray) -> np.ndarray:
        return self.booster.predict(np.asarray(x, dtype=float), num_threads=1)

    def files(self) -> dict[str, bytes]:
        return {"model.txt": self.booster.model_to_string().encode()}

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> LightGBMModel:
        return cls(lgb.Booster(model_str=files["model.txt"].decode()))


def train_lightgbm(
    data: DesignMatrices, budget: TuningBudget, seed: int, progress: ProgressFn | None = None
) -> Candidate:
    names = [n.replace("=", "__") for n in data.feature_names]  # LightGBM refuses some characters
    # feature_pre_filter off: the same Dataset serves trials with different min_data_in_leaf.
    train = lgb.Dataset(
        data.x["train"], data.y["train"], feature_name=names, free_raw_data=False, params={"feature_pre_filter": False}
    )
    valid = lgb.Dataset(
        data.x["validation"],
        data.y["validation"],
        reference=train,
        free_raw_data=False,
        params={"feature_pre_filter": False},
    )

    def objective(trial):
        params = {
            "objective": "regression",
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 48, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 3, 20, log=True),  # tens of weekly rows
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1,
            "verbosity": -1,
        }
        booster = lgb.train(
            params,
            train,
            num_boost_round=MAX_ROUNDS,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
        )
        # Keep only the rounds up to the best validation score (the "restore best" of boosting).
        model = LightGBMModel(lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration)))
        trial.set_user_attr("rounds", int(booster.best_iteration))
        return validation_mse(model, data), model

    result = tune("lightgbm", objective, budget, seed, progress)
    return Candidate(result.best_model, result.summary())
