"""A simulated wholesaler that sets prices the way the UCI Online Retail shop does, with known demand.

Why: on the real file the price paid on a line is set *by* the order (quantity bands, a guest
price list), so a model of quantity against paid price learns the store's price schedule, not
how customers respond to a price. Nothing measured on real data can tell the two apart. This
store has the real file's price setting (calibrated against it: ``bench/decision_quality.py``
prints the two side by side) and a demand whose response to the *list* price is known, so a
recommended list price can be scored by what it truly earns.

Price setting, per product:
- a wholesale **list price** that changes rarely: most products never change it; a minority
  change it once or twice a year (mostly up), and some of those changes land on the product's
  own seasonal bump, the confounding a naive estimate falls for;
- a **guest list** at about twice the list (``guest_ratio``), charged to guest checkouts;
- a **quantity band**: registered lines of ``band_threshold`` units or more pay
  ``band_ratio`` times the list.

Demand, per product and week, at list price ``L`` (``P0`` the product's first list price,
``S`` the season: a Christmas ramp times a product-specific bump):
- registered orders ``~ Poisson(registered_rate * S * (L/P0) ** elasticity_orders)``; each
  order comes from one of the product's wholesalers, who orders a habitual size ``h`` scaled by
  ``(L/P0) ** elasticity_size`` times a noise ``eps`` drawn from :data:`ORDER_SIZE_NOISE`, rounded
  (at least one unit);
- guest orders ``~ Poisson(guest_rate * S * (L/P0) ** elasticity)``, each of one unit plus a
  negative binomial extra (mean :data:`GUEST_EXTRA_UNITS`; a guest buys a handful whatever the
  price, most often one).

``elasticity = elasticity_orders + elasticity_size`` is the product's elasticity of units with
respect to its list price (half through fewer orders, half through smaller ones, as the pooled
panel of the real file shows). Products belong to families, visible in the description as in
the real file ("LUNCH BAG ...", "... T-LIGHT HOLDER"), with different mean elasticities and a
per-product spread around the family mean.

The truth is exact, not sampled: :func:`expected_outcomes` takes a product's ground-truth row
and any list prices and returns expected weekly units, revenue and margin at season level 1
(the season scales every quantity alike, so it moves no optimum). The order-size noise is a
fixed discrete distribution for that reason. Unit costs are set so that each product's current
(last) list price sits a chosen distance from its true margin optimum: some near it, some 10-30 %
off either way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .synthetic import add_quirks, as_uci_columns

# Families as the real file names them (prefix or suffix of the description) and their mean
# elasticity of units to the list price; the unweighted mean is about -2, as the dev file's
# pooled panel (product and week effects) gives.
FAMILIES: tuple[tuple[str, str, float], ...] = (
    ("LUNCH BAG", "prefix", -2.6),
    ("JUMBO BAG", "prefix", -3.0),
    ("T-LIGHT HOLDER", "suffix", -1.3),
    ("CAKE CASES", "suffix", -2.3),
    ("GIFT WRAP", "prefix", -2.1),
    ("HANGING HEART", "suffix", -1.6),
    ("DOORMAT", "suffix", -1.8),
    ("MUG", "suffix", -1.5),
    ("PARTY BUNTING", "suffix", -2.0),
    ("CHILDRENS APRON", "suffix", -2.4),
)
VARIANTS = (
    "RED RETROSPOT",
    "VINTAGE PAISLEY",
    "PINK POLKADOT",
    "SKULLS",
    "WOODLAND",
    "DOLLY GIRL",
    "SPACEBOY",
    "APPLES",
    "BLACK AND WHITE",
    "VINTAGE LEAF",
    "REGENCY",
    "SCANDINAVIAN",
    "STRAWBERRY",
    "ALPHABET",
    "PAISLEY PARK",
    "CHERRY BLOSSOM",
)
ELASTICITY_SPREAD = 0.4  # per-product standard deviation around the family mean
ELASTICITY_RANGE = (-4.5, -1.15)  # below -1 so that every margin optimum is finite
ORDERS_SHARE = 0.5  # share of the elasticity that acts through the number of orders
# The order-size noise: a fixed discrete log-normal (mean 1), so expectations are exact sums.
ORDER_SIZE_NOISE = np.exp(stats.norm.ppf((np.arange(24) + 0.5) / 24) * 0.35 - 0.35**2 / 2)
GUEST_EXTRA_UNITS = 1.5
GUEST_EXTRA_DISPERSION = 0.4  # negative binomial size: most guests buy one unit
# Each trading day's share of a week's lines, by weekday (Monday 0): the real shop does not trade on Saturdays.
TRADING_DAY_SHARES = {0: 0.19, 1: 0.2, 2: 0.2, 3: 0.21, 4: 0.12, 6: 0.08}
# The decisions the ground truth has optima for: (objective, guardrail around the current list
# price). Revenue alone is degenerate without a guardrail (with elastic demand it always wants
# the lowest price), so it is only offered within one.
SETTINGS: tuple[tuple[str, float | None], ...] = (("margin", None), ("margin", 0.15), ("revenue", 0.15))


@dataclass(frozen=True)
class StoreConfig:
    seed: int = 7
    n_products: int = 240
    start: str = "2010-12-01"
    end: str = "2011-12-09"
    change_probability: float = 0.15  # products with at least one list change in the window
    seasonal_change_share: float = 0.4  # of those, the share whose change lands on their bump
    guest_share: float = 0.24


def _family_descriptions(rng: np.random.Generator, n: int) -> tuple[np.ndarray, list[str]]:
    family = rng.integers(0, len(FAMILIES), size=n)
    used: set[str] = set()
    names = []
    for f in family:
        word, place, _ = FAMILIES[f]
        for attempt in range(100):
            variant = VARIANTS[int(rng.integers(len(VARIANTS)))]
            variant = variant if attempt < 20 else f"{variant} {attempt}"
            name = f"{word} {variant}" if place == "prefix" else f"{variant} {word}"
            if name not in used:
                break
        used.add(name)
        names.append(name)
    return family, names


def _codes(rng: np.random.Generator, n: int) -> list[str]:
    numbers = rng.choice(np.arange(20000, 90000), size=n, replace=False)
    suffix = rng.choice(["", "", "", "", "A", "B", "C"], size=n)
    return [f"{num}{s}" for num, s in zip(numbers, suffix, strict=True)]


def _weeks(cfg: StoreConfig) -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(cfg.start).to_period("W").start_time, cfg.end, freq="W-MON")


def christmas_season(weeks: pd.DatetimeIndex) -> np.ndarray:
    """The shop-wide season: a ramp from September to a mid-November peak, then a quiet January."""
    doy = weeks.dayofyear.to_numpy()
    ramp = 1.1 * np.exp(-0.5 * ((doy - 320) / 28.0) ** 2)
    january = -0.25 * np.exp(-0.5 * ((doy - 15) / 12.0) ** 2)
    return 1.0 + ramp + january


def _list_path(
    rng: np.random.Generator, cfg: StoreConfig, weeks: pd.DatetimeIndex, first_price: float, bump_week: int | None
) -> tuple[np.ndarray, int]:
    """The list price in force each week, and how many times it changed."""
    path = np.full(len(weeks), first_price)
    if rng.random() >= cfg.change_probability:
        return path, 0
    changes = int(rng.choice([1, 2, 3], p=[0.7, 0.25, 0.05]))
    at = np.sort(rng.choice(np.arange(4, len(weeks) - 2), size=changes, replace=False))
    if bump_week is not None and rng.random() < cfg.seasonal_change_share:
        at[0] = int(np.clip(bump_week - 1, 4, len(weeks) - 3))  # the rise lands on the bump
        at = np.unique(at)
    price = first_price
    for week in at:
        size = float(np.clip(rng.lognormal(np.log(0.12), 0.5), 0.05, 0.4))
        direction = 1.0 if rng.random() < 0.7 else -1.0
        price = round(price * float(np.exp(direction * size)), 2)
        path[week:] = price
    return path, len(at)


def _paid_prices(row: Mapping[str, object], list_price: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Registered regular, registered band and guest prices at each list price (store policy)."""
    list_price = np.asarray(list_price, dtype=float)
    return (
        np.round(list_price, 2),
        np.round(list_price * float(row["band_ratio"]), 2),
        np.round(list_price * float(row["guest_ratio"]), 2),
    )


