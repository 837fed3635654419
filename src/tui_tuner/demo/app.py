"""`tui-tuner demo` in the TUI: the app with one more mode, `demo` (key 0), and a driver in a worker.

Quitting (ctrl+q, SIGTERM, SIGHUP, SIGINT) while the demo runs first cancels the driver and waits for the
steps' cleanup (the training job's process group, the converter, both llama-servers), then exits: the
demo never leaves a process behind. The run resumes next time from the first unfinished step.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from typing import Any

from textual.binding import Binding
from textual.worker import Worker

from tui_tuner.app import TunerApp
from tui_tuner.demo.driver import DemoDriver
from tui_tuner.demo.screen import DemoScreen

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class DemoApp(TunerApp):
    BINDINGS = [
        # 0 outside text fields (a focused field takes digits), F6 anywhere: the areas' own keys are 1-5 / F1-F5.
        Binding("0", "switch_mode('demo')", "Demo", id="demo.home"),
        Binding("f6", "switch_mode('demo')", "Demo", show=False, priority=True, id="demo.home-f6"),
        Binding("f", "toggle_follow", "Follow steps", id="demo.follow"),
    ]

    def __init__(self, events_factory: Callable[[], Any], *, follow: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events_factory = events_factory
        self.demo_screen = DemoScreen()
        self.add_mode("demo", lambda: self.demo_screen)  # one instance: the driver writes to it
        self.driver = DemoDriver(self, self.demo_screen, follow=follow)
        self.demo_worker: Worker[str] | None = None
        self._stopping = False

    def on_mount(self) -> None:
        super().on_mount()  # switches to the first area; the demo's own screen comes right after
        self.call_after_refresh(self.switch_mode, "demo")
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:  # replaces the app's own handlers: stop the demo first, then quit
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, lambda: self.call_later(self.action_quit))
        self.demo_worker = self.run_worker(self.driver.run(self.events_factory()), name="demo", group="demo",
                                           exit_on_error=False)

    @property
    def demo_running(self) -> bool:
        return self.demo_worker is not None and not self.demo_worker.is_finished

    def action_toggle_follow(self) -> None:
        self.driver.follow = not self.driver.follow
        self.notify("the areas follow the demo's steps" if self.driver.follow
                    else "the areas stay where you are (f follows again)", timeout=4)

    async def action_quit(self) -> None:
        if self.demo_running and not self._stopping:
            self._stopping = True
            self.notify("stopping the demo: ending the training job, converter and servers…", timeout=30)
            assert self.demo_worker is not None
            self.demo_worker.cancel()
            with contextlib.suppress(Exception):
                await self.demo_worker.wait()
        self.exit()


def run_demo_app(settings: Any, *, fresh: bool = False) -> int:
    """Run the TUI; one line on exit says where things are (exit 0 done, 2 failed, 130 stopped)."""
    from core.demo.runner import DemoRun

    run = DemoRun(settings, fresh=fresh)
    app = DemoApp(run.events)
    app.run()
    status = app.driver.status
    if status == "completed":
        print(f"demo finished: everything is in {run.out}; report: {app.driver.results_dir}/evaluation_report.md")
        return 0
    if status == "failed":
        print(f"demo failed: see {run.out}/SUMMARY.md; run `tui-tuner demo` again to resume", file=sys.stderr)
        return 2
    print(f"demo stopped: run `tui-tuner demo` again to resume (everything is in {run.out})", file=sys.stderr)
    return 130
