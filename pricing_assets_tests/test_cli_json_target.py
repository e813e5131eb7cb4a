"""``pricing run --json FILE``: the file is checked before anything runs and written whole or not at all."""

import json
import os

import pytest

from pricing_assets import cli


def test_a_json_target_that_cannot_be_written_is_refused_up_front(tmp_path, monkeypatch):
    with pytest.raises(cli.CliError, match=r"--json .*: the folder .*/missing does not exist"):
        cli._check_json_target(str(tmp_path / "missing" / "out.json"))
    with pytest.raises(cli.CliError, match=r"is a folder; name a file in it"):
        cli._check_json_target(str(tmp_path))
    assert cli._check_json_target(str(tmp_path / "out.json")) == tmp_path / "out.json"
    # Root may write anywhere, so a folder the user cannot write in is what os.access says.
    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)
    with pytest.raises(cli.CliError, match=r"--json .*: cannot write in the folder"):
        cli._check_json_target(str(tmp_path / "out.json"))


def test_a_failed_json_write_leaves_the_previous_report_whole(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    target.write_text('{"previous": true}')

    def disk_full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli.os, "replace", disk_full)
    with pytest.raises(cli.CliError, match=r"--json .*out.json: the report could not be written \(No space left"):
        cli._write_json(target, {"stockcodes": []})
    assert json.loads(target.read_text()) == {"previous": True}
    assert os.listdir(tmp_path) == ["out.json"]  # no temporary file left behind
    monkeypatch.undo()
    cli._write_json(target, {"stockcodes": []})
    assert json.loads(target.read_text()) == {"stockcodes": []}


def _strict(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_the_report_is_strict_json_when_a_product_sold_nothing_in_its_test_weeks(tmp_path):
    """A WAPE with no sales to divide by is infinite; the report says null, which every JSON reader accepts, and the
    run's table says why."""
    import datetime

    report = {
        "stockcodes": [
            {
                "metadata": {"model_evaluation": {"champion_test_weekly_wape": float("inf"), "rmsle": 0.5}},
                "ratios": (float("nan"), 1.5, float("-inf")),
                "when": datetime.date(2011, 8, 29),
            }
        ]
    }
    target = tmp_path / "out.json"
    cli._write_json(target, report)
    (row,) = _strict(target.read_text())["stockcodes"]
    assert row == {
        "metadata": {"model_evaluation": {"champion_test_weekly_wape": None, "rmsle": 0.5}},
        "ratios": [None, 1.5, None],
        "when": "2011-08-29",
    }
    assert [cli._wape_cell(w) for w in (float("inf"), 0.4321, None)] == ["no sales", "0.432", "-"]
