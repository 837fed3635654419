"""Benchmark: Hub requests per second of the jobs TUI, at rest and while following a job, with 10, 250 and
1,000 jobs (the Hub's quota is ~500 requests per 300 s = 1.67/s per user, shared with everything else).

The real jobs screen runs headless against the project's fake Hub (real huggingface_hub client), with the
default `[jobs]` settings. Each account has 3 running jobs (the newest) and the rest finished. "At rest": the
list is open, nobody touches a key. "Following": the newest running job's detail screen is open while the job
logs two lines a second (log + metrics streams, status polls). Every request the fake Hub receives in the
window is counted, by kind. Target (issue 14): at rest ≤ 0.2 requests/s with 1,000 jobs.

Run: `.venv/bin/python benchmarks/jobs_requests.py [--window 60] [--sizes 10,250,1000]
[--out docs/benchmarks/monitor.md] [--src OTHER_CHECKOUT/src --label before]`
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jobs_bench_support import ROOT, jobs_app, start_hub, use_sources, write_section

TARGET_AT_REST = 0.2
QUOTA_RPS = 500 / 300


def kind_of(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if path.startswith("/api/whoami"):
        return "whoami"
    if parts[:2] == ["api", "jobs"] and len(parts) == 3:
        return "list page"
    if parts[:2] == ["api", "jobs"] and len(parts) == 4:
        return "job lookup"
    if parts[:2] == ["api", "jobs"] and len(parts) == 5:
        return f"{parts[4]} stream"
    return "other"


async def measure(hub: Any, n: int, *, following: bool, window: float, warmup: float) -> dict[str, Any]:
    from textual.widgets import DataTable

    app = jobs_app()
    async with app.run_test(headless=True, size=(140, 40)) as pilot:
        deadline = time.monotonic() + 60
        while True:
            table = app.screen.query_one("#monitor-jobs", DataTable)
            if table.row_count:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the job list never filled")
            await pilot.pause(0.1)
        if following:
            from tui_tuner.screens.jobs.screen import JobDetailScreen

            await pilot.pause(1.0)
            await pilot.press("enter")  # the newest job: a running one
            while not isinstance(app.screen, JobDetailScreen):
                if time.monotonic() > deadline:
                    raise RuntimeError("the job's detail screen never opened")
                await pilot.pause(0.1)
        await pilot.pause(warmup)
        start, started = len(hub.requests), time.monotonic()
        await pilot.pause(window)
        elapsed = time.monotonic() - started
        made = [r for r in hub.requests[start:] if r.path.startswith("/api/")]
    kinds = Counter(kind_of(r.path) for r in made)
    polls = sum(v for k, v in kinds.items() if not k.endswith("stream"))
    return {"jobs": n, "following": following, "window": elapsed, "total": len(made), "rps": len(made) / elapsed,
            "poll_rps": polls / elapsed, "kinds": dict(kinds)}


async def run(sizes: list[int], window: float, warmup: float) -> list[dict[str, Any]]:
    results = []
    for n in sizes:
        hub = start_hub()
        try:
            running = []
            for i in range(n):
                stage = "RUNNING" if i >= n - 3 else "COMPLETED"
                job = hub.create_job(stage=stage, labels={"name": f"sft-{i}"}, created_at=1_700_000_000 + i * 60,
                                     logs=[f"setup {j}" for j in range(20)])
                if stage == "RUNNING":
                    running.append(job)
            for job in running:
                lines = [f"{{'loss': {2.0 - k / 5000:.4f}, 'epoch': {k / 1000:.3f}}}" for k in range(5000)]
                hub.run_job_script(job, lines, interval=0.5, final_stage=None)
            for following in (False, True):
                results.append(await measure(hub, n, following=following, window=window, warmup=warmup))
                print(f"  {n} jobs, {'following' if following else 'at rest'}: {results[-1]['rps']:.3f} req/s "
                      f"{results[-1]['kinds']}", file=sys.stderr)
        finally:
            hub.close()
    return results


def report(results: list[dict[str, Any]], label: str, window: float, load: float) -> str:
    rest_1000 = next((r for r in results if r["jobs"] == 1000 and not r["following"]), None)
    lines = [
        f"## Hub requests of the jobs TUI ({label})",
        "",
        f"Run: `.venv/bin/python benchmarks/jobs_requests.py --window {window:g}` ({os.cpu_count()} CPUs, "
        f"{platform.machine()}, Python {platform.python_version()}, load average {load:.1f}). The real jobs screen,",
        "headless, default `[jobs]` settings, against the project's fake Hub with the real huggingface_hub client;",
        "3 running jobs (the newest), the rest finished; following = the newest job's detail screen open while it",
        "logs 2 lines/s. Every request the fake Hub received in the window, by kind (following also holds two",
        "long-lived streams, log and metrics, opened before the window: a reconnect would show as a stream",
        f"request). The Hub's quota: 500 requests / 300 s = {QUOTA_RPS:.2f}/s per user, shared with everything",
        "else the user runs.",
        "",
        "| jobs | mode | requests/s (all) | polls/s (no streams) | share of the Hub quota | requests by kind |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["kinds"].items()))
        lines.append(f"| {r['jobs']:,} | {'following' if r['following'] else 'at rest'} | {r['rps']:.3f} | "
                     f"{r['poll_rps']:.3f} | {r['rps'] / QUOTA_RPS:.0%} | {kinds} |")
    if rest_1000 is not None:
        met = rest_1000["rps"] <= TARGET_AT_REST
        lines += ["", f"Target: at rest with 1,000 jobs ≤ {TARGET_AT_REST} requests/s — measured "
                  f"{rest_1000['rps']:.3f} ({'met' if met else 'NOT met'})."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured per row")
    parser.add_argument("--warmup", type=float, default=6.0, help="seconds before measuring (first refresh done)")
    parser.add_argument("--sizes", default="10,250,1000")
    parser.add_argument("--src", type=Path, help="measure another checkout's src/ (default: this one)")
    parser.add_argument("--label", default="this checkout", help="what the run measures, for the report title")
    parser.add_argument("--out", type=Path, help="write the section into this report (e.g. docs/benchmarks/monitor.md)")
    args = parser.parse_args()
    use_sources(args.src)
    load = os.getloadavg()[0]
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results = asyncio.run(run(sizes, args.window, args.warmup))
    text = report(results, args.label, args.window, load)
    print(text)
    if args.out:
        write_section(args.out if args.out.is_absolute() else ROOT / args.out,
                      f"jobs_requests {args.label}", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
