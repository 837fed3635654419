"""The eval viewer's "new run" form: personas, models, simulator, judge, rubric, K and turns.

The form builds the `RunConfig` itself (through `core.eval.run_setup`, the CLI's own rules), so a
wrong field is a one-line error inside the dialog and nothing starts until the whole run is valid.
Fields left empty fall back to the `[eval]` config table, like the CLI's flags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from core.errors import TunerError
from core.eval.run_setup import (
    DEFAULTS,
    RunSpec,
    build_run_config,
    resume_config,
    split_entries,
    unfinished_run,
)

# (id, label, placeholder): the order of the form.
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("run-output", "Results directory (created, or resumed if it holds a run)", ""),
    ("run-personas", "Personas: a personas.json, or how many to generate (seeds from 9000)", "15"),
    ("run-models", "Models: NAME=PORT or NAME=URL, comma-separated, baseline first",
     "e.g. baseline=8080, coach=8081"),
    ("run-simulator", "User simulator endpoint (URL or port)", "e.g. 8090 or http://127.0.0.1:8090/v1"),
    ("run-judge", "Judge endpoint (URL or port)", "e.g. 8090 or http://127.0.0.1:8090/v1"),
    ("run-rubric", "Rubric TOML (empty: the shipped coaching rubric)", "e.g. rubrics/coaching.toml"),
    ("run-system", "System prompt for every model (text or @file; empty: none)", "e.g. @system.txt"),
    ("run-conversations", "Conversations per persona and model (K)", ""),
    ("run-turns", "Turns per conversation", ""),
)


def default_output_dir() -> Path:
    from core import paths

    return paths.data_dir() / "evals" / datetime.now().strftime("%Y%m%d-%H%M%S")


def spec_from_form(values: Mapping[str, str]) -> RunSpec:
    """The form's text fields → a RunSpec (numbers checked here, everything else by the core)."""

    def number(key: str, name: str) -> int | None:
        text = values.get(key, "").strip()
        if not text:
            return None
        if not text.isdigit() or int(text) < 1:
            raise TunerError(f"must be a positive whole number (got {text!r})", field=name)
        return int(text)

    output = values.get("run-output", "").strip()
    if not output:
        raise TunerError("a results directory is required", field="output-dir")
    personas = values.get("run-personas", "").strip()
    system = values.get("run-system", "").strip()
    rubric = values.get("run-rubric", "").strip()
    return RunSpec(
        output_dir=Path(output).expanduser(),
        personas=None if personas.isdigit() else Path(personas).expanduser() if personas else None,
        persona_count=int(personas) if personas.isdigit() else None,
        models=split_entries(values.get("run-models", "")),
        simulator=values.get("run-simulator", "").strip() or None,
        judge=values.get("run-judge", "").strip() or None,
        rubric=Path(rubric).expanduser() if rubric else None,
        system_prompts=[f"*={system}"] if system else [],
        conversations=number("run-conversations", "conversations"),
        turns=number("run-turns", "turns"),
    )


class EvalRunDialog(ModalScreen[Any]):
    """Returns a validated RunConfig, or None when cancelled."""

    DEFAULT_CSS = """
    EvalRunDialog { align: center middle; }
    EvalRunDialog > Vertical { width: 96; max-width: 100%; height: 90%; border: thick $primary;
                               background: $surface; padding: 0 2; }
    /* The fields scroll; the error line and the buttons always stay in view, whatever the terminal. */
    EvalRunDialog VerticalScroll { height: 1fr; }
    EvalRunDialog Label { margin-top: 1; }
    EvalRunDialog #run-error { color: $error; height: auto; margin-top: 1; }
    EvalRunDialog #run-resume-note { height: auto; margin-top: 1; padding: 0 1; border-left: thick $success; }
    EvalRunDialog #run-buttons { height: auto; margin-top: 1; align-horizontal: right; }
    EvalRunDialog #run-buttons Button { margin-left: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="eval.run.cancel")]

    def __init__(self, section: Mapping[str, Any] | None = None, initial: Mapping[str, str] | None = None,
                 resume_dir: Path | None = None) -> None:
        super().__init__()
        self.resume_dir = resume_dir
        """An open results directory whose run did not finish: offered as "Resume" with its own settings."""
        self.section = dict(section or {})
        """The `[eval]` config table: defaults for empty fields, shown as placeholders."""
        self.initial = dict(initial or {})
        self.last_values: dict[str, str] = dict(self.initial)
        """The fields as they were when the dialog closed (the screen offers them next time)."""

    def _placeholder(self, key: str, fallback: str) -> str:
        name = key.removeprefix("run-")
        value = self.section.get(name, DEFAULTS.get(name))
        return f"{value} (from config)" if name in self.section else (str(value) if value is not None else fallback)

    def compose(self) -> ComposeResult:
        values = {"run-output": str(default_output_dir()), "run-personas": "15", **self.initial}
        unfinished = unfinished_run(self.resume_dir) if self.resume_dir is not None else None
        with Vertical():
            yield Label("[b]New evaluation run[/b]  (the guide's full-conversation protocol)")
            if unfinished is not None:
                done, total = unfinished
                what = ("a run that never recorded its end" if total and done >= total
                        else "an unfinished run")  # killed after its last conversation: Resume closes it
                yield Static(Text(f"{self.resume_dir} holds {what} ({done} of {total} conversations "
                                  "done). Resume finishes it with the settings it recorded; the form below "
                                  "starts another run."), id="run-resume-note")
            with VerticalScroll():
                for key, label, hint in FIELDS:
                    yield Label(label)
                    # One-line (compact) fields: all nine fit a 45-row terminal, so no label stands at the
                    # bottom edge without its field; focus is the bar at the left edge (global.tcss).
                    yield Input(values.get(key, ""), placeholder=self._placeholder(key, hint), id=key,
                                compact=True)
            yield Static("", id="run-error")
            with Horizontal(id="run-buttons"):
                yield Button("Cancel", id="run-cancel")
                if unfinished is not None:
                    yield Button("Resume", variant="success", id="run-resume")
                yield Button("Start", variant="primary", id="run-start")

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#{key}", Input).value for key, _, _ in FIELDS}

    def _submit(self, make: Callable[[], Any]) -> None:
        """Close with the RunConfig `make` builds, or stay open with its problem under the form."""
        try:
            config = make()
        except TunerError as exc:
            # Text, not markup: "[eval].judge" in a hint must show as typed.
            self.query_one("#run-error", Static).update(Text(exc.one_line()))
            return
        self.dismiss(config)

    @on(Button.Pressed, "#run-start")
    @on(Input.Submitted)
    def _start(self) -> None:
        self.last_values = values = self.values()
        self._submit(lambda: build_run_config(spec_from_form(values), self.section))

    @on(Button.Pressed, "#run-resume")
    def _resume(self) -> None:
        assert self.resume_dir is not None
        resume_dir = self.resume_dir
        self._submit(lambda: resume_config(resume_dir, self.section))

    @on(Button.Pressed, "#run-cancel")
    def action_cancel(self) -> None:
        self.last_values = self.values()
        self.dismiss(None)
