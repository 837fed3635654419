"""The confirmation before a launch fits an 80×24 terminal: its buttons on screen and the whole command
as shell lines that paste as that command (the dialog was 90 columns wide, so at 80 the right of every
command line was cut, and the Cancel/Launch buttons were below the screen's edge)."""

from __future__ import annotations

import shlex
from datetime import datetime
from pathlib import Path

import pytest
from textual.widgets import Button

from core.launch import launcher, script
from core.launch.config import LaunchConfig
from core.launch.preflight import PreflightOptions
from tests.support.host_app import ScreenHost
from tests.support.pilot_wait import wait_for
from tui_tuner.screens.launch.command_view import CommandView
from tui_tuner.screens.launch.confirm import ConfirmLaunch

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def plan(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> launcher.LaunchPlan:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(script.secrets, "token_hex", lambda n: "beef")
    config = LaunchConfig(base_model="google/gemma-3-12b-it", dataset="me/coaching", output_repo="me/gemma-coach",
                          trackio_space="me/trackio", namespace="me", flavor="a100-large")
    return launcher.plan(config, PreflightOptions(online=False), now=datetime(2026, 1, 2, 3, 4, 5))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_buttons_and_the_whole_command_are_on_screen(plan: launcher.LaunchPlan, size: tuple[int, int]) -> None:
    app = ScreenHost(lambda: ConfirmLaunch(plan))
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmLaunch) and app.screen.query(Button))
        await pilot.pause()
        dialog = app.screen
        screen_region = dialog.region
        for button in dialog.query(Button):
            assert screen_region.contains_region(button.region), f"{button.label} is off screen"
        view = dialog.query_one("#confirm-command", CommandView)
        await wait_for(pilot, lambda: view.size.height == len(view.lines()))
        lines = view.lines()
        assert screen_region.contains_region(view.region), "the command is cut by the screen's edge"
        assert dialog.query_one("#confirm-scroll").region.contains_region(view.region), "all of it in view"
        assert all(len(line) <= view.content_size.width for line in lines), lines
        assert shlex.split("\n".join(lines).replace(" \\\n", " ")) == list(plan.command.argv)
        assert lines[-1].endswith("--detach train_gemma-3-12b-it.py")
        await pilot.press("enter")  # the Launch key works as before
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmLaunch))
