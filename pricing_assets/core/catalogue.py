"""The catalogue at a glance: what became of every stockcode's last lineage run.

Plain functions over one record per stockcode (gathered from the Dagster instance by
``pricing_assets/catalogue.py``): how many were promoted, held by each check and why, failed or
not run; the distribution of the list-price recommendations (hold with its reasons, increase,
decrease, capped; the expected gain of the moves); and the slowest stockcodes. The
``catalogue_report`` asset and ``pricing status --summary`` both print what :func:`summarise`
returns, through :func:`markdown` and :func:`plot_png`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .plots import png_bytes

# The outcome of a stockcode's last run, in the order a summary lists them.
PROMOTED, HELD, FAILED, UNFINISHED, NEVER_RUN = "promoted", "held", "failed", "not finished", "never run"
OUTCOMES = (PROMOTED, HELD, FAILED, UNFINISHED, NEVER_RUN)
MOVES = ("hold", "increase", "decrease")


@dataclass
class StockcodeRecord:
    """What a stockcode's last lineage run left: its status, checks, recommendation and duration."""

    stockcode: str
    status: str | None = None  # the run's status (SUCCESS, FAILURE, CANCELED, STARTED...); None: never run
    run_id: str | None = None
    seconds: float | None = None
    promoted: bool = False  # the last run promoted a bundle
    serving_version: str | None = None  # the bundle serving now (a held stockcode keeps its previous one)
    held_by: dict[str, str] = field(default_factory=dict)  # blocking check that failed -> its reason
    warnings: dict[str, str] = field(default_factory=dict)  # check that failed with WARN -> its reason
    error: str = ""  # why the run failed when no check held it
    recommendation: dict[str, Any] | None = None  # action, capped, hold_reason, objective, expected_gain

    @property
    def outcome(self) -> str:
        if self.status is None:
            return NEVER_RUN
        if self.held_by:
            return HELD
        if self.status == "SUCCESS":
            return PROMOTED if self.promoted else FAILED
        if self.status == "FAILURE":
            return FAILED
        return UNFINISHED


@dataclass
class CatalogueSummary:
    stockcodes: int
    outcomes: dict[str, int]  # outcome -> stockcodes
    held_by_check: dict[str, int]  # check -> stockcodes it held
    held: list[dict[str, str]]  # stockcode, check, reason: one row per blocking check that failed
    failed: list[dict[str, str]]  # stockcode, outcome, reason: errors and unfinished runs
    warnings_by_check: dict[str, int]
    recommendations: dict[str, int]  # hold / increase / decrease / capped (moves only) / none
    hold_reasons: dict[str, int]
    # The promoted moves' expected weekly gain (objective, count, total, median): a held stockcode's is not served
    expected_gain: dict[str, float | int | str]
    slowest: list[dict[str, Any]]  # stockcode, seconds, outcome

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def summarise(records: list[StockcodeRecord], slowest: int) -> CatalogueSummary:
    """Counts per outcome, check, recommendation and hold reason; the moves' gain; the ``slowest`` runs."""
    outcomes = Counter(r.outcome for r in records)
    held = [
        {"stockcode": r.stockcode, "check": check, "reason": reason}
        for r in records
        for check, reason in r.held_by.items()
    ]
    failed = [
        {"stockcode": r.stockcode, "outcome": r.outcome, "reason": r.error or f"the run ended {r.status}"}
        for r in records
        if r.outcome in (FAILED, UNFINISHED)
    ]
    moves: Counter[str] = Counter()
    hold_reasons: Counter[str] = Counter()
    gains: list[float] = []
    objectives = set()
    for r in records:
        rec = r.recommendation
        if not rec:
            moves["none"] += 1
            continue
        action = str(rec.get("action") or "hold")
        moves[action] += 1
        if rec.get("capped") and action != "hold":  # a hold's capped describes the move it did not make
            moves["capped"] += 1
        if action == "hold":
            hold_reasons[str(rec.get("hold_reason") or "no reason given")] += 1
        elif rec.get("expected_gain") is not None and r.outcome == PROMOTED:  # a held one's move is not served
            gains.append(float(rec["expected_gain"]))
            objectives.add(str(rec.get("objective")))
    gain: dict[str, float | int | str] = {"objective": ", ".join(sorted(objectives)) or "-", "moves": len(gains)}
    if gains:
        gain.update(total=round(sum(gains), 2), median=round(_median(gains), 2))
    timed = sorted((r for r in records if r.seconds is not None), key=lambda r: -(r.seconds or 0.0))
    return CatalogueSummary(
        stockcodes=len(records),
        outcomes={name: outcomes.get(name, 0) for name in OUTCOMES},
        held_by_check=dict(Counter(row["check"] for row in held).most_common()),
        held=held,
        failed=failed,
        warnings_by_check=dict(Counter(check for r in records for check in r.warnings).most_common()),
        recommendations={name: moves.get(name, 0) for name in (*MOVES, "capped", "none")},
        hold_reasons=dict(hold_reasons.most_common()),
        expected_gain=gain,
        slowest=[{"stockcode": r.stockcode, "seconds": r.seconds, "outcome": r.outcome} for r in timed[:slowest]],
    )


