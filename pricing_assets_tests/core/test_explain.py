import numpy as np
import pytest

from pricing_assets.core.explain import explain, importance_plot
from pricing_assets.core.models import TRAINERS
from pricing_assets.core.splits import DesignMatrices
from pricing_assets.core.tuning import TuningBudget


@pytest.fixture(scope="module")
def models(design):
    seen = DesignMatrices(design.feature_names, {k: design.x[k] for k in ("train", "validation")}, design.y)
    budget = TuningBudget(2, 60)
    out = {}
    for kind in ("dfn", "lightgbm", "elasticnet", "svr", "constant_baseline"):
        extra = {"max_epochs": 8} if kind == "dfn" else {}
        out[kind] = TRAINERS[kind](seen, budget, 7, lambda _: None, **extra).model
    return out


@pytest.mark.parametrize(
    "kind,explainer", [("dfn", "deep"), ("lightgbm", "tree"), ("elasticnet", "linear"), ("svr", "kernel")]
)
def test_each_family_gets_its_explainer_and_values_add_up(models, design, kind, explainer):
    model = models[kind]
    result = explain(model, design.feature_names, design.x["train"], design.x["test"], 50, 30, seed=7)
    assert result.explainer == explainer
    assert list(result.values.columns) == design.feature_names and len(result.values) <= 30
    assert list(result.importance.index)[0] in design.feature_names
    assert result.importance.is_monotonic_decreasing
    if explainer in ("tree", "linear", "deep"):
        # Local accuracy: base value plus the row's SHAP values gives the model's prediction.
        rng_rows = np.sort(np.random.default_rng(8).choice(len(design.x["test"]), 30, replace=False))
        predicted = model.predict_log(design.x["test"][rng_rows])
        assert np.allclose(result.values.sum(axis=1) + result.base_value, predicted, atol=0.02)


def test_explanations_are_seeded(models, design):
    first = explain(models["lightgbm"], design.feature_names, design.x["train"], design.x["test"], 40, 20, seed=1)
    again = explain(models["lightgbm"], design.feature_names, design.x["train"], design.x["test"], 40, 20, seed=1)
    assert first.values.equals(again.values)


def test_the_price_matters_to_a_model_of_price_driven_demand(models, design):
    result = explain(models["elasticnet"], design.feature_names, design.x["train"], design.x["test"], 50, 100, seed=7)
    price_columns = {"unit_price", "log_price", "price_vs_past_max", "price_vs_past_median_28d"}
    assert price_columns & set(result.importance.head(4).index)


def test_constant_model_has_nothing_to_explain_and_the_plot_is_a_png(models, design):
    result = explain(models["constant_baseline"], design.feature_names, design.x["train"], design.x["test"], 20, 10, 7)
    assert result.explainer == "none" and (result.values.to_numpy() == 0).all()
    png = importance_plot(result, "title")
    assert png.startswith(b"\x89PNG") and png == importance_plot(result, "title")
