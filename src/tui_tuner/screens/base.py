"""The frame every area screen shares: header, the area bar (1-5), the body, the footer.

Area screens are resident (built on the first visit, kept mounted after), so this frame keeps a
switch back cheap: styles are re-applied on resume only when the stylesheet or theme changed while
the screen was away, and the footer is rebuilt only when the keys it shows changed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.dom import DOMNode
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual.widgets._footer import FooterKey
from textual.worker import Worker, WorkerState

from core.errors import TunerError
from core.redact import redact
from tui_tuner.areas import built_areas


def report_worker_failure(node: DOMNode, event: Worker.StateChanged) -> None:
    """Show a failed worker as one notification line; the app stays up.

    Worker state messages do not bubble, so the app and every area screen call this for their own
    workers (widgets that start workers can call it too). Workers run with exit_on_error=False.
    """
    if event.state is not WorkerState.ERROR:
        return
    error = event.worker.error
    if isinstance(error, TunerError):
        message = error.one_line()
    else:
        message = f"{event.worker.name or 'task'} failed: {type(error).__name__}: {error}"
    node.app.notify(redact(" ".join(message.split())), severity="error", timeout=10)


class AreaTab(Static):
    """One entry of the area bar; a click goes there (the keyboard's 1-5 / F1-F5 do the same)."""

    def __init__(self, key: str, title: str, mode: str, *, current: bool) -> None:
        super().__init__(f"{key} {title}", classes="area -current" if current else "area", id=f"area-{mode}")
        self.mode = mode

    def on_click(self) -> None:
        self.app.switch_mode(self.mode)


class AreaBar(Horizontal):
    """The row of areas with their keys; the current one is highlighted."""

    DEFAULT_CSS = """
    AreaBar { height: 1; background: $panel; }
    AreaBar > .area { width: auto; padding: 0 2; color: $text-muted; }
    AreaBar > .area.-current { color: $text; background: $primary 30%; text-style: bold; }
    """

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        for area in built_areas():
            yield AreaTab(area.key, area.title, area.mode, current=area.mode == self.current)


class HelpKey(FooterKey):
    """The footer's `? Help`: a click opens the help even while a text field has the `?` key."""

    async def on_mouse_down(self, event: events.MouseDown) -> None:
        event.prevent_default()  # not FooterKey's handler, which would send the key to the focused field
        await self.app.run_action(self.action)


class AppFooter(Footer):
    """Textual's footer with `?` always first, the keys that fit whole after it, rebuilt only when the
    keys it would show changed.

    Keys that do not fit are left out from the end (bindings are declared most useful first; `?` lists
    them all) instead of being cut under the palette key. The stock footer also recomposes on every
    bindings update (each focus change, each switch back to a resident screen), restyling 20-odd keys
    each time; most of those updates change nothing.
    """

    _shown: tuple[tuple[str, str, bool], ...] | None = None

    def _key_width(self, key_display: str, description: str) -> int:
        # FooterKey: " key " + "description " (compact: "key" + " description" + a margin of 1).
        return len(key_display) + len(description) + (2 if self.compact else 3)

    def _fit(self, keys: list[FooterKey]) -> None:
        """Show the keys after `?` that fit the footer's width whole, in the screen's order; hide the rest."""
        room = (self.size.width or self.app.size.width) - self._key_width("?", "Help")
        palette = [key for key in keys if key.has_class("-command-palette")]
        for key in palette:
            room -= self._key_width(key.key_display, key.description)
        for key in keys:
            if key in palette or isinstance(key, HelpKey):
                continue
            room -= self._key_width(key.key_display, key.description)
            key.display = room >= -1  # the last key's trailing blank may go under the palette key's edge

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        # Every width change refits, also those that post no Resize (the help panel docking beside it).
        width = self._size.width  # `size` already follows the new layout; `_size` is the last one seen
        changed = super()._size_updated(size, virtual_size, container_size, layout)
        if size.width != width:
            self._fit(list(self.query(FooterKey)))
        return changed

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        active = self.screen.active_bindings
        shown: dict[str, tuple[Binding, bool, str]] = {}
        for _, binding, enabled, tooltip in active.values():
            if binding.show and binding.action not in shown:  # one key per action, as Textual's footer
                shown[binding.action] = (binding, enabled, tooltip)
        keys = [item for item in shown.values() if item[0].key != "question_mark"]
        self.styles.grid_size_columns = len(keys) + 1
        # Help first and always: a focused text field takes the `?` key (it types it; esc leaves the field)
        # and Textual's footer would hide it, which leaves no visible way to the keys at 80 columns.
        widgets: list[FooterKey] = []
        widgets.append(HelpKey("question_mark", "?", "Help", "app.toggle_help",
                               tooltip="every key of this area (esc first when a text field is focused)"
                               ).data_bind(compact=Footer.compact))
        for binding, enabled, tooltip in keys:
            widgets.append(FooterKey(binding.key, self.app.get_key_display(binding), binding.description,
                                     binding.action, disabled=not enabled, tooltip=tooltip
                                     ).data_bind(compact=Footer.compact))
        palette = active.get(self.app.COMMAND_PALETTE_BINDING)
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE and palette is not None:
            _, binding, enabled, tooltip = palette
            widgets.append(FooterKey(binding.key, self.app.get_key_display(binding), binding.description,
                                     binding.action, classes="-command-palette", disabled=not enabled,
                                     tooltip=binding.tooltip or binding.description))
        self._fit(widgets)
        yield from widgets

    def _signature(self) -> tuple[tuple[str, str, bool], ...]:
        return tuple((key, active.binding.description, active.enabled)
                     for key, active in self.screen.active_bindings.items() if active.binding.show)

    def bindings_changed(self, screen: Screen) -> None:
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            super().bindings_changed(screen)
            return
        signature = self._signature()
        if signature == self._shown and self._bindings_ready:
            return
        self._shown = signature
        super().bindings_changed(screen)


class AreaScreen(Screen):
    """Base class for the five area screens. Subclasses set AREA and implement `compose_body`."""

    AREA: str = ""
    AUTO_FOCUS = "Input, Select, SelectionList, DataTable, Checkbox, Button"
    """Where the keyboard goes on entering the area (first visit, or a return that finds nothing
    focused): the first field, so the first keys typed land somewhere. Textual's default ("*") picks
    the form's scroll container, which looks like nothing is focused."""
    BINDINGS: ClassVar = [Binding("question_mark", "app.toggle_help", "Help", id="area.help")]
    HORIZONTAL_BREAKPOINTS: ClassVar = [(0, "-narrow"), (100, "-medium"), (140, "-wide")]
    """Width classes the areas' sheets use: below 100 columns side-by-side panes stack."""
    VERTICAL_BREAKPOINTS: ClassVar = [(0, "-short"), (32, "-tall")]
    """Height classes: a short terminal (24 rows over SSH) gets one-line fields."""

    _styled_at: int | None = None
    """The app's stylesheet generation when this screen was last styled (see `_on_screen_resume`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A screen is built inside the running app and styled as it mounts, with the current rules and
        # theme. Textual would still re-parse the whole stylesheet and re-style every mounted screen on
        # its first visit (it sees a new screen as out of date); mark it up to date instead.
        generation = getattr(self.app, "_css_update_count", None) if self._app_is_running() else None
        if generation is not None:
            self._css_update_count = generation
            self._styled_at = generation
            # The width/height classes before the first mount, so widgets are styled once: set on the
            # first resume instead, they re-style every widget of the new screen (a quarter second in Launch).
            self.add_class(*self._breakpoint_classes())

    def _app_is_running(self) -> bool:
        try:
            return self.app.is_running
        except Exception:  # built outside an app (a unit test): nothing to skip
            return False

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield AreaBar(self.AREA)
        yield from self.compose_body()
        yield AppFooter()

    def compose_body(self) -> ComposeResult:  # pragma: no cover - overridden by every area
        raise NotImplementedError

    def on_mount(self) -> None:
        # The first field was focused (and scrolled to) before the area's first layout settled.
        self.call_after_refresh(self._reveal_focus)

    def _reveal_focus(self) -> None:
        if self.focused is not None:
            self.focused.scroll_visible(animate=False)

    def _apply_breakpoints(self) -> None:
        """Textual sets the width/height classes on the screen being resized only; a resident screen
        coming back after a resize elsewhere would keep its old ones."""
        classes = {name: False for _, name in (*self.HORIZONTAL_BREAKPOINTS, *self.VERTICAL_BREAKPOINTS)}
        classes.update(dict.fromkeys(self._breakpoint_classes(), True))
        if any(self.has_class(name) != on for name, on in classes.items()):
            self.update_classes(classes, animate=False)

    def _breakpoint_classes(self) -> list[str]:
        width, height = self.app.size
        return [*self._get_breakpoint_classes(width, self.HORIZONTAL_BREAKPOINTS),
                *self._get_breakpoint_classes(height, self.VERTICAL_BREAKPOINTS)]

    # Textual dispatches a handler of every class in the MRO, so these run before Screen's own ones
    # (and must not call them again).
    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Screen's handler re-applies every rule to every widget of a resumed screen (hundreds in
        # Launch) in case the stylesheet changed meanwhile; it only can through a theme or CSS change,
        # which bumps the app's CSS generation. Same generation: skip it.
        generation = getattr(self.app, "_css_update_count", None)
        if generation is not None and generation == self._styled_at:
            event.refresh_styles = False
        self._styled_at = generation
        self._apply_breakpoints()

    def _on_screen_suspend(self) -> None:
        self._styled_at = getattr(self.app, "_css_update_count", None)

    @on(Worker.StateChanged)
    def _report_worker_failure(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)


class StartScreen(AreaScreen):
    """The frame alone, painted first while the start area is being built (and the store checked).

    Its footer is a plain line: Textual's footer fills in its keys a refresh later, and the area's build
    would hold that refresh back, so the first frame would show no keys.
    """

    AUTO_FOCUS = ""
    DEFAULT_CSS = """
    StartScreen #start-footer { dock: bottom; height: 1; background: $footer-background;
                                color: $footer-key-foreground; text-style: bold; }
    """

    def __init__(self, area: str) -> None:
        super().__init__()
        self.AREA = area

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield AreaBar(self.AREA)
        yield from self.compose_body()
        yield Static(" ? Help   ^q Quit   ^p palette", id="start-footer")

    def compose_body(self) -> ComposeResult:
        title = next((a.title for a in built_areas() if a.mode == self.AREA), "")
        yield Static(f"Opening {title}…" if title else "No area is installed.", id="start-note", classes="muted")
