"""A list-price recommendation from a price response and the mix of lines the store's policy prices.

Why the mix: a list-price move is charged to three kinds of line at once: registered lines at
the list, registered bulk lines at the band discount, guest lines at the guest list (about twice
the list). Margin and revenue at a new list price are the sum over the three, each at its own
price; a formula that treats every unit as sold at the list (``cost x e / (1 + e)``) misprices
every product whose bulk or guest share is not negligible.

The demand at list price ``L'`` is next week's expected units of each kind of line scaled by
``(L' / L) ** elasticity`` (``L`` the current list), so predicted units fall as the list rises
whatever the estimate (the elasticity is negative by construction, see ``price_response``).
Next week's units come from the champion weekly model's forecast (``core/forecast.py``,
:func:`mix_at_forecast`), shared between list, band and guest lines as the recent weeks were;
without a forecast, the recent weeks' units. The intervals carry both uncertainties:
the elasticity's draws, each paired with a draw of the forecast level. The recommendation is the
list price in whole pence within the setting's band whose gain over the current price is the
largest that the response's draws make sure (97.5 % of them gain at least that much).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from .plots import png_bytes
from .price_list import lines_with_list
from .price_response import MAX_ELASTICITY, elasticity_interval

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
    # Complete weeks between the last sale and the week forecast, none of them with a sale (0: it sold last week,
    # or the week forecast was not given; bundles made before this field existed leave it out).
    weeks_without_sales: int = 0

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @property
    def units(self) -> float:
        return self.regular_units + self.band_units + self.guest_units

    @property
    def paid_units(self) -> float:
        """The units weighted by what each kind pays relative to the list: revenue per week over the list price."""
        return self.regular_units + self.band_units * self.band_ratio + self.guest_units * self.guest_ratio


def observed_mix(
    lines: pd.DataFrame,
    weeks: int = MIX_WEEKS,
    lists: pd.DataFrame | None = None,
    forecast_week: str | pd.Timestamp | None = None,
) -> ObservedMix:
    """One stockcode's mix over its last ``weeks`` weeks with a sale, at the list price now in force.

    ``lists`` are its weekly lists when already inferred (``price_list.weekly_list_prices``);
    ``forecast_week`` the week the recommendation is for (``forecast.WeeklyForecast.week``), which
    counts the weeks without a sale since the last one: a product that stopped selling keeps the mix of
    its last weeks with sales, and :func:`recommend` holds it when that was too long ago to price from.
    """
    frame = lines_with_list(lines, lists)
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
    quiet = 0
    if forecast_week is not None:  # the week after the last complete one: the weeks between are without a sale
        quiet = max(0, (pd.Timestamp(forecast_week) - last).days // 7 - 1)
    return ObservedMix(
        current_list_price=current,
        regular_units=float(registered["quantity"].sum() - band["quantity"].sum()) / span,
        band_units=float(band["quantity"].sum()) / span,
        guest_units=float(guests["quantity"].sum()) / span,
        band_ratio=band_ratio,
        guest_ratio=guest_ratio,
        weeks=span,
        weeks_without_sales=int(quiet),
    )


def mix_at_forecast(mix: ObservedMix, registered_units: float, guest_units: float) -> ObservedMix:
    """The mix at next week's forecast level: every kind of line scaled to the forecast total, in the
    shares of the recent weeks; the forecast's own split between the lists only when nothing sold recently.

    Why the recent shares and not the per-list forecasts: the level does not move the best price (every
    outcome scales with it), the shares do, and the quarter's observed shares are the surer of the two. On
    the store benchmark the per-list forecasts' shares raised the margin regret's p90 (+/-15 %) from 4.5 %
    to 5.0 % and the revenue one from 0 % to 7.4 % (BENCHMARKS.md, "Decision quality")."""
    forecast = float(registered_units) + float(guest_units)
    if mix.units <= 0:  # nothing sold in the recent weeks: the forecast's split, all registered units at the list
        return replace(mix, regular_units=float(registered_units), band_units=0.0, guest_units=float(guest_units))
    scale = forecast / mix.units
    return replace(
        mix,
        regular_units=mix.regular_units * scale,
        band_units=mix.band_units * scale,
        guest_units=mix.guest_units * scale,
    )


def expected_outcomes(mix: ObservedMix, elasticity: float, unit_cost: float, prices: np.ndarray) -> pd.DataFrame:
    """Expected weekly units, revenue and margin at each list price, the mix charged by store policy."""
    prices = np.asarray(prices, dtype=float)
    outcomes = _outcomes_at(mix, np.array([float(elasticity)]), unit_cost, prices)
    return pd.DataFrame({"list_price": prices, **{name: values[0] for name, values in outcomes.items()}})


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


@dataclass(frozen=True)
class RecommendationConfig:
    """How a recommendation is made. The objective and guardrail have no default here: theirs live in
    settings.py (PRICING_OBJECTIVE, PRICING_GUARDRAIL) and the asset passes them. ``min_own_weight``,
    ``gain_confidence``, ``max_weeks_without_sales`` and ``seed`` mirror PRICING_MIN_OWN_WEIGHT,
    PRICING_GAIN_CONFIDENCE, PRICING_MAX_WEEKS_WITHOUT_SALES and PRICING_SEED only for the decision
    benchmark's calls and the bundles promoted before a field existed, which leave them out (the asset
    always passes every field)."""

    objective: str
    guardrail: float | None  # the list price moves at most this share either way (None: up to 3x)
    min_own_weight: float = 0.0  # own evidence needed to move a price (0: a sure gain on the prior is enough)
    gain_confidence: float = 0.975  # the share of elasticity draws on which a move must gain
    max_weeks_without_sales: int = 4  # this many weeks without a sale before the forecast week hold (0: never)
    draws: int = 400  # elasticity draws for the intervals
    seed: int = 7


def _outcomes_at(mix: ObservedMix, elasticities: np.ndarray, cost: float, prices: np.ndarray) -> dict[str, np.ndarray]:
    """Units, revenue and margin for every (elasticity draw, price) at the forecast level: arrays of shape
    (draws, prices). The level's draws scale these afterwards (``recommend``, ``recommendation_curve``)."""
    scale = (prices[None, :] / mix.current_list_price) ** elasticities[:, None]
    units = mix.units * scale
    revenue = prices[None, :] * mix.paid_units * scale
    return {"units": units, "revenue": revenue, "margin": revenue - cost * units}


