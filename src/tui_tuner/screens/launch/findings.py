"""The preflight panel: one line per finding, worst first, with its fix underneath."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from core.launch.preflight import Finding, PreflightReport
from tui_tuner.tones import tone

STYLE = {"error": ("✗", "error"), "warning": ("!", "warning"), "info": ("·", "info"), "ok": ("✓", "ok")}
"""Severity → (icon, tone): the icon says the severity without colour; the tone comes from the theme."""


def finding_text(finding: Finding) -> Text:
    icon, severity_tone = STYLE[finding.severity]
    style = tone(severity_tone)
    line = Text()
    line.append(f" {icon} ", style=style)
    if finding.field:
        line.append(f"{finding.field}: ", style="bold")
    line.append(finding.message)
    if finding.fix:
        line.append("\n    → ", style="dim")
        line.append(finding.fix, style="italic")
    return line


def summary_text(report: PreflightReport, *, checked_online: bool) -> Text:
    errors, warnings = len(report.errors), len(report.warnings)
    text = Text()
    if errors:
        text.append(f"{errors} error{'s' * (errors != 1)}", style=tone("error"))
        text.append(" — fix them to launch")
    else:
        text.append("ready to launch", style=tone("good"))
    if warnings:
        text.append(f"  ·  {warnings} warning{'s' * (warnings != 1)}", style=tone("warning"))
    bits = []
    if report.expected_steps:
        bits.append(f"{report.expected_steps} steps")
    if report.strategy and report.strategy.world_size > 1:
        bits.append(report.strategy.label)  # "DDP × 4": the reason is in its own finding below
    if report.memory_bytes:
        bits.append(f"≈{report.memory_bytes / 1e9:.1f} GB/GPU")
    if report.cheapest_flavor:
        bits.append(f"cheapest fit {report.cheapest_flavor}")
    if report.estimated_cost is not None:
        bits.append(f"≈${report.estimated_cost:.2f}")
    if bits:
        text.append("\n" + "  ·  ".join(bits), style="dim")
    text.append("\n" + ("Hub checked" if checked_online else "Hub not checked yet: ctrl+t or Launch checks it"),
                style="dim")
    return text


class FindingsPanel(Static):
    """Renders a PreflightReport (or a 'checking…' line while one runs)."""

    DEFAULT_CSS = """
    FindingsPanel { height: auto; padding: 0 1; }
    """

    plain_text = ""
    """What the panel shows, as plain text (for tests and copy)."""

    def show_report(self, report: PreflightReport, *, checked_online: bool) -> None:
        parts = [summary_text(report, checked_online=checked_online), Text("")]
        parts.extend(finding_text(f) for f in report.sorted())
        self.plain_text = "\n".join(part.plain for part in parts)
        self.update(Group(*parts))

    def show_busy(self, what: str) -> None:
        self.plain_text = f"… {what}"
        self.update(Text(f" … {what}", style="dim"))
