"""The Monitor screen driven by Pilot against the fake Hub and the store: list, filter, sort, detail,
diagnosis banner, describe, cancel with confirmation, and responsiveness while the Hub is slow or down."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.widgets import DataTable, ProgressBar, Static

from core.store import Store
from tests.conftest import assert_no_canary
from tests.jobs.conftest import store_job
from tests.support.host_app import ScreenHost
from tests.support.pilot_wait import wait_for as wait_until
from tests.support.pilot_wait import wait_for_workers
from tui_tuner.screens.jobs.log_view import LogView
from tui_tuner.screens.jobs.screen import JobDetailScreen, JobsScreen

pytestmark = pytest.mark.timeout(120)

class MonitorApp(ScreenHost):
    """The jobs list alone, with the app's stylesheet and theme."""

    def __init__(self) -> None:
        super().__init__(JobsScreen)


def table_ids(app: App[None]) -> list[str]:
    table = app.screen.query_one("#monitor-jobs", DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def status_text(app: App[None]) -> str:
    return str(app.screen.query_one("#monitor-status", Static).render())


def screen_text(app: App[None]) -> str:
    return " ".join(str(w.render()) for w in app.screen.query(Static))


async def test_list_filter_sort_and_stage_notifications(fake_hub: Any) -> None:
    running = fake_hub.create_job(stage="RUNNING", labels={"name": "gemma-sft"}, flavor="a100-large")
    failed = fake_hub.create_job(stage="ERROR", labels={"name": "qwen-sft"}, message="Job timeout")
    app = MonitorApp()
    async with app.run_test(size=(140, 36)) as pilot:
        await wait_until(pilot, lambda: len(table_ids(app)) == 2)
        assert "via huggingface_hub" in status_text(app)
        await pilot.press("slash")
        await pilot.press(*"qwen")
        await wait_until(pilot, lambda: table_ids(app) == [failed])
        await pilot.press("escape")
        await wait_until(pilot, lambda: len(table_ids(app)) == 2)
        await pilot.press("slash", "exclamation_mark", *"qwen", "enter")
        await wait_until(pilot, lambda: table_ids(app) == [running])
        await pilot.press("escape", "s")
        assert app.screen.sort_key == "name"
        # A stage change between refreshes becomes a notification.
        fake_hub.set_stage(running, "COMPLETED")
        await pilot.press("r")
        await wait_until(pilot, lambda: any("RUNNING → COMPLETED" in n.message for n in app._notifications))
        assert_no_canary(screen_text(app))


async def test_detail_streams_logs_and_shows_the_diagnosis_banner(fake_hub: Any) -> None:
    logs = ["Loading model...", " 10%|█         | 48/486 [01:00<09:00,  1.25s/it]",
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"]
    from core import paths

    paths.ensure(paths.config_dir())
    paths.config_file().write_text("[jobs]\nrefresh_s = 0.5\nmax_requests_per_s = 100\n")
    job = fake_hub.create_job(stage="RUNNING", labels={"name": "gemma-sft"}, flavor="a10g-large", logs=logs[:2])
    store_job(Store(), job_id=job, extra={"expected_steps": 486})
    app = MonitorApp()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: table_ids(app) == [job])
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        log = app.screen.query_one("#detail-log", LogView)
        await wait_until(pilot, lambda: log.buffer.total >= 2)
        assert "step 48/486" in str(app.screen.query_one("#detail-eta", Static).render())
        fake_hub.add_logs(job, logs[2:])
        banner = app.screen.query_one("#detail-banner", Static)
        await wait_until(pilot, lambda: "CUDA out of memory" in str(banner.render()))
        assert banner.display and "larger GPU" in str(banner.render())
        fake_hub.set_stage(job, "ERROR", message="CUDA OOM")
        await wait_until(pilot, lambda: "log complete" in str(app.screen.query_one("#detail-stream", Static).render()))
        await wait_until(pilot, lambda: any("—— stage RUNNING → ERROR (CUDA OOM) ——" in line for line in log.buffer.lines))
        # The full log is on disk under logs_dir, one event per line.
        from core.jobs.log_buffer import decode_event, hub_log_path

        saved = [decode_event(line) for line in hub_log_path(job).read_text().splitlines()]
        assert [text for text, _ in saved[1:]] == logs and saved[0][0].startswith("===== Job started")
        assert all(ts and ts.endswith("Z") for _, ts in saved)  # the Hub's timestamps are kept
        await pilot.press("d")
        await wait_until(pilot, lambda: "full log" in screen_text(app))
        await pilot.press("escape")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, JobsScreen))
        assert_no_canary(screen_text(app), hub_log_path(job).read_text())


async def test_cancel_asks_first(fake_hub: Any) -> None:
    job = fake_hub.create_job(stage="RUNNING", labels={"name": "sft"})
    app = MonitorApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: table_ids(app) == [job])
        await pilot.press("ctrl+k")
        await pilot.pause()
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, JobsScreen))  # the dialog closed
        await wait_for_workers(pilot, ignore_groups={"monitor-refresh"})
        assert fake_hub.requests_to(rf"/{job}/cancel$") == []
        assert fake_hub.jobs[job]["status"]["stage"] == "RUNNING"
        await pilot.press("ctrl+k")
        await pilot.pause()
        await pilot.press("y")
        await wait_until(pilot, lambda: fake_hub.jobs[job]["status"]["stage"] == "CANCELED")


