"""Price curves over wholesale list prices: expected weekly units, revenue and margin, with bands.

A curve is next week's forecast units per price list (``core/forecast.py``) moved along the
stockcode's price response: units at list price ``p`` are the forecast at the current list times
``(p / current) ** elasticity``, charged as the store's policy charges each kind of line (the
list, the band discount, the guest list; ``core/recommendation.py``). So demand never rises with
the own list price, whichever model made the forecast, and the curve is smooth. The bands are the
2.5 % and 97.5 % quantiles over draws of the elasticity, each paired with a draw of the forecast
level: the uncertainty of the response and of the forecast, not only the model's residuals.

Serving makes the same curve in two ways: from the promoted recommendation's inputs (the
champion's forecast, :func:`list_price_curve`), or by forecasting the bundled week again with a
model of the bundle (:func:`predict_curve`), which is how a fallback model answers when the
champion cannot.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .forecast import forecast_next_week
from .models import DemandModel
from .recommendation import mix_at_forecast
from .recommendation_inputs import RecommendationInputs
from .splits import Preprocessor

MAX_BINS = 1000
# The curve's columns: unit_price is a wholesale list price; quantity is expected weekly units (all lines),
# sales the weekly revenue they pay, margin that less the unit cost of every unit.
CURVE_COLUMNS = (
    "unit_price",
    "quantity",
    "quantity_low",
    "quantity_high",
    "sales",
    "sales_low",
    "sales_high",
    "margin",
    "margin_low",
    "margin_high",
)
# recommendation_curve's column -> the curve's (and back, for the recommendation's plot).
FROM_RECOMMENDATION = {
    "list_price": "unit_price",
    **{f"units{end}": f"quantity{end}" for end in ("", "_low", "_high")},
    **{f"revenue{end}": f"sales{end}" for end in ("", "_low", "_high")},
}
CURVE_TO_RECOMMENDATION = {new: old for old, new in FROM_RECOMMENDATION.items()}


@dataclass(frozen=True)
class PriceCurve:
    curve: pd.DataFrame  # CURVE_COLUMNS
    model: str  # the model whose forecast the curve moves along the response

    def summary(self) -> dict[str, object]:
        return {
            "price_min": float(self.curve["unit_price"].iloc[0]),
            "price_max": float(self.curve["unit_price"].iloc[-1]),
            "bins": len(self.curve),
        }


def list_price_grid(low: float, high: float, bins: int) -> np.ndarray:
    """``bins`` evenly spaced list prices from ``low`` to ``high``."""
    if not 2 <= bins <= MAX_BINS:
        raise ValueError(f"a price grid needs between 2 and {MAX_BINS} bins, got {bins}")
    if not (np.isfinite([low, high]).all() and 0 < low <= high):
        raise ValueError(f"list prices must be positive, finite and in order, got {low} to {high}")
    if high - low < 0.005:  # one price (within half a penny): look 10 % either side rather than at one point
        low, high = low * 0.9, high * 1.1
    return np.linspace(low, high, bins)


def _check_prices(prices: np.ndarray) -> np.ndarray:
    prices = np.asarray(prices, dtype=float)
    if prices.ndim != 1 or len(prices) < 2 or not np.all(np.diff(prices) > 0) or prices[0] <= 0:
        raise ValueError("prices must be an increasing array of at least two positive values")
    return prices


def list_price_curve(inputs: RecommendationInputs, prices: np.ndarray, unit_cost: float | None = None) -> pd.DataFrame:
    """The curve of ``inputs`` (a recommendation's, its forecast included) over ``prices``."""
    frame = inputs.curve(_check_prices(prices), unit_cost)
    frame.columns = [FROM_RECOMMENDATION.get(c, c) for c in frame.columns]  # a new frame: relabel, no copy
    return frame if tuple(frame.columns) == CURVE_COLUMNS else frame[list(CURVE_COLUMNS)]


def predict_curve(
    model: DemandModel,
    preprocessor: Preprocessor,
    scenario: pd.DataFrame,
    inputs: RecommendationInputs,
    residuals: list[float],
    prices: np.ndarray,
    unit_cost: float | None = None,
) -> PriceCurve:
    """The curve with ``model``'s own forecast of the bundled week (``scenario``) in place of the champion's."""
    prices = _check_prices(prices)
    forecast = forecast_next_week(model, preprocessor, scenario, residuals, inputs.config.seed)
    mix = mix_at_forecast(inputs.mix, forecast.registered_units, forecast.guest_units)
    again = replace(inputs, mix=mix, level_factors=tuple(forecast.level_factors))
    return PriceCurve(list_price_curve(again, prices, unit_cost), model.kind)
