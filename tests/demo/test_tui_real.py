"""The demo's TUI on the real steps (Pilot): the checklist runs the first steps for real, the jobs area opens
on the real training job, and quitting mid-training ends the job's process group before the app exits."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.demo.runner import DemoRun
from core.demo.settings import DemoSettings
from tests.demo.test_e2e import leftovers, wait_gone
from tests.demo.test_screen import wait_until
from tui_tuner.demo.app import DemoApp

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


async def test_tui_follows_the_real_training_job_and_quitting_stops_it(smollm2_gguf: Path, tmp_path: Path) -> None:
    from core.launch.job_store import get_job
    from core.llama_cpp import locate_llama_cpp
    from tui_tuner.screens.jobs.screen import JobDetailScreen

    if not locate_llama_cpp().ok:
        pytest.skip("llama.cpp is not built")
    out = tmp_path / "demo"
    run = DemoRun(DemoSettings(output_dir=out, model_gguf=smollm2_gguf))
    app = DemoApp(run.events)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen), timeout=300)
        detail = app.screen
        assert app.current_mode == "jobs"
        states = app.demo_screen.states
        assert [states[s] for s in ("data", "model", "plan", "llama_cpp")] == ["done"] * 4
        assert states["train"] == "running"
        job_id = detail.row.id
        # the job's live log reaches the screen (the trainer's first loss line)
        await wait_until(pilot, lambda: bool(detail.query("#detail-log")))
        log = detail.query_one("#detail-log")
        await wait_until(pilot, lambda: any("'loss'" in line for line in log.buffer.lines), timeout=300)
        started = time.monotonic()
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, timeout=90)
    assert app.driver.status == "canceled"
    assert wait_gone(out, job_id) == [], leftovers(out, job_id)
    job = get_job(job_id)
    assert job is not None and job.status == "CANCELED"
    assert time.monotonic() - started < 90
