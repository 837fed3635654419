"""Quitting while Launch is still mounting the rest of its form ends cleanly.

The form's first section paints first and the rest is mounted right after (`_mount_rest_of_form`). A user
who quits in that window (ctrl+q right after entering Launch) must get a clean exit: once the app has
started quitting, Textual prunes the screen and widgets mounted from then on are never composed, so the
deferred mount and the refresh after it must stop instead of querying them (`NoMatches('#script-preview')`,
a Select's missing label, `MountError`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import TabbedContent
from textual.widgets._select import SelectCurrent

from tests.support.host_app import ScreenHost
from tests.support.pilot_wait import wait_for
from tui_tuner.app import TunerApp
from tui_tuner.screens.calc.screen import CalcScreen
from tui_tuner.screens.launch.screen import FORM, LaunchScreen

pytestmark = pytest.mark.timeout(120)

MOMENTS = ("scheduled", "sections built", "a choice composing", "side tabs composing")
"""When the quit comes: as soon as the rest of the form is scheduled, once its sections are built (before
they are mounted), while the first choice field of the rest is composing (a Select whose label is not
mounted yet), while the side tabs are composing (the form mounted, the tabs not yet)."""


def _quit_at(moment: str, app: App[None], monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `app` quit at `moment` of the deferred mount (for the later moments: from inside it)."""
    if moment == "sections built":
        section = LaunchScreen._section

        def quitting_section(self: LaunchScreen, title: str, specs: tuple) -> list:
            widgets = section(self, title, specs)
            if title == FORM[-1][0]:
                app.exit()
            return widgets

        monkeypatch.setattr(LaunchScreen, "_section", quitting_section)
    elif moment == "a choice composing":
        compose = SelectCurrent.compose

        def quitting_compose(self: SelectCurrent):  # type: ignore[no-untyped-def]
            if getattr(app.screen, "_rest_scheduled", False) and not app._exit:
                app.exit()
            yield from compose(self)

        monkeypatch.setattr(SelectCurrent, "compose", quitting_compose)
    elif moment == "side tabs composing":
        compose = TabbedContent.compose

        def quitting_tabs_compose(self: TabbedContent):  # type: ignore[no-untyped-def]
            if self.id == "launch-tabs":
                app.exit()
            yield from compose(self)

        monkeypatch.setattr(TabbedContent, "compose", quitting_tabs_compose)


@pytest.mark.parametrize("moment", MOMENTS)
async def test_quit_while_the_form_is_mounting_exits_cleanly(moment: str, monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    app = ScreenHost(LaunchScreen)
    _quit_at(moment, app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: getattr(app.screen, "_rest_scheduled", False))
        if moment == "scheduled":
            app.exit()
        await wait_for(pilot, lambda: app._exit)  # the quit came from inside the deferred mount
    # run_test re-raises what a handler raised while the app was closing; nothing did.
    assert app.return_code == 0
    assert app._exception is None


async def test_quit_right_after_entering_launch_from_another_area(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    """The reviewer's case in the whole app: enter Launch from another area and quit while its form mounts."""
    monkeypatch.chdir(tmp_path)
    app = TunerApp(start_area="calc")
    _quit_at("a choice composing", app, monkeypatch)  # Calc's choices compose before: no quit from them
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, CalcScreen))
        app.switch_mode("launch")
        await wait_for(pilot, lambda: app._exit)
    assert app.return_code == 0
    assert app._exception is None
