"""The TUI of the base install opens every area (keys 1-5) and switches back, at 80x24 and larger,
with no error shown."""

from __future__ import annotations

import pytest
from textual.notifications import SeverityLevel
from textual.widgets import Input

from core import paths
from tests.support.pilot_wait import wait_for
from tui_tuner.app import TunerApp
from tui_tuner.areas import AREAS

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("size", [(80, 24), (140, 44)])
async def test_every_area_opens(size: tuple[int, int]) -> None:
    # The jobs area lists the (unreachable) Hub without seconds of back-off: the app ends at once.
    paths.ensure(paths.config_dir())
    paths.config_file().write_text("[jobs]\nretry_base_s = 0.01\n", encoding="utf-8")
    app = TunerApp()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert [a.mode for a in app.areas] == [a.mode for a in AREAS], "an area's screen did not install"
        for area in [*AREAS, AREAS[0]]:
            if isinstance(app.focused, Input):
                await pilot.press("escape")  # a digit typed in a field is text: leave the field first
            await pilot.press(area.key)
            await wait_for(pilot, lambda mode=area.mode, name=area.screen_class: app.current_mode == mode
                           and type(app.screen).__name__ == name, timeout=30)
            await pilot.pause()  # the area's first frame, where an error would show
        errors: list[tuple[SeverityLevel, str]] = [(n.severity, n.message) for n in app._notifications
                                                   if n.severity == "error"]
        assert not errors
        assert app.is_running
