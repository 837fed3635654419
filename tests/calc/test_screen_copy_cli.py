"""`y` in the calculator copies a command a user can run: the form's model as typed once it resolves, no
`--json`; with a refused field it copies nothing and says which field to fix."""

from __future__ import annotations

import shlex

from textual.widgets import Input

from tests.calc.test_screen import _host, settle
from tui_tuner.cli import main
from tui_tuner.screens.calc.screen import CalcScreen


async def test_copy_cli_copies_a_runnable_line_without_json(capsys) -> None:
    app = _host()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CalcScreen)
        screen.query_one("#model", Input).value = "qwen3-8b"
        await settle(pilot)
        await pilot.press("escape", "y")
        line = app.clipboard
        assert line.startswith("tui-tuner calc --model qwen3-8b ")
        assert "--json" not in line
    args = shlex.split(line)[1:]
    assert main(args) == 0  # the copied line runs as it is
    assert "qwen3" in capsys.readouterr().out.lower()


async def test_copy_cli_with_an_unknown_model_copies_nothing() -> None:
    app = _host()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.query_one("#model", Input).value = "not-a-model"
        await settle(pilot)
        await pilot.press("escape", "y")
        await pilot.pause()
        assert app.clipboard == ""
        message = list(app._notifications)[-1].message
        assert "nothing copied: fix model first" in message and "not-a-model" in message
