"""Monitor (area 3): the live job list and, per job, logs, diagnosis, progress, metrics and curves.

k9s grammar: `/` filter (a leading `!` inverts), `s` sort, `r` refresh now, `l`/enter logs, `d` describe,
`ctrl+k` cancel (asks first), `esc` back. Every Hub call runs off the event loop (thread), so a slow or
dead server only shows up in the status bar — the keys keep working.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, ProgressBar, Sparkline, Static

from core.errors import TunerError
from core.jobs.completion import needs_check
from core.jobs.describe import describe_lines, stream_state_text
from core.jobs.diagnosis import Diagnoser, Diagnosis, diagnose_command, diagnose_loss, diagnose_status
from core.jobs.events import (
    FollowEvent,
    LogLine,
    PartialLine,
    StreamConnected,
    StreamDisconnected,
    StreamFailed,
    StreamFinished,
    StreamIncomplete,
    StreamNotice,
    StreamRetrying,
)
from core.jobs.job_list import JobList, RefreshResult
from core.jobs.jobs_source import SINGLE_TRY
from core.jobs.log_buffer import DiskLog
from core.jobs.log_follow import (
    HubLogSource,
    LocalSampler,
    MetricsFollower,
    MetricsSample,
    follow_async,
    last_segment,
)
from core.jobs.model import JobRow, format_cost, format_duration, is_terminal, parse_hub_time
from core.jobs.polling import PollBudget, StatusPoll
from core.jobs.progress import ProgressTracker
from core.jobs.ranks import RankTracker
from core.jobs.service import MonitorSession, extra_namespaces
from core.jobs.trackio_reader import TrackioLocalReader, TrackioRemoteReader
from core.redact import redact
from tui_tuner.screens.base import AreaScreen
from tui_tuner.screens.jobs.dialogs import ConfirmCancel, DescribeJob
from tui_tuner.screens.jobs.log_view import LogView
from tui_tuner.tones import tone

STAGE_TONES = {"RUNNING": "good", "SCHEDULING": "warning", "UPDATING": "warning", "COMPLETED": "ok",
               "ERROR": "error", "CANCELED": "canceled", "DELETED": "muted", "LOST": "error"}
"""Stage → tone (tui_tuner.tones): the colour comes from the theme."""
COLUMNS = (("id", "JOB ID"), ("name", "NAME"), ("backend", "BACKEND"), ("stage", "STAGE"), ("flavor", "FLAVOR"),
           ("age", "AGE"), ("duration", "DURATION"), ("cost", "COST"), ("steps", "STEPS"))
SORTS = ("age", "name", "stage", "duration", "cost")


def stage_text(stage: str) -> Text:
    return Text(stage, style=tone(STAGE_TONES[stage]) if stage in STAGE_TONES else "italic")


def describe_text(row: JobRow, diagnoses: list[Diagnosis], now: float) -> str:
    lines = describe_lines(row, now)
    for diagnosis in diagnoses:
        lines.append(f"! {diagnosis.title}: {diagnosis.fix}")
    return redact("\n".join(lines))


class _JobActions:
    """Cancel and describe, shared by the list and the detail screen."""

    session: MonitorSession

    def _confirm_cancel(self, row: JobRow) -> None:
        screen: Any = self

        def done(confirmed: bool | None) -> None:
            if confirmed:
                screen._cancel(row)

        screen.app.push_screen(ConfirmCancel(f"{row.name} ({row.id}, {row.stage})"), done)

    @work(thread=True, exit_on_error=False, group="monitor-cancel")
    def _cancel(self, row: JobRow) -> None:
        screen: Any = self
        self.session.cancel(row)
        screen.app.call_from_thread(screen.notify, f"cancel requested for {row.name} ({row.id})")


class JobsScreen(_JobActions, AreaScreen):
    AREA = "jobs"
    CSS_PATH = "jobs.tcss"
    BINDINGS: ClassVar = [
        Binding("slash", "filter", "Filter", id="monitor.filter"),
        Binding("escape", "clear_filter", "Back", id="monitor.back", show=False),
        Binding("s", "sort", "Sort", id="monitor.sort"),
        Binding("r", "refresh", "Refresh", id="monitor.refresh"),
        Binding("l", "logs", "Logs", id="monitor.logs"),
        Binding("d", "describe", "Describe", id="monitor.describe"),
        Binding("ctrl+k", "cancel_job", "Cancel job", id="monitor.cancel"),
    ]

    clock: ClassVar[Any] = staticmethod(time.time)
    """Wall clock for ages and durations (tests pin it for stable snapshots)."""

    def __init__(self, session: MonitorSession | None = None) -> None:
        super().__init__()
        self._session = session
        self.rows: list[JobRow] = []
        self.job_list: JobList | None = None
        self.sort_key = "age"
        self.last: RefreshResult | None = None
        self._wake = asyncio.Event()
        self.completions: dict[str, Any] = {}
        """Adapter-repo checks of failed jobs, by job key (one Hub call per job, then cached)."""

    @property
    def session(self) -> MonitorSession:  # type: ignore[override]
        if self._session is None:
            self._session = MonitorSession()
        return self._session

    def compose_body(self) -> ComposeResult:
        with Vertical(id="monitor-body"):
            yield Static("starting…", id="monitor-status")
            yield Input(placeholder="filter: text in id/name/stage/flavor (! inverts)", id="monitor-filter")
            table: DataTable[Any] = DataTable(id="monitor-jobs", cursor_type="row", zebra_stripes=True)
            yield table
            yield Static("", id="monitor-empty")

    def on_mount(self) -> None:
        table = self.query_one("#monitor-jobs", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.query_one("#monitor-filter", Input).display = False
        # The session (Hub client, store) is built by the refresh loop, off the event loop and after the
        # list's first frame: the area opens at once, "starting…" until the first refresh.
        self.call_after_refresh(self._refresh_loop)
        table.focus()

    def _make_job_list(self) -> JobList:
        settings = self.session.settings
        return JobList(self.session.hub, store=self.session.store, budget=PollBudget.from_settings(settings),
                       deadline_s=float(settings["list_deadline_s"]), namespaces=extra_namespaces(settings))

    # --- refresh loop ---

    @work(exclusive=True, group="monitor-refresh", exit_on_error=False)
    async def _refresh_loop(self) -> None:
        if self.job_list is None:
            self.job_list = await asyncio.to_thread(self._make_job_list)
        while True:
            try:
                result = await asyncio.to_thread(self.job_list.refresh)
            except TunerError as exc:
                result = RefreshResult(rows=self.rows, error=exc.one_line(), path="", next_in_s=10.0)
            self._apply(result)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(result.next_in_s, 0.5))
            # A job's detail (or a dialog) is on top: the list costs no requests meanwhile. Not `is_current`:
            # Textual counts the screen right under the top one as visible.
            while self.app.screen is not self:
                self._wake.clear()
                await self._wake.wait()

    def on_screen_resume(self) -> None:
        self._wake.set()

    @on(DataTable.RowHighlighted, "#monitor-jobs")
    def _near_the_end(self, event: DataTable.RowHighlighted) -> None:
        # Older pages are read only when the user scrolls to them (one request each, then kept).
        table = event.data_table
        if table.row_count and event.cursor_row >= table.row_count - 3 and self.job_list is not None and self.job_list.load_more():
            self._wake.set()

    def _apply(self, result: RefreshResult) -> None:
        self.last = result
        self.rows = result.rows
        for change in result.changes:
            severity = "error" if change.new in {"ERROR", "LOST"} else "information"
            self.notify(change.text(), title="job stage", severity=severity, timeout=8)
            if is_terminal(change.new) or change.new == "LOST":
                self.app.bell()  # a job that ran for hours just ended: reach the user in another window
        self._render_rows()
        self._render_status()
        for row in self.rows:
            if row.key not in self.completions and needs_check(row):
                self.completions[row.key] = None  # in flight
                self._check_completion(row)

    @work(thread=True, exit_on_error=False, group="monitor-completion")
    def _check_completion(self, row: JobRow) -> None:
        try:
            check = self.session.completion(row)
        except TunerError:
            return  # shown as a plain ERROR; the detail screen retries and says why
        self.app.call_from_thread(self._completion_done, row, check)

    def _completion_done(self, row: JobRow, check: Any) -> None:
        self.completions[row.key] = check
        self._render_rows()
        if check.usable:
            self.notify(f"{row.name}: {check.banner}", title="training finished", timeout=15)

    def _stage_cell(self, row: JobRow) -> Text:
        check = self.completions.get(row.key)
        if check is not None and check.usable:
            return Text(f"{row.stage} · adapter usable", style=tone("good"))
        return stage_text(row.stage)

    def _render_status(self) -> None:
        result = self.last
        if result is None:
            return
        hub = sum(1 for r in self.rows if r.backend == "hf-jobs")
        live = sum(1 for r in self.rows if not r.is_terminal)
        text = Text()
        text.append(f" {len(self.rows)} jobs ({live} live, {hub} on HF) ", style="bold")
        text.append(f"· {result.path} ", style=tone("info") if "fallback" not in result.path else tone("warning"))
        if result.more:
            text.append("· older jobs on the Hub: scroll down ", style="dim")
        if result.error:
            text.append(f"· {result.error} · retry in {result.next_in_s:.0f}s", style=tone("error"))
        if self.sort_key != "age":
            text.append(f" · sorted by {self.sort_key}", style="dim")
        self.query_one("#monitor-status", Static).update(text)

    def visible_rows(self) -> list[JobRow]:
        query = self.query_one("#monitor-filter", Input).value.strip().lower()
        invert = query.startswith("!")
        query = query.lstrip("!")
        rows = self.rows
        if query:
            rows = [r for r in rows if (query in f"{r.id} {r.name} {r.stage} {r.flavor} {r.backend}".lower()) != invert]
        now = self.clock()
        keys = {
            "age": lambda r: -(r.created_at or 0.0),
            "name": lambda r: r.name.lower(),
            "stage": lambda r: (r.is_terminal, r.stage),
            "duration": lambda r: -(r.duration(now) or 0.0),
            "cost": lambda r: -(r.cost(now) or 0.0),
        }
        return sorted(rows, key=keys[self.sort_key])

    def _render_rows(self) -> None:
        table = self.query_one("#monitor-jobs", DataTable)
        now = self.clock()
        rows = self.visible_rows()
        cursor_key = self.current_row().key if self.current_row() else None
        table.clear()
        for r in rows:
            table.add_row(r.id, r.name[:32], r.backend, self._stage_cell(r), r.flavor or "-",
                          format_duration(r.age(now)), format_duration(r.duration(now)), format_cost(r.cost(now)),
                          str(r.expected_steps or "-"), key=r.key)
        self._render_empty_hint(rows)
        if cursor_key is not None:
            for index, r in enumerate(rows):
                if r.key == cursor_key:
                    table.move_cursor(row=index, animate=False)
                    break

    def _render_empty_hint(self, rows: list[JobRow]) -> None:
        """An empty list says how jobs get there rather than looking broken."""
        hint = self.query_one("#monitor-empty", Static)
        hint.display = not rows
        if rows:
            return
        if self.rows:
            hint.update(f"No job matches the filter ({len(self.rows)} hidden); esc clears it.")
            return
        if self.last is not None and self.last.error:
            # An empty list after a failed read is not "no jobs": say what failed, here where the eye is
            # (the status line is cut at 80 columns), and that the list comes back on its own.
            retry = f" Retrying in {self.last.next_in_s:.0f}s" if self.last.next_in_s >= 1 else " Retrying"
            hint.update(Text(f"Your jobs could not be read from the Hub: {self.last.error}\n"
                             f"{retry.strip()}; r retries now. Jobs launched from here and local runs show "
                             "meanwhile."))
            return
        extra = extra_namespaces(self.session.settings)
        where = "your Hub namespace" + (f" and {', '.join(extra)}" if extra else "") + " and this machine's local runs"
        hint.update(Text(f"No jobs yet in {where}.\n"  # Text: the config line's brackets are not markup
                         "Launch one from area 2 (press 2 or F2): it shows here as it starts.\n"
                         "From a shell, `tui-tuner jobs ps` lists the same jobs; other namespaces: "
                         "[jobs] namespaces = [\"org\"] in the config."))

    def _no_job_reason(self) -> str:
        if not self.rows:
            return "the list is empty" if self.last is not None else "the list is still loading"
        return "no job matches the filter" if not self.visible_rows() else "no row is highlighted"

    def _selected_or_say(self, what: str) -> JobRow | None:
        """The highlighted job; without one, one notification saying why `what` does nothing."""
        row = self.current_row()
        if row is None:
            self.notify(f"no job selected, so nothing to {what}: {self._no_job_reason()}", severity="warning",
                        timeout=4)
        return row

    def current_row(self) -> JobRow | None:
        table = self.query_one("#monitor-jobs", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None
        return next((r for r in self.rows if r.key == key), None)

    # --- actions ---

    def action_filter(self) -> None:
        box = self.query_one("#monitor-filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#monitor-filter", Input)
        if box.value or box.display:
            box.value = ""
            box.display = False
            self.query_one("#monitor-jobs", DataTable).focus()
            self._render_rows()

    @on(Input.Changed, "#monitor-filter")
    def _filter_changed(self) -> None:
        self._render_rows()

    @on(Input.Submitted, "#monitor-filter")
    def _filter_done(self) -> None:
        self.query_one("#monitor-jobs", DataTable).focus()

    def action_sort(self) -> None:
        self.sort_key = SORTS[(SORTS.index(self.sort_key) + 1) % len(SORTS)]
        self._render_rows()
        self._render_status()
        self.notify(f"sorted by {self.sort_key}", timeout=2)

    def action_refresh(self) -> None:
        self._wake.set()

    @on(DataTable.RowSelected, "#monitor-jobs")
    def _row_selected(self) -> None:
        self.action_logs()

    def action_logs(self) -> None:
        row = self._selected_or_say("show logs for")
        if row is not None:
            self.app.push_screen(JobDetailScreen(row, self.session))

    def action_describe(self) -> None:
        row = self._selected_or_say("describe")
        if row is not None:
            diagnoses = diagnose_command(row.command) + diagnose_status(row.stage, row.message)
            body = describe_text(row, diagnoses, self.clock())
            if (check := self.completions.get(row.key)) is not None:
                body += f"\n{'✔' if check.usable else '·'} {check.banner}"
            self.app.push_screen(DescribeJob(f"{row.name} — {row.id}", body))

    def action_cancel_job(self) -> None:
        row = self._selected_or_say("cancel")
        if row is None:
            return
        if row.is_terminal:
            self.notify(f"{row.name} already ended ({row.stage})", severity="warning")
            return
        self._confirm_cancel(row)


class JobDetailScreen(_JobActions, AreaScreen):
    """One job: live log, diagnosis banner, progress/ETA, resource metrics, Trackio curves."""

    AREA = "jobs"
    CSS_PATH = "jobs.tcss"
    BINDINGS: ClassVar = [
        Binding("escape", "back", "Back", id="monitor.detail.back"),
        Binding("slash", "filter", "Filter log", id="monitor.detail.filter"),
        Binding("d", "describe", "Describe", id="monitor.detail.describe"),
        Binding("ctrl+k", "cancel_job", "Cancel job", id="monitor.detail.cancel"),
        Binding("m", "toggle_side", "Metrics panel", id="monitor.detail.side"),
        Binding("end", "tail", "Tail", id="monitor.detail.tail"),
    ]

    def __init__(self, row: JobRow, session: MonitorSession) -> None:
        super().__init__()
        self.row = row
        self._session_obj = session
        self.diagnoser = Diagnoser(flavor=row.flavor)
        self.tracker = ProgressTracker(expected_steps=row.expected_steps, epochs=_float(row.extra.get("epochs")))
        self.ranks = RankTracker()  # multi-GPU jobs: the device of every rank (the step above is global)
        self.diagnoses: list[Diagnosis] = diagnose_command(row.command)
        self.completion_banner: str | None = None
        self.stream_state = "connecting…"
        self.status_note = ""
        """Why the job's status is not being refreshed (an error, a refusal), shown after the stream state."""
        self.metrics: MetricsSample | None = None
        self._followers: list[Any] = []
        self._disk: DiskLog | None = None
        self._trackio_has_data = False
        self._sampler: LocalSampler | None = None
        self._util_history: list[float] = []
        self._plotted_points = 0

    @property
    def session(self) -> MonitorSession:  # type: ignore[override]
        return self._session_obj

    def compose_body(self) -> ComposeResult:
        with Vertical(id="detail-body"):
            yield Static(id="detail-title")
            with Horizontal(id="detail-progress"):
                yield ProgressBar(total=None, show_eta=False, show_percentage=True, id="detail-bar")
                yield Static(id="detail-eta")
            yield Static(id="detail-banner")
            yield Input(placeholder="show only log lines containing… (esc clears)", id="detail-filter")
            with Horizontal(id="detail-main"):
                log = LogView(int(self.session.settings["log_buffer_lines"]), id="detail-log")
                log.border_title = "log"
                yield log
                with Vertical(id="detail-side"):
                    yield Static("metrics: waiting…", id="detail-metrics")
                    yield Sparkline([], id="detail-spark")
                    from tui_tuner.screens.jobs.plot import TrainingCurves  # plotext: only a job's detail

                    yield TrainingCurves(id="detail-curves")
            yield Static(id="detail-stream")

    def on_mount(self) -> None:
        self.query_one("#detail-filter", Input).display = False
        self.query_one("#detail-spark", Sparkline).display = False  # until there is something to draw
        self._render_header()
        self._render_banner()
        self.query_one("#detail-log", LogView).focus()
        self._follow_logs()
        self._poll_status()
        if self.row.backend == "hf-jobs":
            self._follow_metrics()
        else:
            self._sample_local()
            self.set_interval(2.0, self._sample_local)
        self._poll_curves()

    def on_unmount(self) -> None:
        for follower in self._followers:
            follower.stop()
        if self._disk is not None:
            self._disk.close()

    # --- rendering ---

    def _render_header(self) -> None:
        row, now = self.row, JobsScreen.clock()
        title = Text()
        title.append(f" {row.name} ", style="bold")
        title.append(f"{row.backend} {row.id}  ", style="dim")
        title.append_text(stage_text(row.stage))
        if row.message:
            title.append(f" — {row.message}", style="italic")
        title.append(f"   {row.flavor or '-'} · {format_duration(row.duration(now))} · {format_cost(row.cost(now))}")
        self.query_one("#detail-title", Static).update(title)
        bar = self.query_one("#detail-bar", ProgressBar)
        target = self.tracker.target
        if target:
            bar.update(total=target, progress=self.tracker.step or 0)
        # Without a step target the bar can only pulse "working": true while the job runs, false once it ended.
        bar.display = bool(target) or not row.is_terminal
        ranks = f" · {self.ranks.summary()}" if self.ranks.distributed else ""
        self.query_one("#detail-eta", Static).update(" " + self.tracker.summary(with_eta=not row.is_terminal) + ranks)

    def _render_banner(self) -> None:
        banner = self.query_one("#detail-banner", Static)
        lines = [f"⚠ {d.title} → {d.fix}" for d in self.diagnoses]
        if self.completion_banner:
            lines.insert(0, f"✔ {self.completion_banner}")
        banner.update(Text("\n".join(lines)))
        banner.display = bool(lines)
        banner.set_class(bool(self.completion_banner) and not self.diagnoses, "-good")

    def _render_stream(self) -> None:
        path = self.session.hub.state.describe() if self.row.backend == "hf-jobs" else f"file {self.row.log_path}"
        note = f" · {self.status_note}" if self.status_note else ""
        self.query_one("#detail-stream", Static).update(Text(f" {self.stream_state} · {path}{note}", style="dim"))

    # --- logs ---

    @work(exclusive=True, group="monitor-logs", exit_on_error=False)
    async def _follow_logs(self) -> None:
        log = self.query_one("#detail-log", LogView)
        max_lines = log.buffer.max_lines
        saved, start, disk = await asyncio.to_thread(self.session.open_log, self.row, max_lines)
        self._disk = disk
        if saved:
            # Saved lines go through the diagnosis and progress rules too; only the visible tail is kept.
            self._ingest(saved, save=False)
            log.append(["—— saved log above, live stream below ——"])
        follower = self.session.log_follower(self.row, follow=True, start_index=start)
        self._followers.append(follower)
        self.stream_state = "connecting…"
        self._render_stream()
        async for batch in follow_async(follower):
            self._on_batch(batch)
        self._render_stream()

    def _on_batch(self, batch: list[FollowEvent]) -> None:
        """A batch of the follower's events: its lines into the log (one update), then the stream's notices,
        then the newest unfinished line (a progress bar) for the progress."""
        lines: list[LogLine] = []
        notices: list[StreamNotice] = []
        partial: PartialLine | None = None
        for event in batch:
            match event:
                case LogLine():
                    lines.append(event)
                case PartialLine():
                    partial = event
                case (StreamConnected() | StreamRetrying() | StreamFailed() | StreamDisconnected() | StreamFinished()
                      | StreamIncomplete()):
                    notices.append(event)
        if lines:
            self._ingest(lines, save=True)
        for notice in notices:
            self._on_notice(notice)
        if partial is not None and self.tracker.feed_line(partial.text, time.time()):
            self._render_header()

    def _ingest(self, lines: list[LogLine], *, save: bool) -> None:
        log = self.query_one("#detail-log", LogView)
        texts = [last_segment(line.text) for line in lines if not line.text.startswith("===== Job started")]
        if save and self._disk is not None:
            self._disk.append(lines)
        log.append(texts)
        new = self.diagnoser.feed((line.index, line.text) for line in lines)
        progressed = False
        for line in lines:
            progressed |= self.ranks.feed_line(line.text)
            progressed |= self.tracker.feed_line(line.text, parse_hub_time(line.timestamp) or (time.time() if save else None))
        if new:
            self.diagnoses.extend(new)
            self._render_banner()
            for diagnosis in new if not self.row.is_terminal else []:  # live trouble only; the banner has the rest
                self.notify(f"{diagnosis.title} → {diagnosis.fix}", title="diagnosis", severity="error", timeout=12)
        if progressed:
            self._render_header()
            if not self._trackio_has_data and len(self.tracker.points) != self._plotted_points:
                self._plot_log_curves()

    def _log_series(self) -> dict[str, list[tuple[float, float]]]:
        series: dict[str, list[tuple[float, float]]] = {}
        for point in self.tracker.points:
            series.setdefault(point.name, []).append((point.step, point.value))
        return series

    def _plot_log_curves(self) -> None:
        self._plotted_points = len(self.tracker.points)
        series = self._log_series()
        from tui_tuner.screens.jobs.plot import TrainingCurves

        self.query_one("#detail-curves", TrainingCurves).show_series(series, "from the log")
        self._check_loss(series)

    def _check_loss(self, series: dict[str, list[tuple[float, float]]]) -> None:
        """The guide's "loss doesn't decrease" branch, on whichever curve we have."""
        known = {d.rule for d in self.diagnoses}
        new = [d for d in diagnose_loss(series.get("train/loss", []), expected_steps=self.row.expected_steps)
               if d.rule not in known]
        if new:
            self.diagnoses.extend(new)
            self._render_banner()
            if not self.row.is_terminal:
                for diagnosis in new:
                    self.notify(f"{diagnosis.title} → {diagnosis.fix}", title="diagnosis", severity="warning")

    def _on_notice(self, notice: StreamNotice) -> None:
        self.stream_state = stream_state_text(notice.kind, notice.detail, notice.reconnects, self.row.stage)
        self._render_stream()
        match notice:
            case StreamFinished() | StreamIncomplete() if self.row.backend == "hf-jobs":
                # The job ended: its metrics stream has nothing more to say (and must not reconnect to learn it).
                for follower in self._followers:
                    if isinstance(follower, MetricsFollower):
                        follower.stop()
                self._show_no_metrics()
            case _:
                pass

    # --- status, completion ---

    @work(exclusive=True, group="monitor-status", exit_on_error=False)
    async def _poll_status(self) -> None:
        # The schedule is core's (core.jobs.polling): within the request budget, stop at a final stage,
        # back off on errors, and never re-poll a job the Hub refused.
        hub = self.row.backend == "hf-jobs"
        poll = StatusPoll(PollBudget.from_settings(self.session.settings), requests_per_poll=1 if hub else 0)
        if is_terminal(self.row.stage) and hub:
            return  # ended before we opened it: the row we have is final
        while True:
            try:
                fresh = await asyncio.to_thread(self._fresh_row)
            except TunerError as exc:
                wait = poll.after_error(exc)
                self.status_note = f"status unavailable: {exc.one_line()}" + (
                    f", retry in {wait:.0f}s" if wait is not None else " · not asking again")
                self._render_stream()
                if wait is None:
                    return
                await asyncio.sleep(wait)
                continue
            if self.status_note:
                self.status_note = ""
                self._render_stream()
            changed = fresh.stage != self.row.stage
            previous = self.row.stage
            fresh.extra = {**self.row.extra, **fresh.extra}
            self.row = fresh
            self._render_header()
            if changed:
                message = f" ({fresh.message})" if fresh.message else ""
                self.query_one("#detail-log", LogView).append([f"—— stage {previous} → {fresh.stage}{message} ——"])
                for diagnosis in diagnose_status(fresh.stage, fresh.message, _float(fresh.extra.get("timeout_s"))):
                    if diagnosis.rule not in {d.rule for d in self.diagnoses}:
                        self.diagnoses.append(diagnosis)
                self._render_banner()
            wait = poll.after_success(fresh.stage)
            if wait is None:
                self._show_no_metrics()  # the last sample is not the job's state any more
                if needs_check(fresh):
                    await self._check_completion()
                return
            await asyncio.sleep(wait)

    def _fresh_row(self) -> JobRow:
        if self.row.backend == "hf-jobs":
            # One try per poll: the poll schedule (with its backoff) is the retry.
            return self.session.hub.inspect(self.row.namespace or self.session.hub.namespace(), self.row.id,
                                            retry=SINGLE_TRY)
        from core.jobs.local_jobs import stored_job

        return stored_job(self.row.id, self.session.store) or self.row

    async def _check_completion(self) -> None:
        try:
            check = await asyncio.to_thread(self.session.completion, self.row)
        except TunerError as exc:
            self.notify(f"adapter check failed: {exc.one_line()}", severity="warning")
            return
        self.completion_banner = check.banner if check.usable else None
        if check.usable:
            self.notify(check.banner, title="training finished", timeout=15)
        self._render_banner()

    # --- metrics ---

    @work(thread=True, exclusive=True, group="monitor-metrics", exit_on_error=False)
    def _follow_metrics(self) -> None:
        source = HubLogSource(self.session.hub, self.row.namespace or self.session.hub.namespace(), self.row.id,
                              read_timeout=10.0, route="metrics")
        follower = MetricsFollower(source)
        self._followers.append(follower)
        last = 0.0
        for sample in follower:
            now = time.monotonic()
            if now - last >= 1.0:  # one UI update per second at most
                last = now
                self.app.call_from_thread(self._show_metrics, sample)
        if not follower.stopped:  # the job ended (or has no metrics): the last sample is not its state
            self.app.call_from_thread(self._show_no_metrics)

    def _sample_local(self) -> None:
        if self._sampler is None:
            self._sampler = LocalSampler(self.row.pid)
        sample = self._sampler.sample() if not is_terminal(self.row.stage) else None
        if sample is not None:
            self._show_metrics(sample)
        elif self.metrics is None and is_terminal(self.row.stage):
            # A finished local job has no process to sample: say so instead of "waiting" forever.
            self._show_no_metrics()

    def _show_no_metrics(self) -> None:
        self.query_one("#detail-metrics", Static).update(Text("metrics: none (the job is not running)", style="dim"))

    def _show_metrics(self, sample: MetricsSample) -> None:
        self.metrics = sample
        self.query_one("#detail-metrics", Static).update(Text(sample.summary(), style="bold"))
        # GPU utilisation over the last minutes (CPU on CPU-only jobs): a stall or a data-loader bound job shows.
        utils = [u for u, _, _ in sample.gpus if u is not None]
        value = sum(utils) / len(utils) if utils else sample.cpu_pct
        if value is not None:
            self._util_history = [*self._util_history[-119:], float(value)]
            spark = self.query_one("#detail-spark", Sparkline)
            spark.data = self._util_history
            spark.display = True
            spark.tooltip = ("GPU" if utils else "CPU") + " utilisation, last 2 minutes"

    # --- Trackio curves ---

    @work(exclusive=True, group="monitor-curves", exit_on_error=False)
    async def _poll_curves(self) -> None:
        extra = self.row.extra
        project, run, space = extra.get("trackio_project"), extra.get("run_name"), extra.get("trackio_space")
        reader: TrackioLocalReader | TrackioRemoteReader | None = None
        if project and space:
            reader = TrackioRemoteReader(str(space), str(project), str(run or ""))
        elif project:
            reader = TrackioLocalReader(str(project), str(run) if run else None)
        from tui_tuner.screens.jobs.plot import TrainingCurves

        curves = self.query_one("#detail-curves", TrainingCurves)
        interval = float(self.session.settings["trackio_poll_s"])
        finished = False
        while True:
            series: dict[str, list[tuple[float, float]]] = {}
            source = "from the log"
            if reader is not None:
                try:
                    metrics = await asyncio.to_thread(reader.poll)
                    series, source = metrics.series, f"trackio {metrics.source}"
                    self._trackio_has_data = bool(series)
                    if (step := metrics.latest_step()) is not None:
                        self.tracker.observe(step, None)
                except TunerError as exc:
                    source = f"trackio unavailable: {exc.one_line()[:60]}"
            if series:
                curves.show_series(series, source)
                self._check_loss(series)
            elif reader is None:
                self._plot_log_curves()
            else:
                curves.show_series(self._log_series(), f"{source}; from the log")
            if is_terminal(self.row.stage):
                if finished:
                    return  # one last read after the end, then nothing changes any more
                finished = True
            await asyncio.sleep(interval)

    # --- actions ---

    def action_back(self) -> None:
        box = self.query_one("#detail-filter", Input)
        if box.display or box.value:  # esc first closes the filter, then leaves the job
            box.value = ""
            box.display = False
            self.query_one("#detail-log", LogView).set_filter("")
            self.query_one("#detail-log", LogView).focus()
            return
        self.app.pop_screen()

    def action_filter(self) -> None:
        box = self.query_one("#detail-filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#detail-filter")
    def _log_filter_changed(self, event: Input.Changed) -> None:
        self.query_one("#detail-log", LogView).set_filter(event.value)

    @on(Input.Submitted, "#detail-filter")
    def _log_filter_done(self) -> None:
        self.query_one("#detail-log", LogView).focus()

    def action_tail(self) -> None:
        self.query_one("#detail-log", LogView).action_tail()

    def action_toggle_side(self) -> None:
        side = self.query_one("#detail-side")
        side.display = not side.display

    def action_describe(self) -> None:
        body = describe_text(self.row, self.diagnoses, JobsScreen.clock())
        body += f"\nprogress        {self.tracker.summary()}"
        if self.ranks.distributed:
            body += f"\nranks           {self.ranks.summary()}"
        if self.metrics:
            body += f"\nmetrics         {self.metrics.summary()}"
        log_path = self._disk.path if self._disk else (Path(self.row.log_path) if self.row.log_path else None)
        if log_path:
            body += f"\nfull log        {log_path}"
        self.app.push_screen(DescribeJob(f"{self.row.name} — {self.row.id}", body))

    def action_cancel_job(self) -> None:
        if is_terminal(self.row.stage):
            self.notify(f"{self.row.name} already ended ({self.row.stage})", severity="warning")
            return
        self._confirm_cancel(self.row)


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
