"""In a 16-colour terminal (TERM=xterm) every area stays readable: no text is drawn in the colour of its
own background once the theme's colours are reduced to the 16 the terminal has."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.color import ColorSystem
from rich.segment import Segment
from textual.widgets._toggle_button import ToggleButton

from core import paths
from tests.support.pilot_wait import busy_workers, wait_for
from tui_tuner import areas
from tui_tuner.app import TunerApp
from tui_tuner.screens import base


@pytest.fixture(autouse=True)
def stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "built_areas", lambda: list(areas.AREAS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUI_TUNER_LLAMA_CPP", "/opt/llama.cpp-missing")
    paths.ensure(paths.config_dir())
    # The jobs list still tries the unreachable Hub, without seconds of back-off before the app can end.
    paths.config_file().write_text("[jobs]\nrefresh_s = 600\nretry_base_s = 0.01\n", encoding="utf-8")


def unreadable(segments: list[Segment]) -> list[str]:
    """Texts whose foreground equals their background in the 16-colour system."""
    bad = []
    for segment in segments:
        style = segment.style
        text = "".join(c for c in segment.text if not ("\u2500" <= c <= "\u259f"))  # borders, bars, blocks
        if segment.control or not text.strip() or style is None or style.color is None:
            continue
        if text == ToggleButton.BUTTON_INNER:
            continue  # an unticked box draws its mark in its own background on purpose: it reads as empty
        if style.bgcolor is None or style.reverse:
            continue
        fg = style.color.downgrade(ColorSystem.STANDARD)
        bg = style.bgcolor.downgrade(ColorSystem.STANDARD)
        if fg.number is not None and fg.number == bg.number:
            bad.append(text.strip())
    return bad


@pytest.mark.parametrize("theme", ["tuner-dark", "tuner-light"])
@pytest.mark.parametrize("area", ["calc", "launch", "jobs", "convert", "eval"])
async def test_no_text_in_its_background_colour(area: str, theme: str) -> None:
    app = TunerApp(start_area=area)
    app.theme = theme
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.current_mode == area and not busy_workers(pilot, {"monitor-refresh"}),
                       timeout=30, what=f"{area} open and its workers done")
        await pilot.pause()
        update = app.screen._compositor.render_full_update()
        segments = [segment for strips in update.strips for strip in strips for segment in strip]
        assert segments
        assert unreadable(segments) == []
