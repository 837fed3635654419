"""`tui-tuner jobs ps|logs|inspect|cancel|wait`: the monitor without the TUI (scripts, SSH, agents).

Same core as the Monitor screen: HF jobs through huggingface_hub with the plain-HTTP fallback
(`--http` forces it), local jobs from the store. `--json` gives one JSON document (`logs -f --json`:
one JSON object per line).
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
    ps.add_argument("--limit", type=int, default=50, help="rows to show (0 = all)")
    ps.set_defaults(func=_ps)

    logs = sub.add_parser("logs", parents=[common], help="print a job's log")
    logs.add_argument("job", help="job id, namespace/id, or local id")
    logs.add_argument("-f", "--follow", action="store_true", help="stream until the job ends (reconnects)")
    logs.add_argument("-n", "--tail", type=int, help="only the last N lines (without -f)")
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
    wait.add_argument("--timeout", type=float, help="give up after this many seconds (exit 2)")
    wait.add_argument("--interval", type=float, default=5.0, help="seconds between status checks")
    wait.set_defaults(func=_wait)


def _session(args: argparse.Namespace) -> Any:
    from core.jobs.service import MonitorSession

    return MonitorSession(namespace=args.namespace, force_http=True if args.http else None)


def _ps(args: argparse.Namespace) -> int:
    from core.jobs.job_list import JobList
    from core.jobs.model import format_cost, format_duration

    session = _session(args)
    from core.jobs.service import extra_namespaces

    listing = JobList(session.hub, store=session.store, include_hub=not args.local,
                      namespaces=extra_namespaces(session.settings),
                      deadline_s=float(session.settings["list_deadline_s"]))
    result = listing.refresh()
    rows = result.rows
    if args.status:
        wanted = {s.strip().upper() for s in args.status.split(",") if s.strip()}
        rows = [r for r in rows if r.stage in wanted]
    if args.limit:
        rows = rows[: args.limit]
    now = time.time()
    if args.json:
        emit_json({"path": result.path, "error": result.error, "jobs": [r.to_dict(now) for r in rows]})
        return 0
    if result.error:
        print(f"warning: {result.error} (showing local jobs only)", file=sys.stderr)
    if not rows:
        print("No jobs.")
        return 0
    header = ("JOB_ID", "NAME", "BACKEND", "STAGE", "FLAVOR", "AGE", "DURATION", "COST")
    table = [header] + [
        (r.id, r.name[:28], r.backend, r.stage, r.flavor or "-", format_duration(r.age(now)),
         format_duration(r.duration(now)), format_cost(r.cost(now)))
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"({result.path})", file=sys.stderr)
    return 0


def _logs(args: argparse.Namespace) -> int:
    session = _session(args)
    row = session.resolve(args.job)
    if args.tail is not None and args.follow:
        raise TunerError("--tail cannot be combined with -f", hint="the follow stream starts at the beginning")
    lines = session.iter_log(row, follow=args.follow)
    if args.tail is not None:
        from collections import deque

        lines = iter(deque(lines, maxlen=max(args.tail, 0)))
    for line in lines:
        if args.json:
            emit_json_line({"index": line.index, "text": line.text, "timestamp": line.timestamp})
        elif not line.text.startswith("===== Job started"):  # the platform's banner, hidden like `hf jobs logs`
            sys.stdout.write(line.text + "\n")
    sys.stdout.flush()
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
