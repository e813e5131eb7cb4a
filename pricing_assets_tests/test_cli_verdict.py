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
