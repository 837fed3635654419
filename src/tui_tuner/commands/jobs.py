"""`tui-tuner jobs ps|logs|inspect|cancel|wait`: the monitor without the TUI (scripts, SSH, agents).

Same core as the Monitor screen: HF jobs through huggingface_hub with the plain-HTTP fallback
(`--http` forces it), local jobs from the store. `--json` gives one JSON document (`logs -f --json`:
one JSON object per line). Every Hub request is retried per `core.hub.RetryPolicy` (429 honours
Retry-After; 5xx and lost connections back off); what still fails is one line on stderr and exit 2.

Exit status: 0 success; 2 an error (bad input, the Hub refused or could not be reached — `ps` included);
`wait` and `logs -f --exit-status`: 0 iff the job ended COMPLETED, 1 if it ended ERROR, CANCELED or DELETED;
`logs -f` without `--exit-status`: 0 once the whole log was printed, whatever the final stage.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from core.errors import TunerError
from tui_tuner.output import emit_json, emit_json_line


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    jobs = subparsers.add_parser("jobs", parents=[parent], help="list, follow, inspect, cancel and wait for jobs")
    sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)

    # `--json` may come before or after the action (`jobs --json ps`, `jobs ps --json`); SUPPRESS keeps the
    # action's parser from resetting a value the `jobs` parser already set.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable JSON output")
    common.add_argument("--namespace", help="HF namespace (default: [jobs].namespace, else your user)")
    common.add_argument("--http", action="store_true", help="use plain HTTP instead of huggingface_hub")

    ps = sub.add_parser("ps", parents=[common], help="list HF and local jobs", aliases=["ls"])
    ps.add_argument("--status", help="comma-separated stages to show, e.g. RUNNING,SCHEDULING")
    ps.add_argument("--local", action="store_true", help="local jobs only (no Hub call)")
    ps.add_argument("--limit", type=_count, default=50, help="rows to show (0 = all; says how many more exist)")
    ps.set_defaults(func=_ps)

    logs = sub.add_parser("logs", parents=[common], help="print a job's log")
    logs.add_argument("job", help="job id, namespace/id, or local id")
    logs.add_argument("-f", "--follow", action="store_true", help="stream until the job ends (reconnects)")
    logs.add_argument("-n", "--tail", type=_count, metavar="N",
                      help="only the last N lines (the Hub's ?tail=N), then with -f what comes next")
    logs.add_argument("--exit-status", action="store_true",
                      help="with -f: exit 0 iff the job ended COMPLETED, 1 if ERROR/CANCELED/DELETED (like `wait`)")
    logs.set_defaults(func=_logs)

    inspect = sub.add_parser("inspect", parents=[common], help="status, progress, diagnosis, completion")
    inspect.add_argument("job")
    inspect.add_argument("--no-hub-check", action="store_true", help="skip the adapter-repo completion check")
    inspect.set_defaults(func=_inspect)

    cancel = sub.add_parser("cancel", parents=[common], help="cancel a job")
    cancel.add_argument("job")
    cancel.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    cancel.set_defaults(func=_cancel)

    wait = sub.add_parser("wait", parents=[common], help="wait until a job ends; exit 0 iff COMPLETED")
    wait.add_argument("job")
    wait.add_argument("--timeout", type=_seconds, help="give up after this many seconds (exit 2)")
    wait.add_argument("--interval", type=_seconds, default=5.0, help="seconds between status checks")
    wait.set_defaults(func=_wait)


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {value!r}")
    return number


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not number >= 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0: {value!r}")
    return number


def _session(args: argparse.Namespace) -> Any:
    from core.jobs.service import MonitorSession

    def retrying(notice: Any) -> None:
        # A retry is worth knowing about (the command is slow for a reason), not an error: stderr, human only.
        if not args.json:
            print(f"note: {notice.what}: {notice.reason}, retrying in {notice.wait_s:.0f}s", file=sys.stderr)

    return MonitorSession(namespace=args.namespace, force_http=True if args.http else None, on_retry=retrying)


def _ps(args: argparse.Namespace) -> int:
    from core.jobs.job_list import JobList
    from core.jobs.jobs_source import HUB_PAGE_SIZE, LIST_PAGE_LIMIT
    from core.jobs.model import format_cost, format_duration
    from core.jobs.service import extra_namespaces

    session = _session(args)
    stages = [s.strip().upper() for s in (args.status or "").split(",") if s.strip()] or None
    # Enough pages for the rows asked for (one more row tells whether there are more); `--limit 0`: all.
    pages = LIST_PAGE_LIMIT if not args.limit else max(1, -(-(args.limit + 1) // HUB_PAGE_SIZE))

    def listing_of(pages: int) -> Any:
        return JobList(session.hub, store=session.store, include_hub=not args.local,
                       namespaces=extra_namespaces(session.settings),
                       deadline_s=float(session.settings["list_deadline_s"]), pages=pages, stages=stages)

    result = listing_of(pages).refresh()
    hub_rows = sum(1 for r in result.rows if r.backend == "hf-jobs")
    if not result.error and result.more and args.limit and hub_rows <= args.limit and pages < LIST_PAGE_LIMIT:
        # The Hub sent shorter pages than HUB_PAGE_SIZE: read as many of its pages as the limit needs, once.
        page_size = max(1, hub_rows // pages)
        result = listing_of(min(LIST_PAGE_LIMIT, -(-(args.limit + 1) // page_size))).refresh()
    if result.error:
        # No silent "No jobs.": the listing failed, say so and fail (local jobs: `--local`).
        raise TunerError(f"{result.error}; local jobs only: tui-tuner jobs ps --local")
    rows = result.rows
    if stages:
        rows = [r for r in rows if r.stage in stages]
    total = len(rows)
    shown = rows[: args.limit] if args.limit else rows
    more_on_hub = result.more
    now = time.time()
    if args.json:
        emit_json({"path": result.path, "error": None, "jobs": [r.to_dict(now) for r in shown],
                   "shown": len(shown), "total": total, "more_on_hub": more_on_hub})
        return 0
    if not shown:
        print("No jobs.")
        print(f"({result.path})", file=sys.stderr)
        return 0
    header = ("JOB_ID", "NAME", "BACKEND", "STAGE", "FLAVOR", "AGE", "DURATION", "COST")
    table = [header] + [
        (r.id, r.name[:28], r.backend, r.stage, r.flavor or "-", format_duration(r.age(now)),
         format_duration(r.duration(now)), format_cost(r.cost(now)))
        for r in shown
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if len(shown) < total or more_on_hub:
        hidden = total - len(shown)
        count = f"{hidden}{'+' if more_on_hub else ''} more jobs" if hidden else "older jobs on the Hub"
        print(f"({count} not shown: --limit 0 shows all, --limit N the newest N)", file=sys.stderr)
    print(f"({result.path})", file=sys.stderr)
    return 0


def _logs(args: argparse.Namespace) -> int:
    from core.jobs.events import StreamIncomplete
    from core.jobs.model import is_terminal

    if args.exit_status and not args.follow:
        raise TunerError("--exit-status needs -f", hint="or use `tui-tuner jobs wait`")
    session = _session(args)
    row = session.resolve(args.job)
    for line in session.iter_log(row, follow=args.follow, tail=args.tail):
        if args.json:
            emit_json_line({"index": line.index, "text": line.text, "timestamp": line.timestamp})
        elif not line.text.startswith("===== Job started"):  # the platform's banner, hidden like `hf jobs logs`
            sys.stdout.write(line.text + "\n")
    sys.stdout.flush()
    match session.final_notice:
        case StreamIncomplete(detail=detail):
            raise TunerError(f"job {row.id}: {detail}; the log may be incomplete",
                             hint="run the command again to fetch the rest")
        case _:
            pass  # read to its end (or the follow was stopped): nothing to add
    if args.follow and args.exit_status:
        stage = session.final_stage or row.stage
        if not is_terminal(stage):
            raise TunerError(f"job {row.id}: the log ended but the job is still {stage}")
        if stage != "COMPLETED":
            print(f"job {row.id} ended {stage}", file=sys.stderr)
            return 1
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from core.jobs.model import format_cost, format_duration

    session = _session(args)
    row = session.resolve(args.job)
    insight = session.insight(row, check_hub_repo=not args.no_hub_check)
    if args.json:
        emit_json(insight.to_dict())
        return 0
    now = time.time()
    print(f"{row.name}  ({row.backend} {row.id})")
    print(f"  stage     {row.stage}" + (f" — {row.message}" if row.message else ""))
    print(f"  flavor    {row.flavor or '-'}")
    print(f"  age       {format_duration(row.age(now))}   duration {format_duration(row.duration(now))}   "
          f"cost {format_cost(row.cost(now))}")
    print(f"  progress  {insight.progress}")
    if insight.ranks.distributed:
        print(f"  ranks     {insight.ranks.summary()}")
    if row.url:
        print(f"  url       {row.url}")
    if row.log_path:
        print(f"  log       {row.log_path}")
    for diagnosis in insight.diagnoses:
        print(f"  ! {diagnosis.title}: {diagnosis.fix}")
        if diagnosis.line:
            print(f"      {diagnosis.line[:160]}")
    if insight.completion is not None:
        print(f"  {'✓' if insight.completion.usable else '·'} {insight.completion.banner}")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    session = _session(args)
    row = session.resolve(args.job)
    if not args.yes:
        if args.json or not sys.stdin.isatty():
            raise TunerError("cancel needs confirmation", hint="pass --yes")
        answer = input(f"Cancel {row.name} ({row.id}, {row.stage})? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("not cancelled")
            return 1
    session.cancel(row)
    if args.json:
        emit_json({"cancelled": row.id, "backend": row.backend})
    else:
        print(f"cancel requested for {row.id}")
    return 0


def _wait(args: argparse.Namespace) -> int:
    from core.jobs.job_list import wait_for

    session = _session(args)
    row = session.resolve(args.job)

    def changed(old: str | None, new: str) -> None:
        if args.json:
            emit_json_line({"job": row.id, "stage": new, "previous": old})
        else:
            print(f"{row.id}: {old or '-'} → {new}", file=sys.stderr)

    stage = wait_for(lambda: session.stage(row), timeout_s=args.timeout, poll_s=max(args.interval, 0.2),
                     on_change=changed)
    if not args.json:
        print(stage)
    return 0 if stage == "COMPLETED" else 1
