import io
import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.svm import SVR

from pricing_assets.core import tuning
from pricing_assets.core.models import (
    BASELINES,
    CANDIDATE_KINDS,
    CATALOGUE_LEVEL_KIND,
    ENSEMBLE_KIND,
    ENSEMBLE_MEMBERS,
    TRAINERS,
    TUNED,
    load_model,
    with_ensemble,
)
from pricing_assets.core.models.combination import AVERAGE_FILE
from pricing_assets.core.models.dfn import PATIENCE, fit_network
from pricing_assets.core.models.linear import ConstantModel, LinearModel
from pricing_assets.core.models.svr import SVRModel
from pricing_assets.core.tuning import TuningBudget
from pricing_assets.core.weekly_features import (
    CATALOGUE_LEVEL_FEATURE,
    RECENT_MEAN_FEATURE,
    SEASON_WEEKS,
    SEASONAL_NAIVE_FEATURE,
    TARGET,
)

from .conftest import SMALL, seen_by_trainers, train


@pytest.mark.parametrize("kind", CANDIDATE_KINDS)
def test_each_model_saves_and_loads_back_to_identical_predictions(candidates, design, kind):
    candidate = candidates[kind]
    files = candidate.model.files()
    loaded = load_model(kind, files)
    x = design.x["test"]
    assert np.array_equal(loaded.predict_log(x), candidate.model.predict_log(x))
    assert np.isfinite(candidate.model.predict_log(x)).all()
    assert not any(name.endswith((".pkl", ".pickle", ".joblib")) for name in files)


@pytest.mark.parametrize("kind", TUNED)
def test_tuned_models_respect_the_trial_budget_and_beat_the_train_mean(candidates, design, kind):
    tuning = candidates[kind].tuning
    budget = SMALL.get(kind, SMALL["default"])
    assert 1 <= tuning["trials_run"] <= budget.trials and not tuning["stopped_by_time"]
    # The forecast a model of nothing would make: the mean train target for every week and list.
    constant = float(np.mean((design.y["train"].mean() - design.y["validation"]) ** 2))
    assert tuning["best_validation_mse_log1p"] < constant
    predicted = np.clip(candidates[kind].model.predict_log(design.x["validation"]), 0.0, None)
    assert tuning["best_validation_mse_log1p"] == pytest.approx(np.mean((predicted - design.y["validation"]) ** 2))


@pytest.mark.parametrize("kind", TUNED)
def test_a_tuned_model_forecasts_its_equal_average_with_the_four_week_mean(candidates, split_frame, preprocessor, kind):
    """In log1p units, half the tuned model's own forecast and half the mean of the four weeks before.

    The model's files without the average load as the model alone: a bundle from before the average."""
    files = candidates[kind].model.files()
    averaged = load_model(kind, files)
    alone = load_model(kind, {name: blob for name, blob in files.items() if name != AVERAGE_FILE})
    rows = split_frame[split_frame["split"] == "test"]
    x = preprocessor.transform(rows)
    four_weeks = rows[RECENT_MEAN_FEATURE].to_numpy(dtype=float)
    assert np.allclose(averaged.predict_log(x), 0.5 * alone.predict_log(x) + 0.5 * four_weeks, atol=1e-5)
    assert not np.allclose(averaged.predict_log(x), alone.predict_log(x), atol=1e-3)
    assert averaged.kind == alone.kind == kind


def test_the_champion_weighs_the_catalogue_level_the_baselines_and_the_tuned_models(candidates, design):
    """In log1p units, 0.3 of the catalogue-level forecast, 0.3 of the four-week mean, 0.1 of the seasonal naive,
    and 0.075 of each tuned model's forecast (each already averaged with the four-week mean)."""
    ensemble = candidates[ENSEMBLE_KIND].model
    x = design.x["test"]
    tuned = np.mean([candidates[kind].model.predict_log(x) for kind in TUNED], axis=0)
    members = (
        0.3 * candidates[CATALOGUE_LEVEL_KIND].model.predict_log(x)
        + 0.3 * candidates["recent_mean_baseline"].model.predict_log(x)
        + 0.1 * candidates["seasonal_naive_baseline"].model.predict_log(x)
        + 0.3 * tuned
    )
    assert list(ensemble.members) == [*TUNED, CATALOGUE_LEVEL_KIND, *BASELINES] == ENSEMBLE_MEMBERS
    assert ensemble.weights == pytest.approx(
        {
            **{kind: 0.075 for kind in TUNED},
            CATALOGUE_LEVEL_KIND: 0.3,
            "recent_mean_baseline": 0.3,
            "seasonal_naive_baseline": 0.1,
        }
    )
    assert ensemble.kind == ENSEMBLE_KIND
    assert np.allclose(ensemble.predict_log(x), members, atol=1e-9)
    for kind in ENSEMBLE_MEMBERS:  # not any one member's forecast
        assert not np.allclose(ensemble.predict_log(x), candidates[kind].model.predict_log(x), atol=1e-3)


