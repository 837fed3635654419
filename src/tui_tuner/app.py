"""The Textual app: one lazy, resident mode per built area, themes from disk, errors shown and survived."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.screen import Screen
from textual.worker import Worker

from core.config import Config, load_config, save_config
from tui_tuner.areas import built_areas, canonical_area
from tui_tuner.broken_store import guard_store, store_commands
from tui_tuner.screens.base import report_worker_failure
from tui_tuner.themes import DEFAULT_DARK, DEFAULT_LIGHT, domain_variable_defaults, load_themes

GLOBAL_CSS = Path(__file__).parent / "styles" / "global.tcss"


class TunerApp(App[None]):
    """plan → launch → monitor → convert → evaluate, one area per mode (keys 1-5 outside text fields, F1-F5 anywhere)."""

    TITLE = "tui-tuner"
    CSS_PATH = [GLOBAL_CSS]
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("question_mark", "toggle_help", "Help", id="app.help"),
        # A digit works wherever a key is not text (a focused field takes digits); F1-F5 work everywhere.
        # (alt+digit cannot: terminals send ESC+digit, which Textual reads as a macOS option character.)
        *(Binding(key, f"goto_area('{key}')", f"Area {key}", show=False, id=f"app.area-{key}")
          for key in "12345"),
        *(Binding(f"f{key}", f"goto_area('{key}')", f"Area {key}", show=False, priority=True,
                  id=f"app.area-f{key}") for key in "12345"),
    ]

    def __init__(self, *, start_area: str | None = None, config: Config | None = None,
                 area_options: dict[str, dict[str, Any]] | None = None,
                 progressive_start: bool | None = None) -> None:
        """progressive_start: paint the frame (header, area bar, footer) first, then check the store in a
        thread and build the start area. None: in a real terminal or browser, not under `run_test`
        (tests see the start area as soon as the app is up, as before)."""
        super().__init__()
        self._progressive_start = progressive_start
        self._areas_open = False
        """True once the start area is open; until then an area key only changes which one opens."""
        self.config = config or load_config()
        self.areas = built_areas()
        # Every area's stylesheet now (a few ms): one read later would re-style every mounted screen.
        self.css_path = [GLOBAL_CSS, *(area.css_path for area in self.areas if area.css_path.is_file())]
        options = area_options or {}
        for area in self.areas:
            # A factory, not the class: the screen module is imported on the first visit only.
            self.add_mode(area.mode, area.screen_factory(**options.get(area.mode, {})))
        self._start_area = canonical_area(start_area)
        self._startup_problems: list[str] = []
        if self.config.problem:
            self._startup_problems.append(self.config.problem)
        themes, problems = load_themes()
        self._startup_problems.extend(problems)
        for theme in themes:
            self.register_theme(theme)
        wanted = self.config.get("ui", "theme", DEFAULT_DARK)
        if wanted not in self.available_themes:
            self._startup_problems.append(f"theme {wanted!r} not found; using {DEFAULT_DARK}")
            wanted = DEFAULT_DARK
        self.theme = wanted
        self._saved_theme = wanted

    def get_driver_class(self) -> type[Driver]:
        """In a terminal on Linux/macOS, Textual's driver that quits when the terminal is gone (EOF/EIO)
        instead of spinning (tui_tuner.terminal_driver); the web and headless drivers are kept."""
        from textual.drivers.linux_driver import LinuxDriver

        driver = super().get_driver_class()
        if driver is LinuxDriver:
            from tui_tuner.terminal_driver import HangupAwareDriver

            return HangupAwareDriver
        return driver

    def get_theme_variable_defaults(self) -> dict[str, str]:
        # Textual's own themes (picked in the palette) lack the domain variables the sheets may use.
        return {**super().get_theme_variable_defaults(), **domain_variable_defaults(self.current_theme)}

    def action_goto_area(self, key: str) -> None:
        area = next((a for a in self.areas if a.key == key), None)
        if area is None:
            return
        if not self._areas_open:
            self._start_area = area.mode  # still starting: open this one instead
            return
        # An open dialog or a job's detail stays on its area's stack and is there on the way back.
        self.switch_mode(area.mode)

    def start_mode(self) -> str | None:
        modes = [area.mode for area in self.areas]
        return (self._start_area if self._start_area in modes else modes[0]) if modes else None

    def get_default_screen(self) -> Screen:
        from tui_tuner.screens.base import StartScreen

        return StartScreen(self.start_mode() or "")

    def on_mount(self) -> None:
        self._quit_on_signals()
        progressive = self._progressive_start if self._progressive_start is not None else not self.is_headless
        if progressive:
            # Nothing heavy before the first frame: the store check (SQLite, a disk write) and the area's
            # screen (its imports, widgets and first computation) come right after it.
            self.call_after_refresh(self._open_start_area_in_background)
        else:
            self._open_start_area(guard_store())

    @work(group="app-start", exit_on_error=False)
    async def _open_start_area_in_background(self) -> None:
        self._open_start_area(await asyncio.to_thread(guard_store))

    def _open_start_area(self, store_problems: list[str]) -> None:
        # A broken store: scratch store, a notice, a way out (store_commands).
        self._startup_problems.extend(store_problems)
        self._areas_open = True
        if (mode := self.start_mode()) is not None:
            self.switch_mode(mode)
        for problem in self._startup_problems:
            self.notify(problem, severity="warning", timeout=8)

    def _quit_on_signals(self) -> None:
        """SIGTERM, SIGHUP (a closed terminal or SSH session) and SIGINT quit like ctrl+q (see on_unmount)."""
        import contextlib

        from core.process_tree import TERMINATION_SIGNALS

        loop = asyncio.get_running_loop()
        for sig in TERMINATION_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.exit)

    def on_unmount(self) -> None:
        # The workers are cancelled by now; end every tool group (converter, llama-server...) that their own
        # cleanup did not reach, so quitting never leaves a process behind. Detached local jobs are not ours.
        from core.process_tree import kill_tracked

        kill_tracked()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Command palette: `go: <area>` for every built area, then Textual's own commands."""
        for area in self.areas:
            yield SystemCommand(f"go: {area.title}", area.description,
                                lambda mode=area.mode: self.switch_mode(mode))
        yield SystemCommand("ui: toggle light/dark theme", "Switch between tuner-dark and tuner-light",
                            self.action_toggle_dark)
        yield from store_commands(self)
        yield from super().get_system_commands(screen)

    def action_toggle_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_toggle_dark(self) -> None:
        self.theme = DEFAULT_LIGHT if self.current_theme.dark else DEFAULT_DARK

    def watch_theme(self, theme: str) -> None:
        """A theme picked in the palette (or toggled) is the next start's theme: `[ui] theme`."""
        if not self.is_running or theme == getattr(self, "_saved_theme", theme):
            return
        self._saved_theme = theme
        self.save_ui_setting("theme", theme)

    def save_ui_setting(self, key: str, value: Any) -> None:
        # Re-read the file: another tui-tuner (or the user's editor) may have changed it since start-up.
        config = load_config(self.config.path)
        if config.problem:
            self.notify(f"not saved ({key}): {config.problem}", severity="warning", timeout=8)
            return
        ui = config.data.setdefault("ui", {})
        if not isinstance(ui, dict):
            self.notify(f"not saved ({key}): [ui] in {config.path} is not a table", severity="warning")
            return
        ui[key] = value
        try:
            save_config(config)
        except OSError as exc:
            self.notify(f"not saved ({key}): {config.path}: {exc.strerror or exc}", severity="warning")
            return
        self.config.data.setdefault("ui", {})[key] = value

    def _handle_exception(self, error: Exception) -> None:
        """An unexpected error: one line on the terminal and the redacted traceback in the logs folder.

        Textual's own handler prints a traceback with local variables (a token in a local would be on the
        screen). An error raised after the user asked to quit — a deferred mount or a callback that came due
        while the screens were being torn down — is logged only: the quit the user asked for still ends
        cleanly, with exit 0. `TEXTUAL=debug` keeps Textual's traceback for developers.
        """
        from tui_tuner.internal_error import internal_error_line, write_crash_log

        if self._exit and self._return_code in (None, 0):
            write_crash_log(error, None)
            self._exception_event.set()  # the failed loop will not settle: waiters (Pilot) stop waiting
            self._close_messages_no_wait()  # as Textual's handler does: the quit goes on whatever loop broke
            return
        if "debug" in self.features or hasattr(error, "__rich__"):
            super()._handle_exception(error)
            return
        self._return_code = 1
        if self._exception is None:  # under `run_test` the test sees the error, as with Textual's handler
            self._exception = error
            self._exception_event.set()
        from rich.text import Text

        self._exit_renderables.append(Text(f"error: {internal_error_line(error, None)}"))
        self._close_messages_no_wait()

    @on(Worker.StateChanged)
    def _report_worker_failure(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)
