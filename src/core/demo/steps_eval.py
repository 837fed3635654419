"""The demo's evaluation: base vs fine-tuned GGUF served by llama-server, personas × K × turns, the rubric
judge, the report and its verdict.

Two servers, one per GGUF, each on one thread (two cores: they answer side by side). The base server is
also the user simulator and the judge, as the guide does with a local model; the judge's reply is
constrained by the rubric's JSON schema, so even a 135M judge always returns a parseable assessment.
Both models get the training data's system prompt. The servers are stopped however the step ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.demo import PIPELINE_NOTE
from core.demo.dataset import system_prompt
from core.demo.events import DemoEvent, Handoff, StepLog, StepProgress
from core.demo.runner import StepContext, StepError, StepResult
from core.redact import redact

if TYPE_CHECKING:  # the runner (httpx) loads when the step runs
    from core.eval.runner import EvalEvent

REPORT_FILE = "evaluation_report.md"
SERVER_CTX = 4096
"""Per server; split over its slots (2048 tokens each): enough for the judge's prompt and reply."""


def run_config(ctx: StepContext, base_endpoint: str, tuned_endpoint: str, results: Path) -> Any:
    from core.eval.judge import JudgeSettings
    from core.eval.personas import generate_personas
    from core.eval.rubric import load_rubric
    from core.eval.runner import EndpointEntry, ModelEntry, RunConfig

    s = ctx.settings
    prompt = system_prompt()
    config = RunConfig(
        output_dir=results, personas=generate_personas(s.personas),
        models=[ModelEntry("baseline", base_endpoint, "baseline", prompt),
                ModelEntry("finetuned", tuned_endpoint, "candidate", prompt)],
        simulator=EndpointEntry(base_endpoint), judge=EndpointEntry(base_endpoint), rubric=load_rubric(None),
        conversations=s.conversations, turns=s.turns, seed=s.seed, max_tokens=s.max_tokens,
        simulator_max_tokens=48, judge_settings=JudgeSettings(reason_chars=80, summary_chars=120),
        note=PIPELINE_NOTE)
    return config


async def evaluate(ctx: StepContext, result: StepResult) -> AsyncIterator[DemoEvent]:
    from core.eval.runner import EvalRun
    from core.eval.server import LlamaServer

    results = ctx.out / "eval"
    if ctx.fresh:
        shutil.rmtree(results, ignore_errors=True)  # new GGUFs: the old conversations would not compare
    results.mkdir(parents=True, exist_ok=True)
    logs = ctx.out / "logs"
    logs.mkdir(exist_ok=True)
    base_gguf = Path(str(ctx.value("baseline", "gguf")))
    tuned_gguf = Path(str(ctx.value("convert", "gguf")))
    server_bin = ctx.values.get("llama_cpp", {}).get("server_bin")
    servers = [LlamaServer(base_gguf, parallel=2, ctx_size=SERVER_CTX, threads=1, extra_args=["--poll", "0"],
                           alias="baseline", binary=server_bin, log_path=logs / "llama-server-baseline.log"),
               LlamaServer(tuned_gguf, parallel=1, ctx_size=SERVER_CTX // 2, threads=1, extra_args=["--poll", "0"],
                           alias="finetuned", binary=server_bin, log_path=logs / "llama-server-finetuned.log")]
    try:
        yield StepLog("eval", f"starting llama-server for {base_gguf.name} and {tuned_gguf.name}")
        await asyncio.gather(*(server.start() for server in servers))
        for server in servers:
            yield StepLog("eval", f"$ {' '.join(server.command())}")
        base, tuned = servers
        config = run_config(ctx, base.endpoint, tuned.endpoint, results)
        yield StepLog("eval", f"{len(config.personas)} personas (seeds 9000+, not in the training data) × "
                              f"{config.conversations} conversation(s) × 2 models, {config.turns} turns; "
                              "the base model plays the user and judges with the coaching rubric")
        async with contextlib.aclosing(_run(EvalRun(config), results)) as events:
            async for event in events:
                yield event
    finally:
        for server in servers:
            with contextlib.suppress(Exception):
                await server.stop()
    report, verdict = await asyncio.to_thread(write_report, results)
    result.summary = f"{verdict}; report eval/{REPORT_FILE}"
    result.outputs = [str(results / REPORT_FILE), str(results / "conversations.jsonl")]
    result.details = {"results_dir": str(results), "report": str(results / REPORT_FILE), "verdict": verdict,
                      "means": {m.name: m.mean for m in report.models}}
    yield StepLog("eval", f"verdict: {verdict}")


async def _run(run: Any, results: Path) -> AsyncIterator[DemoEvent]:
    from core.eval.runner import RunFinished, RunStarted

    finished: RunFinished | None = None
    async with contextlib.aclosing(run.events()) as events:
        async for event in events:
            for demo_event in _demo_events(event):
                yield demo_event
            match event:
                case RunStarted():  # run.json exists now: the viewer can open the folder
                    yield Handoff("eval", "eval", str(results))
                case RunFinished():
                    finished = event
    if finished is None or finished.status != "finished" or finished.failed:
        failed = finished.failed if finished is not None else "?"
        raise StepError(f"the evaluation did not finish every conversation ({failed} failed)",
                        "run the demo again: finished conversations are kept, the rest are retried")


def _demo_events(event: EvalEvent) -> list[DemoEvent]:
    from core.eval.runner import ConversationFailed, ConversationFinished, Progress, RunStarted

    match event:
        case RunStarted():
            return [StepLog("eval", f"{event.total} conversations, {event.already_done} already done, "
                                    f"{event.to_run} to run"),
                    StepProgress("eval", event.already_done, event.total, "conversations")]
        case ConversationFinished():
            return [StepLog("eval", f"✓ {event.persona_id} {event.model} #{event.conv_index}: "
                                    f"score {event.score:.2f} {'pass' if event.passed else 'fail'} "
                                    f"({event.duration_s:.0f} s)")]
        case ConversationFailed():
            return [StepLog("eval", f"✗ {event.persona_id} {event.model} #{event.conv_index}: {event.error}",
                            "warning")]
        case Progress():
            return [StepProgress("eval", event.done, event.total, f"{event.done}/{event.total} conversations",
                                 event.eta_s)]
        case _:
            return []


def write_report(results: Path) -> tuple[Any, str]:
    """evaluation_report.md (run.json's note puts the demo's caveat at the top); the report and its verdict."""
    from core.eval.report import build_report, render_markdown
    from core.eval.results import load_results

    report = build_report(load_results(results))
    markdown = render_markdown(report)
    path = results / REPORT_FILE
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(redact(markdown), encoding="utf-8")
    tmp.replace(path)
    if not report.verdicts:
        raise StepError("the report has no verdict (no candidate compared with the baseline)")
    verdict = report.verdicts[0]
    return report, f"{verdict.candidate} vs {verdict.baseline}: {verdict.status}"
