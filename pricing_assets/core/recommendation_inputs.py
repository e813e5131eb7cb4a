"""What a list-price recommendation was made from, kept with it so that it can be made again.

``list_price_recommendation`` stores these inputs beside its answer (``inputs`` in the promoted
bundle's recommendation.json), so serving can answer one request with another objective,
guardrail, unit cost or gain confidence by calling the same :func:`recommendation.recommend` on
the same numbers: with the promoted settings it gives the promoted answer exactly (JSON keeps
every float).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .recommendation import (
    ObservedMix,
    RecommendationConfig,
    mix_at_forecast,
    observed_mix,
    recommend,
    recommendation_curve,
    unit_cost_for,
)

if TYPE_CHECKING:
    from .forecast import WeeklyForecast

# The parts of the asset's answer that are not the answer a user reads: the curve (recommendation.json
# has it for the plot), the mix and the inputs it was made from, and which model's forecast it is valued at
# (forecast_model: the champion's, or the fallback's demand_forecast took; recommendation.json keeps it).
NOT_SERVED = ("curve", "mix", "inputs", "forecast_model")


def served_part(answer: dict[str, Any]) -> dict[str, Any]:
    """The recommendation as the manifest and serving give it."""
    return {k: v for k, v in answer.items() if k not in NOT_SERVED}


@dataclass(frozen=True)
class RecommendationInputs:
    """Everything :func:`recommendation.recommend` takes, for one stockcode."""

    mix: ObservedMix
    elasticity: float
    standard_error: float
    own_weight: float
    unit_cost: float
    cost_assumed: bool
    config: RecommendationConfig
    level_factors: tuple[float, ...] = ()  # the forecast level's draws (core/forecast.py); empty: level known

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "mix": self.mix.to_dict(),
            "config": asdict(self.config),
            "level_factors": list(self.level_factors),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecommendationInputs:
        """Raises KeyError or TypeError when ``data`` is not a whole set of inputs."""
        fields = {k: data[k] for k in ("elasticity", "standard_error", "own_weight", "unit_cost", "cost_assumed")}
        levels = tuple(float(f) for f in data.get("level_factors", ()))  # bundles before the weekly forecast: none
        return cls(
            mix=ObservedMix(**data["mix"]),
            config=RecommendationConfig(**data["config"]),
            level_factors=levels,
            **fields,
        )

    def recommend(
        self,
        objective: str | None = None,
        guardrail: float | None = None,
        unit_cost: float | None = None,
        gain_confidence: float | None = None,
    ) -> dict[str, Any]:
        """The recommendation again, any of objective, guardrail, unit cost or gain confidence replaced (a given
        cost is not assumed)."""
        asked = (("objective", objective), ("guardrail", guardrail), ("gain_confidence", gain_confidence))
        changes = {k: v for k, v in asked if v is not None}
        config = replace(self.config, **changes)
        cost, assumed = (self.unit_cost, self.cost_assumed) if unit_cost is None else (float(unit_cost), False)
        return recommend(
            self.mix, self.elasticity, self.standard_error, self.own_weight, cost, assumed, config, self.level_factors
        )

    def curve(self, prices: np.ndarray, unit_cost: float | None = None) -> pd.DataFrame:
        """Expected weekly units, revenue and margin at each list price of ``prices``, with 95 % bands.

        The response :meth:`recommend` is made on, on the same elasticity draws (seed and count), so the
        curve peaks at its ``best_list_price_in_band`` and a move stops there or short of it, where its
        gain is surest; ``unit_cost`` as in
        :meth:`recommend` (None: the bundle's)."""
        cost = self.unit_cost if unit_cost is None else float(unit_cost)
        return recommendation_curve(
            self.mix,
            self.elasticity,
            self.standard_error,
            cost,
            prices,
            self.config.seed,
            self.config.draws,
            self.level_factors,
        )


def inputs_for(
    stockcode: str,
    cleaned: pd.DataFrame,
    lists: pd.DataFrame,
    expected: WeeklyForecast,
    response: dict[str, Any],
    costs: dict[str, float],
    assumed_cost_ratio: float,
    config: RecommendationConfig,
) -> RecommendationInputs:
    """What ``list_price_recommendation`` decides from, made one way for the asset and the benchmarks: the mix of
    the stockcode's cleaned lines (``lists``: its weekly lists) brought to the forecast ``expected``, counting the
    weeks without a sale before its week; the response's elasticity; the unit cost from ``costs``, else the
    assumed ratio of the current list (flagged)."""
    observed = observed_mix(cleaned, lists=lists, forecast_week=expected.week)
    mix = mix_at_forecast(observed, expected.registered_units, expected.guest_units)
    cost, assumed = unit_cost_for(stockcode, costs, mix.current_list_price, assumed_cost_ratio)
    return RecommendationInputs(
        mix,
        response["elasticity"],
        response["standard_error"],
        response["own_weight"],
        cost,
        assumed,
        config,
        tuple(expected.level_factors),
    )
