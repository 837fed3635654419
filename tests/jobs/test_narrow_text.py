"""At 80x24 the jobs area says in full what failed, when it retries and what to do (issue 11: "nothing
essential is clipped"): read back from the rendered screen, as a user reads it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from core import paths
from tests.jobs.test_screen import MonitorApp
from tests.jobs.test_snapshots import PERIODIC, pinned, seed  # noqa: F401 (pinned: the fixture)
from tests.support.pilot_wait import wait_for, wait_for_workers
from tests.support.screen_text import screen_lines

NARROW = (80, 24)


def _text(lines: Iterable[str]) -> str:
    return " ".join(" ".join(lines).split())


async def test_unreachable_hub_status_reads_whole_at_80x24() -> None:
    # The suite's HF_ENDPOINT is a closed port: the first refresh fails after its (fast) retries.
    paths.ensure(paths.config_dir())
    paths.config_file().write_text("[jobs]\nrefresh_s = 600\ntrackio_poll_s = 600\nretry_base_s = 0.01\n")
    app = MonitorApp()
    async with app.run_test(size=NARROW) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.last is not None and screen.last.error, timeout=60,
                       what="the first refresh's error")
        await pilot.pause()
        status = screen.query_one("#monitor-status")
        shown = _text(screen_lines(app)[status.region.y:status.region.bottom])
        for part in ("whoami: cannot reach http://127.0.0.1:9", "check the network or HF_ENDPOINT", "retry in"):
            assert part in shown, f"{part!r} not on screen: {shown!r}"
        assert screen.query_one("#monitor-jobs").region.height >= 3  # the list keeps its rows


@pytest.mark.parametrize("size", [(80, 24), (100, 24), (120, 30)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_job_detail_reads_whole_when_narrow(pinned: Any, size: tuple[int, int]) -> None:  # noqa: F811
    ids = seed(pinned)
    app = MonitorApp()
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.rows, what="the first refresh's rows")
        await pilot.press("slash", *"oom", "enter", "l")

        def detail_complete() -> bool:
            detail = pilot.app.screen
            return (getattr(detail, "row", None) is not None and detail.row.id == ids["error"]
                    and "metrics: none" in str(detail.query_one("#detail-metrics").render()))

        await wait_for(pilot, detail_complete, what="the failed job's detail with no metrics")
        await wait_for_workers(pilot, ignore_groups=PERIODIC)
        detail = pilot.app.screen
        lines = screen_lines(app)
        metrics = detail.query_one("#detail-metrics").region
        shown = _text(line[metrics.x:metrics.right].strip("│ ") for line in lines[metrics.y:metrics.bottom])
        assert "metrics: none (the job is not running)" in shown, shown
        # The log is what a job's detail is for: some of its lines stay in view beside the banner and metrics.
        log = detail.query_one("#detail-log").region
        log_text = _text(lines[log.y:log.bottom])
        assert "Loading checkpoint shards" in log_text and "Traceback" in log_text, "\n".join(lines)
        # The footer's keys are whole: the last one shown is not cut by the palette's key.
        footer = lines[-1]
        assert "Cancel job" in footer and not footer.split("▏")[0].rstrip().endswith("Metric"), footer
