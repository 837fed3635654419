"""The TUI of the base install opens every area (keys 1-5) and switches back, at 80x24 and larger,
with no error shown."""

from __future__ import annotations

import pytest
from textual.notifications import SeverityLevel
from textual.widgets import Input

from tui_tuner.app import TunerApp
from tui_tuner.areas import AREAS

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("size", [(80, 24), (140, 44)])
async def test_every_area_opens(size: tuple[int, int]) -> None:
    app = TunerApp()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert [a.mode for a in app.areas] == [a.mode for a in AREAS], "an area's screen did not install"
        for area in [*AREAS, AREAS[0]]:
            if isinstance(app.focused, Input):
                await pilot.press("escape")  # a digit typed in a field is text: leave the field first
            await pilot.press(area.key)
            await pilot.pause(0.2)
            assert app.current_mode == area.mode
            assert type(app.screen).__name__ == area.screen_class
        errors: list[tuple[SeverityLevel, str]] = [(n.severity, n.message) for n in app._notifications
                                                   if n.severity == "error"]
        assert not errors
        assert app.is_running
