"""The app shell: lazy and resident areas, keys that work from anywhere, the footer's `?`, focus on entry,
width classes, the theme kept in the config, the frame painted before the start area."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from textual.widgets import Input

from core import paths
from core.config import load_config
from tests.support.pilot_wait import wait_for
from tui_tuner.app import TunerApp
from tui_tuner.screens.base import AppFooter, AreaScreen, StartScreen

ROOT = Path(__file__).resolve().parents[2]


def test_start_imports_no_area_but_the_first_and_builds_others_on_first_visit(tmp_path: Path) -> None:
    # A fresh interpreter, so other tests' imports do not count.
    script = textwrap.dedent("""
        import asyncio, json, sys
        from tui_tuner.app import TunerApp

        def loaded():
            return sorted(m.split(".")[2] for m in sys.modules if m.startswith("tui_tuner.screens.")
                          and m.endswith(".screen"))

        async def main():
            app = TunerApp()
            out = {}
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                out["start"] = loaded()
                out["numpy_at_start"] = "numpy" in sys.modules
                await pilot.press("f2")
                await pilot.pause()
                out["after_f2"] = loaded()
                launch = app.screen
                await pilot.press("f1")
                await pilot.press("f2")
                await pilot.pause()
                out["resident"] = app.screen is launch
            print(json.dumps(out))

        asyncio.run(main())
    """)
    env = {"TUI_TUNER_HOME": str(tmp_path), "HF_ENDPOINT": "http://127.0.0.1:9", "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["start"] == ["calc"]
    assert out["after_f2"] == ["calc", "launch"]
    assert out["resident"] is True
    assert out["numpy_at_start"] is False


async def test_function_keys_switch_areas_even_from_a_text_field_and_digits_type_into_it() -> None:
    app = TunerApp(start_area="launch")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        field = app.focused
        assert field is not None and field.id == "f-base_model"  # the area opened on its first field
        await pilot.press("2")
        assert app.current_mode == "launch" and field.value == "2"  # a digit is text in a field
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.current_mode == "eval")
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.current_mode == "launch")
        assert app.focused is field  # back where the user left it


async def test_footer_shows_help_first_at_80_columns_even_with_a_text_field_focused() -> None:
    app = TunerApp(start_area="launch")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        footer = app.screen.query_one(AppFooter)
        await wait_for(pilot, lambda: bool(footer.children))
        first = footer.children[0]
        assert first.region.x < 10 and "Help" in str(first.render())
        await pilot.click(first)  # the click opens the help even though the field takes the `?` key
        await wait_for(pilot, lambda: bool(app.screen.query("HelpPanel")))


@pytest.mark.parametrize(("width", "expected"), [(80, "-narrow"), (120, "-medium"), (200, "-wide")])
async def test_width_classes_follow_the_terminal_on_every_resident_screen(width: int, expected: str) -> None:
    app = TunerApp(start_area="calc")
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.current_mode == "launch")
        await pilot.resize_terminal(width, 24)
        await pilot.press("f1")  # calc was not on screen when the terminal changed size
        await wait_for(pilot, lambda: app.current_mode == "calc")
        await pilot.pause()
        assert app.screen.has_class(expected) and app.screen.has_class("-short")
        assert isinstance(app.screen, AreaScreen)


async def test_a_theme_picked_is_saved_in_the_config_and_used_next_time() -> None:
    app = TunerApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.theme = "tuner-light"
        await pilot.pause()
    assert load_config().get("ui", "theme") == "tuner-light"
    again = TunerApp()
    async with again.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert again.theme == "tuner-light"


async def test_a_broken_config_is_not_overwritten_by_the_theme() -> None:
    paths.ensure(paths.config_dir())
    paths.config_file().write_text("[ui\ntheme = ", encoding="utf-8")
    app = TunerApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.theme = "tuner-light"
        await pilot.pause()
    assert paths.config_file().read_text(encoding="utf-8") == "[ui\ntheme = "


async def test_the_frame_is_painted_before_the_start_area_is_built() -> None:
    app = TunerApp(start_area="launch", progressive_start=True)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, StartScreen)  # what the first frame shows: header, area bar, keys
        assert "Opening Launch" in str(app.screen.query_one("#start-note").render())
        await wait_for(pilot, lambda: app.current_mode == "launch" and isinstance(app.focused, Input))
        await app.workers.wait_for_complete()