def _size_scale(row: Mapping[str, object], list_price: np.ndarray) -> np.ndarray:
    return (np.asarray(list_price, dtype=float) / float(row["first_list_price"])) ** float(row["elasticity_size"])


def registered_quantity(habit: np.ndarray, scale: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """An order's units: habit x price response x noise, rounded, at least one."""
    return np.maximum(1.0, np.round(habit * scale * noise))


def expected_outcomes(row: Mapping[str, object], list_prices: np.ndarray | float) -> pd.DataFrame:
    """Exact expected weekly units, orders, revenue and margin at each list price (season level 1).

    ``row`` is one product's ground truth (:func:`generate`'s second table). Revenue is what the
    store's policy charges each line at that list (list, band or guest price); margin subtracts
    the unit cost from it.
    """
    prices = np.atleast_1d(np.asarray(list_prices, dtype=float))
    ratio = prices / float(row["first_list_price"])
    habits = np.asarray(json.loads(str(row["registered_habits"])), dtype=float)
    weights = np.asarray(json.loads(str(row["registered_weights"])), dtype=float)
    weights = weights / weights.sum()
    noise = ORDER_SIZE_NOISE
    # units[k, c, j]: the order of customer c with noise j at list price k
    units = registered_quantity(habits[None, :, None], _size_scale(row, prices)[:, None, None], noise[None, None, :])
    in_band = units >= float(row["band_threshold"])
    regular_price, band_price, guest_price = _paid_prices(row, prices)
    paid = np.where(in_band, band_price[:, None, None], regular_price[:, None, None])
    per_order_units = (units.mean(axis=2) * weights).sum(axis=1)
    per_order_revenue = ((units * paid).mean(axis=2) * weights).sum(axis=1)
    registered_orders = float(row["registered_rate"]) * ratio ** float(row["elasticity_orders"])
    guest_orders = float(row["guest_rate"]) * ratio ** float(row["elasticity"])
    guest_units = 1.0 + GUEST_EXTRA_UNITS
    units_total = registered_orders * per_order_units + guest_orders * guest_units
    revenue = registered_orders * per_order_revenue + guest_orders * guest_units * guest_price
    return pd.DataFrame(
        {
            "list_price": prices,
            "registered_units_per_order": per_order_units,
            "orders": registered_orders + guest_orders,
            "units": units_total,
            "revenue": revenue,
            "margin": revenue - float(row["unit_cost"]) * units_total,
        }
    )


def guardrail_band(current: float, guardrail: float | None, cost: float | None = None) -> tuple[float, float]:
    """The list prices a setting allows: +/- ``guardrail`` around the current price, never below cost."""
    low, high = (0.0, np.inf) if guardrail is None else (current * (1 - guardrail), current * (1 + guardrail))
    if cost is not None:
        low = max(low, cost)
    return low, high


def setting_name(objective: str, guardrail: float | None) -> str:
    return f"{objective}_{'unbounded' if guardrail is None else f'guardrail_{round(guardrail * 100)}'}"


def true_curve_prices(current: float) -> np.ndarray:
    """Every list price in whole pence from 0.5x to 2x ``current``: the prices the store can charge.

    A price is charged in pence, so the best of these is the exact optimum of a setting, and a
    recommendation rounded to pence (:func:`charged`) can never beat it.
    """
    return np.arange(np.ceil(50 * current), np.floor(200 * current) + 1) / 100.0


def charged(list_price: float, low: float = 0.0, high: float = np.inf) -> float:
    """The list price the store would put on the product: in pence, within the band ``[low, high]``."""
    pence = round(float(list_price), 2)
    return float(np.clip(pence, np.ceil(low * 100 - 1e-6) / 100, np.floor(high * 100 + 1e-6) / 100))


def _cost_for_optimum(row: Mapping[str, object], current: float, target: float) -> float:
    """The unit cost that puts the true margin optimum at ``target``.

    Units and revenue do not depend on the cost, so the curve is computed once; the optimum
    of ``revenue - cost * units`` rises with the cost, so a root search finds it.
    """
    curve = expected_outcomes({**row, "unit_cost": 0.0}, true_curve_prices(current))
    prices, revenue, units = (curve[c].to_numpy() for c in ("list_price", "revenue", "units"))

    def gap(cost: float) -> float:
        return float(np.log(prices[int(np.argmax(revenue - cost * units))]) - np.log(target))

    low, high = 0.02 * target, 0.97 * target
    if gap(low) > 0 or gap(high) < 0:  # the target cannot be reached on the curve's grid
        return float(low if gap(low) > 0 else high)
    return float(optimize.brentq(gap, low, high, xtol=1e-4 * target))


def _customer_pool(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The product's wholesalers: ids, habitual order sizes and how often each orders."""
    n = int(rng.integers(15, 60))
    ids = rng.choice(np.arange(12346, 18288), size=n, replace=False).astype(float)
    habits = np.round(np.exp(rng.normal(np.log(6.0), 1.2, size=n)), 1).clip(1.0, 400.0)
    weights = rng.pareto(1.5, size=n) + 0.2
    return ids, habits, weights / weights.sum()


def _products(rng: np.random.Generator, cfg: StoreConfig, weeks: pd.DatetimeIndex) -> list[dict[str, object]]:
    n = cfg.n_products
    family, descriptions = _family_descriptions(rng, n)
    codes = _codes(rng, n)
    products = []
    for i in range(n):
        family_mean = FAMILIES[family[i]][2]
        elasticity = float(np.clip(family_mean + rng.normal(0.0, ELASTICITY_SPREAD), *ELASTICITY_RANGE))
        first = round(float(np.exp(rng.normal(np.log(2.1), 0.7))), 2)
        first = max(first, 0.19)
        has_bump = rng.random() < 0.5
        bump_week = int(rng.integers(4, len(weeks) - 4)) if has_bump else None
        path, changes = _list_path(rng, cfg, weeks, first, bump_week)
        ids, habits, weights = _customer_pool(rng)
        lines_per_week = float(np.exp(rng.normal(np.log(5.8), 0.45)))
        guest_share = float(np.clip(rng.beta(6, 19), 0.05, 0.6))
        threshold = int(rng.choice([24, 48, 48, 48]))
        row: dict[str, object] = {
            "stock_code": codes[i],
            "description": descriptions[i],
            "family": FAMILIES[family[i]][0],
            "family_elasticity": family_mean,
            "elasticity": elasticity,
            "elasticity_orders": ORDERS_SHARE * elasticity,
            "elasticity_size": (1 - ORDERS_SHARE) * elasticity,
            "first_list_price": first,
            "current_list_price": float(path[-1]),
            "list_changes": changes,
            "largest_list_change": float(np.abs(np.diff(np.log(path))).max()) if changes else 0.0,
            "guest_ratio": float(np.clip(rng.normal(1.99, 0.03), 1.85, 2.1)),
            "band_threshold": threshold,
            "band_ratio": float(rng.uniform(0.82, 0.9)),
            "registered_rate": lines_per_week * (1 - guest_share),
            "guest_rate": lines_per_week * guest_share,
            "registered_habits": json.dumps(habits.tolist()),
            "registered_weights": json.dumps(np.round(weights, 6).tolist()),
            "unit_cost": 0.0,
            "bump_week": -1 if bump_week is None else bump_week,
            "bump_height": float(rng.uniform(0.3, 1.2)) if has_bump else 0.0,
            "bump_width": float(rng.uniform(2.0, 5.0)),
        }
        # Where the current price sits against the true optimum: near it, a little off, or 10-30 % off.
        kind = rng.choice(3, p=[0.35, 0.3, 0.35])
        offset = float([rng.uniform(0.0, 0.03), rng.uniform(0.03, 0.1), rng.uniform(0.1, 0.3)][kind])
        target = float(path[-1]) * float(np.exp(offset if rng.random() < 0.5 else -offset))
        row["unit_cost"] = round(_cost_for_optimum(row, float(path[-1]), target), 4)
        products.append({"truth": row, "path": path, "customers": ids})
    return products


def _season(row: Mapping[str, object], weeks: pd.DatetimeIndex) -> np.ndarray:
    position = np.arange(len(weeks))
    bump = float(row["bump_height"]) * np.exp(
        -0.5 * ((position - int(row["bump_week"])) / float(row["bump_width"])) ** 2
    )
    return christmas_season(weeks) * (1.0 + (bump if int(row["bump_week"]) >= 0 else 0.0))


def expected_weekly_units(
    row: Mapping[str, object], weeks: pd.DatetimeIndex, list_prices: np.ndarray, cfg: StoreConfig = StoreConfig()
) -> np.ndarray:
    """Exact expected units (both price lists) in each of ``weeks`` (week starts) at that week's list price.

    What a perfect forecast of the mean would say: the demand at season level 1
    (:func:`expected_outcomes`) times the week's season, times the share of its trading days inside
    the store's calendar (the first and last weeks are partial). Cleaning drops the 1.5 % of lines a
    later cancellation takes back, so observed units fall that much short of it on average.
    """
    calendar = _weeks(cfg)
    weeks = pd.DatetimeIndex(weeks)
    season = pd.Series(_season(row, calendar), index=calendar).reindex(weeks)
    if season.isna().any():
        raise ValueError(f"weeks outside the store's calendar ({cfg.start} to {cfg.end}): {list(weeks[season.isna()])}")
    first, last = pd.Timestamp(cfg.start), pd.Timestamp(cfg.end)
    covered = [
        sum(share for day, share in TRADING_DAY_SHARES.items() if first <= week + pd.Timedelta(days=day) <= last)
        for week in weeks
    ]
    units = expected_outcomes(row, np.asarray(list_prices, dtype=float))["units"].to_numpy()
    return units * season.to_numpy() * np.asarray(covered)


@lru_cache(maxsize=4)
def _products_of(cfg: StoreConfig) -> dict[str, dict[str, object]]:
    """The store's products by stockcode, exactly as :func:`generate` draws them (same seed, same order)."""
    products = _products(np.random.default_rng(cfg.seed), cfg, _weeks(cfg))
    return {str(p["truth"]["stock_code"]): p for p in products}


def weekly_units_draws(
    stock_code: str, weeks: pd.DatetimeIndex, draws: int = 300, cfg: StoreConfig = StoreConfig()
) -> np.ndarray:
    """A product's units (both price lists) in each of ``weeks``, in ``draws`` fresh draws of its demand at
    the list prices it had: shape ``(draws, len(weeks))``. Their median per week is what a perfect forecast
    of the median says.

    Why: WAPE, the forecast's score, rewards the median of a week's units, not their mean
    (:func:`expected_weekly_units`); for lumpy weekly units the two differ, so the mean is not the ceiling of
    what a WAPE can reach. The draws are the store's own demand process (orders, their sizes, guests) with
    seeds of their own, not the store's draw, and without its dirt and cleaning (about 1.5 % of the lines a
    cancellation takes back)."""
    product = _products_of(cfg).get(stock_code)
    if product is None:
        raise ValueError(f"stockcode {stock_code} is not one of the store's {cfg.n_products} products")
    calendar = _weeks(cfg)
    weeks = pd.DatetimeIndex(weeks)
    missing = weeks.difference(calendar)
    if len(missing):
        raise ValueError(f"weeks outside the store's calendar ({cfg.start} to {cfg.end}): {list(missing)}")
    first = pd.Timestamp(cfg.start)
    end = pd.Timestamp(cfg.end) + pd.Timedelta(days=1) - pd.Timedelta(minutes=1)
    units = np.zeros((draws, len(calendar)))
    for draw in range(draws):
        lines = _lines(np.random.default_rng([cfg.seed, 1, draw]), product, calendar, end)
        lines = lines[lines["invoice_date"] >= first]
        week = np.searchsorted(calendar.to_numpy(), lines["invoice_date"].to_numpy(), side="right") - 1
        units[draw] = np.bincount(week, weights=lines["quantity"].to_numpy(dtype=float), minlength=len(calendar))
    return units[:, calendar.get_indexer(weeks)]


def _lines(
    rng: np.random.Generator, product: dict[str, object], weeks: pd.DatetimeIndex, end: pd.Timestamp
) -> pd.DataFrame:
    row = product["truth"]
    path = np.asarray(product["path"])
    ratio = path / float(row["first_list_price"])
    season = _season(row, weeks)
    n_registered = rng.poisson(float(row["registered_rate"]) * season * ratio ** float(row["elasticity_orders"]))
    n_guest = rng.poisson(float(row["guest_rate"]) * season * ratio ** float(row["elasticity"]))
    habits = np.asarray(json.loads(str(row["registered_habits"])))
    weights = np.asarray(json.loads(str(row["registered_weights"])))
    weights = weights / weights.sum()
    week_of_registered = np.repeat(np.arange(len(weeks)), n_registered)
    customer = rng.choice(len(habits), size=len(week_of_registered), p=weights)
    noise = ORDER_SIZE_NOISE[rng.integers(0, len(ORDER_SIZE_NOISE), size=len(week_of_registered))]
    scale = _size_scale(row, path[week_of_registered])
    quantity = registered_quantity(habits[customer], scale, noise)
    regular, band, guest = _paid_prices(row, path)
    in_band = quantity >= float(row["band_threshold"])
    price = np.where(in_band, band[week_of_registered], regular[week_of_registered])
    week_of_guest = np.repeat(np.arange(len(weeks)), n_guest)
    dispersion = GUEST_EXTRA_DISPERSION
    extra = rng.negative_binomial(dispersion, dispersion / (dispersion + GUEST_EXTRA_UNITS), size=len(week_of_guest))
    guest_quantity = 1 + extra
    week = np.concatenate([week_of_registered, week_of_guest])
    day = rng.choice(list(TRADING_DAY_SHARES), size=len(week), p=list(TRADING_DAY_SHARES.values()))
    minute = rng.integers(8 * 60, 18 * 60, size=len(week))
    when = weeks[week] + pd.to_timedelta(day, unit="D") + pd.to_timedelta(minute, unit="min")
    customers = np.asarray(product["customers"])
    frame = pd.DataFrame(
        {
            "invoice_date": when,
            "customer_id": np.concatenate([customers[customer], np.full(len(week_of_guest), np.nan)]),
            "stock_code": str(row["stock_code"]),
            "description": str(row["description"]),
            "quantity": np.concatenate([quantity, guest_quantity]).astype("int64"),
            "unit_price": np.concatenate([price, guest[week_of_guest]]),
            "guest_session": np.concatenate(
                [np.zeros(len(week_of_registered)), rng.integers(1, 40, len(week_of_guest))]
            ),
        }
    )
    return frame[frame["invoice_date"] <= end]


def _invoices(rng: np.random.Generator, lines: pd.DataFrame) -> pd.DataFrame:
    """One invoice per customer and day (per guest session and day for guests), numbered in time order."""
    lines = lines.sort_values(["invoice_date", "stock_code"], kind="mergesort").reset_index(drop=True)
    day = lines["invoice_date"].dt.normalize()
    who = lines["customer_id"].fillna(-lines["guest_session"])
    key = pd.DataFrame({"day": day, "who": who})
    first_time = lines.groupby([day, who])["invoice_date"].transform("min")
    lines["invoice_date"] = first_time  # every line of an invoice carries its time
    order = key.assign(t=first_time).drop_duplicates(["day", "who"]).sort_values("t", kind="mergesort")
    number = pd.Series(np.arange(len(order)) + 536365, index=pd.MultiIndex.from_frame(order[["day", "who"]]))
    lines["invoice_no"] = number.reindex(pd.MultiIndex.from_frame(key)).to_numpy().astype(str)
    countries = np.where(rng.random(18288) < 0.9, "United Kingdom", rng.choice(["France", "Germany", "EIRE"], 18288))
    ids = lines["customer_id"].fillna(0).astype(int).to_numpy()
    lines["country"] = np.where(lines["customer_id"].isna(), "United Kingdom", countries[ids])
    return lines.drop(columns="guest_session")


def true_curves(truth: pd.DataFrame) -> pd.DataFrame:
    """Every product's expected weekly outcomes over list prices from 0.5x to 2x its current one."""
    parts = []
    for _, row in truth.iterrows():
        curve = expected_outcomes(row, true_curve_prices(float(row["current_list_price"])))
        parts.append(curve.assign(stock_code=row["stock_code"]))
    return pd.concat(parts, ignore_index=True)[["stock_code", "list_price", "orders", "units", "revenue", "margin"]]


def optimal_list_prices(truth: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Per product and setting (objective, guardrail), the argmax of the stored true curve in the allowed band."""
    columns: dict[str, list[float]] = {}
    by_code = dict(tuple(curves.groupby("stock_code", sort=False)))
    for _, row in truth.iterrows():
        curve = by_code[row["stock_code"]]
        for objective, guardrail in SETTINGS:
            cost = float(row["unit_cost"]) if objective == "margin" else None
            low, high = guardrail_band(float(row["current_list_price"]), guardrail, cost)
            allowed = curve[(curve["list_price"] >= low - 1e-9) & (curve["list_price"] <= high + 1e-9)]
            best = allowed.iloc[int(allowed[objective].to_numpy().argmax())]
            name = setting_name(objective, guardrail)
            columns.setdefault(f"optimal_price_{name}", []).append(float(best["list_price"]))
            columns.setdefault(f"optimal_value_{name}", []).append(float(best[objective]))
    return pd.DataFrame(columns, index=truth.index)


def generate(cfg: StoreConfig = StoreConfig()) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return ``(transactions, ground_truth, true_curves)``; identical for identical ``cfg``.

    ``transactions`` has the UCI Online Retail columns (original capitalisation) and the real
    file's dirt (cancellations, adjustments, duplicates, non-product codes), so it goes through
    the same normalisation and cleaning as the real file.
    """
    if cfg.n_products < 1:
        raise ValueError("the store needs at least one product (n_products >= 1)")
    if pd.Timestamp(cfg.end) - pd.Timestamp(cfg.start) < pd.Timedelta(days=56):
        raise ValueError(f"the store needs at least eight weeks of trading, got {cfg.start} to {cfg.end}")
    rng = np.random.default_rng(cfg.seed)
    weeks = _weeks(cfg)
    products = _products(rng, cfg, weeks)
    end = pd.Timestamp(cfg.end) + pd.Timedelta(days=1) - pd.Timedelta(minutes=1)
    lines = pd.concat([_lines(rng, p, weeks, end) for p in products], ignore_index=True)
    lines = lines[lines["invoice_date"] >= pd.Timestamp(cfg.start)]
    lines = _invoices(rng, lines)
    lines = add_quirks(rng, lines, last_invoice=int(lines["invoice_no"].astype(int).max()))
    transactions = as_uci_columns(lines)
    truth = pd.DataFrame([p["truth"] for p in products])
    curves = true_curves(truth)
    truth = pd.concat([truth, optimal_list_prices(truth, curves)], axis=1)
    return transactions, truth, curves
