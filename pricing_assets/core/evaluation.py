"""Score every candidate on one scale, choose the champion on validation, order the fallbacks.

The champion is the lowest validation RMSLE; test scores are reported beside it but never
used to choose. The fallback chain is what serving tries, in order, when a model fails to load
or predicts non-finite values: the other candidates by validation RMSLE, with the constant
baseline always last because it cannot fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .metrics import SCALE, SELECTION_METRIC, regression_metrics
from .models import DemandModel
from .splits import DesignMatrices

LAST_RESORT = "constant_baseline"
INTERVAL_QUANTILES = (0.1, 0.9)


@dataclass
class Evaluation:
    metrics: dict[str, dict[str, dict[str, float]]]  # kind -> split -> metric -> value
    champion: str
    fallback_chain: list[str]
    residual_quantiles: dict[str, list[float]]  # kind -> validation residual quantiles (log1p)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric_scale": SCALE,
            "selection_metric": SELECTION_METRIC,
            "selected_on": "validation",
            "interval_quantiles": list(INTERVAL_QUANTILES),
            "metrics": self.metrics,
            "champion": self.champion,
            "fallback_chain": self.fallback_chain,
            "residual_quantiles": self.residual_quantiles,
        }


def evaluate_candidates(models: dict[str, DemandModel], data: DesignMatrices) -> Evaluation:
    """``data`` holds validation and test; only validation decides the ranking."""
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    quantiles: dict[str, list[float]] = {}
    for kind, model in models.items():
        metrics[kind] = {}
        for split in ("validation", "test"):
            metrics[kind][split] = regression_metrics(data.y[split], model.predict_log(data.x[split]))
        residuals = data.y["validation"] - np.clip(model.predict_log(data.x["validation"]), 0.0, None)
        finite = residuals[np.isfinite(residuals)]
        quantiles[kind] = [float(q) for q in np.quantile(finite, INTERVAL_QUANTILES)] if finite.size else [0.0, 0.0]
    order = list(models)  # insertion order breaks ties
    ranked = sorted(
        (k for k in order if np.isfinite(metrics[k]["validation"][SELECTION_METRIC])),
        key=lambda k: (metrics[k]["validation"][SELECTION_METRIC], order.index(k)),
    )
    if not ranked:
        raise ValueError("no candidate produced finite validation predictions; inspect the model assets")
    champion = ranked[0]
    chain = [k for k in ranked[1:] if k != LAST_RESORT]
    if LAST_RESORT in models and champion != LAST_RESORT:
        chain.append(LAST_RESORT)
    return Evaluation(metrics, champion, chain, quantiles)
