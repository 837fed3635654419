"""Issue 14, item 9: the monitor's request budget — newest page only unless the user scrolls, no polling of
ended or refused jobs, back-off on errors, the list paused under the detail screen — in core and in the TUI."""

from __future__ import annotations

import time
from typing import Any

import pytest
from textual.widgets import Static

from core.store import Store
from tests.jobs.conftest import store_job
from tests.jobs.test_screen import MonitorApp, table_ids, wait_until
from tests.support.pilot_wait import stays_true
from tui_tuner.screens.jobs.screen import JobDetailScreen

pytestmark = pytest.mark.timeout(120)


def seed(fake_hub: Any, n: int, *, live: int = 3) -> list[str]:
    """`n` jobs, newest first in the list; the `live` newest ones RUNNING, the rest finished long ago."""
    ids = []
    for i in range(n):
        stage = "RUNNING" if i >= n - live else "COMPLETED"
        ids.append(fake_hub.create_job(stage=stage, labels={"name": f"job{i}"}, created_at=1_700_000_000 + i * 60))
    return ids


def api_requests(fake_hub: Any, since: int = 0) -> list[Any]:
    return [r for r in fake_hub.requests[since:] if r.path.startswith("/api/")]


def test_refresh_reads_the_newest_page_and_older_ones_only_when_asked(fake_hub: Any) -> None:
    from core.jobs.job_list import JobList
    from core.jobs.jobs_source import HubJobs

    seed(fake_hub, 1000)
    listing = JobList(HubJobs(namespace="tester"), store=Store())
    first = listing.refresh()
    assert (first.requests, first.hub_rows, first.more) == (1, 100, True)
    assert first.next_in_s >= 5.0  # 1 request / 0.2 per s
    pages = fake_hub.requests_to(r"^/api/jobs/tester$")
    assert len(pages) == 1 and "cursor" not in pages[0].query
    assert listing.load_more()
    second = listing.refresh()  # pages 1-2, once
    assert (second.requests, second.hub_rows) == (2, 200) and second.next_in_s >= 10.0
    third = listing.refresh()  # then the newest page again; page 2 is kept as it was
    assert (third.requests, third.hub_rows) == (1, 200)
    assert len(fake_hub.requests_to(r"^/api/jobs/tester/[0-9a-f]+$")) == 0  # no ended job asked about


def test_nothing_live_refreshes_slower(fake_hub: Any) -> None:
    from core.jobs.job_list import JobList
    from core.jobs.jobs_source import HubJobs

    seed(fake_hub, 250, live=0)
    result = JobList(HubJobs(namespace="tester"), store=Store()).refresh()
    assert result.requests == 1 and result.next_in_s == 15.0


def test_live_jobs_off_the_newest_page_are_asked_about_until_they_end_refused_ones_never_again(
        fake_hub: Any, store: Store) -> None:
    from core.jobs.job_list import JobList
    from core.jobs.jobs_source import HubJobs

    fake_hub.jobs_page_size = 100
    old_running = fake_hub.create_job(stage="RUNNING", labels={"name": "long"}, created_at=1_600_000_000)
    forbidden = fake_hub.create_job(stage="RUNNING", labels={"name": "forbidden"}, created_at=1_600_000_001)
    seed(fake_hub, 150, live=0)
    # The launcher stored both as RUNNING; neither is on the newest page.
    store_job(store, job_id=old_running, created_at=1_600_000_000)
    store_job(store, job_id=forbidden, created_at=1_600_000_001)
    fake_hub.fail_next(rf"^/api/jobs/tester/{forbidden}$", 403, count=100)
    listing = JobList(HubJobs(namespace="tester"), store=store)
    result = listing.refresh()
    assert result.requests == 3  # the page + one lookup each
    assert forbidden in listing.unpollable
    fake_hub.set_stage(old_running, "COMPLETED")
    listing.refresh()
    listing.refresh()
    assert len(fake_hub.requests_to(rf"^/api/jobs/tester/{old_running}$")) == 2  # until seen ended, then never
    assert len(fake_hub.requests_to(rf"^/api/jobs/tester/{forbidden}$")) == 1  # a 403 is not asked again
    rows = {r.id: r for r in listing.refresh().rows}
    assert rows[old_running].stage == "COMPLETED"


def test_budget_holds_on_a_simulated_hour_with_errors(fake_hub: Any) -> None:
    """Scheduling as the screen does it, on a simulated clock: whatever happens, requests/s ≤ the budget."""
    from core.jobs.job_list import JobList
    from core.jobs.jobs_source import HubJobs

    seed(fake_hub, 1000, live=5)
    listing = JobList(HubJobs(namespace="tester", sleep=lambda s: None), store=Store())
    clock, requests = 0.0, 0
    for i in range(40):
        if i % 7 == 3:
            fake_hub.fail_next(r"^/api/jobs/tester$", 503, count=10)  # a bad spell: retries, then an error
        before = len(fake_hub.requests)
        result = listing.refresh()
        requests += len(api_requests(fake_hub, before))
        clock += result.next_in_s
    assert requests / clock <= 0.2 + 1e-9, (requests, clock)


