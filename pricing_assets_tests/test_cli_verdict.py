"""How `pricing run` ends: which outcomes fail the command, and the short decision cell of its table."""

import pytest

from pricing_assets import cli
from pricing_assets.cli import StockcodeOutcome, short_hold

ERROR = "ERROR"


def outcome(code: str, *, success: bool = True, checks: dict[str, bool] | None = None, warn: bool = False):
    checks = checks or {"no_feature_drift": True}
    severity = {name: "WARN" if warn else ERROR for name in checks}
    error = "" if success else "challenger: worse than the baseline"
    return StockcodeOutcome(code, success, "run", 1.0, checks, severity, {}, error=error)


HELD = dict(success=False, checks={"no_feature_drift": True, "candidate_no_worse_than_serving": False})
BROKEN = dict(success=False, checks={"no_feature_drift": True})  # a step raised: no check holds it


@pytest.mark.parametrize(
    "outcomes,held_before,strict,status,says",
    [
        ([outcome("A"), outcome("B")], [], False, 0, "all 2 stockcode(s) passed"),
        ([outcome("A"), outcome("B", **HELD)], [], False, 0, "1 of 2 stockcode(s) held by a check: B"),
        ([outcome("A"), outcome("B", **HELD)], [], True, 1, "--strict: a stockcode held by a check fails"),
        ([outcome("A")], ["C"], False, 0, "1 skipped stockcode(s) still held by a check: C"),
        ([outcome("A")], ["C"], True, 1, "--strict"),
        ([outcome("A"), outcome("B", **BROKEN)], [], False, 1, "1 of 2 stockcode(s) failed: B"),
        ([outcome("A", **HELD), outcome("B", **BROKEN)], [], False, 1, "1 of 2 stockcode(s) failed: B"),
        (
            [outcome("A", success=True, checks={"fairness_within_threshold": False}, warn=True)],
            [],
            True,
            0,
            "1 with warnings, which do not block promotion",
        ),
    ],
)
def test_only_an_error_fails_the_command_unless_strict(capsys, outcomes, held_before, strict, status, says):
    assert cli._verdict(outcomes, held_before, "ran", strict=strict) == status
    printed = " ".join(capsys.readouterr().err.split())
    assert says in printed


def test_held_and_failed_are_told_apart():
    held, broken = outcome("B", **HELD), outcome("C", **BROKEN)
    assert cli._held(held) and not cli._failed(held) and cli._holding_checks(held) == ["challenger"]
    assert cli._failed(broken) and not cli._held(broken)
    assert not cli._blocked(outcome("A", success=True, checks={"fairness_within_threshold": False}, warn=True))


@pytest.mark.parametrize(
    "reason,cell",
    [
        ("the estimated demand is not elastic enough for an optimum: the data cannot support a move", "no optimum"),
        ("the evidence is mostly the catalogue prior (own weight 0.10 < 0.30)", "prior only"),
        ("the current price is already the best in the band", "already best"),
        ("the expected margin gain's 95 % interval includes zero", "gain uncertain"),
        ("no sale in the last 6 weeks: the data cannot support a move (is it still stocked?)", "not selling"),
        ("no sale is forecast next week: there is no demand to price a move with", "no demand"),
        ("something new", "reason above"),
    ],
)
def test_the_decision_cell_is_short(reason, cell):
    assert cell in short_hold(reason) and len(short_hold(reason)) <= 20


def test_every_hold_reason_the_recommendation_gives_has_its_short_label():
    """The labels key on words of core/recommendation.py's hold reasons: reworded there, this fails."""
    import inspect

    from pricing_assets.core import recommendation

    source = inspect.getsource(recommendation.recommend)
    assert source.count("hold_reason = ") - source.count("hold_reason = None") == len(cli._SHORT_HOLDS)
    for key, _ in cli._SHORT_HOLDS:
        assert key in source, key


