import io
import json

import numpy as np
import pytest
import torch
from sklearn.svm import SVR

from pricing_assets.core.models import BASELINES, TRAINERS, load_model
from pricing_assets.core.models.dfn import PATIENCE, fit_network
from pricing_assets.core.models.svr import SVRModel
from pricing_assets.core.splits import DesignMatrices
from pricing_assets.core.tuning import TuningBudget

SMALL = {"dfn": TuningBudget(2, 120), "default": TuningBudget(3, 120)}


def train(kind: str, design: DesignMatrices, seed: int = 7):
    seen = DesignMatrices(design.feature_names, {k: design.x[k] for k in ("train", "validation")}, design.y)
    extra = {"max_epochs": 12} if kind == "dfn" else {}
    return TRAINERS[kind](seen, SMALL.get(kind, SMALL["default"]), seed, lambda _: None, **extra)


@pytest.fixture(scope="module")
def candidates(design):
    return {kind: train(kind, design) for kind in TRAINERS}


@pytest.mark.parametrize("kind", list(TRAINERS))
def test_each_model_saves_and_loads_back_to_identical_predictions(candidates, design, kind):
    candidate = candidates[kind]
    files = candidate.model.files()
    loaded = load_model(kind, files)
    x = design.x["test"]
    assert np.array_equal(loaded.predict_log(x), candidate.model.predict_log(x))
    assert np.isfinite(candidate.model.predict_log(x)).all()
    assert not any(name.endswith((".pkl", ".pickle", ".joblib")) for name in files)


@pytest.mark.parametrize("kind", [k for k in TRAINERS if k not in BASELINES])
def test_tuned_models_respect_the_trial_budget_and_beat_the_constant(candidates, design, kind):
    tuning = candidates[kind].tuning
    budget = SMALL.get(kind, SMALL["default"])
    assert 1 <= tuning["trials_run"] <= budget.trials and not tuning["stopped_by_time"]
    constant = candidates["constant_baseline"].tuning["best_validation_mse_log1p"]
    assert tuning["best_validation_mse_log1p"] < constant


@pytest.mark.parametrize("kind", list(TRAINERS))
def test_same_data_and_seed_give_the_same_model_bytes(candidates, design, kind):
    again = train(kind, design)
    assert again.model.files() == candidates[kind].model.files()


def test_network_is_a_state_dict_loadable_with_weights_only(candidates):
    files = candidates["dfn"].model.files()
    state = torch.load(io.BytesIO(files["state_dict.pt"]), weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    hp = json.loads(files["hyperparameters.json"])
    assert {"depth", "width", "dropout", "batch_norm", "optimiser", "learning_rate", "batch_size", "input_dim"} <= set(
        hp
    )


def test_early_stopping_restores_the_best_epoch(design):
    """Training stops PATIENCE epochs after the best one, and the kept weights score the best loss."""
    hp = {
        "depth": 2,
        "width": 32,
        "dropout": 0.0,
        "batch_norm": False,
        "optimiser": "sgd",
        "learning_rate": 0.02,
        "batch_size": 64,
    }
    seen = DesignMatrices(design.feature_names, {k: design.x[k] for k in ("train", "validation")}, design.y)
    model, score, best_epoch = fit_network(seen, hp, seed=3, max_epochs=200)
    epochs_run = model.hyperparameters["epochs_run"]
    assert epochs_run < 200 and epochs_run - 1 - best_epoch == PATIENCE
    predicted = model.predict_log(design.x["validation"])
    assert score == pytest.approx(float(np.mean((np.clip(predicted, 0, None) - design.y["validation"]) ** 2)))
    assert model.hyperparameters["best_epoch"] == best_epoch


def test_svr_arrays_predict_like_sklearn(design):
    x, y = design.x["train"][:400].astype(float), design.y["train"][:400].astype(float)
    fitted = SVR(C=2.0, epsilon=0.1, gamma=0.05).fit(x, y)
    ours = SVRModel.from_sklearn(fitted)
    assert np.allclose(ours.predict_log(design.x["test"]), fitted.predict(design.x["test"].astype(float)), atol=1e-9)


def test_time_budget_stops_a_study_and_says_so(design):
    seen = DesignMatrices(design.feature_names, {k: design.x[k] for k in ("train", "validation")}, design.y)
    candidate = TRAINERS["dfn"](seen, TuningBudget(50, 0.5), 7, lambda _: None, max_epochs=5)
    assert candidate.tuning["stopped_by_time"] and candidate.tuning["trials_run"] < 50


def test_progress_is_reported_per_trial(design):
    seen = DesignMatrices(design.feature_names, {k: design.x[k] for k in ("train", "validation")}, design.y)
    lines: list[str] = []
    TRAINERS["elasticnet"](seen, TuningBudget(4, 60), 7, lines.append)
    assert len(lines) == 4 and lines[-1].startswith("elasticnet: trial 4/4") and "best=" in lines[-1]


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown model kind"):
        load_model("xgboost", {})
