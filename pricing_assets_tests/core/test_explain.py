import numpy as np
import pytest

from pricing_assets.core.explain import KERNEL_MAX_ROWS, explain, importance_plot
from pricing_assets.core.models.linear import ConstantModel
from pricing_assets.core.weekly_features import RECENT_MEAN_FEATURE


@pytest.fixture(scope="module")
def models(candidates):
    return {kind: candidate.model for kind, candidate in candidates.items()}


@pytest.mark.parametrize(
    "kind,explainer",
    [("dfn", "deep"), ("lightgbm", "tree"), ("elasticnet", "linear"), ("svr", "kernel"), ("ensemble", "ensemble")],
)
def test_each_family_gets_its_explainer_and_values_add_up(models, design, kind, explainer):
    model = models[kind]
    result = explain(model, design.feature_names, design.x["train"], design.x["test"], 50, 30, seed=7)
    explained = min(30, len(design.x["test"]))
    assert result.explainer == explainer
    assert list(result.values.columns) == design.feature_names and len(result.values) == explained
    assert list(result.importance.index)[0] in design.feature_names
    assert result.importance.is_monotonic_decreasing
    if explainer in ("tree", "linear", "deep", "ensemble"):
        # Local accuracy: base value plus the row's SHAP values gives the model's prediction (every
        # test week is explained: there are fewer than 30).
        predicted = model.predict_log(design.x["test"])
        assert np.allclose(result.values.sum(axis=1) + result.base_value, predicted, atol=0.02)


def test_explanations_are_seeded(models, design):
    first = explain(models["lightgbm"], design.feature_names, design.x["train"], design.x["test"], 40, 20, seed=1)
    again = explain(models["lightgbm"], design.feature_names, design.x["train"], design.x["test"], 40, 20, seed=1)
    assert first.values.equals(again.values)


def test_a_baseline_is_explained_by_its_one_feature(models, design):
    """The recent-mean baseline forecasts one feature's raw value: all of its explanation is that feature."""
    result = explain(
        models["recent_mean_baseline"], design.feature_names, design.x["train"], design.x["test"], 50, 30, 7
    )
    assert result.explainer == "linear" and result.importance.index[0] == RECENT_MEAN_FEATURE
    assert result.importance.iloc[0] > 0 and (result.importance.iloc[1:] == 0).all()


def test_constant_model_has_nothing_to_explain_and_the_plot_is_a_png(design):
    """The constant baseline of bundles promoted before the weekly models."""
    result = explain(ConstantModel(2.0), design.feature_names, design.x["train"], design.x["test"], 20, 10, 7)
    assert result.explainer == "none" and (result.values.to_numpy() == 0).all()
    assert result.base_value == pytest.approx(2.0)
    png = importance_plot(result, "title")
    assert png.startswith(b"\x89PNG") and png == importance_plot(result, "title")


def test_the_mean_explains_as_few_rows_as_its_kernel_member_allows(models, design):
    """SVR is a member, so the mean's SHAP values are of at most KERNEL_MAX_ROWS rows, however many are asked for."""
    many = design.x["train"]  # more rows than the kernel explainer takes
    assert len(many) > KERNEL_MAX_ROWS
    result = explain(models["ensemble"], design.feature_names, design.x["train"], many, 50, 500, seed=7)
    assert len(result.values) == KERNEL_MAX_ROWS and result.explainer == "ensemble"