def elasticity_draws(elasticity: float, standard_error: float, count: int, seed: int) -> np.ndarray:
    """``count`` seeded draws of ``N(elasticity, standard_error)``, demand kept falling with price: the
    same for the recommendation's intervals and its curve's bands, so the two agree."""
    return np.minimum(np.random.default_rng(seed).normal(elasticity, standard_error, count), MAX_ELASTICITY)


def level_draws(level_factors: list[float] | np.ndarray | None, count: int, seed: int) -> np.ndarray | None:
    """``count`` seeded draws of the forecast level (None without a forecast: the level is taken as known)."""
    if level_factors is None or len(level_factors) == 0:
        return None
    return np.random.default_rng(seed + 1).choice(np.asarray(level_factors, dtype=float), size=count)


def _interval(values: np.ndarray) -> list[float]:
    return [float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))]


def recommend(
    mix: ObservedMix,
    elasticity: float,
    standard_error: float,
    own_weight: float,
    unit_cost: float,
    cost_assumed: bool,
    config: RecommendationConfig,
    level_factors: list[float] | np.ndarray | None = None,
) -> dict[str, object]:
    """The list price to charge next, with its effect, its uncertainty, and when not to move.

    The move is to the price (whole pence, within the guardrail band and, for margin, never below
    cost) with the largest *sure* gain: the ``1 - gain_confidence`` quantile (2.5 % by default) of
    its gain over the current price across elasticity draws ``N(elasticity, standard_error)``
    (demand kept falling with price; at the forecast level, which scales a gain but cannot turn it
    into a loss). Where the response is precise that is the best price for the point elasticity
    (``best_list_price_in_band``); where it is not, a shorter step the same way, whose gain every
    plausible elasticity agrees on. Why not the point's best price or hold: its gain can be unsure
    only because the draws disagree on how far to go, not which way, and holding then forgoes a
    gain the data does support. On the store
    benchmark (BENCHMARKS.md, "Decision quality") the step took margin regret p90 from 4.5 % to
    4.2 % within +/-15 % and from 6.8 % to 5.1 % unbounded, and its largest loss from 35 % to 11 %.
    A lower ``gain_confidence`` moves more often and loses more often; the benchmark's sweep of it
    shows that no setting meets every decision target there, even on a perfect prior.

    ``capped`` when the band's edge stopped the move (or, for a hold, the move not made) short of the
    point's best price without the band. Intervals: the optimal price per draw; the change in units,
    revenue and margin at the recommended price against the current one, each elasticity draw paired
    with a draw of the forecast level (``level_factors``); for a hold, at the point's best price in
    the band, the move not made. The answer is "hold the current price" when no price in the band
    has a sure gain, when the product's own evidence is below ``min_own_weight``, or when the
    estimate has no interior optimum and no guardrail bounds the move (within a guardrail that is a
    capped move like any other), when no sale is forecast next week, and first of all when the product
    has had no sale in the ``max_weeks_without_sales`` weeks before the week forecast (the mix's
    ``weeks_without_sales``); the reason says which. One exception: a price that sells at a loss (what
    the mix pays per unit below the cost) moves up whatever held it, as far as the gain is surest
    (``selling_at_a_loss``), unless the product stopped selling.
    """
    if config.objective not in ("margin", "revenue"):
        raise ValueError(f"objective must be 'margin' or 'revenue', not {config.objective!r}")
    if not 0.5 <= config.gain_confidence < 1:
        raise ValueError(
            "gain_confidence must be in [0.5, 1) (the share of draws on which a move gains), "
            f"not {config.gain_confidence}"
        )
    current = mix.current_list_price
    if config.guardrail is None:
        low, high = 0.2 * current, 3.0 * current
    else:
        if not 0 < config.guardrail < 1:  # at 1 the band would reach a price of 0, where demand is infinite
            raise ValueError(
                f"the guardrail must be above 0 and below 1 (a share of the list price), not {config.guardrail}"
            )
        low, high = max(0.01, current * (1 - config.guardrail)), current * (1 + config.guardrail)
    if config.objective == "margin":
        low = max(low, unit_cost)
    if low > high:  # the cost is above the whole band: nothing in it earns a margin; its top penny, not beyond
        low = high = float(np.floor(high * 100 + 1e-6)) / 100
    band = pence_grid(low, high)
    wide = pence_grid(max(0.01, unit_cost if config.objective == "margin" else 0.2 * current), 3.0 * current)
    point = _outcomes_at(mix, np.array([elasticity]), unit_cost, band)[config.objective][0]
    best = int(np.argmax(point))
    recommended = float(band[best])
    free = _outcomes_at(mix, np.array([elasticity]), unit_cost, wide)[config.objective][0]
    unconstrained = float(wide[int(np.argmax(free))])
    # Running off the top means the estimate wants an ever higher price (inelastic demand): there
    # is no optimum to recommend without a guardrail. Within one, the optimum lies beyond its top
    # edge, as a capped move's does, and the gain's interval says whether the data supports going
    # there (the same test as any move). Running off the bottom (revenue with elastic demand) is a
    # real preference for the lowest price, which the guardrail caps.
    unbounded_above = int(np.argmax(free)) == len(wide) - 1
    capped = not (band[0] - 1e-9 <= unconstrained <= band[-1] + 1e-9)

    draws = elasticity_draws(elasticity, standard_error, config.draws, config.seed)
    levels = level_draws(level_factors, config.draws, config.seed)
    at_band = _outcomes_at(mix, draws, unit_cost, band)[config.objective]
    optimal_draws = band[np.argmax(at_band, axis=1)]
    # Whether a move is sure is a question for the response alone: a level draw scales the gain of
    # that draw, never its sign, and a week forecast to sell nothing (a level of 0) is no evidence
    # against a price. Judged with the levels, every product with a few such draws held (12 % of the
    # store's products whose true revenue gain was 5 % or more, against 4 %).
    now = _outcomes_at(mix, draws, unit_cost, np.array([current]))  # each outcome per draw at today's price
    # The "lower" draw, not an interpolation: a gain above zero there is a gain on at least gain_confidence of the
    # draws (interpolated, 0.999 on 400 draws could move with the lowest draw losing).
    sure_gain = np.quantile(at_band - now[config.objective], 1.0 - config.gain_confidence, axis=0, method="lower")
    sure_gain[np.abs(band - current) < 0.005] = 0.0  # the current price gains nothing, surely
    surest = int(np.argmax(sure_gain))

    hold_reason = None
    quiet = mix.weeks_without_sales
    stopped = 0 < config.max_weeks_without_sales <= quiet
    if stopped:
        # Its last weeks with sales are that old: whether it is still stocked, listed or wanted, no week since
        # says, and a response valued at them would price a product that may no longer sell.
        hold_reason = f"no sale in the last {quiet} weeks: the data cannot support a move (is it still stocked?)"
    elif mix.units <= 0:  # the forecast is of no sale next week: every price's outcome is 0, no best among them
        hold_reason = "no sale is forecast next week: there is no demand to price a move with"
        capped = False
    elif unbounded_above and config.guardrail is None:
        hold_reason = "the estimated demand is not elastic enough for an optimum: the data cannot support a move"
    elif own_weight < config.min_own_weight:
        hold_reason = (
            f"the evidence is mostly the catalogue prior (own weight {own_weight:.2f} < {config.min_own_weight:.2f})"
        )
    elif abs(recommended - current) < 0.005:
        hold_reason = "the current price is already the best in the band"
    elif sure_gain[surest] <= 0:
        # The two-sided interval whose lower end the test is: 0.975 is the 95 % one. (At 0.5 the test is the
        # median draw's gain, which the point's best price has, so a hold there is "already the best".)
        width = 100 * (2 * config.gain_confidence - 1)
        hold_reason = (
            f"the expected {config.objective} gain's {width:.3g} % interval includes zero at every price in the band"
        )
    # Today's price loses on every unit: what the mix pays (bulk lines at the band, guests at about twice the list),
    # not the list alone, is below the cost. Any rise then gains whatever the elasticity (fewer units, each losing
    # less), so the move is the surest one; holding would keep selling at a loss. A list below cost that guests
    # carry above it is not a loss, and the gain rule decides as for any product.
    losing = config.objective == "margin" and mix.units > 0 and current * mix.paid_units / mix.units < unit_cost - 1e-9
    if losing and not stopped:
        hold_reason = None
    moved_to = recommended if hold_reason or sure_gain[surest] <= 0 else float(band[surest])
    # The change per elasticity draw at the forecast level, then scaled by each draw's level for the
    # intervals shown: of the move made, or for a hold of the move to the best price not made.
    moved = _outcomes_at(mix, draws, unit_cost, np.array([moved_to]))
    at_forecast = {name: moved[name][:, 0] - now[name][:, 0] for name in moved}
    change = at_forecast if levels is None else {name: v * levels for name, v in at_forecast.items()}
    if not hold_reason:  # a move stopped short of the point's best by the data is not capped by the band
        capped = capped and abs(moved_to - recommended) < 0.005
    action = "hold" if hold_reason else ("increase" if moved_to > current else "decrease")
    final = current if hold_reason else moved_to
    # How sure, in one number: the share of the elasticity's draws on which that move gains (a move made
    # reaches gain_confidence; a hold for an unsure gain falls short of it); none when today's price is
    # already the best, as there is no move to judge.
    no_move = abs(moved_to - current) < 0.005
    gain_probability = None if no_move else float(np.mean(at_forecast[config.objective] > 0))
    return {
        "objective": config.objective,
        "gain_confidence": config.gain_confidence,  # the share of draws a move had to gain on
        "current_list_price": current,
        "recommended_list_price": final,
        "best_list_price_in_band": recommended,
        "optimal_list_price_interval": _interval(optimal_draws),
        "unconstrained_optimum": None if unbounded_above else unconstrained,
        "action": action,
        "hold": hold_reason is not None,
        "hold_reason": hold_reason,
        "capped": bool(capped),
        "guardrail": [float(band[0]), float(band[-1])],
        "guest_list_price": round(final * mix.guest_ratio, 2),
        "guest_ratio": mix.guest_ratio,
        "band_ratio": mix.band_ratio,
        "unit_cost": unit_cost,
        # The guardrail wins over the cost when the cost is above the whole band: say so.
        "below_cost": bool(final < unit_cost - 1e-9),
        "selling_at_a_loss": bool(losing),  # today's price: what the mix pays per unit is below the cost
        "cost_assumed": cost_assumed,
        "elasticity": elasticity,
        "elasticity_interval": list(elasticity_interval(elasticity, standard_error)),
        "own_weight": own_weight,
        "expected_change": {
            name: {"mean": float(values.mean()), "interval": _interval(values)} for name, values in change.items()
        },
        "gain_probability": gain_probability,
        "mix": mix.to_dict(),
    }


