"""Drive the demo inside the TUI: every event goes to the demo screen, and the areas follow the steps.

Training: the jobs area opens the job's live detail (log, Trackio curve, progress/ETA). Conversion: the
convert area shows the pipeline's own checklist, progress and log, fed with the pipeline's events.
Evaluation: the viewer opens on the results folder as soon as it exists and fills in as conversations
finish; at the end it stays open on the finished report. The driver only calls the screens' public
methods; with `follow` off (key f toggles it) the areas are left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from textual.app import App

from core.demo import events as ev
from tui_tuner.demo.screen import VIEW_STEP, DemoScreen


class DemoDriver:
    def __init__(self, app: App[Any], screen: DemoScreen, *, follow: bool = True) -> None:
        self.app = app
        self.screen = screen
        self.follow = follow
        self.status = "pending"
        self.results_dir = ""
        self._convert_screen: Any = None

    async def run(self, events: AsyncIterator[Any]) -> str:
        self.status = "running"
        while not self.screen.is_mounted:  # the first event needs the checklist on screen
            await asyncio.sleep(0.02)
        try:
            async with contextlib.aclosing(events) as stream:  # closing it runs each step's cleanup
                async for event in stream:
                    await self.handle(event)
        except Exception as exc:  # e.g. another demo holds the folder: shown here and as a notification
            self.status = "failed"
            self.screen.show_error(exc)
            raise
        except BaseException:
            self.status = "canceled"
            raise
        return self.status

    async def handle(self, event: ev.DemoEvent) -> None:
        self.screen.handle(event)
        match event:
            case ev.DemoStarted():
                await self.screen.plan(list(event.steps))
            case ev.Handoff():
                await self._handoff(event)
            case ev.Forward(area="convert") if self._convert_screen is not None:
                self._convert_screen.handle_event(event.event)
            case ev.StepFinished() | ev.StepFailed() if self._convert_screen is not None:
                screen, self._convert_screen = self._convert_screen, None
                await screen.external_run_finished()
            case ev.DemoFinished():
                self.status = event.status
                self.results_dir = event.results_dir
                if event.status == "completed" and event.results_dir:
                    await self.open_viewer(event.results_dir)

    async def _handoff(self, event: ev.Handoff) -> None:
        if event.area == "convert":
            screen = await self._area("convert")
            if hasattr(screen, "show_external_run"):
                data = event.data
                await screen.show_external_run(data.get("spec", {}), event.ref, list(data.get("plan", [])))
                self._convert_screen = screen
        elif event.area == "jobs":
            await self._show_job(event.ref)
        elif event.area == "eval":
            screen = await self._area("eval")
            if hasattr(screen, "open_directory"):
                screen.open_directory(event.ref)

    async def _area(self, mode: str) -> Any:
        """Switch to the area and return the screen on top of it (None when not following the steps)."""
        if not self.follow:
            return None
        await self.app.switch_mode(mode)
        return self.app.screen

    async def _show_job(self, job_id: str) -> None:
        from core.jobs.local_jobs import stored_job
        from tui_tuner.screens.jobs.screen import JobDetailScreen

        jobs = await self._area("jobs")
        row = stored_job(job_id)
        if row is None or not hasattr(jobs, "session"):
            return
        await self.app.push_screen(JobDetailScreen(row, jobs.session))

    async def open_viewer(self, results_dir: str) -> None:
        """The last row of the checklist: the evaluation viewer on the demo's results."""
        self.screen.set_state(VIEW_STEP[0], "running", "")
        screen = await self._area("eval")
        if hasattr(screen, "open_directory"):
            screen.open_directory(results_dir)
        self.screen.set_state(VIEW_STEP[0], "done", f"key 5 · tui-tuner eval view {results_dir}")
