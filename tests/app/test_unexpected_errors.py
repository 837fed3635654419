"""An unexpected error in the TUI: one line and a log file, never Textual's traceback with its locals; an
error that comes due after the user asked to quit (a deferred mount during teardown) does not spoil the quit."""

from __future__ import annotations

import os

import pytest
from textual.binding import Binding

from core import paths
from tests.conftest import CANARY_TOKEN
from tests.support.pilot_wait import wait_for
from tui_tuner.app import TunerApp


class CrashingApp(TunerApp):
    BINDINGS = [*TunerApp.BINDINGS,
                Binding("ctrl+x", "crash", priority=True),
                Binding("ctrl+y", "quit_then_crash", priority=True)]

    def action_crash(self) -> None:
        # In the screen's loop, as a widget's handler fails (an error in the app's own loop stalls Pilot).
        self.screen.call_later(self._boom)

    def _boom(self) -> None:
        token = os.environ["HF_TOKEN"]  # a local Textual's traceback would have printed
        raise RuntimeError(f"boom with {token}")

    def action_quit_then_crash(self) -> None:
        self.screen.call_later(self._late_mount)

    def _late_mount(self) -> None:
        # The user's quit lands, then a deferred mount in the same screen fails on the pruned screens.
        self.exit()
        raise LookupError("a widget mounted while the screens were torn down")


def _crash_logs() -> list[str]:
    folder = paths.logs_dir()
    return [p.read_text() for p in sorted(folder.glob("crash-*.log"))] if folder.is_dir() else []


async def test_an_unexpected_error_is_one_line_and_a_redacted_log(capsys: pytest.CaptureFixture[str]) -> None:
    app = CrashingApp()
    with pytest.raises(RuntimeError, match="boom"):  # run_test hands the error to the test, as before
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.screen.id is not None or app.current_mode is not None)
            await pilot.press("ctrl+x")
    assert app.return_code == 1
    shown = " ".join(capsys.readouterr().err.split())  # what the terminal gets at exit (wrapped at its width)
    assert shown.startswith("error: internal error: RuntimeError: boom") and "details in" in shown
    assert "Traceback" not in shown and "locals" not in shown.lower() and CANARY_TOKEN not in shown
    logs = _crash_logs()
    assert len(logs) == 1 and "Traceback" in logs[0] and "_boom" in logs[0]
    assert CANARY_TOKEN not in logs[0]


async def test_an_error_after_quit_is_logged_and_the_quit_stays_clean(capsys: pytest.CaptureFixture[str]) -> None:
    app = CrashingApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.current_mode is not None)
        await pilot.press("ctrl+y")
    assert app.return_code == 0 and "error" not in capsys.readouterr().err
    logs = _crash_logs()
    assert len(logs) == 1 and "LookupError" in logs[0]
