"""The jobs list when there is nothing to show: a hint how jobs get there, and l / d / ctrl+k say why they
do nothing instead of doing nothing silently."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Static

from tests.jobs.test_screen import MonitorApp, wait_until

pytestmark = pytest.mark.timeout(120)


def hint(app: Any) -> Static:
    return app.screen.query_one("#monitor-empty", Static)


async def test_empty_list_explains_how_jobs_get_there(fake_hub: Any) -> None:
    app = MonitorApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.screen.last is not None)
        await pilot.pause()
        text = str(hint(app).render())
        assert hint(app).display
        assert "No jobs yet" in text and "tui-tuner jobs ps" in text and "namespace" in text
        assert "press 2" in text and "[jobs] namespaces" in text
        assert hint(app).region.height > 0  # on screen at 80x24, not pushed off by the table


async def test_keys_without_a_job_say_why_once(fake_hub: Any) -> None:
    app = MonitorApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.screen.last is not None)
        for key, verb in (("l", "show logs for"), ("d", "describe"), ("ctrl+k", "cancel")):
            before = len(app._notifications)
            await pilot.press(key)
            await pilot.pause()
            new = [n.message for n in list(app._notifications)[before:]]
            assert len(new) == 1, (key, new)
            assert f"nothing to {verb}" in new[0] and "the list is empty" in new[0]
        assert app.screen is not None and len(app.screen_stack) == 2  # no dialog opened


async def test_filter_hiding_every_job_says_so(fake_hub: Any) -> None:
    fake_hub.create_job(stage="RUNNING", labels={"name": "gemma-sft"})
    app = MonitorApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: bool(app.screen.rows))
        assert not hint(app).display
        await pilot.press("slash", *"nomatch")
        await wait_until(pilot, lambda: hint(app).display)
        assert "No job matches the filter" in str(hint(app).render())
        await pilot.press("enter", "d")
        await pilot.pause()
        assert "no job matches the filter" in list(app._notifications)[-1].message


async def test_an_empty_list_after_a_failed_read_says_what_failed(fake_hub: Any) -> None:
    # Every listing answers with a page that is not JSON: the list is empty because the read failed.
    fake_hub.fail_next(r"^/api/jobs/", 200, count=10_000, body=b"<html>maintenance</html>")
    app = MonitorApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.screen.last is not None and bool(app.screen.last.error))
        await pilot.pause()
        text = str(hint(app).render())
        assert hint(app).display and hint(app).region.height > 0
        assert "No jobs yet" not in text, "a failed read must not look like an empty namespace"
        assert "could not be read from the Hub" in text and "r retries now" in text
        assert app.screen.last.error.split(":")[0] in text
