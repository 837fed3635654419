"""Snapshots of the Monitor at a fixed size, with the fake Hub's clock and the screen's clock pinned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core import paths
from core.store import Store
from tests.jobs.conftest import store_job
from tests.jobs.test_screen import MonitorApp
from tests.support.pilot_wait import wait_for, wait_for_workers
from tui_tuner import areas
from tui_tuner.screens import base
from tui_tuner.screens.jobs.screen import JobsScreen

PERIODIC = ("monitor-refresh", "monitor-curves")
"""Workers that wait for their next round (600 s here) rather than end."""
T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
SIZE = (150, 40)


@pytest.fixture
def pinned(fake_hub: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    import tests.support.fakehub.jobs as fh_jobs
    import tests.support.fakehub.jobs_routes as fh_routes
    import tests.support.fakehub.server as fh_server

    for module in (fh_jobs, fh_routes, fh_server):
        monkeypatch.setattr(module, "utcnow", lambda: T0)
    counter = iter(range(1, 1000))
    monkeypatch.setattr(fh_jobs, "new_job_id", lambda: f"68a0{next(counter):020x}")  # stable ids on screen
    monkeypatch.setattr(JobsScreen, "clock", staticmethod(lambda: T0.timestamp()))
    monkeypatch.setattr(base, "built_areas", lambda: list(areas.AREAS))
    paths.ensure(paths.config_dir())
    # No refresh during the snapshot: the content is what the first refresh showed.
    paths.config_file().write_text("[jobs]\nrefresh_s = 600\ntrackio_poll_s = 600\n")
    return fake_hub


def seed(hub: Any) -> dict[str, str]:
    ago = lambda **kw: T0 - timedelta(**kw)  # noqa: E731
    ids = {
        "running": hub.create_job(stage="RUNNING", labels={"name": "gemma3-12b-coach"}, flavor="a100-large",
                                  created_at=ago(hours=2, minutes=10)),
        "updating": hub.create_job(stage="UPDATING", labels={"name": "qwen3-8b-sft"}, flavor="a10g-large",
                                   created_at=ago(minutes=25)),
        "scheduling": hub.create_job(stage="SCHEDULING", labels={"name": "llama3-8b-sft"}, flavor="l40sx1",
                                     created_at=ago(minutes=2)),
        "error": hub.create_job(stage="ERROR", labels={"name": "gemma3-12b-oom"}, flavor="a10g-large",
                                created_at=ago(hours=5), message="exit code 1", logs=[
                                    "Loading checkpoint shards: 100%|██████████| 5/5 [00:20<00:00,  4.00s/it]",
                                    " 10%|█         | 48/486 [06:00<54:45,  7.50s/it]",
                                    "{'loss': 2.412, 'grad_norm': 1.1, 'learning_rate': 0.0002, 'epoch': 0.3}",
                                    "Traceback (most recent call last):",
                                    '  File "/app/train.py", line 80, in <module>',
                                    "    trainer.train()",
                                    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 "
                                    "has a total capacity of 22.19 GiB",
                                ]),
    }
    store = Store()
    store_job(store, job_id=ids["error"], status="ERROR", extra={"expected_steps": 486, "epochs": 3})
    store_job(store, job_id="local-20260302-101500-c0de", backend="local", name="smollm2-cpu-check",
              status="COMPLETED", log_path="/nonexistent/local.log", created_at=(T0 - timedelta(hours=1)).timestamp())
    return ids


def test_snapshot_job_list(pinned: Any, snap_compare: Any) -> None:
    seed(pinned)

    async def settle(pilot: Any) -> None:
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen.rows, what="the first refresh's rows")
        await wait_for_workers(pilot, ignore_groups=PERIODIC)

    assert snap_compare(MonitorApp(), terminal_size=SIZE, run_before=settle)


def test_snapshot_job_detail_with_diagnosis(pinned: Any, snap_compare: Any) -> None:
    ids = seed(pinned)

    async def open_detail(pilot: Any) -> None:
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen.rows, what="the first refresh's rows")
        await pilot.press("slash", *"oom", "enter", "l")

        def detail_complete() -> bool:
            detail = pilot.app.screen
            return (getattr(detail, "row", None) is not None and bool(detail.diagnoses)
                    and detail.row.id == ids["error"]
                    and "log complete" in str(detail.query_one("#detail-stream").render())
                    and "metrics: none" in str(detail.query_one("#detail-metrics").render()))

        await wait_for(pilot, detail_complete, what="the failed job's detail: diagnosis, whole log, no metrics")
        await wait_for_workers(pilot, ignore_groups=PERIODIC)

    assert snap_compare(MonitorApp(), terminal_size=SIZE, run_before=open_detail)
