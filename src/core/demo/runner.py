"""Run the demo's steps in order, resumably, as one async iterator of events.

Each step is an async generator over a `StepContext`: it yields events while it works and fills in its
result (summary, outputs, details). A step is skipped when the state file says it finished with the same
settings and its outputs still exist, and none of the steps it depends on ran again in this session; a
step whose inputs were just remade starts over (`ctx.fresh`). Cancelling the consumer (Ctrl-C, SIGTERM,
SIGHUP, quitting the TUI) closes the running step, whose own cleanup ends what it started: the training
job's process group, the converter, llama-server.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.demo import PIPELINE_NOTE
from core.demo.events import (
    DemoEvent,
    DemoFinished,
    DemoStarted,
    StepFailed,
    StepFinished,
    StepStarted,
)
from core.demo.settings import DemoSettings
from core.demo.state import DemoState
from core.errors import TunerError
from core.redact import redact

SUMMARY_FILE = "SUMMARY.md"
STATE_VERSION = 1


class StepError(Exception):
    """A step failed in a way the user can act on: one line and a fix."""

    def __init__(self, error: str, hint: str = "") -> None:
        super().__init__(error)
        self.error, self.hint = error, hint


@dataclass
class StepResult:
    summary: str = ""
    outputs: list[str] = field(default_factory=list)
    """Files or folders that must still exist for the step to count as done on a rerun."""
    details: dict[str, Any] = field(default_factory=dict)
    """What later steps (and the summary) need: paths, figures. Restored when the step is skipped."""


@dataclass
class StepContext:
    settings: DemoSettings
    out: Path
    values: dict[str, Any]
    """Every finished step's details, by step id (`ctx.values["train"]["adapter_dir"]`)."""
    fresh: bool = False
    """An input of this step was remade in this session: discard what an earlier run left."""

    def value(self, step: str, key: str) -> Any:
        try:
            return self.values[step][key]
        except KeyError:
            raise StepError(f"the {step} step left no {key}", "rerun the demo with --fresh") from None


StepBody = Callable[[StepContext, StepResult], AsyncIterator[DemoEvent]]


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    body: StepBody
    settings: tuple[str, ...] = ()
    """The settings the step's outputs depend on."""
    after: tuple[str, ...] = ()
    """The steps whose outputs it uses: if one of them runs again, this one does too."""
    inputs: Callable[[], str] | None = None
    """What else its outputs depend on (the shipped dataset's hash): a change makes it run again."""


def demo_steps() -> list[Step]:
    from core.demo import steps_convert, steps_eval, steps_prepare, steps_train
    from core.demo.dataset import dataset_hash

    return [
        Step("data", "Dataset: 60 coaching conversations", steps_prepare.data, inputs=dataset_hash),
        Step("model", "Model: SmolLM2-135M-Instruct", steps_prepare.model, ("model_gguf", "model_id")),
        Step("plan", "Plan: memory, flavor and time (calculator)", steps_prepare.plan,
             ("max_length", "batch_size", "max_steps", "lora_r"), ("model",)),
        Step("llama_cpp", "llama.cpp: converter, quantizer, server", steps_prepare.llama_cpp),
        Step("train", "Train: LoRA with TRL on this machine", steps_train.train,
             ("max_steps", "batch_size", "learning_rate", "lora_r", "max_length"), ("data", "model")),
        Step("convert", "Convert: merge → GGUF → quantize → verify", steps_convert.convert,
             ("quant_type",), ("model", "train", "llama_cpp")),
        Step("baseline", "Baseline GGUF: the base model, same pipeline", steps_convert.baseline,
             ("quant_type",), ("model", "llama_cpp")),
        Step("eval", "Evaluate: base vs fine-tuned, judged, report", steps_eval.evaluate,
             ("personas", "conversations", "turns", "max_tokens", "seed"), ("convert", "baseline")),
    ]


