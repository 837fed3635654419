"""The Command block shows the whole command at every size, as shell lines that paste as that command.

At 80×24 it was cut after `--label` (three rows at most), so the run label and `--detach train_….py` were
missing; a soft-wrapped line would paste as a broken command anyway.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from core.launch import launcher
from core.launch.config import LaunchConfig
from tests.launch.test_screen import fill, settle
from tests.support.host_app import ScreenHost
from tests.support.pilot_wait import wait_for
from tui_tuner.screens.launch.command_view import CommandView
from tui_tuner.screens.launch.screen import LaunchScreen

pytestmark = pytest.mark.timeout(120)

CONFIG = LaunchConfig(base_model="google/gemma-3-12b-it", dataset="me/coaching", output_repo="me/gemma-coach",
                      trackio_space="me/trackio", max_length=2048, flavor="a10g-large", timeout="6h")


def _pasted(lines: list[str]) -> list[str]:
    """The arguments a shell reads from the lines (a backslash-newline joins them)."""
    return shlex.split("\n".join(lines).replace(" \\\n", " "))


def _shown_whole(screen: LaunchScreen, view: CommandView) -> None:
    lines = view.lines()
    assert all(len(line) <= view.content_size.width for line in lines), lines
    assert view.size.height == len(lines), "the block is as tall as the command"
    side = screen.query_one("#launch-side").region
    assert side.contains_region(view.region) and screen.region.contains_region(view.region), "all of it on screen"
    _, command = launcher.preview(CONFIG)
    assert _pasted(lines) == list(command.argv)
    assert lines[-1].endswith(" --detach train_gemma-3-12b-it.py")


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 48)])
async def test_the_whole_command_is_shown_and_pastes_as_one(size: tuple[int, int], monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    app = ScreenHost(LaunchScreen)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = await fill(pilot, CONFIG)
        view = screen.query_one("#command-preview", CommandView)
        await wait_for(pilot, lambda: view.size.height == len(view.lines()))
        _shown_whole(screen, view)
        if size == (80, 24):
            assert len(view.lines()) > 3  # more rows than the block had, and the command needs them
            assert any("run=gemma-3-12b-it-sft-YYYYmmdd-HHMMSS" in line for line in view.lines())


async def test_a_resize_breaks_the_command_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    app = ScreenHost(LaunchScreen)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = await fill(pilot, CONFIG)
        view = screen.query_one("#command-preview", CommandView)
        wide = view.lines()
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: view.lines() != wide and view.size.height == len(view.lines()))
        _shown_whole(screen, view)
