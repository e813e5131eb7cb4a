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
