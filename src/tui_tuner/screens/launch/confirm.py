"""The confirmation before anything is submitted: what runs where, for how long, for about how much."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from core.launch.config import human_duration
from core.launch.launcher import LaunchPlan
from tui_tuner.screens.launch.command_view import CommandView
from tui_tuner.tones import tone


def plan_summary(plan: LaunchPlan) -> Text:
    config, report = plan.config, plan.report
    text = Text()
    rows: list[tuple[str, str]] = [("backend", config.backend), ("run", plan.run_name),
                                   ("model", config.base_model), ("dataset", config.dataset)]
    if config.backend == "hf-jobs":
        rows += [("namespace", plan.namespace or "you"), ("flavor", config.flavor), ("timeout", config.timeout)]
    if config.output_repo:
        rows.append(("adapter → ", config.output_repo))
    strategy = plan.script.strategy
    if strategy is not None and strategy.world_size > 1:
        per_gpu = f", ≈{strategy.per_gpu_bytes / 1e9:.1f} GB per GPU" if strategy.per_gpu_bytes else ""
        rows.append(("GPUs", f"{strategy.label}{per_gpu}"))
    if report.expected_steps:
        rows.append(("steps", str(report.expected_steps) + (" (global, all ranks)" if report.world_size > 1 else "")))
    if report.estimated_seconds:
        rows.append(("estimate", f"{human_duration(report.estimated_seconds)}"
                     + (f", ≈${report.estimated_cost:.2f}" if report.estimated_cost is not None else "")))
    for key, value in rows:
        text.append(f"{key:>10}  ", style="dim")
        text.append(f"{value}\n")
    if report.warnings:
        text.append(f"\n{len(report.warnings)} warning(s) — see the preflight panel\n", style=tone("warning"))
    return text


class ConfirmLaunch(ModalScreen[bool]):
    """Returns True when the user confirms."""

    BINDINGS = [
        Binding("escape", "dismiss(False)", "Cancel", id="launch.confirm.cancel"),
        Binding("enter", "confirm", "Launch", id="launch.confirm.ok", show=False),
    ]
    DEFAULT_CSS = """
    ConfirmLaunch { align: center middle; }
    ConfirmLaunch > Vertical { width: 90; max-width: 100%; height: auto; max-height: 100%; border: thick $warning;
                               background: $surface; padding: 0 2; }
    ConfirmLaunch #confirm-title { text-style: bold; margin-bottom: 1; }
    /* At 80x24 the summary and the whole command fit (17 rows); shorter, they scroll and the buttons stay. */
    ConfirmLaunch #confirm-scroll { height: auto; max-height: 75vh; }
    ConfirmLaunch #confirm-command { text-style: bold; }
    ConfirmLaunch #confirm-buttons { height: 1; margin-top: 1; align-horizontal: right; }
    ConfirmLaunch Button { margin-left: 2; }
    """

    def __init__(self, plan: LaunchPlan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Launch on {self.plan.config.backend}?", id="confirm-title")
            with VerticalScroll(id="confirm-scroll"):
                yield Static(plan_summary(self.plan), id="confirm-summary")
                # The whole command as shell lines that paste as it: the dialog is narrower than the command.
                yield CommandView(id="confirm-command")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="confirm-no", compact=True)
                yield Button("Launch", id="confirm-yes", variant="warning", compact=True)

    def on_mount(self) -> None:
        self.query_one("#confirm-command", CommandView).show(self.plan.command)
        self.query_one("#confirm-yes", Button).focus()

    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self.dismiss(False)
