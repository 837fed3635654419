"""The demo's training step: a real LoRA run of the generated TRL script on the local backend.

The launcher plans it (preflight included) and starts it detached, like any local job, so the jobs area
shows it with its live log, Trackio curve and progress/ETA; its folder (script, checkpoint, adapter) is
the demo's `train/`. This step follows the job's log for progress, reads the loss curve from Trackio
when the run ends and checks that the loss went down. If the demo is cancelled, the job's process group is ended before the step
returns: the demo leaves no training process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from core.demo.events import DemoEvent, Handoff, StepLog, StepProgress
from core.demo.runner import StepContext, StepError, StepResult

TRACKIO_PROJECT = "tui-tuner-demo"
RUN_NAME = "smollm2-135m-coach-demo"
"""The job's and the Trackio run's name prefix (a timestamp makes each run's unique)."""
POLL_S = 0.5
STOP_WAIT_S = 40.0
"""How long a cancelled job may take to end (the supervisor escalates to SIGKILL after 20 s)."""
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")


def launch_config(ctx: StepContext) -> Any:
    from core.launch.config import LaunchConfig

    s = ctx.settings
    return LaunchConfig(
        base_model=str(ctx.value("model", "hf_dir")), dataset=str(ctx.value("data", "dataset")), backend="local",
        output_repo="", load_in_4bit=False, optimizer="adamw_torch", gradient_checkpointing=False,
        max_length=s.max_length, epochs=1.0, max_steps=s.max_steps, batch_size=s.batch_size,
        gradient_accumulation=1, learning_rate=s.learning_rate, warmup_ratio=0.1, scheduler="cosine",
        logging_steps=1, save_steps=s.max_steps, save_total_limit=1, lora_r=s.lora_r, lora_alpha=2 * s.lora_r,
        lora_dropout=0.05, trackio_project=TRACKIO_PROJECT, run_name=RUN_NAME, timeout="1h", seed=s.seed)


def loss_trend(losses: list[float]) -> tuple[float, float, bool] | None:
    """(mean of the first steps, mean of the last steps, went down): windows of a fifth of the run, so one
    noisy batch cannot decide it."""
    if len(losses) < 4:
        return None
    window = max(2, len(losses) // 5)
    first = sum(losses[:window]) / window
    last = sum(losses[-window:]) / window
    return first, last, last < first


async def train(ctx: StepContext, result: StepResult) -> AsyncIterator[DemoEvent]:
    from core.extras import missing_modules
    from core.launch import launcher
    from core.launch.preflight import PreflightOptions

    missing = missing_modules("train")
    if missing:
        raise StepError(f"training needs {', '.join(missing)}", 'pip install "tui-tuner[demo]"')
    workdir = ctx.out / "train"
    shutil.rmtree(workdir, ignore_errors=True)  # a new run, a new adapter: nothing stale survives
    plan = await asyncio.to_thread(launcher.plan, launch_config(ctx), PreflightOptions(online=False))
    for finding in plan.report.findings:
        if finding.severity in ("error", "warning") and finding.check != "hub":
            yield StepLog("train", f"preflight: {finding.one_line()}", finding.severity)
    if plan.report.errors:
        first = plan.report.errors[0]
        raise StepError(f"preflight: {first.one_line()}", first.fix)
    yield StepLog("train", f"$ {plan.command.line}")
    job = await asyncio.to_thread(lambda: launcher.launch(plan, workdir=workdir))
    yield StepLog("train", f"local job {job.id} ({job.name}); log {job.log_path}")
    yield Handoff("train", "jobs", job.id, {"log_path": job.log_path, "run_name": job.name})
    try:
        async for event in _follow(job.id, Path(job.log_path or ""), plan.report.expected_steps):
            yield event
    finally:
        await _stop_if_running(job.id)
    from core.launch.job_store import get_job

    done = get_job(job.id)
    if done is None or done.status != "COMPLETED":
        status = done.status if done else "missing"
        message = (done.extra.get("message") if done else None) or status
        raise StepError(f"training job {job.id} ended {status}: {message}; last log line: {_last_line(job.log_path)}",
                        f"see `tui-tuner jobs logs {job.id}`")
    adapter_dir = Path(str(done.extra.get("output_dir") or ""))
    if not all((adapter_dir / name).is_file() for name in ADAPTER_FILES):
        raise StepError(f"the job finished but left no adapter in {adapter_dir}",
                        f"see `tui-tuner jobs logs {job.id}`")
    await asyncio.to_thread(_copy_log, Path(job.log_path or ""), ctx.out / "logs" / "train.log")
    losses, curve_source = await asyncio.to_thread(_losses, job.name, Path(job.log_path or ""))
    trend = loss_trend(losses)
    details: dict[str, Any] = {"job_id": job.id, "run_name": job.name, "adapter_dir": str(adapter_dir),
                               "steps": len(losses), "loss_source": curve_source,
                               "trackio_project": TRACKIO_PROJECT}
    summary = f"{len(losses)} steps, job {job.id}"
    if trend is not None:
        first, last, down = trend
        details.update(loss_first=round(first, 4), loss_last=round(last, 4), loss_went_down=down)
        verb = "went down" if down else "did NOT go down"
        summary = f"loss {first:.2f} → {last:.2f} ({verb}, {curve_source}); " + summary
        yield StepLog("train", f"training loss {verb}: mean of the first steps {first:.3f}, of the last {last:.3f}",
                      "info" if down else "warning")
    result.summary = summary
    result.outputs = [str(adapter_dir / name) for name in ADAPTER_FILES]
    result.details = details


async def _follow(job_id: str, log_path: Path, expected: int | None) -> AsyncIterator[DemoEvent]:
    """Progress and loss lines from the job's log until the job ends."""
    from core.jobs.progress import ProgressTracker
    from core.launch.backends import local
    from core.launch.job_store import get_job

    tracker = ProgressTracker(expected_steps=expected)
    offset, pending, last_step, shown_losses = 0, "", -1, 0
    while True:
        job = await asyncio.to_thread(get_job, job_id)
        if job is not None and not job.is_terminal:
            job = await asyncio.to_thread(local.reconcile, job)
        chunk, offset = await asyncio.to_thread(_read_from, log_path, offset)
        pending += chunk
        *lines, pending = pending.replace("\r", "\n").split("\n")
        for line in lines:
            if not line.strip():
                continue
            tracker.feed_line(line, time.time())
            if line.startswith(("Run ", "Loaded ", "Loss on", "tui-tuner:", "Adapter saved", "Starting training",
                                "=====", "error", "Traceback")):
                yield StepLog("train", line.strip(), "error" if line.startswith(("error", "Traceback")) else "info")
        for point in tracker.points[shown_losses:]:
            if point.name == "train/loss":
                yield StepLog("train", f"step {point.step:.0f}: loss {point.value:.3f}")
        shown_losses = len(tracker.points)
        if tracker.step is not None and tracker.step != last_step:
            last_step = tracker.step
            eta = tracker.eta_seconds() if tracker.step >= 2 else None  # one step is no rate yet
            yield StepProgress("train", tracker.step, tracker.target, f"step {tracker.step}/{tracker.target or '?'}",
                               eta)
        if job is None or job.is_terminal:
            return
        await asyncio.sleep(POLL_S)


def _read_from(path: Path, offset: int) -> tuple[str, int]:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return "", offset
    return data.decode("utf-8", "replace"), offset + len(data)


async def _stop_if_running(job_id: str) -> None:
    """Cancel the job (SIGTERM to its process group) and wait until no live process of the group is left."""
    from core import process_tree
    from core.launch.backends import local
    from core.launch.job_store import get_job

    job = get_job(job_id)
    if job is None or job.is_terminal:
        return
    with contextlib.suppress(Exception):
        await asyncio.to_thread(local.cancel, job_id)
    group = job.pid
    if not group:
        return
    deadline = time.monotonic() + STOP_WAIT_S
    while process_tree.group_members(group) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    if process_tree.group_members(group):
        await asyncio.to_thread(process_tree.end_groups, [group], 3.0)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(group, os.WNOHANG)  # the supervisor is our child: do not leave it a zombie


def _copy_log(log_path: Path, target: Path) -> None:
    """The job's log lives with the job records (the jobs area reads it there); the demo folder gets a copy."""
    if log_path.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log_path, target)


def _losses(run_name: str, log_path: Path) -> tuple[list[float], str]:
    """The training loss per step: from Trackio (what the jobs area plots), else from the log."""
    from core.errors import TunerError
    from core.jobs.progress import ProgressTracker
    from core.jobs.trackio_reader import TrackioLocalReader

    with contextlib.suppress(TunerError, OSError):
        metrics = TrackioLocalReader(TRACKIO_PROJECT, run_name).poll()
        points = sorted(metrics.series.get("train/loss", []))
        if points:
            return [value for _, value in points], "Trackio"
    tracker = ProgressTracker()
    text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.is_file() else ""
    for line in text.replace("\r", "\n").splitlines():
        tracker.feed_line(line)
    return [p.value for p in tracker.points if p.name == "train/loss"], "log"


def _last_line(log_path: str | None) -> str:
    try:
        lines = [line for line in Path(log_path or "").read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return lines[-1][:200] if lines else "(empty log)"
