"""Has a stockcode's latest window changed in ways that matter for the pricing decision?

Four measures, each compared like with like, each with its own action when it moves too far:

| measure | statistic | compared with | when it moves too far |
| --- | --- | --- | --- |
| ``list_price`` | median price paid, per customer type | the weeks just before the window | **blocks** |
| ``customer_mix`` | each customer type's share of lines | the seasonal reference (below) | **blocks** if one vanishes |
| ``order_size`` | units per line of registered customers | the same customer's earlier lines | **blocks** |
| ``demand_per_week`` | order lines per week | the seasonal reference, level-adjusted | **warns** |

The seasonal reference is the *same weeks a year earlier* (52 weeks, so weekdays line up) when
the stockcode's history reaches back that far; units per week are then scaled by how this
year's weeks just before the window compare with the same weeks a year earlier (a seasonal
naive forecast with the current level). Without a year of history the reference is the weeks
just before the window, and the verdict says the season was not removed. List prices are
compared with the weeks just before the window in both cases: a list price changes rarely and
by steps, not with the season.

Which failures block, and why. A list price that doubles or halves in one step, order sizes
that move by more than the order-size limit for the same customer type, or a customer type
that stops appearing are what a broken feed looks like (pence for pounds, packs for units, a
join that drops guests); a model trained on them would serve the break, so the check fails with
ERROR severity and the previous bundle keeps serving. Demand per week moving against the season
is what real demand does (a product taking off, falling out of fashion): retraining is the
right response, so it only warns, and the challenger gate decides whether the retrained model
serves. Too few lines to compare gives no verdict, a warning that does not block.

Measured on the store source (``pricing_assets_tests/core/test_drift.py``): a Christmas ramp
that doubles weekly orders passes with a year-earlier reference, warns without one, and never
blocks; prices x10, units halved or guests vanishing block. A registered customer's units per
line stay within x0.9-1.15 of their own habit on normal weeks, and halving every quantity
reads as about x0.6 once small orders are rounded back up to whole units, hence the x1.5
limit. The known cost: a list price rise of 40 % to buyers with a very elastic order size
could also move it by x1.5; a person then reads the reason and decides. The per-line distributions are also
scored with Evidently 0.7 (``ValueDrift`` per column: normed Wasserstein for numbers, Jensen-Shannon
for categories) on the same windows, and its HTML report is kept for a person to read; those
scores inform, they do not decide.

Evidently's page inlines its 3.5 MB script and its icon font: 3.7 MB a report, 2.2 GB for one
run of the whole dev catalogue, nearly all of it the same library again.
:func:`shared_library_report` takes both out and points the page at one copy of each, kept once
per Evidently version beside the reports (120 KB a report instead).
"""

from __future__ import annotations

import base64
import functools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .features import CATEGORICAL_FEATURES, DRIFT_COLUMNS

YEAR = pd.Timedelta(weeks=52)
CUSTOMER_TYPES = ("registered", "guest")
BLOCKING_MEASURES = ("list_price", "customer_mix", "order_size")
WARNING_MEASURES = ("demand_per_week",)


@dataclass(frozen=True)
class DriftConfig:
    """Every value comes from settings (PRICING_DRIFT_*)."""

    window_days: int  # the latest window, tested
    reference_days: int  # the weeks just before it (the level, and the fallback reference)
    price_ratio_limit: float  # list price ratio beyond x this or / this blocks
    order_size_ratio_limit: float  # per-type order size ratio beyond x this or / this blocks
    vanished_share: float  # a type whose share falls below this fraction of its reference share blocks
    demand_ratio_limit: float  # demand per week beyond x this or / this of the expectation warns
    min_rows: int  # lines needed in each window for a verdict
    column_threshold: float  # Evidently's per-column distance threshold (diagnostic only)


@dataclass
class DriftResult:
    passed: bool
    blocks: bool
    reason: str
    measures: dict[str, dict[str, object]]
    blocking_failures: list[str]
    warnings: list[str]
    reference_kind: str  # "same weeks a year earlier" or "the preceding N days"
    reference_rows: int = 0
    current_rows: int = 0
    reference_window: tuple[str, str] = ("", "")
    current_window: tuple[str, str] = ("", "")
    distribution_scores: dict[str, dict[str, object]] = field(default_factory=dict)
    config: dict[str, object] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return "error" if self.blocks else "warn" if not self.passed else "none"

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "severity": self.severity}


@dataclass(frozen=True)
class Windows:
    current: pd.DataFrame
    preceding: pd.DataFrame  # the reference_days just before the current window
    seasonal: pd.DataFrame  # same weeks a year earlier, or ``preceding`` without a year of history
    seasonal_preceding: pd.DataFrame | None  # the preceding weeks a year earlier (level), if any
    year_earlier: bool