async def test_ui_stays_responsive_while_the_hub_is_slow_or_down(fake_hub: Any) -> None:
    from core import paths

    paths.ensure(paths.config_dir())
    paths.config_file().write_text("[jobs]\nlist_deadline_s = 3\nrefresh_s = 1\nmax_refresh_s = 2\nmax_requests_per_s = 100\n")
    job = fake_hub.create_job(stage="RUNNING", labels={"name": "sft"})
    app = MonitorApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: table_ids(app) == [job])
        fake_hub.set_delay(r"^/api/jobs", 8.0)
        before = len(fake_hub.requests_to(r"^/api/jobs"))
        await pilot.press("r")  # a refresh now hangs for 8 s in its thread
        await wait_until(pilot, lambda: len(fake_hub.requests_to(r"^/api/jobs")) > before)  # the Hub has it
        started = time.monotonic()
        await pilot.press("slash", *"zzz")
        await wait_until(pilot, lambda: table_ids(app) == [], timeout=2.0)
        await pilot.press("escape", "s")
        assert app.screen.sort_key == "name"
        assert time.monotonic() - started < 2.0  # keys answered while the Hub is slow
        fake_hub.set_delay(r"^/api/jobs", 0)
        fake_hub.stop()
        # The refresh in flight when the Hub died gives up at its deadline; the next one fails fast.
        await wait_until(pilot, lambda: "cannot reach" in status_text(app) or "did not answer" in status_text(app),
                         timeout=20)
        started = time.monotonic()
        await pilot.press("s")
        await wait_until(pilot, lambda: app.screen.sort_key == "stage", timeout=1.0)
        assert time.monotonic() - started < 1.0
        assert table_ids(app) == [job]  # the last good rows stay
        fake_hub.start()
        await pilot.press("r")
        await wait_until(pilot, lambda: "retry in" not in status_text(app), timeout=30)  # recovered


async def test_failed_job_with_final_checkpoint_is_marked_usable(fake_hub: Any) -> None:
    job = fake_hub.create_job(stage="ERROR", labels={"name": "gemma-sft"}, message="Job timeout")
    fake_hub.add_repo("tester/adapter", files={"README.md": b"x"},
                      commits=[{"title": "Training in progress, step 486", "files": {"adapter_model.safetensors": b"1"}}])
    store_job(Store(), job_id=job, status="ERROR", extra={"expected_steps": 486, "output_repo": "tester/adapter"})
    app = MonitorApp()
    async with app.run_test(size=(140, 30)) as pilot:
        await wait_until(pilot, lambda: table_ids(app) == [job])
        table = app.screen.query_one("#monitor-jobs", DataTable)
        await wait_until(pilot, lambda: "adapter usable" in str(table.get_row_at(0)[3]))
        assert any("hf download tester/adapter --local-dir ./adapter" in n.message for n in app._notifications)


async def test_detail_shows_the_metrics_stream(fake_hub: Any) -> None:
    job = fake_hub.create_job(stage="RUNNING", labels={"name": "sft"}, flavor="a10g-large", logs=["hi"])
    fake_hub.metrics_interval = 0.1
    fake_hub.add_metrics(job, [{"cpu_usage_pct": 40, "memory_used_bytes": 9e9, "memory_total_bytes": 46e9,
                                "gpus": {"g": {"utilization": 88, "memory_used_bytes": 21e9,
                                               "memory_total_bytes": 24e9}}}])
    app = MonitorApp()
    async with app.run_test(size=(150, 40)) as pilot:
        await wait_until(pilot, lambda: table_ids(app) == [job])
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        metrics = app.screen.query_one("#detail-metrics", Static)
        await wait_until(pilot, lambda: "GPU0 88% 21.0/24.0 GB" in str(metrics.render()))
        assert app.screen._util_history[-1] == 88.0


async def test_finished_local_job_says_it_has_no_live_metrics(fake_hub: Any, tmp_path: Path) -> None:
    log = tmp_path / "local.log"
    log.write_text("step 1\n===== Job completed (COMPLETED) =====\n")
    store_job(Store(), job_id="local-20260101-000000-0abc", backend="local", status="COMPLETED",
              log_path=str(log), extra={"flavor": "local cpu"})
    app = MonitorApp()
    async with app.run_test(size=(150, 40)) as pilot:
        await wait_until(pilot, lambda: "local-20260101-000000-0abc" in table_ids(app))
        table = app.screen.query_one("#monitor-jobs", DataTable)
        assert "local cpu" in [str(cell) for cell in table.get_row_at(0)]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        metrics = app.screen.query_one("#detail-metrics", Static)
        await wait_until(pilot, lambda: "the job is not running" in str(metrics.render()), timeout=3)


async def test_an_ended_job_without_step_counts_has_no_busy_bar(fake_hub: Any) -> None:
    running = fake_hub.create_job(stage="RUNNING", labels={"name": "no-steps"}, logs=["Loading model..."])
    app = MonitorApp()
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_until(pilot, lambda: table_ids(app) == [running])
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        bar = app.screen.query_one("#detail-bar", ProgressBar)
        assert bar.display and bar.total is None, "a running job without step counts pulses"
        fake_hub.set_stage(running, "COMPLETED")
        await wait_until(pilot, lambda: app.screen.row.is_terminal, timeout=15)
        await wait_until(pilot, lambda: not bar.display)  # a finished job does not look busy
