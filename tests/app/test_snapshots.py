"""Every area at 80×24 and 160×45 in both bundled themes, the help panel, every dialog and a conversion in
progress.

The whole app runs (the frame, area bar and footer are what is under test); the area bar lists every
area, llama.cpp is absent and no network is reached, so the pictures are the same on every machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, ProgressBar
from textual.widgets._progress_bar import Bar

from core import paths
from tests.support.pilot_wait import wait_for
from tui_tuner import areas
from tui_tuner.app import TunerApp
from tui_tuner.screens import base

AREAS = ("calc", "launch", "jobs", "convert", "eval")
SIZES = {"80x24": (80, 24), "160x45": (160, 45)}
THEMES = ("tuner-dark", "tuner-light")
FAST_RETRY = "retry_base_s = 0.01\n"
"""The jobs list's first refresh still tries the unreachable Hub as often as by default and shows the same
error, without seconds of back-off in every picture of the jobs area."""


@pytest.fixture
def stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "built_areas", lambda: list(areas.AREAS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUI_TUNER_LLAMA_CPP", "/opt/llama.cpp-missing")
    paths.ensure(paths.config_dir())
    paths.config_file().write_text("[jobs]\nrefresh_s = 600\ntrackio_poll_s = 600\n" + FAST_RETRY, encoding="utf-8")


def make_app(area: str, theme: str) -> TunerApp:
    app = TunerApp(start_area=area)
    app.theme = theme
    app.animation_level = "none"
    return app


def ready(app: TunerApp) -> bool:
    """The area's workers (preflight, store reads) are done and what they fill in is on screen."""
    screen = app.screen
    if getattr(screen, "AREA", "") == "jobs" and getattr(screen, "last", None) is None:
        return False  # the jobs list's first refresh (it retries the unreachable Hub) has not ended
    if not getattr(screen, "form_ready", True):
        return False  # Launch mounts most of its form after the first frame
    return not [w for w in app.workers if w.is_running and w.group != "monitor-refresh"]


async def settle(pilot: Pilot) -> None:
    """Until the area is ready: conditions, not delays (bounded generously: the jobs list's first refresh
    retries an unreachable Hub with back-off, seconds, more on a loaded machine)."""
    await pilot.pause()
    await wait_for(pilot, lambda: ready(pilot.app), timeout=60, what="the area's workers done")
    # A focused field's cursor blinks every half second: shown, so the picture does not depend on timing.
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("area", AREAS)
def test_area(area: str, size: str, theme: str, snap_compare: Any, stable: None) -> None:
    assert snap_compare(make_app(area, theme), terminal_size=SIZES[size], run_before=settle)


@pytest.mark.parametrize("theme", THEMES)
def test_help_panel(theme: str, snap_compare: Any, stable: None) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("escape", "question_mark")  # esc leaves the first field, whose key `?` is text
        await settle(pilot)

    assert snap_compare(make_app("calc", theme), terminal_size=SIZES["80x24"], run_before=run_before)


def test_guide_tables_dialog(snap_compare: Any, stable: None) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("escape", "g")
        await settle(pilot)

    assert snap_compare(make_app("calc", "tuner-dark"), terminal_size=SIZES["160x45"], run_before=run_before)


def test_eval_run_dialog_with_resume(snap_compare: Any, stable: None) -> None:
    from tests.eval_view.fixtures import make_results

    unfinished = make_results(Path("unfinished"), models=("baseline", "ft"), n_personas=3, k=2, status="running")

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        screen.directory = unfinished  # type: ignore[attr-defined]  # relative: the same text on every machine
        screen._run_form = {"run-output": "evals/next"}  # type: ignore[attr-defined]  # not a timestamped default
        await pilot.press("escape", "R")
        await settle(pilot)

    assert snap_compare(make_app("eval", "tuner-dark"), terminal_size=SIZES["80x24"], run_before=run_before)


