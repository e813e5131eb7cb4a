"""A list-price recommendation from a price response and the mix of lines the store's policy prices.

Why the mix: a list-price move is charged to three kinds of line at once: registered lines at
the list, registered bulk lines at the band discount, guest lines at the guest list (about twice
the list). Margin and revenue at a new list price are the sum over the three, each at its own
price; a formula that treats every unit as sold at the list (``cost x e / (1 + e)``) misprices
every product whose bulk or guest share is not negligible.

The demand at list price ``L'`` is the recent weekly units of each kind of line scaled by
``(L' / L) ** elasticity`` (``L`` the current list), so predicted units fall as the list rises
whatever the estimate (the elasticity is negative by construction, see ``price_response``).
The recommendation is the best list price in whole pence within the setting's band.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .price_list import lines_with_list

MIX_WEEKS = 13  # the recent quarter describes today's mix of lines


@dataclass(frozen=True)
class ObservedMix:
    """Recent weekly units per kind of line at the current list, and what each kind pays relative to it."""

    current_list_price: float
    regular_units: float  # registered lines at the list, per week
    band_units: float  # registered lines paying a quantity-band discount, per week
    guest_units: float  # guest lines, per week
    band_ratio: float  # band price / list (1.0 when no line was discounted)
    guest_ratio: float  # guest list / wholesale list (2.0 when no guest bought)
    weeks: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @property
    def units(self) -> float:
        return self.regular_units + self.band_units + self.guest_units


def observed_mix(lines: pd.DataFrame, weeks: int = MIX_WEEKS) -> ObservedMix:
    """One stockcode's mix over its last ``weeks`` weeks at the list price now in force."""
    frame = lines_with_list(lines)
    if frame.empty:
        raise ValueError("no usable sale lines: the mix of list, band and guest lines cannot be measured")
    current = float(frame.attrs["lists"]["list_price"].iloc[-1])
    last = frame["week"].max()
    recent = frame[(frame["week"] > last - pd.Timedelta(weeks=weeks)) & ((frame["list_price"] - current).abs() < 0.005)]
    span = max(1, int((last - recent["week"].min()).days // 7) + 1) if len(recent) else 1
    registered = recent[~recent["guest"]]
    band = registered[registered["unit_price"] < current - 0.005]
    guests = recent[recent["guest"]]
    band_ratio = float((band["unit_price"] / current).median()) if len(band) else 1.0
    guest_ratio = float((guests["unit_price"] / current).median()) if len(guests) else 2.0
    return ObservedMix(
        current_list_price=current,
        regular_units=float(registered["quantity"].sum() - band["quantity"].sum()) / span,
        band_units=float(band["quantity"].sum()) / span,
        guest_units=float(guests["quantity"].sum()) / span,
        band_ratio=band_ratio,
        guest_ratio=guest_ratio,
        weeks=span,
    )


def expected_outcomes(mix: ObservedMix, elasticity: float, unit_cost: float, prices: np.ndarray) -> pd.DataFrame:
    """Expected weekly units, revenue and margin at each list price, the mix charged by store policy."""
    prices = np.asarray(prices, dtype=float)
    scale = (prices / mix.current_list_price) ** elasticity
    regular, band, guest = mix.regular_units * scale, mix.band_units * scale, mix.guest_units * scale
    revenue = prices * (regular + band * mix.band_ratio + guest * mix.guest_ratio)
    units = regular + band + guest
    return pd.DataFrame(
        {"list_price": prices, "units": units, "revenue": revenue, "margin": revenue - unit_cost * units}
    )


def pence_grid(low: float, high: float) -> np.ndarray:
    """Every price in whole pence from ``low`` to ``high`` (at least one)."""
    start, stop = int(np.ceil(low * 100 - 1e-6)), int(np.floor(high * 100 + 1e-6))
    return np.arange(start, max(start, stop) + 1) / 100.0


def best_list_price(
    mix: ObservedMix,
    elasticity: float,
    unit_cost: float,
    objective: str,
    low: float,
    high: float,
) -> tuple[float, bool]:
    """The list price in ``[low, high]`` (whole pence) with the highest expected ``objective``.

    Also whether it sits on the band's edge: for an unbounded margin that means the estimate
    has no interior optimum (inelastic demand), which the caller must not act on.
    """
    if objective not in ("margin", "revenue"):
        raise ValueError(f"objective must be 'margin' or 'revenue', not {objective!r}")
    prices = pence_grid(low, high)
    values = expected_outcomes(mix, elasticity, unit_cost, prices)[objective].to_numpy()
    best = int(np.argmax(values))
    return float(prices[best]), best in (0, len(prices) - 1) and len(prices) > 1