def short_of_best(answer: dict[str, object]) -> bool:
    """Whether a move stopped before the point estimate's best price in the band because the gain there
    was less sure (a capped move stops at the band's edge instead)."""
    best = answer.get("best_list_price_in_band")
    if answer.get("hold") or answer.get("capped") or best is None:
        return False
    return abs(float(answer["recommended_list_price"]) - float(best)) >= 0.005  # type: ignore[arg-type]


def verdict(answer: dict[str, object]) -> str:
    """The decision in words: the hold's reason, or the move with why it stopped where it did."""
    if answer.get("hold"):
        return str(answer["hold_reason"])
    if answer.get("selling_at_a_loss"):
        capped = ", capped by the guardrail" if answer.get("capped") else ""
        return f"{answer['action']}{capped}: today's price sells below the unit cost"
    if answer.get("capped"):
        return f"{answer['action']}, capped by the guardrail"
    if short_of_best(answer):
        best = float(answer["best_list_price_in_band"])  # type: ignore[arg-type]
        return f"{answer['action']}, short of the estimate's best {best:.2f}, where the gain is surest"
    return str(answer["action"])


def read_unit_costs(location: str) -> dict[str, float]:
    """Unit costs per stockcode from a CSV with columns ``stockcode,unit_cost`` (a path or s3:// URL)."""
    from .sources import read_table

    if not location.lower().endswith(".csv"):
        raise ValueError(f"the costs file {location!r} must be a .csv with columns stockcode,unit_cost")
    table = read_table(location, as_text=True)  # stockcodes as written: 22423, not 22423.0
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in ("stockcode", "unit_cost") if c not in table.columns]
    if missing:
        raise ValueError(f"the costs file {location!r} lacks column(s) {missing}; expected stockcode,unit_cost")
    blank = table["stockcode"].fillna("").str.strip() == ""
    if blank.any():
        rows = [int(i) + 2 for i in table.index[blank][:5]]  # the file's line numbers, its header line 1
        raise ValueError(f"the costs file {location!r} has rows with no stockcode (lines {rows}); fill or remove them")
    costs = pd.to_numeric(table["unit_cost"], errors="coerce")
    bad = table.loc[costs.isna() | (costs <= 0), "stockcode"].astype(str).tolist()
    if bad:
        raise ValueError(f"the costs file {location!r} has unit costs that are not positive numbers for {bad[:5]}")
    return dict(zip(table["stockcode"].astype(str).str.strip(), costs.astype(float), strict=True))


