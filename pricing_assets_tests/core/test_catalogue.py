"""The catalogue summary from one record per stockcode (no Dagster)."""

from pricing_assets.core.catalogue import (
    FAILED,
    HELD,
    NEVER_RUN,
    PROMOTED,
    UNFINISHED,
    StockcodeRecord,
    markdown,
    plot_png,
    summarise,
)


def _records() -> list[StockcodeRecord]:
    move = {"action": "increase", "capped": True, "objective": "margin", "expected_gain": 12.0}
    return [
        StockcodeRecord("A", "SUCCESS", seconds=30.0, promoted=True, recommendation=move),
        StockcodeRecord(
            "B",
            "SUCCESS",
            seconds=10.0,
            promoted=True,
            warnings={"fairness": "few guests"},
            recommendation={**move, "action": "decrease", "capped": False, "expected_gain": 2.0},
        ),
        StockcodeRecord(
            "C",
            "FAILURE",
            seconds=20.0,
            held_by={"drift": "list price x2"},
            # The move not made would have been capped: a hold is not counted as capped.
            recommendation={"action": "hold", "hold_reason": "gain's interval includes zero", "capped": True},
        ),
        # Held by a check with a move its new bundle will not serve: counted among the decisions, not the gains.
        StockcodeRecord("G", "FAILURE", held_by={"fairness": "gap"}, recommendation={**move, "expected_gain": 250.0}),
        StockcodeRecord("D", "FAILURE", seconds=5.0, error="dfn_model: out of memory"),
        StockcodeRecord("E", "STARTED"),
        StockcodeRecord("F"),
    ]


def test_counts_each_outcome_hold_and_recommendation():
    summary = summarise(_records(), slowest=2)
    assert summary.outcomes == {PROMOTED: 2, HELD: 2, FAILED: 1, UNFINISHED: 1, NEVER_RUN: 1}
    assert summary.held_by_check == {"drift": 1, "fairness": 1} and summary.warnings_by_check == {"fairness": 1}
    assert summary.held == [
        {"stockcode": "C", "check": "drift", "reason": "list price x2"},
        {"stockcode": "G", "check": "fairness", "reason": "gap"},
    ]
    assert [(r["stockcode"], r["outcome"]) for r in summary.failed] == [("D", FAILED), ("E", UNFINISHED)]
    assert summary.recommendations == {"hold": 1, "increase": 2, "decrease": 1, "capped": 2, "none": 3}
    assert summary.hold_reasons == {"gain's interval includes zero": 1}
    assert summary.expected_gain == {"objective": "margin", "moves": 2, "total": 14.0, "median": 7.0}
    assert [r["stockcode"] for r in summary.slowest] == ["A", "C"]


def test_markdown_and_plot_say_the_same():
    summary = summarise(_records(), slowest=3)
    text = markdown(summary)
    assert "| promoted | 2 |" in text and "| held by drift | 1 |" in text
    assert "| C | held by drift | list price x2 |" in text and "| D | failed | dfn_model: out of memory |" in text
    assert "total +14.00, median +7.00" in text and "| A | 30.0 | promoted |" in text
    assert plot_png(summary, "t")[:8] == b"\x89PNG\r\n\x1a\n"
