"""Score every candidate on one scale, name the champion, order the fallbacks on validation.

Two scales: the model's own (log1p of a price list's weekly units, per row: RMSLE, MAE, MSE),
on which the fallbacks are ranked, and the forecast a merchandiser reads (units per week, both
lists, at the list in force: WAPE and RMSLE, ``core/forecast.py``), on which the champion is
compared with the recent-mean and seasonal-naive baselines.

The champion is the weighted mean of the tuned models (network, LightGBM, ElasticNet, SVR; each
forecasting its average with the four-week mean, ``models/combination.py``; 0.3 between them), the
catalogue-level forecast (0.3), the four-week mean (0.3) and the seasonal naive (0.1;
``models/linear.py``), when ``models`` holds it (``models.with_ensemble``): each tuned model was
tuned on validation, so its validation score is flattered by its own search and the lowest of four
picks noise (``models/ensemble.py`` has the figures and why these weights). Without the mean (no
tuned model, or fewer than two members, forecast finite values) the champion is the single model
with the lowest validation RMSLE. Test scores are reported beside it but never used to choose. The
baselines are there to be beaten, not promoted alone: one becomes champion only if every other model
failed (both are also parts of the mean, which is then judged against each as a combination against
one of its parts). Whether the champion beats each baseline is recorded on both splits. The fallback
chain is what serving (and ``demand_forecast``) tries, in order, when a model fails to load or
forecasts non-finite or implausible values: the single models (tuned, and the catalogue level) by
validation RMSLE, then the recent-mean and the seasonal-naive baselines (one-feature linear models
that cannot fail on a finite row)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import forecast
from .metrics import SCALE, SELECTION_METRIC, regression_metrics
from .models import BASELINES, ENSEMBLE_KIND, ENSEMBLE_WEIGHTS_TEXT, DemandModel
from .splits import SPLIT_COLUMN, DesignMatrices

INTERVAL_QUANTILES = (0.1, 0.9)


@dataclass
class Evaluation:
    metrics: dict[str, dict[str, dict[str, float]]]  # kind -> split -> metric -> value
    champion: str
    fallback_chain: list[str]
    residual_quantiles: dict[str, list[float]]  # kind -> validation residual quantiles (log1p)
    beats_baselines: dict[str, dict[str, bool]]  # split -> baseline -> champion scores lower
    validation_residuals: dict[str, list[float]]  # kind -> log1p residuals on validation (the forecast's smearing)
    forecast: dict[str, dict[str, dict[str, float]]]  # kind -> split -> weekly-units WAPE, RMSLE, weeks
    forecast_beats_baselines: dict[str, dict[str, bool]]  # split -> baseline -> champion's weekly WAPE lower

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric_scale": SCALE,
            "selection_metric": SELECTION_METRIC,
            "selected_on": "validation",
            "champion_rule": f"the weighted mean ({ENSEMBLE_KIND}) of {ENSEMBLE_WEIGHTS_TEXT} when there is one, "
            f"else the lowest validation {SELECTION_METRIC}",
            "interval_quantiles": list(INTERVAL_QUANTILES),
            "metrics": self.metrics,
            "champion": self.champion,
            "fallback_chain": self.fallback_chain,
            "residual_quantiles": self.residual_quantiles,
            "beats_baselines": self.beats_baselines,
            "validation_residuals": self.validation_residuals,
            "forecast_scale": "units per week, both price lists, at the list in force",
            "forecast": self.forecast,
            "forecast_beats_baselines": self.forecast_beats_baselines,
        }


def evaluate_candidates(models: dict[str, DemandModel], data: DesignMatrices, rows: pd.DataFrame) -> Evaluation:
    """``data`` holds validation and test, ``rows`` the split weekly rows they came from (in the same
    order within a split); only validation decides the ranking."""
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    quantiles: dict[str, list[float]] = {}
    residuals_by_kind: dict[str, list[float]] = {}
    weekly: dict[str, dict[str, dict[str, float]]] = {}
    for kind, model in models.items():
        metrics[kind], weekly[kind] = {}, {}
        for split in ("validation", "test"):
            predicted = model.predict_log(data.x[split])
            metrics[kind][split] = regression_metrics(data.y[split], predicted)
            weekly[kind][split] = forecast.accuracy(rows[rows[SPLIT_COLUMN] == split], predicted)
        residuals = data.y["validation"] - np.clip(model.predict_log(data.x["validation"]), 0.0, None)
        finite = residuals[np.isfinite(residuals)]
        quantiles[kind] = [float(q) for q in np.quantile(finite, INTERVAL_QUANTILES)] if finite.size else [0.0, 0.0]
        residuals_by_kind[kind] = [round(float(r), 6) for r in finite]
    order = list(models)  # insertion order breaks ties

    def ranked(kinds: list[str]) -> list[str]:
        finite = [k for k in kinds if np.isfinite(metrics[k]["validation"][SELECTION_METRIC])]
        return sorted(finite, key=lambda k: (metrics[k]["validation"][SELECTION_METRIC], order.index(k)))

    singles = ranked([k for k in order if k not in BASELINES and k != ENSEMBLE_KIND])
    ensemble = ranked([ENSEMBLE_KIND] if ENSEMBLE_KIND in models else [])  # it leads; never chosen on validation
    baselines = [k for k in BASELINES if k in models and np.isfinite(metrics[k]["validation"][SELECTION_METRIC])]
    chain = ensemble + singles + baselines
    if not chain:
        raise ValueError("no candidate produced finite validation predictions; inspect the model assets")
    champion = chain[0]
    beats = {
        split: {
            b: metrics[champion][split][SELECTION_METRIC] < metrics[b][split][SELECTION_METRIC]
            for b in BASELINES
            if b in models and b != champion
        }
        for split in ("validation", "test")
    }
    beats_forecast = {
        split: {
            b: weekly[champion][split]["wape"] < weekly[b][split]["wape"]
            for b in BASELINES
            if b in models and b != champion
        }
        for split in ("validation", "test")
    }
    return Evaluation(metrics, champion, chain[1:], quantiles, beats, residuals_by_kind, weekly, beats_forecast)
