"""The Convert wizard under Pilot: it runs the real pipeline, streams the tools' lines, shows a failing
step's own error line and fix, cancels cleanly, and stays up."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, RichLog, Static

from core.convert.events import LogLine, Progress, StepFailed, StepFinished, StepStarted
from core.convert.pipeline import step_title
from tests.conftest import assert_no_canary
from tests.convert.conftest import RunResult, needs_llama_cpp
from tests.support.host_app import ScreenHost
from tests.support.pilot_wait import wait_for, wait_for_workers
from tui_tuner import areas
from tui_tuner.app import TunerApp
from tui_tuner.screens import base
from tui_tuner.screens.convert.screen import ConvertScreen
from tui_tuner.screens.convert.steps import StepList

SIZE = (160, 48)


def log_text(screen: ConvertScreen) -> str:
    log = screen.query_one("#log", RichLog)
    return "\n".join("".join(seg.text for seg in line) for line in log.lines)


async def wait_done(pilot: Pilot, screen: ConvertScreen, timeout: float = 400) -> None:
    await wait_for(pilot, lambda: screen.worker is not None and screen.worker.is_finished, timeout=timeout,
                   what="the conversion finished")
    await pilot.pause()


def fill(screen: ConvertScreen, **values: str) -> None:
    for widget_id, value in values.items():
        screen.query_one(f"#{widget_id}", Input).value = value


def _merged_copy(full_run: RunResult, dest: Path) -> Path:
    (dest / "merged").mkdir(parents=True)
    for f in (full_run.output_dir / "merged").iterdir():
        target = dest / "merged" / f.name
        if f.suffix == ".safetensors":
            target.symlink_to(f)
        else:
            shutil.copy2(f, target)
    return dest


@needs_llama_cpp
@pytest.mark.slow
async def test_wizard_runs_the_pipeline_and_streams_the_tools_lines(sharded_base: Path, lora_adapter: Path,
                                                                     tmp_path: Path) -> None:
    app = ScreenHost(ConvertScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ConvertScreen)
        fill(screen, adapter=str(lora_adapter), base=str(sharded_base), output=str(tmp_path / "out"),
             name="smol-wizard")
        await pilot.pause()
        assert "ready: smol-wizard-<Q4_K_M>.gguf" in str(screen.query_one("#form-status", Static).render())
        await pilot.press("escape", "ctrl+s")
        await wait_done(pilot, screen)
        states = screen.query_one(StepList).states()
        assert states == {s: "done" for s in ("preflight", "download", "merge", "convert", "quantize:Q4_K_M",
                                               "verify")}
        text = log_text(screen)
        assert "INFO:hf-to-gguf:token_embd.weight" in text  # the converter's own per-tensor lines
        assert "llama_model_quantize_impl: quant size" in text
        assert "reply (" in text and "completed: all steps done" in text
        assert (tmp_path / "out" / "smol-wizard-Q4_K_M.gguf").is_file()
        assert_no_canary(text)
        assert app.is_running


@needs_llama_cpp
@pytest.mark.slow
async def test_failing_step_shows_the_tool_line_and_fix_and_stays_up(full_run: RunResult, tmp_path: Path) -> None:
    out = _merged_copy(full_run, tmp_path / "arch")
    config = json.loads((out / "merged" / "config.json").read_text())
    config["architectures"] = ["FooBarForCausalLM"]
    (out / "merged" / "config.json").write_text(json.dumps(config))
    app = ScreenHost(ConvertScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ConvertScreen)
        fill(screen, output=str(out), name="broken")
        screen.query_one("#skip-merge", Checkbox).value = True
        screen.query_one("#smoke", Checkbox).value = False
        await pilot.pause()
        await pilot.press("escape", "ctrl+s")
        await wait_done(pilot, screen)
        failure = str(screen.query_one("#failure", Static).render())
        assert "ERROR:hf-to-gguf:Model FooBarForCausalLM is not supported" in failure
        assert "fix:" in failure and "llama-cpp install" in failure
        assert screen.query_one(StepList).states()["convert"] == "failed"
        assert app.is_running and screen.query_one("#start").disabled is False  # ready for another try


@needs_llama_cpp
@pytest.mark.slow
async def test_cancel_key_kills_the_tool_and_says_what_was_kept(full_run: RunResult, tmp_path: Path) -> None:
    out = _merged_copy(full_run, tmp_path / "cancel")
    app = ScreenHost(ConvertScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ConvertScreen)
        fill(screen, output=str(out), name="x")
        screen.query_one("#skip-merge", Checkbox).value = True
        await pilot.pause()
        await pilot.press("escape", "ctrl+s")
        await wait_for(pilot, lambda: screen.query_one(StepList).states().get("convert") == "running"
                       and "$ " in log_text(screen), timeout=60, what="the converter running")
        await pilot.press("ctrl+k")
        await wait_done(pilot, screen)
        assert "canceled during convert; kept: merged" in log_text(screen)
        assert screen.query_one(StepList).states()["convert"] == "canceled"
        assert not list(out.glob("*.gguf*"))
        assert app.is_running


# snapshots: fixed size, no clocks, no tmp paths, llama.cpp state pinned ----------------------------------------

@pytest.fixture
def snapshot_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "built_areas", lambda: list(areas.AREAS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUI_TUNER_LLAMA_CPP", "/opt/llama.cpp-missing")


def _app() -> TunerApp:
    """The whole app, for snapshots: the picture is the area as a user sees it, frame included."""
    app = TunerApp(start_area="convert")
    app.animation_level = "none"
    return app


async def _settle(pilot: Pilot) -> None:
    await pilot.pause()
    await wait_for_workers(pilot)
    _steady_cursor(pilot)


def _steady_cursor(pilot: Pilot) -> None:
    # A focused field's cursor blinks every half second: kept shown, so the picture does not depend on
    # when it is taken (a loaded machine caught it hidden).
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False


def test_snapshot_empty_form_with_missing_llama_cpp(snap_compare, snapshot_env) -> None:
    assert snap_compare(_app(), terminal_size=SIZE, run_before=_settle)


def test_snapshot_failed_run(snap_compare, snapshot_env) -> None:
    async def run_before(pilot: Pilot) -> None:
        screen = pilot.app.screen
        fill(screen, adapter="user/smol-coach", base="HuggingFaceTB/SmolLM2-135M-Instruct", output="models/smol")
        await _settle(pilot)
        steps = ["preflight", "download", "merge", "convert", "quantize:Q4_K_M", "verify"]
        await screen.query_one(StepList).plan([(s, step_title(s)) for s in steps])
        for event in [
            StepStarted("preflight", step_title("preflight")),
            StepFinished("preflight", "llama.cpp ok, disk ok (80 GB free, ≈ 0.7 GB needed)"),
            StepStarted("download", step_title("download")),
            StepFinished("download", "already done: adapter: adapter, base: SmolLM2-135M-Instruct", skipped=True),
            StepStarted("merge", step_title("merge")),
            StepFinished("merge", "low-ram merge → merged/ (peak RSS 0.42 GB)"),
            StepStarted("convert", step_title("convert")),
            LogLine("convert", "INFO:hf-to-gguf:Model architecture: FooBarForCausalLM"),
            Progress("convert", 0, None, "", "Convert to GGUF"),
            LogLine("convert", "ERROR:hf-to-gguf:Model FooBarForCausalLM is not supported", "error"),
            StepFailed("convert", "ERROR:hf-to-gguf:Model FooBarForCausalLM is not supported",
                       "this llama.cpp does not know the architecture in config.json `architectures`", 1),
        ]:
            screen.handle_event(event)
        # The failure's notification (its toast would cover the log): cleared once it has been posted.
        await wait_for(pilot, lambda: bool(pilot.app._notifications), what="the failure's notification")
        pilot.app.clear_notifications()
        await wait_for(pilot, lambda: not pilot.app.screen.query("Toast"), what="no toast on screen")
        _steady_cursor(pilot)
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=SIZE, run_before=run_before)


async def test_recent_conversion_fills_the_form_for_a_resume(tmp_path: Path) -> None:
    from core.convert.pipeline import ConvertSpec
    from core.convert.records import start_record, update_record
    from core.store import Store

    spec = ConvertSpec(output_dir=tmp_path / "qwen3-therapeutic", base_model="Qwen/Qwen3-14B",
                       adapter="user/therapeutic-qwen3-14b", quant_types=("Q4_K_M", "Q8_0"), merge_method="low-ram",
                       upload=True, gguf_repo="user/therapeutic-GGUF")
    store = Store()
    start_record(store, "conv-20260101-000000-abcd", str(spec.output_dir), spec.to_dict(), {})
    update_record(store, "conv-20260101-000000-abcd", status="canceled")
    app = ScreenHost(ConvertScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ConvertScreen)
        await app.workers.wait_for_complete()  # the recent list is read off the event loop
        await pilot.pause()
        recent = screen.query_one("#recent")
        assert recent.display
        recent.value = "conv-20260101-000000-abcd"
        await pilot.pause()
        assert screen.query_one("#adapter", Input).value == "user/therapeutic-qwen3-14b"
        assert screen.query_one("#output", Input).value == str(tmp_path / "qwen3-therapeutic")
        assert screen.query_one("#upload", Checkbox).value is True
        rebuilt = screen.spec_from_form()
        assert rebuilt.merge_method == "low-ram" and [q.name for q in rebuilt.quants()] == ["Q4_K_M", "Q8_0"]
        assert rebuilt.gguf_repo == "user/therapeutic-GGUF"
