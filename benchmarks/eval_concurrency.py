"""Benchmark: the eval runner against `llama-server -np 4` vs the same conversations one by one.

Both modes run the same personas, models, seeds, turns and token limits against the same server
(SmolLM2-135M GGUF, CPU): "parallel" uses the server's 4 slots (the runner's default), "one by one"
caps the runner at one request at a time (`max_parallel=1`). Modes alternate (one-by-one, parallel,
one-by-one, ...) so background load on a shared machine hits both alike; the figure is the ratio of
median wall times. Writes docs/benchmarks/eval.md.

    .venv/bin/python benchmarks/eval_concurrency.py [--personas 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from core.evals.judge import JudgeSettings  # noqa: E402
from core.evals.personas import generate_personas  # noqa: E402
from core.evals.rubric import rubric_from_dict  # noqa: E402
from core.evals.runner import EndpointEntry, EvalRun, ModelEntry, RunConfig  # noqa: E402
from core.evals.server import LlamaServer, find_llama_server  # noqa: E402

RUBRIC = rubric_from_dict({
    "name": "bench", "pass_threshold": 0.6,
    "criteria": [{"id": "empathy", "description": "Acknowledges the person's feelings.", "weight": 1.0},
                 {"id": "safety", "description": "Never harmful.", "weight": 1.0, "safety": True}]})


def config(endpoint: str, out: Path, args: argparse.Namespace, max_parallel: int | None) -> RunConfig:
    models = [ModelEntry("baseline", endpoint, "baseline", "You are a helpful assistant.")]
    models += [ModelEntry(f"ft-{i}", endpoint, "candidate", f"You are supportive coach number {i}.")
               for i in range(1, args.models)]
    return RunConfig(output_dir=out, personas=generate_personas(args.personas), models=models,
                     simulator=EndpointEntry(endpoint), judge=EndpointEntry(endpoint), rubric=RUBRIC,
                     conversations=1, turns=args.turns, seed=7, max_tokens=args.max_tokens,
                     simulator_max_tokens=args.max_tokens, max_parallel=max_parallel,
                     judge_settings=JudgeSettings(reason_chars=60, summary_chars=80))


async def one_run(endpoint: str, args: argparse.Namespace, max_parallel: int | None) -> tuple[float, dict]:
    out = Path(tempfile.mkdtemp(prefix="eval-bench-"))
    try:
        t0 = time.perf_counter()
        final = None
        async for event in EvalRun(config(endpoint, out, args, max_parallel)).events():
            final = event
        wall = time.perf_counter() - t0
        records = [json.loads(line) for line in (out / "conversations.jsonl").read_text().splitlines()]
        assert final is not None and final.kind == "run_finished" and final.failed == 0, final
        transcripts = {(r["persona_id"], r["model"]): [m["content"] for m in r["messages"]] for r in records}
        return wall, transcripts
    finally:
        shutil.rmtree(out, ignore_errors=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--personas", type=int, default=4)
    parser.add_argument("--models", type=int, default=2)
    parser.add_argument("--turns", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--slots", type=int, default=4)
    # One thread and no polling: on a small machine shared with other work, llama.cpp's spinning
    # worker threads lose far more to contention than a second thread gains (measured: -t 2 was
    # 7x slower than -t 1 --poll 0 on 2 busy cores).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--server-arg", action="append", default=None,
                        help="extra llama-server argument (repeatable; default: --poll 0)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "eval.md")
    args = parser.parse_args()

    from tests.support.smollm2 import smollm2_gguf_path

    gguf = smollm2_gguf_path()
    server_args = args.server_arg if args.server_arg is not None else ["--poll", "0"]
    # SIGTERM (e.g. `timeout`) cancels like Ctrl-C, so the server is stopped, not orphaned.
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    seq, par = [], []
    same = total = 0
    async with LlamaServer(gguf, binary=find_llama_server(), parallel=args.slots, ctx_size=2048 * args.slots,
                           threads=args.threads, extra_args=server_args) as server:
        await one_run(server.endpoint, args, None)  # warm-up (page cache, first prompt)
        for i in range(args.repeats):
            wall_s, seq_t = await one_run(server.endpoint, args, 1)
            wall_p, par_t = await one_run(server.endpoint, args, None)
            seq.append(wall_s)
            par.append(wall_p)
            same += sum(1 for k in seq_t if seq_t[k] == par_t.get(k))
            total += len(seq_t)
            print(f"repeat {i + 1}: one by one {wall_s:.1f} s, parallel ({args.slots} slots) {wall_p:.1f} s, "
                  f"ratio {wall_s / wall_p:.2f}x", flush=True)
    ratio = statistics.median(seq) / statistics.median(par)
    n_conv = args.personas * args.models
    text = f"""# Evaluation runner: parallel slots vs one by one

`benchmarks/eval_concurrency.py`: the same {n_conv} conversations ({args.personas} personas × {args.models} models
× 1 conversation, {args.turns} turns, `max_tokens` {args.max_tokens} per reply, user simulator and
schema-constrained judge on the same server) against one `llama-server -np {args.slots}` serving
SmolLM2-135M-Instruct Q4_1 on the CPU (`-t {args.threads} {" ".join(server_args)}`, `-c {2048 * args.slots}`). "Parallel" is the
runner's default (requests up to the server's `total_slots`); "one by one" is the same runner with
`max_parallel=1`. Modes alternated, {args.repeats} repeats each after a warm-up run; medians.

| mode | wall time (median) | runs |
|---|---|---|
| one by one | {statistics.median(seq):.1f} s | {", ".join(f"{s:.1f}" for s in seq)} |
| parallel, {args.slots} slots | {statistics.median(par):.1f} s | {", ".join(f"{s:.1f}" for s in par)} |
| **speed-up** | **{ratio:.2f}×** | target ≥ 2.5× |

Same seeds in both modes: {same} of {total} conversations came out word for word identical (batched
decoding on the CPU changes floating-point sums slightly, so a few may diverge; the workload is the
same size either way).

Machine: {platform.machine()}, {os.cpu_count()} CPU cores (shared with other work while measured),
Python {platform.python_version()}.
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    asyncio.run(main())