class DemoRun:
    """One run of the demo into `settings.output_dir` (new or resumed); iterate `events()` once."""

    def __init__(self, settings: DemoSettings, *, fresh: bool = False, steps: list[Step] | None = None) -> None:
        settings.validate()
        settings.output_dir = Path(settings.output_dir).expanduser().absolute()
        self.settings = settings
        self.out = settings.output_dir
        self.steps = steps if steps is not None else demo_steps()
        self.state = DemoState(self.out)
        self.fresh = fresh
        self.values: dict[str, Any] = {}
        self.summaries: dict[str, str] = {}
        self.ran: set[str] = set()
        self.skipped: set[str] = set()
        self.status = "pending"
        self.current: str | None = None
        self.working: str | None = None
        """The step whose body is running (not one being skipped)."""

    def fingerprint(self, step: Step) -> str:
        extra = f":{step.inputs()}" if step.inputs is not None else ""
        return f"v{STATE_VERSION}:{step.id}:{self.settings.fingerprint(*step.settings)}{extra}"

    async def events(self) -> AsyncIterator[DemoEvent]:
        from core.folder_lock import FolderLock

        self.out.mkdir(parents=True, exist_ok=True)
        lock = FolderLock(self.out, "demo").acquire()  # a second demo in this folder says who holds it
        try:
            resumed = False if self.fresh else self.state.load()
            self.status = "running"
            yield DemoStarted(str(self.out), tuple((s.id, s.title) for s in self.steps), resumed)
            try:
                for index, step in enumerate(self.steps, 1):
                    self.current = step.id
                    failed = False
                    async with contextlib.aclosing(self._run_step(step, index)) as step_events:
                        async for event in step_events:
                            yield event
                            failed = failed or isinstance(event, StepFailed)
                    if failed:
                        self.status = "failed"
                        break
                else:
                    self.status = "completed"
            except BaseException:
                self.status = "canceled"
                with contextlib.suppress(OSError):
                    if self.working:
                        self.state.mark(self.working, "canceled")
                    self._write_summary()
                raise
            summary_path, lines = self._write_summary()
            yield DemoFinished(self.status, str(self.out), str(summary_path), tuple(lines),
                               str(self.values.get("eval", {}).get("results_dir", "")))
        finally:
            lock.release()

    async def _run_step(self, step: Step, index: int) -> AsyncIterator[DemoEvent]:
        total = len(self.steps)
        forced = any(dep in self.ran for dep in step.after)
        entry = None if forced else self.state.finished(step.id, self.fingerprint(step))
        yield StepStarted(step.id, step.title, index, total)
        if entry is not None:
            self.values[step.id] = dict(entry.get("details") or {})
            self.summaries[step.id] = str(entry.get("summary", ""))
            self.skipped.add(step.id)
            yield StepFinished(step.id, self.summaries[step.id], float(entry.get("seconds") or 0.0), skipped=True,
                               details=self.values[step.id])
            return
        ctx = StepContext(self.settings, self.out, self.values, fresh=forced)
        result = StepResult()
        started = time.monotonic()
        self.working = step.id
        try:
            # aclosing: a consumer that stops at one of our yields must close the step too, so its cleanup
            # (process groups, servers) runs now, not whenever the generator is garbage-collected.
            async with contextlib.aclosing(step.body(ctx, result)) as body:
                async for event in body:
                    yield event
        except StepError as exc:
            self.working = None
            self.state.mark(step.id, "failed", exc.error)
            yield StepFailed(step.id, redact(exc.error), exc.hint)
            return
        except TunerError as exc:
            self.working = None
            self.state.mark(step.id, "failed", exc.one_line())
            yield StepFailed(step.id, redact(exc.message), exc.hint or "")
            return
        except Exception as exc:  # a bug: one line here, the traceback in the demo's logs
            self.working = None
            where = self._log_traceback(step.id)
            error = redact(f"unexpected {type(exc).__name__}: {exc}".splitlines()[0])
            self.state.mark(step.id, "failed", error)
            yield StepFailed(step.id, error, f"details in {where}; a rerun resumes from this step")
            return
        seconds = time.monotonic() - started
        self.working = None
        self.ran.add(step.id)
        self.values[step.id] = result.details
        self.summaries[step.id] = result.summary
        self.state.mark_done(step.id, self.fingerprint(step), summary=result.summary, outputs=result.outputs,
                             details=result.details, seconds=seconds)
        yield StepFinished(step.id, result.summary, seconds, details=result.details)

    def _log_traceback(self, step: str) -> Path:
        import traceback

        path = self.out / "logs" / "demo-errors.log"
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as log:
                log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} step {step}\n"
                          + redact(traceback.format_exc()) + "\n")
        return path

    # -- the summary ---------------------------------------------------------------------------------
    def summary_lines(self) -> list[str]:
        seconds = self.state.seconds()
        lines = [{"completed": "The demo finished.", "failed": f"The demo stopped at the {self.current} step.",
                  "canceled": "The demo was canceled."}.get(self.status, self.status),
                 f"Everything is in {self.out}"]
        for step in self.steps:
            if step.id in self.summaries:
                took = f" ({_duration(seconds[step.id])})" if seconds.get(step.id) else ""
                lines.append(f"  {step.id:<9} {self.summaries[step.id]}{took}")
        if self.status == "completed":
            train = self.values.get("train", {})
            if train.get("loss_went_down") is True:
                lines.append(f"Training loss went down: {train.get('loss_first'):.3f} → {train.get('loss_last'):.3f}.")
            elif train.get("loss_went_down") is False:
                lines.append(f"Training loss did NOT go down ({train.get('loss_first'):.3f} → "
                             f"{train.get('loss_last'):.3f}): see the jobs area for the curve.")
            results = self.values.get("eval", {}).get("results_dir")
            if results:
                lines.append(f"Report: {self.values['eval'].get('report')}")
                lines.append(f"Open the results viewer: tui-tuner eval view {results}")
            total = sum(seconds.get(s.id, 0.0) for s in self.steps)
            lines.append(f"Step time in all runs so far: {_duration(total)}.")
        elif self.status != "canceled":
            lines.append("Run `tui-tuner demo` again (same --output-dir) to resume from the failed step.")
        else:
            lines.append("Run `tui-tuner demo` again (same --output-dir) to resume.")
        lines.append(PIPELINE_NOTE)
        return lines

    def _write_summary(self) -> tuple[Path, list[str]]:
        lines = self.summary_lines()
        path = self.out / SUMMARY_FILE
        text = "# tui-tuner demo\n\n" + "\n".join(
            f"    {line.strip()}" if line.startswith("  ") else line + "\n" for line in lines) + "\n"
        with contextlib.suppress(OSError):
            path.write_text(redact(text), encoding="utf-8")
        return path, lines


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s"