def test_a_worker_that_died_is_its_stockcode_failing_in_words(capsys):
    """`--processes`: a worker killed under a stockcode (out of memory, kill -9) fails that stockcode, exit 1."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    future: Future = Future()
    future.set_exception(BrokenProcessPool("A child process terminated abruptly"))
    outcome = cli._collected(future, "85123A")
    assert outcome.stockcode == "85123A" and cli._failed(outcome) and not cli._held(outcome)
    assert "worker process stopped before it finished" in outcome.error and "run it again" in outcome.error
    assert cli._verdict([outcome], [], "ran", strict=False) == 1
    assert "1 of 1 stockcode(s) failed: 85123A" in " ".join(capsys.readouterr().err.split())


def rendered_rows(outcomes: list[StockcodeOutcome]) -> tuple[list[str], list[list[str]]]:
    """The summary table as `pricing run` prints it to a log (240 columns): its column names, and the cells of
    each line of its body (a stockcode whose row wrapped has more than one)."""
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=240, color_system=None)
    console.print(cli._summary(outcomes))
    lines = console.file.getvalue().splitlines()
    header = next(line for line in lines if line.startswith("┃ stockcode"))
    body = [line for line in lines if line.startswith("│ ")]
    return [c.strip() for c in header.split("┃")[1:-1]], [[c.strip() for c in ln.split("│")[1:-1]] for ln in body]


def evaluated(code: str, wape: float, beaten: dict[str, bool], **kwargs) -> StockcodeOutcome:
    result = outcome(code, **kwargs)
    result.metadata = {
        "demand_features": {"rows": 1234},
        "model_evaluation": {
            "champion": "elasticnet",
            "champion_test_rmsle": 0.5005,
            "champion_test_weekly_wape": wape,
            "beats_baselines_on_test": beaten,
        },
    }
    if result.success:
        result.metadata["promoted_model"] = {"version": "d96964a74eb5-0dfbfce6"}
    result.recommendation = {
        "current_list_price": 3.06,
        "recommended_list_price": 3.21,
        "objective": "margin",
        "expected_change": {"margin": {"mean": 12.5, "interval": [3.25, 20.0]}},
        "hold": False,
        "hold_reason": None,
        "action": "increase",
        "capped": False,
        "best_list_price_in_band": 3.21,
    }
    if not result.success:  # a hold of the decision too, with the change at the best price in the band (wide cells)
        result.recommendation.update(
            recommended_list_price=3.06,
            hold=True,
            hold_reason="the estimated demand is not elastic enough for an optimum: the data cannot support a move",
            action="hold",
            expected_change={"margin": {"mean": 242.44, "interval": [128.05, 1395.55]}},
            best_list_price_in_band=3.52,
        )
    return result


def test_the_table_shows_the_weekly_forecast_error_and_the_recommended_list_price_one_line_a_row():
    """The champion's test WAPE of weekly units and whether it beat the baselines (model_evaluation's
    metadata), the list price current -> recommended and the decision; no per-line price optimum any more."""
    both = {"recent_mean_baseline": True, "seasonal_naive_baseline": True}
    one = {"recent_mean_baseline": False, "seasonal_naive_baseline": True}
    none = {"recent_mean_baseline": False, "seasonal_naive_baseline": False}
    columns, rows = rendered_rows(
        [evaluated("A", 0.0972, both), evaluated("B", 0.3371, one, **HELD), evaluated("C", 1.5, none)]
    )
    for column in ("test WAPE", "beats baselines", "list price", "decision", "promoted"):
        assert column in columns, column
    assert "optimal price" not in columns and not any("RMSLE" in column for column in columns)
    assert [row[0] for row in rows] == ["A", "B", "C"], rows  # one line per stockcode
    cells = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
    assert (cells["A"]["test WAPE"], cells["A"]["beats baselines"]) == ("0.097", "yes")
    assert (cells["B"]["test WAPE"], cells["B"]["beats baselines"]) == ("0.337", "seasonal naive only")
    assert (cells["C"]["test WAPE"], cells["C"]["beats baselines"]) == ("1.500", "no")
    assert cells["A"]["list price"] == "3.06 → 3.21" and cells["A"]["decision"] == "increase"
    assert cells["A"]["promoted"] == "d96964a74eb5-0dfbfce6" and cells["B"]["promoted"] == "not promoted"
    assert cells["B"]["status"] == "held (challenger)" and cells["A"]["champion"] == "elasticnet"
    assert cells["B"]["decision"] == "hold: no optimum" and cells["B"]["list price"] == "3.06 → 3.06"
    assert cells["B"]["expected change/week"] == "margin +242.44 (+128.05 to +1395.55) at 3.52"
    assert cells["A"]["challenger"] == "-" and cells["B"]["challenger"] == "failed" and cells["A"]["drift"] == "passed"


def test_the_table_says_dash_where_a_run_stopped_before_evaluation():
    columns, rows = rendered_rows([outcome("D", **BROKEN)])
    (row,) = rows
    cells = dict(zip(columns, row, strict=True))
    assert cells["test WAPE"] == "-" and cells["beats baselines"] == "-" and cells["list price"] == "-"
    assert cli.beats_baselines_cell({}) == "-" and cli.beats_baselines_cell(None) == "-"


@pytest.mark.parametrize(
    "requested,stockcodes,workers",
    [
        (0, 3, 1),  # a few stockcodes: in this process, no worker to start
        (0, cli.AUTO_WORKERS_FROM - 1, 1),
        (0, cli.AUTO_WORKERS_FROM, 2),  # a catalogue: one per core (two here)
        (0, 597, 2),
        (1, 597, 1),  # asked for: as asked
        (4, 3, 3),  # never more workers than stockcodes
    ],
)
def test_a_catalogue_runs_a_worker_per_core_unless_told_otherwise(monkeypatch, requested, stockcodes, workers):
    monkeypatch.setattr(cli.os, "sched_getaffinity", lambda _pid: {0, 1})
    assert cli.worker_processes(requested, stockcodes) == workers


def test_a_move_says_whether_the_band_or_the_data_stopped_it():
    """The progress line and the table's decision cell: capped at the band's edge, or short of the estimate's
    best price where the gain is surest (core/recommendation.verdict), or a plain move to the best."""
    change = {"margin": {"mean": 1.5, "interval": [0.2, 3.0]}}
    base = dict(current_list_price=2.0, objective="margin", expected_change=change, unit_cost=1.0, cost_assumed=False)
    move = dict(base, hold=False, hold_reason=None, action="decrease", capped=False)
    short = dict(move, recommended_list_price=1.86, best_list_price_in_band=1.70)
    capped = dict(move, recommended_list_price=1.70, best_list_price_in_band=1.70, capped=True)
    plain = dict(move, recommended_list_price=1.80, best_list_price_in_band=1.80)
    assert "(decrease, short of the estimate's best 1.70, where the gain is surest);" in cli.recommendation_line(short)
    assert cli.recommendation_cells(short)[2] == "decrease, short of 1.70"
    assert "(decrease, capped by the guardrail);" in cli.recommendation_line(capped)
    assert cli.recommendation_cells(capped)[2] == "decrease, capped"
    assert "2.00 → 1.80 (decrease);" in cli.recommendation_line(plain)
    assert cli.recommendation_cells(plain)[2] == "decrease"
    # How sure: the share of the elasticity's draws on which the move gains, where the answer says it.
    assert ", gains on 99 % of the elasticity's draws;" in cli.recommendation_line(dict(plain, gain_probability=0.9925))
    assert "gains on" not in cli.recommendation_line(plain)
