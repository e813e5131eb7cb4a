"""Price curves: predicted quantity and sales over a price grid, and the sales-maximising price.

The grid is scored on the stockcode's own recent order lines (the "scenario"): every line is
repriced at each grid price, every price-derived feature is recomputed from that price and the
line's own history statistics (past maximum, 28-day median), and the predicted quantities are
averaged. Sales are price times expected quantity per order line. The interval comes from the
model's validation residual quantiles on the log1p scale.

The optimum of a grid is only trustworthy inside it: when it sits on the first or last grid
price, the true optimum may lie beyond the prices this product was ever sold at, and the curve
says so (``optimum_on_edge``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .features import HISTORY_STATS, PRICE_FEATURES, price_derived_features
from .metrics import to_quantity
from .models import DemandModel
from .splits import Preprocessor
from .synthetic import expected_quantity
from .synthetic import optimal_price as true_optimal_price

MAX_SCENARIO_ROWS = 200
MIN_SCENARIO_ROWS = 30
MAX_BINS = 1000


@dataclass(frozen=True)
class PriceCurve:
    curve: pd.DataFrame  # unit_price, quantity, quantity_low, quantity_high, sales, sales_low, sales_high
    optimal_price: float
    optimal_sales: float
    optimum_on_edge: bool

    def summary(self) -> dict[str, object]:
        return {
            "optimal_price": self.optimal_price,
            "optimal_sales": self.optimal_sales,
            "optimum_on_edge": self.optimum_on_edge,
            "price_min": float(self.curve["unit_price"].iloc[0]),
            "price_max": float(self.curve["unit_price"].iloc[-1]),
            "bins": len(self.curve),
        }


def scenario_rows(features: pd.DataFrame, recent_days: int) -> pd.DataFrame:
    """The latest order lines: those of the last ``recent_days``, at least 30, at most 200."""
    ordered = features.sort_values(["invoice_date", "invoice_no"], kind="mergesort")
    cutoff = ordered["invoice_date"].max() - pd.Timedelta(days=recent_days)
    recent = ordered[ordered["invoice_date"] > cutoff]
    if len(recent) < MIN_SCENARIO_ROWS:
        recent = ordered.tail(MIN_SCENARIO_ROWS)
    return recent.tail(MAX_SCENARIO_ROWS).reset_index(drop=True)


def price_grid(scenario: pd.DataFrame, bins: int) -> np.ndarray:
    """Evenly spaced prices over the range the product was recently sold at."""
    if not 2 <= bins <= MAX_BINS:
        raise ValueError(f"a price grid needs between 2 and {MAX_BINS} bins, got {bins}")
    low, high = float(scenario["unit_price"].min()), float(scenario["unit_price"].max())
    if not np.isfinite([low, high]).all() or low <= 0:
        raise ValueError(f"recent prices must be positive and finite, got {low} to {high}")
    if high - low < 1e-9:  # one price only: look 10 % either side rather than at a single point
        low, high = low * 0.9, high * 1.1
    return np.linspace(low, high, bins)


def grid_matrix(
    preprocessor: Preprocessor, scenario: pd.DataFrame, prices: np.ndarray, base: np.ndarray | None = None
) -> np.ndarray:
    """``len(prices) * len(scenario)`` model rows: each scenario line repriced at each grid price.

    The scenario is preprocessed once (``base``, which a server can keep between requests);
    only the price-derived columns are recomputed per price.
    """
    base = preprocessor.transform(scenario) if base is None else base
    n, m = len(scenario), len(prices)
    matrix = np.tile(base, (m, 1))
    history = {name: np.tile(scenario[name].to_numpy(dtype=float), m) for name in HISTORY_STATS}
    derived = price_derived_features(np.repeat(prices, n), history["past_max_price"], history["past_median_price_28d"])
    for name in PRICE_FEATURES:
        column = preprocessor.numeric.index(name)
        mean, scale = preprocessor.means[column], preprocessor.scales[column]
        matrix[:, column] = (derived[name] - mean) / scale
    return matrix


def predict_curve(
    model: DemandModel,
    preprocessor: Preprocessor,
    scenario: pd.DataFrame,
    prices: np.ndarray,
    residual_quantiles: tuple[float, float] | list[float],
    base: np.ndarray | None = None,
) -> PriceCurve:
    prices = np.asarray(prices, dtype=float)
    if prices.ndim != 1 or len(prices) < 2 or not np.all(np.diff(prices) > 0) or prices[0] <= 0:
        raise ValueError("prices must be an increasing array of at least two positive values")
    predicted = np.asarray(model.predict_log(grid_matrix(preprocessor, scenario, prices, base)), dtype=float)
    if not np.isfinite(predicted).all():
        raise FloatingPointError(f"{model.kind} predicted non-finite quantities on the price grid")
    predicted = predicted.reshape(len(prices), len(scenario))
    low_q, high_q = residual_quantiles
    quantity = to_quantity(predicted).mean(axis=1)
    quantity_low = to_quantity(predicted + low_q).mean(axis=1)
    quantity_high = to_quantity(predicted + high_q).mean(axis=1)
    curve = pd.DataFrame(
        {
            "unit_price": prices,
            "quantity": quantity,
            "quantity_low": quantity_low,
            "quantity_high": quantity_high,
            "sales": prices * quantity,
            "sales_low": prices * quantity_low,
            "sales_high": prices * quantity_high,
        }
    )
    best = int(np.argmax(curve["sales"].to_numpy()))
    return PriceCurve(
        curve,
        float(prices[best]),
        float(curve["sales"].iloc[best]),
        best in (0, len(prices) - 1),
    )


def revenue_regret(shape: str, a: float, b: float, recommended_price: float) -> float:
    """Share of the best achievable expected sales lost by charging ``recommended_price``."""
    best_price = true_optimal_price(shape, a, b)
    best = best_price * float(expected_quantity(shape, a, b, best_price))
    achieved = recommended_price * float(expected_quantity(shape, a, b, recommended_price))
    return float(max(0.0, 1.0 - achieved / best))