def split_windows(features: pd.DataFrame, cfg: DriftConfig) -> Windows:
    """The latest window, the weeks before it, and the same weeks a year earlier when history has them."""
    times = features["invoice_date"]
    end = times.max()
    current_start = end - pd.Timedelta(days=cfg.window_days)
    preceding_start = current_start - pd.Timedelta(days=cfg.reference_days)

    def between(start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
        return features[(times > start) & (times <= stop)]

    current = between(current_start, end)
    preceding = between(preceding_start, current_start)
    year_earlier = times.min() <= preceding_start - YEAR
    if year_earlier:
        seasonal = between(current_start - YEAR, end - YEAR)
        seasonal_preceding = between(preceding_start - YEAR, current_start - YEAR)
        return Windows(current, preceding, seasonal, seasonal_preceding, True)
    return Windows(current, preceding, preceding, None, False)


def _window(frame: pd.DataFrame) -> tuple[str, str]:
    if frame.empty:
        return ("", "")
    return (str(frame["invoice_date"].min()), str(frame["invoice_date"].max()))


def _of_type(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    return frame[frame["customer_type"] == kind]


def _ratio_measure(
    reference: pd.DataFrame, current: pd.DataFrame, statistic, limit: float, min_lines: int
) -> dict[str, object]:
    """Per customer type, current/reference of ``statistic``; the worst type decides."""
    per_type: dict[str, dict[str, float]] = {}
    for kind in CUSTOMER_TYPES:
        ref, cur = _of_type(reference, kind), _of_type(current, kind)
        if len(ref) < min_lines or len(cur) < min_lines:
            continue  # too few lines of this type to compare (its vanishing is customer_mix's job)
        r, c = float(statistic(ref)), float(statistic(cur))
        per_type[kind] = {"reference": r, "current": c, "ratio": c / r if r > 0 else math.inf}
    return _worst(per_type, limit)


def _median_price(frame: pd.DataFrame) -> float:
    return float(frame["unit_price"].median())


def _geometric_mean_units(frame: pd.DataFrame) -> float:
    return float(np.exp(np.log(frame["quantity"].clip(lower=1).astype(float)).mean()))


def _units_per_week(frame: pd.DataFrame, days: int) -> float:
    return float(frame["quantity"].sum()) / (days / 7.0)


def _customer_mix(reference: pd.DataFrame, current: pd.DataFrame, floor: float) -> dict[str, object]:
    """Each type's share of lines; a type that held a share and falls below ``floor`` of it has vanished."""
    shares = {}
    vanished = []
    for kind in CUSTOMER_TYPES:
        ref_share = float((reference["customer_type"] == kind).mean()) if len(reference) else 0.0
        cur_share = float((current["customer_type"] == kind).mean()) if len(current) else 0.0
        shares[kind] = {"reference": ref_share, "current": cur_share}
        # Only a type expected to show at least 5 lines in the window can be said to have vanished.
        if ref_share * len(current) >= 5 and cur_share < floor * ref_share:
            vanished.append(kind)
    return {"shares": shares, "vanished": vanished, "floor": floor, "moved": bool(vanished)}


def _order_size(history: pd.DataFrame, seasonal: pd.DataFrame, current: pd.DataFrame, cfg: DriftConfig) -> dict:
    """Units per line against the same buyer's earlier lines: a registered customer's own habit.

    Customers order habitual sizes that differ tenfold between them, so a window's mean moves a
    lot with *who* ordered; each registered line is compared with the same customer's lines
    before the window instead (the median of log(units / their earlier geometric mean)): on the
    store source that ratio stays within x0.9-1.15 on normal weeks. Guests have no history;
    their geometric mean against the seasonal reference is reported for information only.
    """
    per_type: dict[str, dict[str, float]] = {}
    min_lines = max(5, cfg.min_rows // 3)
    registered = _of_type(current, "registered").dropna(subset=["customer_id"])
    habits = (
        np.log(_of_type(history, "registered")["quantity"].clip(lower=1).astype(float))
        .groupby(_of_type(history, "registered")["customer_id"])
        .mean()
    )
    matched = registered[registered["customer_id"].isin(habits.index)]
    if len(matched) >= min_lines:
        log_ratio = np.log(matched["quantity"].clip(lower=1).astype(float)) - matched["customer_id"].map(habits)
        per_type["registered"] = {
            "reference": 1.0,
            "current": float(np.exp(log_ratio.median())),
            "ratio": float(np.exp(log_ratio.median())),
            "lines": int(len(matched)),
        }
    measure = _worst(per_type, cfg.order_size_ratio_limit)
    ref, cur = _of_type(seasonal, "guest"), _of_type(current, "guest")
    if len(ref) >= min_lines and len(cur) >= min_lines:
        r, c = _geometric_mean_units(ref), _geometric_mean_units(cur)
        # Reported, not decided on: guests buy one to three units, and a few dozen such lines move
        # their mean by x1.5 from sampling alone (measured on the store source).
        measure["guest_for_information"] = {"reference": r, "current": c, "ratio": c / r, "lines": int(len(cur))}
    return measure


def _worst(per_type: dict[str, dict[str, float]], limit: float) -> dict[str, object]:
    worst = max(per_type, key=lambda k: abs(math.log(per_type[k]["ratio"])), default=None)
    ratio = per_type[worst]["ratio"] if worst else 1.0
    return {
        "per_type": per_type,
        "worst_type": worst,
        "ratio": ratio,
        "limit": limit,
        "moved": bool(worst is not None and (ratio >= limit or ratio <= 1 / limit)),
    }


def _demand(windows: Windows, cfg: DriftConfig) -> dict[str, object]:
    """Order lines per week (units per week is dominated by a few large customers' timing)."""
    current = len(windows.current) / (cfg.window_days / 7.0)
    if windows.year_earlier and windows.seasonal_preceding is not None:
        last_year = len(windows.seasonal) / (cfg.window_days / 7.0)
        level_now = len(windows.preceding) / (cfg.reference_days / 7.0)
        level_then = len(windows.seasonal_preceding) / (cfg.reference_days / 7.0)
        level = level_now / level_then if level_then > 0 else 1.0
        expected = last_year * level
        basis = f"a year earlier {last_year:.1f}/week x level {level:.2f} (the preceding weeks against a year earlier)"
    else:
        expected = len(windows.preceding) / (cfg.reference_days / 7.0)
        basis = f"the preceding {cfg.reference_days} days, season not removed"
    ratio = current / expected if expected > 0 else math.inf
    limit = cfg.demand_ratio_limit
    return {
        "current": current,
        "expected": expected,
        "ratio": ratio,
        "limit": limit,
        "basis": basis,
        "units_per_week": _units_per_week(windows.current, cfg.window_days),
        "moved": bool(ratio >= limit or ratio <= 1 / limit),
    }


def _describe(name: str, measure: dict[str, object]) -> str:
    if name == "customer_mix":
        shares = measure["shares"]
        return ", ".join(
            f"{kind} lines vanished (share {shares[kind]['reference']:.0%} -> {shares[kind]['current']:.0%})"
            for kind in measure["vanished"]
        )
    if name == "demand_per_week":
        return (
            f"demand per week {measure['current']:.1f} order lines is x{measure['ratio']:.2f} the expected "
            f"{measure['expected']:.1f} (beyond x{measure['limit']:g}; expected from {measure['basis']})"
        )
    kind = measure["worst_type"]
    stats = measure["per_type"][kind]
    label = "list price (median paid)" if name == "list_price" else "order size (units per line)"
    return (
        f"{label} of {kind} lines moved x{stats['ratio']:.2f} ({stats['reference']:.3g} -> {stats['current']:.3g}, "
        f"limit x{measure['limit']:g})"
    )


def detect_drift(features: pd.DataFrame, cfg: DriftConfig) -> tuple[DriftResult, str | None]:
    """The verdict and Evidently's HTML report of the same windows (None when there was no verdict)."""
    windows = split_windows(features, cfg)
    kind = (
        "same weeks a year earlier"
        if windows.year_earlier
        else f"the preceding {cfg.reference_days} days (less than a year of history: season not removed)"
    )
    base = dict(
        reference_kind=kind,
        reference_rows=len(windows.seasonal),
        current_rows=len(windows.current),
        reference_window=_window(windows.seasonal),
        current_window=_window(windows.current),
        config=asdict(cfg),
    )
    short = {
        name: len(frame)
        for name, frame in (
            ("current", windows.current),
            ("preceding", windows.preceding),
            ("reference", windows.seasonal),
        )
        if len(frame) < cfg.min_rows
    }
    if short:
        reason = (
            f"no verdict (warning, does not block): too few lines to compare, {short} "
            f"(need {cfg.min_rows} in each window; widen PRICING_DRIFT_WINDOW_DAYS or PRICING_DRIFT_REFERENCE_DAYS)"
        )
        return DriftResult(False, False, reason, {}, [], ["too_few_rows"], **base), None

    per_type_min = max(5, cfg.min_rows // 3)
    measures: dict[str, dict[str, object]] = {
        "list_price": _ratio_measure(
            windows.preceding, windows.current, _median_price, cfg.price_ratio_limit, per_type_min
        ),
        "customer_mix": _customer_mix(windows.seasonal, windows.current, cfg.vanished_share),
        "order_size": _order_size(
            features[features["invoice_date"] < windows.current["invoice_date"].min()],
            windows.seasonal,
            windows.current,
            cfg,
        ),
        "demand_per_week": _demand(windows, cfg),
    }
    for name, measure in measures.items():
        measure["action"] = "block" if name in BLOCKING_MEASURES else "warn"
    blocking = [n for n in BLOCKING_MEASURES if measures[n]["moved"]]
    warned = [n for n in WARNING_MEASURES if measures[n]["moved"]]
    if blocking:
        reason = "blocks promotion, the feed looks broken: " + "; ".join(_describe(n, measures[n]) for n in blocking)
        if warned:
            reason += "; also " + "; ".join(_describe(n, measures[n]) for n in warned)
    elif warned:
        reason = (
            "warning, does not block: " + "; ".join(_describe(n, measures[n]) for n in warned) + ". "
            "Retraining follows the change; the challenger gate decides whether the new model serves"
        )
    else:
        reason = f"list price, customer mix, order size and demand per week are in line with {kind.split(' (')[0]}"
    result = DriftResult(not blocking and not warned, bool(blocking), reason, measures, blocking, warned, **base)
    result.distribution_scores, html = _evidently_scores(windows.seasonal, windows.current, cfg.column_threshold)
    return result, html


def _is_drifted(method: str, score: float, threshold: float) -> bool:
    """Evidently reports p-values for some tests (drift when small) and distances for others."""
    if math.isnan(score):
        return False
    return score < threshold if "p_value" in method else score >= threshold


def _evidently_scores(
    reference: pd.DataFrame, current: pd.DataFrame, threshold: float
) -> tuple[dict[str, dict[str, object]], str]:
    """Per-line distribution distances (diagnostic) and Evidently's HTML report."""
    # Evidently pulls in a large stack; import it only where the report is made.
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    columns = [c for c in DRIFT_COLUMNS if c in current.columns]
    categorical = [c for c in columns if c in CATEGORICAL_FEATURES]
    numerical = [c for c in columns if c not in categorical]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    # One ValueDrift per column, as Evidently's DataDriftPreset makes them, without the preset's
    # DriftedColumnsCount: it tests every column a second time (half the report's cost, 0.15 s a
    # stockcode), and a count of drifted columns says nothing the per-column scores do not.
    report = Report(
        [
            ValueDrift(column=c, method="jensenshannon" if c in categorical else "wasserstein", threshold=threshold)
            for c in columns
        ]
    )
    snapshot = report.run(
        reference_data=Dataset.from_pandas(reference[columns].reset_index(drop=True), data_definition=definition),
        current_data=Dataset.from_pandas(current[columns].reset_index(drop=True), data_definition=definition),
    )
    scores: dict[str, dict[str, object]] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            method = str(config.get("method", ""))
            score = float(metric["value"])
            scores[config["column"]] = {
                "method": method,
                "score": score,
                "drifted": _is_drifted(method, score, float(config.get("threshold", threshold))),
            }
    return scores, snapshot.get_html_str(as_iframe=False)


@dataclass(frozen=True)
class SharedLibraryReport:
    """An Evidently page that loads its script and font from ``library_url``, and those files."""

    page: str
    library: dict[str, bytes]  # file name under library_url -> content; empty when the page stayed whole


def evidently_version() -> str:
    import evidently

    return str(evidently.__version__)


@functools.cache
def _evidently_library() -> tuple[str, str, dict[str, bytes]]:
    """Evidently's script and font as its standalone page inlines them, and as files."""
    from evidently.legacy.utils.dashboard import STATIC_PATH

    static = Path(STATIC_PATH)
    script = (static / "index.js").read_bytes()
    font = (static / "material-ui-icons.woff2").read_bytes()
    inline_script = f"<script>{script.decode('utf-8')}</script>"
    inline_font = f"url(data:font/ttf;base64,{base64.b64encode(font).decode()})"
    return inline_script, inline_font, {"index.js": script, "material-ui-icons.woff2": font}


def shared_library_report(html: str, library_url: str) -> SharedLibraryReport:
    """Evidently's standalone page with its inlined script and icon font replaced by references.

    ``library_url`` is where the page will find ``index.js`` and ``material-ui-icons.woff2``,
    relative to the page (the caller stores them there, once per Evidently version, before the
    page). A page laid out differently from Evidently 0.7's (another version) is kept whole,
    with an empty ``library``: larger, but it still opens.
    """
    inline_script, inline_font, files = _evidently_library()
    script_at, font_at = html.find(inline_script), html.find(inline_font)
    if script_at < 0 or font_at < 0 or font_at > script_at:  # 0.7 puts the font in <head>, the script after
        return SharedLibraryReport(page=html, library={})
    page = "".join(
        (
            html[:font_at],
            f"url({library_url}/material-ui-icons.woff2)",
            html[font_at + len(inline_font) : script_at],
            f'<script src="{library_url}/index.js"></script>',
            html[script_at + len(inline_script) :],
        )
    )
    return SharedLibraryReport(page=page, library=files)
