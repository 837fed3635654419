"""The frame every area screen shares: header, the area bar (1-5), the body, the footer."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
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
            classes = "area -current" if area.mode == self.current else "area"
            yield Static(f"{area.key} {area.title}", classes=classes, id=f"area-{area.mode}")


class AreaScreen(Screen):
    """Base class for the five area screens. Subclasses set AREA and implement `compose_body`."""

    AREA: str = ""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield AreaBar(self.AREA)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:  # pragma: no cover - overridden by every area
        raise NotImplementedError

    @on(Worker.StateChanged)
    def _report_worker_failure(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)