def _cell(text: object) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def markdown(summary: CatalogueSummary) -> str:
    """The summary as Markdown tables: outcomes, holds with reasons, failures, recommendations, slowest."""
    lines = [f"**{summary.stockcodes} stockcodes**", "", "| outcome | stockcodes |", "|---|---|"]
    lines += [f"| {name} | {count} |" for name, count in summary.outcomes.items()]
    for check, count in summary.held_by_check.items():
        lines.append(f"| held by {check} | {count} |")
    for check, count in summary.warnings_by_check.items():
        lines.append(f"| warned by {check} (not blocking) | {count} |")
    if summary.held or summary.failed:
        lines += ["", "| stockcode | held / failed | why |", "|---|---|---|"]
        lines += [f"| {r['stockcode']} | held by {r['check']} | {_cell(r['reason'])} |" for r in summary.held]
        lines += [f"| {r['stockcode']} | {r['outcome']} | {_cell(r['reason'])} |" for r in summary.failed]
    lines += ["", "| recommendation | stockcodes |", "|---|---|"]
    lines += [f"| {name} | {count} |" for name, count in summary.recommendations.items()]
    lines += [f"| hold: {_cell(reason)} | {count} |" for reason, count in summary.hold_reasons.items()]
    gain = summary.expected_gain
    if gain.get("moves"):
        lines.append(
            f"| expected {gain['objective']} gain/week of the {gain['moves']} promoted moves | "
            f"total {gain['total']:+.2f}, median {gain['median']:+.2f} |"
        )
    if summary.slowest:
        lines += ["", "| slowest stockcode | seconds | outcome |", "|---|---|---|"]
        lines += [f"| {r['stockcode']} | {r['seconds']:.1f} | {r['outcome']} |" for r in summary.slowest]
    return "\n".join(lines)


def plot_png(summary: CatalogueSummary, title: str) -> bytes:
    """Three bar charts: outcomes (holds by check), recommendations, and the slowest runs' seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outcome_bars = {PROMOTED: summary.outcomes[PROMOTED]}
    outcome_bars.update({f"held: {check}": count for check, count in summary.held_by_check.items()})
    outcome_bars.update({k: v for k, v in summary.outcomes.items() if k not in (PROMOTED, HELD)})
    panels = [
        ("outcome of the last run", outcome_bars),
        ("list-price recommendation", summary.recommendations),
        ("slowest runs (seconds)", {r["stockcode"]: r["seconds"] for r in summary.slowest}),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), dpi=100)
    for ax, (name, bars) in zip(axes, panels, strict=True):
        labels = list(bars)[::-1]
        ax.barh(labels, [bars[k] for k in labels], color="#4c72b0")
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return png_bytes(fig)
