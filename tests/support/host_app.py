"""A host app with only the one screen under test.

Tests of one area's behaviour do not need the whole `TunerApp` (its modes, the start-up store check, the
other areas' stylesheets): this app gives the screen what the real app gives every area screen — the
global stylesheet, the bundled themes and their domain colours, `app.toggle_help`, failed workers shown as
one notification, and every tool process ended when the app ends — and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import App
from textual.screen import Screen
from textual.worker import Worker

from tui_tuner.app import GLOBAL_CSS
from tui_tuner.screens.base import report_worker_failure
from tui_tuner.themes import DEFAULT_DARK, domain_variable_defaults, load_themes


class ScreenHost(App[None]):
    """`ScreenHost(ConvertScreen)`: the screen is built and shown when the app starts; `app.screen` is it."""

    TITLE = "tui-tuner"
    CSS_PATH = [GLOBAL_CSS]

    def __init__(self, make_screen: Callable[[], Screen], *, theme: str = DEFAULT_DARK) -> None:
        super().__init__()
        self._make_screen = make_screen
        themes, _ = load_themes()
        for bundled in themes:
            self.register_theme(bundled)
        self.theme = theme
        self.animation_level = "none"

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {**super().get_theme_variable_defaults(), **domain_variable_defaults(self.current_theme)}

    def on_mount(self) -> None:
        self.push_screen(self._make_screen())

    def on_unmount(self) -> None:
        from core.process_tree import kill_tracked

        kill_tracked()

    def action_toggle_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    @on(Worker.StateChanged)
    def _report_worker_failure(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)