def unit_cost_for(stock_code: str, costs: dict[str, float], current: float, assumed_ratio: float) -> tuple[float, bool]:
    """The stockcode's unit cost from the costs file, else ``assumed_ratio`` x its current list (flagged assumed)."""
    if stock_code in costs:
        return float(costs[stock_code]), False
    return round(assumed_ratio * current, 4), True


def recommendation_curve(
    mix: ObservedMix,
    elasticity: float,
    standard_error: float,
    unit_cost: float,
    prices: np.ndarray,
    seed: int,
    draws: int = 400,
    level_factors: list[float] | np.ndarray | None = None,
) -> pd.DataFrame:
    """Expected weekly units, revenue and margin over ``prices``, with 95 % bands from the uncertainty of the
    elasticity and of the forecast level.

    The draws are :func:`recommend`'s for the same ``seed`` and ``draws``, so the bands are those of
    the answer's intervals.

    Why one quantile for three bands: at each price, every outcome of a draw is the draw's demand
    scale, ``(price / current) ** e`` times its level, times a constant of that price (the outcome at
    scale 1: units, revenue, margin). A quantile commutes with a positive factor and swaps the two
    ends with a negative one (a margin below cost), so the scale's 2.5 % and 97.5 % quantiles give all
    three bands: the same numbers as a quantile of each outcome's draws, a third of the sorting
    (serving computes this curve on every uncached answer)."""
    elasticities = elasticity_draws(elasticity, standard_error, draws, seed)
    scale = (prices[None, :] / mix.current_list_price) ** elasticities[:, None]
    levels = level_draws(level_factors, draws, seed)
    if levels is not None:
        scale = scale * levels[:, None]
    low, high = np.quantile(scale, [0.025, 0.975], axis=0)  # one partial sort
    point = _outcomes_at(mix, np.array([elasticity]), unit_cost, prices)
    per_scale = _outcomes_at(mix, np.zeros(1), unit_cost, prices)  # elasticity 0: each outcome at scale 1
    columns: dict[str, np.ndarray] = {"list_price": prices}
    for name in ("units", "revenue", "margin"):
        factor = per_scale[name][0]
        columns[name] = point[name][0]
        columns[f"{name}_low"] = np.where(factor >= 0, factor * low, factor * high)
        columns[f"{name}_high"] = np.where(factor >= 0, factor * high, factor * low)
    return pd.DataFrame(columns)


def recommendation_plot(curve: pd.DataFrame, answer: dict[str, object], title: str) -> bytes:
    """The objective over list prices with its band, the current and the recommended price, as PNG bytes."""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objective = str(answer["objective"])
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
    x = curve["list_price"]
    ax.fill_between(x, curve[f"{objective}_low"], curve[f"{objective}_high"], color="#3b6ea5", alpha=0.2)
    ax.plot(x, curve[objective], color="#3b6ea5", label=f"expected weekly {objective}")
    ax.axvline(float(answer["current_list_price"]), color="#666666", linestyle="--", label="current list price")
    ax.axvline(float(answer["recommended_list_price"]), color="#c0392b", label="recommended")
    low, high = answer["guardrail"]  # type: ignore[misc]
    ax.axvspan(float(low), float(high), color="#999999", alpha=0.08, label="guardrail")
    flags = "hold" if answer["hold"] else str(answer["action"])
    ax.set_title(f"{title} ({flags}{', capped' if answer['capped'] else ''})")
    ax.set_xlabel("wholesale list price")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png_bytes(fig)