async def test_tui_at_rest_with_1000_jobs_stays_within_the_budget(fake_hub: Any) -> None:
    """The budget scaled up 5× (to keep the test short): 1 request/s allowed, refresh wanted every 0.1 s. (At
    2/s the screen's own 0.5 s floor between refreshes would pass the test without the budget.)"""
    from core import paths

    paths.ensure(paths.config_dir())
    paths.config_file().write_text("[jobs]\nrefresh_s = 0.1\nmax_requests_per_s = 1\n")
    ids = seed(fake_hub, 1000)
    app = MonitorApp()
    async with app.run_test(size=(140, 30)) as pilot:
        await wait_until(pilot, lambda: len(table_ids(app)) == 100)
        start, started = len(fake_hub.requests), time.monotonic()
        # Three refreshes: at 1 request/s (one burst request allowed) they cannot all come within 2 s.
        await wait_until(pilot, lambda: len(api_requests(fake_hub, start)) >= 3)
        window = time.monotonic() - started
        made = api_requests(fake_hub, start)
        assert len(made) <= 1 * window + 1, ([r.path for r in made], window)
        assert all(r.path == "/api/jobs/tester" and "cursor" not in r.query for r in made)  # newest page only
        assert "older jobs on the Hub" in str(app.screen.query_one("#monitor-status", Static).render())
        # Scrolling to the end of the list reads the next page, once.
        await pilot.press("ctrl+end")
        await wait_until(pilot, lambda: len(table_ids(app)) == 200)
        assert ids[-150] in table_ids(app)


async def test_detail_screen_pauses_the_list_and_stops_at_the_end(fake_hub: Any) -> None:
    from core import paths

    paths.ensure(paths.config_dir())
    paths.config_file().write_text("[jobs]\nrefresh_s = 0.1\nmax_requests_per_s = 2\n")
    seed(fake_hub, 300, live=1)
    job = fake_hub.jobs and max(fake_hub.jobs, key=lambda j: fake_hub.jobs[j]["createdAt"])
    app = MonitorApp()
    async with app.run_test(size=(140, 36)) as pilot:
        await wait_until(pilot, lambda: table_ids(app)[:1] == [job])
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        status = rf"^/api/jobs/tester/{job}$"
        # Counted from the detail's first status poll: a list request already on its way is not counted.
        await wait_until(pilot, lambda: len(fake_hub.requests_to(status)) >= 1)
        start, started = len(fake_hub.requests), time.monotonic()
        await wait_until(pilot, lambda: len(fake_hub.requests_to(status)) >= 4)  # three more polls: >= 1 s
        window = time.monotonic() - started
        during = api_requests(fake_hub, start)
        assert not [r for r in during if r.path == "/api/jobs/tester"]  # the list is paused
        polls = [r for r in during if r.path == f"/api/jobs/tester/{job}"]
        assert 3 <= len(polls) <= 2 * window + 1, window  # the job's status, within the budget
        fake_hub.set_stage(job, "COMPLETED")
        await wait_until(pilot, lambda: "COMPLETED" in str(app.screen.query_one("#detail-title", Static).render()))
        await wait_until(pilot, lambda: "none" in str(app.screen.query_one("#detail-metrics", Static).render()))
        # The status poller has ended; for three of its poll intervals (0.5 s at this budget) nothing is asked.
        await wait_until(pilot, lambda: not [w for w in app.workers if w.group == "monitor-status" and w.is_running])
        start = len(fake_hub.requests)
        await stays_true(pilot, lambda: api_requests(fake_hub, start) == [], seconds=1.5)  # an ended job
        await pilot.press("escape")
        await wait_until(pilot, lambda: len(api_requests(fake_hub, start)) >= 1)  # the list resumes


async def test_a_forbidden_job_is_not_polled_forever(fake_hub: Any) -> None:
    from core import paths

    paths.ensure(paths.config_dir())
    paths.config_file().write_text("[jobs]\nrefresh_s = 0.1\nmax_requests_per_s = 5\n")
    job = fake_hub.create_job(stage="RUNNING", labels={"name": "theirs"})
    app = MonitorApp()
    async with app.run_test(size=(140, 36)) as pilot:
        await wait_until(pilot, lambda: table_ids(app) == [job])
        fake_hub.fail_next(rf"^/api/jobs/tester/{job}(/.*)?$", 403, count=1000)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        stream = app.screen.query_one("#detail-stream", Static)
        await wait_until(pilot, lambda: "not asking again" in str(stream.render()))
        # Five poll intervals at this budget (0.2 s): one request, never a second.
        await stays_true(pilot, lambda: len(fake_hub.requests_to(rf"^/api/jobs/tester/{job}$")) == 1, seconds=1.0)
