"""Multi-GPU check on a real machine: the generated script on every GPU, per-GPU peak memory vs the calculator.

Run on a box with several CUDA GPUs (a cloud VM, or an HF Jobs multi-GPU flavor) from a checkout with the
train extra installed:

    .venv/bin/python benchmarks/launch_multi_gpu_check.py --model Qwen/Qwen2.5-0.5B-Instruct --max-steps 20
    .venv/bin/python benchmarks/launch_multi_gpu_check.py --model ./my-model --strategy fsdp --gpus 2 --no-4bit

It builds the launch config (local backend), lets tui-tuner choose the strategy exactly as `launch` does
(or takes --strategy), writes the generated script to a work folder and runs it as a user would
(`python train_x.py`: the script re-launches itself under Accelerate on the GPUs). Each rank writes its
`torch.cuda.max_memory_allocated/reserved` when training ends (TUI_TUNER_MEMORY_REPORT); the table puts
them next to the calculator's per-GPU `allocated` and `reserved` predictions for the same strategy, and
checks the global step count against examples ÷ (batch × accumulation × ranks) × epochs.
Results: JSON (--out, default docs/benchmarks/launch_multi_gpu.json) and a Markdown table on stdout.

Without a GPU it still runs (N CPU ranks over gloo, --gpus 2 by default) to check the distributed path;
there is no GPU memory to record then.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

OUT = ROOT / "docs" / "benchmarks" / "launch_multi_gpu.json"
TOPICS = ("sleep", "stress", "exercise", "focus", "habits", "motivation", "journaling", "breathing")


def write_dataset(path: Path, n: int, words: int) -> Path:
    """Synthetic coaching chats, long enough to exercise activations at the chosen max length."""
    filler = " ".join(["Keep it small and repeat it daily."] * max(1, words // 7))
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            topic = TOPICS[i % len(TOPICS)]
            out.write(json.dumps({"messages": [
                {"role": "user", "content": f"Help me with {topic}. {filler}"},
                {"role": "assistant", "content": f"Start one two-minute {topic} habit today. {filler}"},
            ]}) + "\n")
    return path


def gpu_info() -> tuple[int, float | None, str | None]:
    """(count, memory GB of GPU 0, name) from nvidia-smi; (0, None, None) without one."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return 0, None, None
    rows = [line.rsplit(",", 1) for line in out.strip().splitlines() if line.strip()]
    if not rows:
        return 0, None, None
    return len(rows), float(rows[0][1]) * 1024**2 / 1e9, rows[0][0].strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="Hub id or local model folder (the instruct variant)")
    parser.add_argument("--gpus", type=int, default=0, help="ranks (0: every GPU; 2 CPU ranks without a GPU)")
    parser.add_argument("--strategy", default="auto", choices=("auto", "ddp", "fsdp"))
    parser.add_argument("--max-steps", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--4bit", dest="four_bit", action=argparse.BooleanOptionalAction, default=True,
                        help="QLoRA (needs CUDA; off automatically without a GPU)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    from core.calc.estimate import per_gpu_estimate
    from core.launch.config import LaunchConfig
    from core.launch.script import render_script
    from core.launch.strategy import choose_strategy, memory_inputs

    count, memory_gb, name = gpu_info()
    on_gpu = count > 0
    workdir = args.workdir or Path(os.environ.get("TMPDIR", "/tmp")) / f"tui-tuner-multi-gpu-{int(time.time())}"
    workdir.mkdir(parents=True, exist_ok=True)
    words = max(8, args.max_length // 3)  # ~1.3 tokens a word: most conversations reach max_length
    dataset = write_dataset(workdir / "chats.jsonl", args.examples, words)
    config = LaunchConfig(
        base_model=args.model, dataset=str(dataset), backend="local", load_in_4bit=args.four_bit and on_gpu,
        optimizer="adamw_torch" if not on_gpu else "adamw_8bit", max_steps=args.max_steps,
        batch_size=args.batch_size, gradient_accumulation=args.grad_accum, max_length=args.max_length,
        lora_r=args.lora_r, lora_alpha=2 * args.lora_r, logging_steps=1, save_steps=max(1, args.max_steps),
        trackio_project="multi-gpu-check", gpus=args.gpus or (0 if on_gpu else 2), strategy=args.strategy,
        timeout="2h")
    errors = config.validate()
    if errors:
        print("error: " + "; ".join(e.one_line() for e in errors), file=sys.stderr)
        return 2
    world = config.gpus or count
    capacity = memory_gb * 1e9 if memory_gb else None
    from core.calc import resolve_architecture

    arch = resolve_architecture(args.model)
    choice = choose_strategy(config, arch=arch, world=world, capacity_bytes=capacity)
    print(f"strategy: {choice.one_line()}", flush=True)
    estimate = per_gpu_estimate(memory_inputs(config, arch), choice.strategy, choice.world_size)
    script = render_script(config, output_dir=str(workdir / "adapter"), strategy=choice)
    script_path = workdir / script.filename
    script_path.write_text(script.text, encoding="utf-8")

    prefix = workdir / "peak"
    env = {**os.environ, "TUI_TUNER_MEMORY_REPORT": str(prefix), "TRACKIO_DIR": str(workdir / "trackio")}
    started = time.time()
    with (workdir / "train.log").open("w", encoding="utf-8") as log:
        rc = subprocess.run([sys.executable, str(script_path)], cwd=workdir, env=env, stdout=log,
                            stderr=subprocess.STDOUT, check=False).returncode
    seconds = time.time() - started
    text = (workdir / "train.log").read_text(encoding="utf-8", errors="replace")
    if rc != 0:
        print(text[-4000:], file=sys.stderr)
        print(f"error: the training script exited {rc} (log: {workdir / 'train.log'})", file=sys.stderr)
        return 2

    ranks = sorted((json.loads(p.read_text()) for p in workdir.glob("peak.rank*.json")), key=lambda r: r["rank"])
    finished = [int(line.rsplit("=", 1)[1]) for line in text.splitlines() if "tui-tuner: finished global_step=" in line]
    expected = args.max_steps or math.ceil(args.examples / (args.batch_size * args.grad_accum * choice.world_size))
    result = {
        "model": args.model, "gpu": name, "gpu_memory_gb": memory_gb, "gpus": count, "strategy": choice.to_dict(),
        "max_length": args.max_length, "batch_size": args.batch_size, "qlora": config.load_in_4bit,
        "estimate": {"allocated_bytes": int(estimate.allocated_bytes), "reserved_bytes": int(estimate.reserved_bytes),
                     "total_bytes": int(estimate.total_bytes)},
        "ranks": ranks, "global_step": finished[-1] if finished else None, "expected_steps": expected,
        "seconds": round(seconds, 1), "workdir": str(workdir),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    gib = 1e9
    print(f"\n{args.model} · {choice.label} · max_length {args.max_length} · batch {args.batch_size} · "
          f"{'QLoRA' if config.load_in_4bit else 'LoRA'} · {seconds:.0f} s")
    print("| rank | device | peak allocated GB | estimate GB | ratio | peak reserved GB | estimate GB |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in ranks:
        ratio = r["max_memory_allocated"] / estimate.allocated_bytes if estimate.allocated_bytes else float("nan")
        print(f"| {r['rank']} | {r['device']} | {r['max_memory_allocated'] / gib:.2f} | "
              f"{estimate.allocated_bytes / gib:.2f} | {ratio:.2f} | {r['max_memory_reserved'] / gib:.2f} | "
              f"{estimate.reserved_bytes / gib:.2f} |")
    if not ranks:
        print("(no GPU: CPU ranks, no GPU memory recorded)")
    ok_steps = result["global_step"] == expected
    print(f"global steps {result['global_step']} (expected {expected}): {'ok' if ok_steps else 'MISMATCH'}")
    print(f"written to {args.out}")
    return 0 if ok_steps and (not on_gpu or len(ranks) == choice.world_size) else 1


if __name__ == "__main__":
    raise SystemExit(main())
