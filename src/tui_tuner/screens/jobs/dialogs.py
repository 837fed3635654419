"""The monitor's modal screens: confirm a cancel, describe a job."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmCancel(ModalScreen[bool]):
    """Cancelling a job that has run for hours is not undoable: ask first (k9s marks kill as dangerous)."""

    DEFAULT_CSS = """
    ConfirmCancel { align: center middle; }
    ConfirmCancel > Vertical { width: 64; height: auto; border: thick $error; background: $panel; padding: 1 2; }
    ConfirmCancel Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    ConfirmCancel Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes, cancel", id="monitor.confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="monitor.confirm.no"),
    ]

    def __init__(self, description: str) -> None:
        super().__init__()
        self.description = description

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Cancel {self.description}?", classes="section-title")
            yield Static("The job stops now; its logs stay readable. (y / n)", classes="muted")
            with Horizontal():
                yield Button("Keep running", id="no", variant="default")
                yield Button("Cancel job", id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class DescribeJob(ModalScreen[None]):
    """`d`: everything known about a job, as text the user can read and copy."""

    DEFAULT_CSS = """
    DescribeJob { align: center middle; }
    DescribeJob > VerticalScroll { width: 90%; height: 80%; border: thick $primary; background: $panel;
                                   padding: 0 1; }
    """
    BINDINGS = [Binding("escape,d,q", "app.pop_screen", "Close", id="monitor.describe.close")]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = self.title_text
            yield Static(self.body, markup=False)
