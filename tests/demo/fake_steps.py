"""Fake demo steps for the runner and screen tests: fast, recording what ran, with outputs on disk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.demo.events import DemoEvent, StepLog, StepProgress
from core.demo.runner import Step, StepContext, StepError, StepResult


@dataclass
class Recorder:
    ran: list[str] = field(default_factory=list)
    fresh: dict[str, bool] = field(default_factory=dict)
    cleaned: list[str] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)
    block: set[str] = field(default_factory=set)
    """Steps that wait forever (until cancelled) after their first progress event."""
    started: asyncio.Event = field(default_factory=asyncio.Event)
    extra: dict[str, Any] = field(default_factory=dict)


def make_step(rec: Recorder, step_id: str, *, settings: tuple[str, ...] = (), after: tuple[str, ...] = (),
              extra_events: Any = None) -> Step:
    async def body(ctx: StepContext, result: StepResult) -> AsyncIterator[DemoEvent]:
        rec.ran.append(step_id)
        rec.fresh[step_id] = ctx.fresh
        yield StepLog(step_id, f"working on {step_id}")
        if extra_events is not None:
            async for event in extra_events(ctx):
                yield event
        if step_id in rec.block:
            try:  # like a real step: what it started is ended however it stops
                yield StepProgress(step_id, 1, 2, "half way")
                rec.started.set()
                await asyncio.Event().wait()
            finally:
                rec.cleaned.append(step_id)
        yield StepProgress(step_id, 1, 2, "half way")
        if step_id in rec.fail:
            raise StepError(f"{step_id} broke", f"fix {step_id}")
        path = ctx.out / f"{step_id}.txt"
        path.write_text(step_id)
        for dep in after:
            ctx.value(dep, "file")  # what a real step reads from the ones before it
        result.summary = f"{step_id} done"
        result.outputs = [str(path)]
        result.details = {"file": str(path), "n": len(rec.ran)}

    return Step(step_id, f"Step {step_id}", body, settings, after)


def chain(rec: Recorder) -> list[Step]:
    """a → b → c, and d that depends on nothing; b depends on the max_steps setting."""
    return [make_step(rec, "a"), make_step(rec, "b", settings=("max_steps",), after=("a",)),
            make_step(rec, "c", after=("b",)), make_step(rec, "d")]


def output(out: Path, step: str) -> Path:
    return out / f"{step}.txt"
