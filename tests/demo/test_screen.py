"""The demo in the TUI (Pilot), driven by fake steps: the checklist follows the run, and the real areas follow
the steps (the jobs area on the job, the convert area on the conversion, the viewer on the results).
Quitting while a step runs stops it (its cleanup runs) before the app exits. The real pipeline runs in
the end-to-end test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core import paths
from core.convert import events as cv
from core.demo import events as ev
from core.demo.runner import DemoRun, Step, StepContext, StepResult
from core.demo.settings import DemoSettings
from core.launch import job_store
from tests.demo.fake_steps import Recorder, make_step
from tests.eval_view.fixtures import make_results
from tests.support.pilot_wait import wait_for as wait_until
from tui_tuner.demo.app import DemoApp
from tui_tuner.demo.screen import DemoScreen


@pytest.fixture(autouse=True)
def quick_hub_retries() -> None:
    """The jobs area the demo opens lists the (unreachable) Hub without seconds of back-off: the app ends at once."""
    paths.ensure(paths.config_dir())
    paths.config_file().write_text("[jobs]\nretry_base_s = 0.01\n", encoding="utf-8")


def local_job(tmp_path: Path) -> str:
    log = tmp_path / "job.log"
    log.write_text("===== Job started =====\n{'loss': '3.1', 'epoch': '0.5'}\n===== Job completed (COMPLETED) =====\n")
    record = job_store.JobRecord(id=job_store.new_local_id(), backend="local", name="demo-run", status="COMPLETED",
                                 log_path=str(log), extra={"expected_steps": 2, "trackio_project": "none"})
    return job_store.insert_job(record).id


def steps(rec: Recorder, tmp_path: Path, gate: asyncio.Event) -> list[Step]:
    job_id = local_job(tmp_path)
    results = make_results(tmp_path / "results", models=("baseline", "ft"), n_personas=3, k=1)

    async def train(ctx: StepContext, result: StepResult) -> AsyncIterator[ev.DemoEvent]:
        yield ev.Handoff("train", "jobs", job_id)
        yield ev.StepProgress("train", 2, 2, "step 2/2")
        await gate.wait()
        result.summary = "loss 3.1 → 2.4 (went down)"

    async def convert(ctx: StepContext, result: StepResult) -> AsyncIterator[ev.DemoEvent]:
        spec = {"adapter": str(tmp_path / "adapter"), "base_model": str(tmp_path / "base"),
                "model_name": "smollm2-135m-coach", "quant_types": ["Q8_0"], "mode": "merge", "smoke_test": True}
        yield ev.Handoff("convert", "convert", str(tmp_path / "gguf"),
                         {"spec": spec, "plan": ["preflight", "merge", "convert", "quantize:Q8_0", "verify"]})
        for step in ("preflight", "merge", "convert", "quantize:Q8_0", "verify"):
            yield ev.Forward("convert", "convert", cv.StepStarted(step, step))
            yield ev.Forward("convert", "convert", cv.StepFinished(step, f"{step} ok"))
        yield ev.Forward("convert", "convert", cv.PipelineFinished("completed", message="all steps done"))
        result.summary = "gguf/smollm2-135m-coach-Q8_0.gguf, verified"

    async def evaluate(ctx: StepContext, result: StepResult) -> AsyncIterator[ev.DemoEvent]:
        yield ev.Handoff("eval", "eval", str(results))
        result.summary = "finetuned vs baseline: FAIL"
        result.details = {"results_dir": str(results), "report": str(results / "evaluation_report.md")}

    return [make_step(rec, "data"), Step("train", "Train", train), Step("convert", "Convert", convert),
            make_step(rec, "block"), Step("eval", "Evaluate", evaluate)]


def app_for(tmp_path: Path, rec: Recorder, gate: asyncio.Event, *, follow: bool = True) -> DemoApp:
    run = DemoRun(DemoSettings(output_dir=tmp_path / "demo"), steps=steps(rec, tmp_path, gate))
    return DemoApp(run.events, follow=follow)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_the_areas_follow_the_steps_and_the_viewer_opens_on_the_results(tmp_path: Path,
                                                                             size: tuple[int, int]) -> None:
    from tui_tuner.screens.convert.screen import ConvertScreen
    from tui_tuner.screens.convert.steps import StepList
    from tui_tuner.screens.eval.screen import EvalScreen
    from tui_tuner.screens.jobs.screen import JobDetailScreen

    rec, gate = Recorder(), asyncio.Event()
    app = app_for(tmp_path, rec, gate)
    async with app.run_test(size=size) as pilot:
        demo = app.demo_screen
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        assert app.current_mode == "jobs" and app.screen.row.name == "demo-run"
        assert demo.states["data"] == "done" and demo.states["train"] == "running"
        detail = app.screen
        await wait_until(pilot, lambda: bool(detail.query("#detail-log")))
        log = detail.query_one("#detail-log")
        await wait_until(pilot, lambda: any("Job completed" in line for line in log.buffer.lines))  # the live log
        await pilot.press("0")  # back to the demo's checklist while the step runs
        await wait_until(pilot, lambda: isinstance(app.screen, DemoScreen))
        gate.set()

        await wait_until(pilot, lambda: demo.finished is not None, timeout=30)
        assert demo.finished.status == "completed"
        await wait_until(pilot, lambda: app.current_mode == "eval" and app.screen.results is not None)
        viewer = app.screen
        assert isinstance(viewer, EvalScreen) and viewer.directory == tmp_path / "results"
        assert demo.states == {"data": "done", "train": "done", "convert": "done", "block": "done",
                               "eval": "done", "view": "done"}
        await pilot.press("4")  # the conversion the demo ran is on show in the convert area, finished
        await wait_until(pilot, lambda: isinstance(app.screen, ConvertScreen))
        convert = app.screen
        await pilot.pause()
        assert not convert.external
        assert set(convert.query_one(StepList).states().values()) == {"done"}
        assert convert.query_one("#name").value == "smollm2-135m-coach"  # the form shows what ran
        convert.query_one("#name").value = "my-own-name"  # the user takes the form over: it plans again
        await wait_until(pilot, lambda: set(convert.query_one(StepList).states().values()) == {"pending"})
        await pilot.press("f6")  # a text field has the focus in Convert: F6 goes home from anywhere
        await wait_until(pilot, lambda: isinstance(app.screen, DemoScreen))
        summary = str(demo.query_one("#demo-summary").render())
        assert "proves the pipeline" in summary and str(tmp_path / "demo") in summary
    assert app.driver.status == "completed"


async def test_quitting_while_a_step_runs_stops_it_first(tmp_path: Path) -> None:
    rec, gate = Recorder(block={"block"}), asyncio.Event()
    gate.set()
    app = app_for(tmp_path, rec, gate, follow=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: rec.started.is_set(), timeout=30)
        assert app.current_mode == "demo", "not following: the areas were left alone"
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running or rec.cleaned == ["block"])
    assert rec.cleaned == ["block"], "the running step's cleanup ran before the app exited"
    assert app.driver.status == "canceled"


async def test_a_folder_held_by_another_demo_is_shown_not_crashed(tmp_path: Path) -> None:
    from core.folder_lock import FolderLock

    rec, gate = Recorder(), asyncio.Event()
    app = app_for(tmp_path, rec, gate)
    with FolderLock(tmp_path / "demo", "demo"):
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: app.driver.status == "failed")
            current = str(app.demo_screen.query_one("#demo-current").render())
            assert "demo" in current and "✗" in current
            assert any("demo" in n.message for n in app._notifications)
            assert app.is_running, "the app stays up"
    assert rec.ran == []