def test_the_catalogue_level_forecasts_the_level_with_the_catalogues_movement_taken_out(
    candidates, split_frame, preprocessor
):
    """Fit to nothing: its forecast is the feature, the mean of 26 weeks of units over the catalogue's index,
    times the index's last week (weekly_features); no tuning, so no validation week flatters it."""
    model = candidates[CATALOGUE_LEVEL_KIND].model
    rows = split_frame[split_frame["split"] == "test"]
    expected = rows[CATALOGUE_LEVEL_FEATURE].to_numpy(dtype=float)
    assert np.allclose(model.predict_log(preprocessor.transform(rows)), expected, atol=1e-9)
    assert candidates[CATALOGUE_LEVEL_KIND].tuning["best_params"] == {}
    assert not np.allclose(expected, rows[RECENT_MEAN_FEATURE].to_numpy(dtype=float))


def test_a_tuned_model_with_non_finite_forecasts_is_left_out_of_the_mean(candidates, design):
    broken = LinearModel([float("nan")] * len(design.feature_names), 0.0, "elasticnet")
    models = {**{kind: c.model for kind, c in candidates.items() if kind in TRAINERS}, "elasticnet": broken}
    ensemble = with_ensemble(models, design)[ENSEMBLE_KIND]
    assert list(ensemble.members) == [k for k in ENSEMBLE_MEMBERS if k != "elasticnet"]
    assert np.isfinite(ensemble.predict_log(design.x["test"])).all()
    # The catalogue level and the baselines keep their shares; the three tuned models left share the rest.
    fixed = {CATALOGUE_LEVEL_KIND: 0.3, "recent_mean_baseline": 0.3, "seasonal_naive_baseline": 0.1}
    assert ensemble.weights == pytest.approx({"dfn": 0.1, "lightgbm": 0.1, "svr": 0.1, **fixed})
    without_level = with_ensemble({**models, CATALOGUE_LEVEL_KIND: broken}, design)[ENSEMBLE_KIND]
    left = {"dfn": 0.2, "lightgbm": 0.2, "svr": 0.2, "recent_mean_baseline": 0.3, "seasonal_naive_baseline": 0.1}
    assert without_level.weights == pytest.approx(left)
    alone = {kind: broken for kind in ENSEMBLE_MEMBERS if kind != "svr"} | {"svr": candidates["svr"].model}
    assert ENSEMBLE_KIND not in with_ensemble(alone, design)  # a mean of one model is that model
    # The catalogue level and the seasonal naive are fit to nothing: without a tuned model they are no mean.
    untrained = models | {kind: broken for kind in TUNED}
    assert ENSEMBLE_KIND not in with_ensemble(untrained, design)


def test_an_ensemble_whose_files_do_not_add_up_is_refused(candidates):
    files = candidates[ENSEMBLE_KIND].model.files()
    stored = json.loads(files["ensemble.json"])
    halves = {**stored, "weights": {kind: 0.5 for kind in stored["members"]}}
    lopsided = {**files, "ensemble.json": json.dumps(halves).encode()}
    with pytest.raises(ValueError, match="sum to 1"):
        load_model(ENSEMBLE_KIND, lopsided)
    twice = {**files, "ensemble.json": json.dumps({"members": ["dfn", "dfn"], "weights": {"dfn": 1.0}}).encode()}
    with pytest.raises(ValueError, match="distinct"):
        load_model(ENSEMBLE_KIND, twice)
    with pytest.raises(ValueError, match="a list of members and a weight per member"):
        load_model(ENSEMBLE_KIND, {**files, "ensemble.json": b"[1, 2]"})
    without_svr = {name: blob for name, blob in files.items() if not name.startswith("svr/")}
    with pytest.raises(ValueError, match="member svr has no files"):
        load_model(ENSEMBLE_KIND, without_svr)


