"""Snapshots of the Launch screen (fixed size, fixed content, relative paths, all five areas in the bar)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TabbedContent

from core.launch.config import LaunchConfig
from tests.launch.test_screen import settle
from tui_tuner import areas
from tui_tuner.app import TunerApp
from tui_tuner.screens import base
from tui_tuner.screens.launch.screen import LaunchScreen

SIZE = (160, 48)
GEMMA_16K = LaunchConfig(base_model="google/gemma-3-12b-it", dataset="me/coaching", output_repo="me/gemma-coach",
                         trackio_space="me/trackio", max_length=16384, flavor="a10g-large", timeout="6h")


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> TunerApp:
    monkeypatch.setattr(base, "built_areas", lambda: list(areas.AREAS))
    monkeypatch.chdir(tmp_path)
    application = TunerApp(start_area="launch")
    application.animation_level = "none"
    return application


async def _fill(pilot: Pilot, config: LaunchConfig) -> LaunchScreen:
    screen = pilot.app.screen
    assert isinstance(screen, LaunchScreen)
    await _settle(pilot)  # most of the form is mounted after the first frame; the first preflight done  # the first preflight done (a new one would cancel it mid-wait)
    screen._apply(config)
    screen._refresh_now()
    await _settle(pilot)
    return screen


async def _settle(pilot: Pilot) -> None:
    await settle(pilot)
    pilot.app.screen.set_focus(None)
    await pilot.pause()


def test_gemma_16k_on_a10g_does_not_fit(snap_compare, app: TunerApp) -> None:
    async def run_before(pilot: Pilot) -> None:
        await _fill(pilot, GEMMA_16K)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_script_preview(snap_compare, app: TunerApp) -> None:
    async def run_before(pilot: Pilot) -> None:
        screen = await _fill(pilot, GEMMA_16K.replace(max_length=2048))
        screen.query_one("#launch-tabs", TabbedContent).active = "tab-script"
        await _settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_bad_input_errors(snap_compare, app: TunerApp, tmp_path: Path) -> None:
    (tmp_path / "chats.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')

    async def run_before(pilot: Pilot) -> None:
        screen = await _fill(pilot, LaunchConfig(base_model="google/gemma-3-12b", dataset="chats.jsonl",
                                                 output_repo="me/bad repo", backend="local"))
        screen.query_one("#f-epochs", Input).value = "three"
        await _settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
