"""The demo's step runner: order, events, the state file, resume, invalidation, failure and cancel."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest

from core.demo import PIPELINE_NOTE
from core.demo import events as ev
from core.demo.runner import SUMMARY_FILE, DemoRun
from core.demo.settings import DemoSettings
from core.demo.state import STATE_FILE
from tests.demo.fake_steps import Recorder, chain, output


async def collect(run: DemoRun) -> list[ev.DemoEvent]:
    return [event async for event in run.events()]


def demo(out: Path, rec: Recorder, **settings: object) -> DemoRun:
    return DemoRun(DemoSettings(output_dir=out, **settings), steps=chain(rec))  # type: ignore[arg-type]


def finished(events: list[ev.DemoEvent]) -> dict[str, ev.StepFinished]:
    return {e.step: e for e in events if isinstance(e, ev.StepFinished)}


async def test_first_run_runs_every_step_in_order_and_records_it(tmp_path: Path) -> None:
    rec = Recorder()
    events = await collect(demo(tmp_path, rec))
    assert rec.ran == ["a", "b", "c", "d"]
    assert isinstance(events[0], ev.DemoStarted) and not events[0].resumed
    assert [s for s, _ in events[0].steps] == ["a", "b", "c", "d"]
    starts = [e for e in events if isinstance(e, ev.StepStarted)]
    assert [(s.step, s.index, s.total) for s in starts] == [("a", 1, 4), ("b", 2, 4), ("c", 3, 4), ("d", 4, 4)]
    assert all(not f.skipped for f in finished(events).values())
    last = events[-1]
    assert isinstance(last, ev.DemoFinished) and last.status == "completed" and last.output_dir == str(tmp_path)
    state = json.loads((tmp_path / STATE_FILE).read_text())
    assert {k: v["status"] for k, v in state["steps"].items()} == dict.fromkeys("abcd", "done")
    assert state["steps"]["a"]["outputs"] == ["./a.txt"], "outputs inside the folder are stored relative"


async def test_rerun_skips_every_finished_step_and_restores_its_details(tmp_path: Path) -> None:
    await collect(demo(tmp_path, Recorder()))
    rec = Recorder()
    run = demo(tmp_path, rec)
    events = await collect(run)
    assert rec.ran == [], "nothing is redone"
    assert isinstance(events[0], ev.DemoStarted) and events[0].resumed
    assert all(f.skipped for f in finished(events).values()) and len(finished(events)) == 4
    assert run.values["b"]["file"] == str(output(tmp_path, "b")), "a skipped step's details are there for later ones"
    assert isinstance(events[-1], ev.DemoFinished) and events[-1].status == "completed"


async def test_a_missing_output_reruns_its_step_and_the_steps_that_use_it(tmp_path: Path) -> None:
    await collect(demo(tmp_path, Recorder()))
    output(tmp_path, "b").unlink()
    rec = Recorder()
    await collect(demo(tmp_path, rec))
    assert rec.ran == ["b", "c"], "a is intact, d does not use b"
    assert rec.fresh == {"b": False, "c": True}, "c's input was remade: it starts over"


async def test_a_changed_setting_reruns_the_steps_that_depend_on_it(tmp_path: Path) -> None:
    await collect(demo(tmp_path, Recorder(), max_steps=30))
    rec = Recorder()
    await collect(demo(tmp_path, rec, max_steps=12))
    assert rec.ran == ["b", "c"]


async def test_a_failed_step_stops_the_run_and_a_rerun_resumes_there(tmp_path: Path) -> None:
    rec = Recorder(fail={"c"})
    events = await collect(demo(tmp_path, rec))
    assert rec.ran == ["a", "b", "c"]
    failed = [e for e in events if isinstance(e, ev.StepFailed)]
    assert [(f.step, f.error, f.hint) for f in failed] == [("c", "c broke", "fix c")]
    last = events[-1]
    assert isinstance(last, ev.DemoFinished) and last.status == "failed"
    assert any("resume" in line for line in last.lines)
    assert json.loads((tmp_path / STATE_FILE).read_text())["steps"]["c"]["status"] == "failed"

    rec2 = Recorder()
    events = await collect(demo(tmp_path, rec2))
    assert rec2.ran == ["c", "d"]
    assert isinstance(events[-1], ev.DemoFinished) and events[-1].status == "completed"


async def test_cancel_runs_the_step_cleanup_and_a_rerun_resumes(tmp_path: Path) -> None:
    rec = Recorder(block={"b"})
    run = demo(tmp_path, rec)
    seen: list[ev.DemoEvent] = []

    async def consume() -> None:
        async with contextlib.aclosing(run.events()) as events:
            async for event in events:
                seen.append(event)

    task = asyncio.create_task(consume())
    await asyncio.wait_for(rec.started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rec.cleaned == ["b"], "the running step's cleanup ran"
    assert run.status == "canceled"
    state = json.loads((tmp_path / STATE_FILE).read_text())
    assert state["steps"]["a"]["status"] == "done" and state["steps"]["b"]["status"] == "canceled"
    assert "canceled" in (tmp_path / SUMMARY_FILE).read_text()

    rec2 = Recorder()
    await collect(demo(tmp_path, rec2))
    assert rec2.ran == ["b", "c", "d"]


async def test_closing_the_stream_at_a_yield_also_cleans_up(tmp_path: Path) -> None:
    """A consumer that stops reading (the TUI quitting between two events) closes the generator: the step's
    finally still runs."""
    rec = Recorder(block={"b"})
    run = demo(tmp_path, rec)
    events = run.events()
    async for event in events:
        if isinstance(event, ev.StepProgress) and event.step == "b":
            break  # the step is suspended at its yield, not inside an await
    await events.aclose()
    assert rec.cleaned == ["b"], "the step's generator was closed with the demo's"
    assert run.status == "canceled"


async def test_fresh_ignores_what_an_earlier_run_left(tmp_path: Path) -> None:
    await collect(demo(tmp_path, Recorder()))
    rec = Recorder()
    run = DemoRun(DemoSettings(output_dir=tmp_path), steps=chain(rec), fresh=True)
    events = await collect(run)
    assert rec.ran == ["a", "b", "c", "d"]
    assert isinstance(events[0], ev.DemoStarted) and not events[0].resumed


async def test_a_corrupt_state_file_means_starting_over(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text("{not json")
    rec = Recorder()
    await collect(demo(tmp_path, rec))
    assert rec.ran == ["a", "b", "c", "d"]


async def test_the_summary_names_the_folder_and_says_it_proves_the_pipeline(tmp_path: Path) -> None:
    events = await collect(demo(tmp_path, Recorder()))
    last = events[-1]
    assert isinstance(last, ev.DemoFinished)
    assert f"Everything is in {tmp_path}" in last.lines
    assert PIPELINE_NOTE in last.lines
    assert "proves the pipeline" in PIPELINE_NOTE and "135M" in PIPELINE_NOTE and "60 conversations" in PIPELINE_NOTE
    text = (tmp_path / SUMMARY_FILE).read_text()
    assert str(tmp_path) in text and PIPELINE_NOTE in text
    assert last.summary_path == str(tmp_path / SUMMARY_FILE)


def test_relative_output_dir_is_made_absolute_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = DemoRun(DemoSettings(output_dir=Path("out")), steps=[])
    assert run.out == tmp_path / "out"
    monkeypatch.chdir("/")
    assert run.out == tmp_path / "out"


def test_settings_are_checked() -> None:
    from core.errors import TunerError

    with pytest.raises(TunerError, match="max-steps"):
        DemoSettings(max_steps=0).validate()
    with pytest.raises(TunerError, match="learning-rate"):
        DemoSettings(learning_rate=2).validate()


def test_forwarded_events_nest_as_json() -> None:
    from core.convert.events import StepStarted

    data = ev.event_to_dict(ev.Forward("convert", "convert", StepStarted("merge", "Merge")))
    assert data == {"event": "Forward", "step": "convert", "area": "convert",
                    "inner": {"event": "StepStarted", "step": "merge", "title": "Merge", "command": ""}}
    json.dumps(data)
    progress = ev.event_to_dict(ev.StepProgress("train", 3, 30, "step 3/30", 12.0))
    assert progress["fraction"] == pytest.approx(0.1)


async def test_an_unexpected_error_in_a_step_is_one_line_and_a_logged_traceback(tmp_path: Path) -> None:
    from collections.abc import AsyncIterator

    from core.demo.runner import Step, StepContext, StepResult

    async def broken(ctx: StepContext, result: StepResult) -> AsyncIterator[ev.DemoEvent]:
        yield ev.StepLog("x", "about to break")
        raise KeyError("boom")

    run = DemoRun(DemoSettings(output_dir=tmp_path), steps=[Step("x", "X", broken)])
    events = await collect(run)
    failed = [e for e in events if isinstance(e, ev.StepFailed)]
    assert failed and failed[0].error == "unexpected KeyError: 'boom'"
    assert "demo-errors.log" in failed[0].hint
    assert "Traceback" in (tmp_path / "logs" / "demo-errors.log").read_text()
    assert isinstance(events[-1], ev.DemoFinished) and events[-1].status == "failed"


async def test_a_second_demo_in_the_same_folder_is_refused(tmp_path: Path) -> None:
    from core.folder_lock import FolderBusy

    rec = Recorder(block={"b"})
    first = demo(tmp_path, rec).events()
    async for event in first:
        if isinstance(event, ev.StepProgress) and event.step == "b":
            break
    with pytest.raises(FolderBusy):
        await collect(demo(tmp_path, Recorder()))
    await first.aclose()
    assert (await collect(demo(tmp_path, Recorder())))[-1].status == "completed"  # free again


async def test_a_step_reruns_when_what_it_was_made_from_changed(tmp_path: Path) -> None:
    from dataclasses import replace

    version = {"data": "v1"}

    def steps(rec: Recorder) -> list:
        first, *rest = chain(rec)
        return [replace(first, inputs=lambda: version["data"]), *rest]

    await collect(DemoRun(DemoSettings(output_dir=tmp_path), steps=steps(Recorder())))
    version["data"] = "v2"  # e.g. a new release ships other conversations
    rec = Recorder()
    await collect(DemoRun(DemoSettings(output_dir=tmp_path), steps=steps(rec)))
    assert rec.ran == ["a", "b", "c"]