@pytest.mark.parametrize(
    "kind,feature",
    [("recent_mean_baseline", RECENT_MEAN_FEATURE), ("seasonal_naive_baseline", SEASONAL_NAIVE_FEATURE)],
)
def test_a_baseline_forecasts_the_raw_value_of_its_feature(candidates, split_frame, preprocessor, kind, feature):
    """Through the preprocessor's scaling and back: each row's forecast is its own feature, unscaled."""
    model = candidates[kind].model
    assert model.kind == kind and isinstance(model, LinearModel)
    assert sum(c != 0 for c in model.coef) == 1  # one feature, nothing else
    for split in ("train", "validation", "test"):
        rows = split_frame[split_frame["split"] == split]
        predicted = model.predict_log(preprocessor.transform(rows))
        assert np.allclose(predicted, rows[feature].to_numpy(dtype=float), atol=1e-5), split
    # Rows never seen by the preprocessor (far from the train mean) too: the forecast is not a fit.
    odd = split_frame.head(4).copy()
    odd[feature] = [0.0, 1.5, 9.0, 12.5]
    assert np.allclose(model.predict_log(preprocessor.transform(odd)), odd[feature], atol=1e-4)


def test_the_seasonal_naive_is_the_same_week_last_year_else_last_week(split_frame):
    """A year of history reaches back for the last weeks of the synthetic product only: both cases are here."""
    rows = split_frame.set_index(["week", "customer_type"])
    first = split_frame["week"].min()
    a_year_on = split_frame[split_frame["week"] >= first + pd.Timedelta(weeks=SEASON_WEEKS)]
    younger = split_frame[
        (split_frame["week"] < first + pd.Timedelta(weeks=SEASON_WEEKS)) & (split_frame["week"] > first)
    ]
    assert len(a_year_on) and len(younger)
    for _, row in a_year_on.iterrows():
        year_ago = rows.loc[(row["week"] - pd.Timedelta(weeks=SEASON_WEEKS), row["customer_type"]), TARGET]
        assert row[SEASONAL_NAIVE_FEATURE] == pytest.approx(year_ago)
    assert np.allclose(younger[SEASONAL_NAIVE_FEATURE], younger["last_week_log_units"])
    assert not np.allclose(split_frame[SEASONAL_NAIVE_FEATURE], split_frame[RECENT_MEAN_FEATURE])


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
    seen = seen_by_trainers(design)
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
    seen = seen_by_trainers(design)
    candidate = TRAINERS["dfn"](seen, TuningBudget(10_000, 0.5), 7, lambda _: None, max_epochs=5)
    assert candidate.tuning["stopped_by_time"] and candidate.tuning["trials_run"] < 10_000


def test_progress_is_reported_at_the_last_trial_and_at_most_every_few_seconds(design, monkeypatch):
    seen = seen_by_trainers(design)
    lines: list[str] = []
    TRAINERS["elasticnet"](seen, TuningBudget(4, 60), 7, lines.append)
    assert len(lines) == 1 and lines[-1].startswith("elasticnet: trial 4/4") and "best=" in lines[-1]
    monkeypatch.setattr(tuning, "PROGRESS_SECONDS", 0.0)  # a slow study: every trial is past the interval
    lines.clear()
    TRAINERS["elasticnet"](seen, TuningBudget(4, 60), 7, lines.append)
    assert [line.split(" val_")[0] for line in lines] == [f"elasticnet: trial {n}/4 complete" for n in range(1, 5)]


@pytest.mark.parametrize("kind", ["elasticity_baseline", "constant_baseline"])
def test_bundles_from_before_the_weekly_models_still_load(kind):
    """Their baselines were a constant and a linear model; the challenger scores a serving bundle of them."""
    old = ConstantModel(1.5) if kind == "constant_baseline" else LinearModel([0.5, -1.0], 2.0, kind)
    loaded = load_model(kind, old.files())
    x = np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    assert loaded.kind == kind and np.array_equal(loaded.predict_log(x), old.predict_log(x))


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown model kind"):
        load_model("xgboost", {})
