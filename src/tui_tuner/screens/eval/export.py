"""The export dialog of the eval viewer: format, table (for CSV) and where to write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

FORMATS = (("Markdown report", "md"), ("CSV table", "csv"), ("JSON (everything)", "json"))


@dataclass(frozen=True)
class ExportRequest:
    fmt: str
    table: str
    path: Path


def default_export_path(directory: Path, fmt: str, table: str) -> Path:
    if fmt == "md":
        return directory / "evaluation_report.md"
    if fmt == "json":
        return directory / "evaluation_report.json"
    return directory / f"evaluation_{table}.csv"


class ExportDialog(ModalScreen[ExportRequest | None]):
    """Pick a format and a file; CSV exports the table of the tab that was open (filters applied)."""

    DEFAULT_CSS = """
    ExportDialog { align: center middle; }
    ExportDialog > Vertical { width: 80; height: auto; border: thick $primary; background: $surface; padding: 1 2; }
    ExportDialog Label { margin-top: 1; }
    ExportDialog #export-buttons { height: auto; margin-top: 1; align-horizontal: right; }
    ExportDialog #export-buttons Button { margin-left: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="eval.export.cancel")]

    def __init__(self, directory: Path, table: str = "overview", fmt: str = "md") -> None:
        from core.eval.report import CSV_TABLES

        super().__init__()
        self.directory = directory
        self.tables = CSV_TABLES
        self.initial_table = table if table in CSV_TABLES else "overview"
        self.initial_fmt = fmt

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]Export evaluation results[/b]")
            yield Label("Format")
            yield Select(FORMATS, value=self.initial_fmt, allow_blank=False, id="export-format")
            yield Label("Table (CSV only; personas and conversations keep the viewer's filters)")
            yield Select([(t, t) for t in self.tables], value=self.initial_table, allow_blank=False,
                         id="export-table")
            yield Label("Write to")
            yield Input(str(default_export_path(self.directory, self.initial_fmt, self.initial_table)),
                        id="export-path")
            with Horizontal(id="export-buttons"):
                yield Button("Cancel", id="export-cancel")
                yield Button("Export", variant="primary", id="export-ok")

    def on_mount(self) -> None:
        self._sync_table_enabled()

    def _sync_table_enabled(self) -> None:
        self.query_one("#export-table", Select).disabled = self.query_one("#export-format", Select).value != "csv"

    @on(Select.Changed)
    def _changed(self, event: Select.Changed) -> None:
        self._sync_table_enabled()
        fmt = str(self.query_one("#export-format", Select).value)
        table = str(self.query_one("#export-table", Select).value)
        self.query_one("#export-path", Input).value = str(default_export_path(self.directory, fmt, table))

    @on(Button.Pressed, "#export-ok")
    @on(Input.Submitted, "#export-path")
    def _ok(self) -> None:
        text = self.query_one("#export-path", Input).value.strip()
        if not text:
            self.notify("give a file to write", severity="error")
            return
        self.dismiss(ExportRequest(str(self.query_one("#export-format", Select).value),
                                   str(self.query_one("#export-table", Select).value), Path(text).expanduser()))

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