def test_launch_confirm_dialog(snap_compare: Any, stable: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime

    from core.launch import launcher, script
    from core.launch.config import LaunchConfig
    from core.launch.preflight import PreflightOptions
    from tui_tuner.screens.launch.confirm import ConfirmLaunch

    config = LaunchConfig(base_model="google/gemma-3-12b-it", dataset="me/coaching", output_repo="me/gemma-coach",
                          namespace="me", flavor="a100-large")
    monkeypatch.setattr(script.secrets, "token_hex", lambda n: "beef")  # the run name's random suffix
    plan = launcher.plan(config, PreflightOptions(online=False), now=datetime(2026, 1, 2, 3, 4, 5))

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        pilot.app.push_screen(ConfirmLaunch(plan))
        await settle(pilot)

    assert snap_compare(make_app("launch", "tuner-dark"), terminal_size=SIZES["80x24"], run_before=run_before)


@pytest.mark.parametrize("dialog", ["cancel", "describe"])
def test_jobs_dialogs(dialog: str, snap_compare: Any, stable: None) -> None:
    from core.jobs.diagnosis import diagnose_status
    from core.jobs.model import JobRow
    from tui_tuner.screens.jobs.dialogs import ConfirmCancel, DescribeJob
    from tui_tuner.screens.jobs.screen import describe_text

    row = JobRow(id="6812ab34cd", name="gemma-coach-sft", backend="hf-jobs", stage="ERROR", flavor="a10g-large",
                 created_at=1_767_000_000.0, started_at=1_767_000_060.0, finished_at=1_767_003_660.0,
                 message="CUDA out of memory. Tried to allocate 2.00 GiB", namespace="me")

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        if dialog == "cancel":
            pilot.app.push_screen(ConfirmCancel(f"{row.name} ({row.id})"))
        else:
            body = describe_text(row, diagnose_status(row.stage, row.message), 1_767_010_000.0)
            pilot.app.push_screen(DescribeJob(f"{row.name} — {row.id}", body))
        await settle(pilot)

    assert snap_compare(make_app("jobs", "tuner-dark"), terminal_size=SIZES["80x24"], run_before=run_before)


def test_eval_export_dialog(snap_compare: Any, stable: None) -> None:
    from tui_tuner.screens.eval.export import ExportDialog

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        pilot.app.push_screen(ExportDialog(Path("evals/gemma-vs-base"), table="pairwise"))
        await settle(pilot)

    assert snap_compare(make_app("eval", "tuner-dark"), terminal_size=SIZES["80x24"], run_before=run_before)


@pytest.mark.parametrize("size", list(SIZES))
def test_conversion_in_progress(size: str, snap_compare: Any, stable: None) -> None:
    """Merged, converting (a tensor in flight, its bar part-way), quantize and verify still to come."""
    from core.convert.events import LogLine, Progress, StepFinished, StepStarted

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        spec = {"adapter": "me/gemma-coach", "base_model": "google/gemma-3-12b-it", "model_name": "gemma-coach",
                "mode": "merge", "smoke_test": True}
        await screen.show_external_run(spec, "gguf", ["preflight", "merge", "convert", "quantize:Q4_K_M", "verify"])
        for event in (StepStarted("preflight", "Preflight"), StepFinished("preflight", "llama.cpp b6000, 40 GB free"),
                      StepStarted("merge", "Merge"), StepFinished("merge", "merged in bfloat16 (23.4 GB)"),
                      StepStarted("convert", "Convert"),
                      LogLine("convert", "INFO:hf-to-gguf:blk.17.attn_q.weight, torch.bfloat16 --> BF16"),
                      LogLine("convert", "WARNING: tokenizer has no chat template; using the model card's"),
                      Progress("convert", 17, 48, "layers", "blk.17.attn_q.weight")):
            screen.handle_event(event)
        await settle(pilot)
        # The bar is drawn at 17/48 once it has its width (its fill is rounded to the cells it has).
        bar = screen.query_one("#progress", ProgressBar).query_one(Bar)
        await wait_for(pilot, lambda: bar.size.width > 0 and bar.percentage == bar._validate_percentage(17 / 48),
                       what="the progress bar drawn at 17/48")
        await pilot.pause()

    assert snap_compare(make_app("convert", "tuner-dark"), terminal_size=SIZES[size], run_before=run_before)
