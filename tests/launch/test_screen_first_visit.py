"""Entering Launch paints at once: the first frame holds the form's first section, the rest of the form
is mounted right after it and then holds the saved configuration like the first section."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, TabbedContent

from core import paths
from core.launch.config import LaunchConfig, save_preset
from tests.launch.test_screen import settle
from tests.support.pilot_wait import wait_for
from tui_tuner.app import TunerApp
from tui_tuner.screens.calc.screen import CalcScreen
from tui_tuner.screens.launch.screen import FIELDS, FORM, LAST_CONFIG, LaunchScreen

pytestmark = pytest.mark.timeout(120)


async def test_first_frame_has_the_first_section_and_the_rest_follows(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    save_preset(LaunchConfig(base_model="google/gemma-3-12b-it", epochs=7, lora_r=32),
                paths.data_dir() / LAST_CONFIG)
    seen: dict[str, object] = {}
    original = LaunchScreen._mount_rest_of_form

    async def spy(self: LaunchScreen) -> None:
        # Runs after the area's first refresh: what that frame held.
        seen["mounted"] = {name for name in FIELDS if self.query(f"#f-{name}")}
        seen["base_model"] = self.query_one("#f-base_model", Input).value
        seen["side_tabs"] = bool(self.query("#launch-tabs, #findings, #script-preview, #launch-histogram"))
        await original(self)

    monkeypatch.setattr(LaunchScreen, "_mount_rest_of_form", spy)
    app = TunerApp(start_area="calc")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, CalcScreen))
        app.switch_mode("launch")
        await wait_for(pilot, lambda: getattr(app.screen, "form_ready", False))
        screen = app.screen
        assert seen["mounted"] == {spec.name for spec in FORM[0][1]}  # the first section only
        assert not seen["side_tabs"]  # the preflight and script tabs come with the rest
        assert seen["base_model"] == "google/gemma-3-12b-it"  # already filled in on the first frame
        await settle(pilot)
        assert screen.query_one("#launch-tabs", TabbedContent).active == "tab-preflight"
        assert all(screen.query(f"#f-{name}") for name in FIELDS)
        assert screen.query_one("#f-epochs", Input).value == "7"
        assert screen.query_one("#f-lora_r", Input).value == "32"
        # The rest sits between the first section and the buttons, in the form's order.
        form = screen.query_one("#launch-form")
        ids = [w.id for w in form.children if w.id and w.id.startswith("row-")]
        assert ids == [f"row-{name}" for name in FIELDS]
        assert form.children[-1].id == "launch-buttons"
        assert "MODEL_ID = 'google/gemma-3-12b-it'" in screen.script_text  # the preview ran on the whole form


async def test_an_area_screen_has_its_size_classes_before_it_mounts() -> None:
    """Set on the first resume instead, they re-styled every widget of a new screen."""
    app = TunerApp(start_area="calc")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = LaunchScreen()
        assert screen.has_class("-narrow") and screen.has_class("-short")
        assert not screen.is_mounted
