"""The CLI's safety net: a bug is one line on stderr and exit 1, with the redacted traceback in a log
file under the logs folder; never a traceback on the terminal, never exit 0."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core import paths
from tests.conftest import CANARY_TOKEN, assert_no_canary
from tui_tuner import cli


def explode(args: object) -> int:
    def inner() -> None:
        raise RuntimeError(f"boom\nwith {CANARY_TOKEN} inside")

    inner()
    return 0


def test_an_unexpected_exception_is_one_line_and_a_log_file(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "_locate", explode)
    assert cli.main(["locate"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    match = re.fullmatch(r"error: internal error: RuntimeError: boom with \*\*\* inside \(details in (.+)\)\n", err)
    assert match, err
    log = Path(match.group(1))
    assert log.parent == paths.logs_dir() and log.is_file()
    details = log.read_text(encoding="utf-8")
    assert details.startswith("tui-tuner locate\n") and "Traceback (most recent call last)" in details
    assert "in inner" in details and "RuntimeError: boom" in details
    assert_no_canary(out, err, details)


def test_json_mode_gets_a_json_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "_locate", explode)
    assert cli.main(["locate", "--json"]) == 1
    error = json.loads(capsys.readouterr().err)
    assert error["field"] is None and error["error"].startswith("internal error: RuntimeError: boom")
    assert CANARY_TOKEN not in error["error"]


def test_an_unwritable_logs_folder_still_gives_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setattr(paths, "logs_dir", lambda: blocker / "logs")
    monkeypatch.setattr(cli, "_locate", explode)
    assert cli.main(["locate"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(no details saved:" in err


def test_a_crashed_tui_does_not_exit_0(monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_tuner import app as app_module

    class Crashed:
        return_code = 1

        def __init__(self, **_: object) -> None: ...

        def run(self) -> None: ...

    monkeypatch.setattr(app_module, "TunerApp", Crashed)
    assert cli.main([]) == 1 and cli.main(["tui"]) == 1
