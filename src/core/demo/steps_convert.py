"""The demo's conversion steps: the conversion wizard's pipeline, once for the fine-tuned model and once for
the base model, so the evaluation compares two GGUFs made by the same converter in the same format."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from core.demo.events import DemoEvent, Forward, Handoff, StepLog
from core.demo.relay import relay
from core.demo.runner import StepContext, StepError, StepResult

FINETUNED_NAME = "smollm2-135m-coach"
BASE_NAME = "smollm2-135m-instruct"


async def _run_pipeline(step: str, spec: Any, ctx: StepContext, result: StepResult) -> AsyncIterator[DemoEvent]:
    from core.convert.events import PipelineFinished, StepFailed
    from core.convert.pipeline import ConversionRun

    run = ConversionRun(spec)
    yield Handoff(step, "convert", str(spec.output_dir), {"spec": spec.to_dict(), "plan": spec.plan()})
    failure: tuple[str, str] | None = None
    finished: PipelineFinished | None = None
    async with contextlib.aclosing(run.events()) as events:  # closing us closes it: the tool's group is killed
        async for event in events:
            yield Forward(step, "convert", event)
            for demo_event in relay(step, event):
                yield demo_event
            match event:
                case StepFailed():
                    failure = (event.error, event.hint)
                case PipelineFinished():
                    finished = event
    if failure is not None or finished is None or finished.status != "completed":
        error, hint = failure or ("the conversion did not finish", "")
        raise StepError(f"{step}: {error}", hint or f"rerun to resume the conversion in {spec.output_dir}")
    target = run.gguf_path(spec.quants()[0].name) if spec.quants() else run.full_gguf
    if not target.is_file():
        raise StepError(f"{step}: the pipeline finished without {target.name}")
    verify = run.step_log.get("verify", {})
    smoke = run.smoke
    result.outputs = [str(target)]
    result.details = {"gguf": str(target), "folder": str(spec.output_dir), "bytes": target.stat().st_size,
                      "verified": True, "tokens_per_second": getattr(smoke, "tokens_per_second", None),
                      "smoke_reply": getattr(smoke, "reply", None)}
    summary = f"{target.relative_to(ctx.out)} ({target.stat().st_size / 1e6:.0f} MB), verified"
    if verify.get("summary") and "llama-server answered" in str(verify.get("summary")):
        summary += "; llama-server answered"
        if smoke is not None and smoke.tokens_per_second:
            summary += f" at {smoke.tokens_per_second:.0f} tok/s"
    result.summary = summary


async def convert(ctx: StepContext, result: StepResult) -> AsyncIterator[DemoEvent]:
    from core.convert.pipeline import ConvertSpec

    spec = ConvertSpec(output_dir=ctx.out / "gguf", base_model=str(ctx.value("model", "hf_dir")),
                       adapter=str(ctx.value("train", "adapter_dir")), quant_types=(ctx.settings.quant_type,),
                       model_name=FINETUNED_NAME, smoke_test=True)
    if ctx.fresh:
        shutil.rmtree(spec.output_dir, ignore_errors=True)  # a new adapter: the old state would skip its merge
    yield StepLog("convert", f"the conversion wizard: adapter {spec.adapter} merged into the base, "
                             f"then GGUF, {ctx.settings.quant_type}, verify and a llama-server smoke test")
    async with contextlib.aclosing(_run_pipeline("convert", spec, ctx, result)) as events:
        async for event in events:
            yield event


async def baseline(ctx: StepContext, result: StepResult) -> AsyncIterator[DemoEvent]:
    """The base model through the same pipeline (its merge step skipped: `merged/` is the base itself)."""
    from core.convert.pipeline import ConvertSpec

    out = ctx.out / "base-gguf"
    if ctx.fresh:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    merged = out / "merged"
    hf_dir = Path(str(ctx.value("model", "hf_dir")))
    if merged.is_symlink() and Path(os.readlink(merged)) != hf_dir:
        merged.unlink()
    if not merged.exists():
        if merged.is_symlink():
            merged.unlink()  # a dangling link: the model folder moved
        merged.symlink_to(hf_dir, target_is_directory=True)
    spec = ConvertSpec(output_dir=out, base_model=str(hf_dir), skip_merge=True,
                       quant_types=(ctx.settings.quant_type,), model_name=BASE_NAME, smoke_test=False)
    yield StepLog("baseline", f"the base model as the baseline: same converter, same {ctx.settings.quant_type} "
                              "format as the fine-tuned GGUF, so the comparison is fair")
    async with contextlib.aclosing(_run_pipeline("baseline", spec, ctx, result)) as events:
        async for event in events:
            yield event
