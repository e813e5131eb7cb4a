"""SHAP explanations of the champion, with the explainer that fits its family.

- network: ``DeepExplainer`` on the torch module; tree: ``TreeExplainer`` on the booster;
  linear models: ``LinearExplainer`` on the coefficients; SVR: ``KernelExplainer`` (model
  agnostic and slow, so it explains fewer rows); a constant model (old bundles) has nothing to explain.
- A tuned model averaged with the four-week mean (``models/combination.py``): each part is
  explained with its own explainer and the values averaged with the same weights. Shapley values
  are linear in the model, so the average adds no approximation to each part's own. The champion,
  the models' mean (``models/ensemble.py``), is explained the same way, member by member, on
  the same rows (as few as the kernel explainer allows when SVR is a member).
- The background is a seeded sample of at most ``background_rows`` train rows; the explained
  rows a seeded sample of at most ``explain_rows`` test rows (held-out rows, explained after
  the champion was chosen, so explaining them influences nothing).
- Values are on the model scale (log1p of a price list's weekly units) and labelled with the preprocessor's output
  names (``customer_type=guest``, not ``x12``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .models import DemandModel
from .models.combination import AveragedWithRecentMean
from .models.ensemble import EnsembleModel
from .plots import png_bytes

KERNEL_MAX_ROWS = 40
# Models that forecast a weighted sum of other models (``parts()``): explained part by part.
WEIGHTED_SUMS = (AveragedWithRecentMean, EnsembleModel)
KERNEL_BACKGROUND = 20


@dataclass(frozen=True)
class Explanation:
    explainer: str
    values: pd.DataFrame  # one column per feature, one row per explained row
    base_value: float
    importance: pd.Series  # mean |SHAP| per feature, largest first


def seeded_sample(x: np.ndarray, rows: int, seed: int) -> np.ndarray:
    if len(x) <= rows:
        return x
    keep = np.sort(np.random.default_rng(seed).choice(len(x), rows, replace=False))
    return x[keep]


def _shap_values(model: DemandModel, background: np.ndarray, rows: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    import shap  # imported here: it is slow to import and only this stage needs it

    if isinstance(model, WEIGHTED_SUMS):  # explain each part; the sum's values are the same sum of theirs
        parts = [(w, _shap_values(part, background, rows, seed)) for w, part in model.parts()]
        return sum(w * v for w, (v, _) in parts), sum(w * b for w, (_, b) in parts)
    kind = model.explainer
    if kind == "none":
        return np.zeros_like(rows, dtype=float), float(np.mean(model.predict_log(background)))
    if kind == "deep":
        import torch

        explainer = shap.DeepExplainer(model.network, torch.as_tensor(background))
        values = explainer.shap_values(torch.as_tensor(rows), check_additivity=False)
    elif kind == "tree":
        explainer = shap.TreeExplainer(model.booster)
        values = explainer.shap_values(rows.astype(float))
    elif kind == "linear":
        explainer = shap.LinearExplainer((np.asarray(model.coef), model.intercept), background.astype(float))
        values = explainer.shap_values(rows.astype(float))
    elif kind == "kernel":
        np.random.seed(seed)  # KernelExplainer samples coalitions with NumPy's global generator
        small = seeded_sample(background, KERNEL_BACKGROUND, seed).astype(float)
        explainer = shap.KernelExplainer(model.predict_log, small)
        values = explainer.shap_values(rows.astype(float), nsamples=200, silent=True)
    else:
        raise ValueError(f"no SHAP explainer for {kind!r}")
    base = float(np.ravel(explainer.expected_value)[0])
    return np.asarray(values, dtype=float).reshape(len(rows), -1), base


def _explainers(model: DemandModel) -> set[str]:
    """The explainers a model's parts need (a mean of models needs each member's)."""
    if isinstance(model, WEIGHTED_SUMS):
        return set().union(*(_explainers(part) for _, part in model.parts()))
    return {model.explainer}


def explain(
    model: DemandModel,
    feature_names: list[str],
    train_x: np.ndarray,
    explain_x: np.ndarray,
    background_rows: int,
    explain_rows: int,
    seed: int,
) -> Explanation:
    background = seeded_sample(train_x, background_rows, seed)
    limit = min(explain_rows, KERNEL_MAX_ROWS) if "kernel" in _explainers(model) else explain_rows
    rows = seeded_sample(explain_x, limit, seed + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values, base = _shap_values(model, background, rows, seed)
    frame = pd.DataFrame(values, columns=feature_names)
    importance = frame.abs().mean().sort_values(ascending=False, kind="mergesort")
    return Explanation(model.explainer, frame, base, importance)


def importance_plot(explanation: Explanation, title: str, top: int = 15) -> bytes:
    """A horizontal bar chart of mean |SHAP|, as PNG bytes (no fonts or files outside the process)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top_features = explanation.importance.head(top)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(top_features) + 1.2), dpi=100)
    ax.barh(top_features.index, top_features.to_numpy(), color="#3b6ea5")
    ax.set_xlabel("mean |SHAP value| (log1p weekly units)")
    ax.set_title(title)
    fig.tight_layout()
    return png_bytes(fig)
