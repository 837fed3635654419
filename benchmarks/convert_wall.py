"""Wizard wall time vs the same commands run by hand (target ≤ 1.05×), with and without the smoke test.

"By hand" is the guide's sequence, each command started from a shell-like `subprocess.run`: the peft
merge (the guide's merge script, here `core.convert.merge_worker --method peft`), `convert_hf_to_gguf.py
--outtype bf16`, `llama-quantize … Q4_K_M`, then (smoke test) `llama-server` + polling /health + one chat
completion + stop. The wizard is the CLI exactly as a user types it — `tui-tuner convert --adapter-path …
--base-model … --output-dir … --quant-type Q4_K_M [--no-smoke-test]`, a fresh process each time, so its
start-up, preflight, state file, store rows, log parsing and GGUF checks all count. The merge method is
the CLI's default (`auto`, which picks peft when the RAM allows, as here).

Runs alternate (hand, wizard, wizard, hand, …) on fresh output folders after one untimed warm-up of
each (page cache, the converter probe cache); the medians are compared. The wizard's per-step times
come from its `--json` events, the hand ones from timing each command.
Usage: .venv/bin/python benchmarks/convert_wall.py [--reps 5]
       .venv/bin/python benchmarks/convert_wall.py --from-log LOG   (rewrite the section from a run's output)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from convert_common import ROOT, adapter_for, bench_dir, sharded_smollm2, write_section

STEPS = ("merge", "convert", "quantize", "verify")


def by_hand(base: Path, adapter: Path, out: Path, smoke: bool) -> tuple[float, dict[str, float]]:
    from core.convert.verify import free_port
    from core.llama_cpp import locate_llama_cpp

    inst = locate_llama_cpp()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    steps: dict[str, float] = {}
    started = time.monotonic()

    def timed(step: str, argv: list[str], **kw: object) -> None:
        t = time.monotonic()
        subprocess.run(argv, check=True, capture_output=True, **kw)  # type: ignore[call-overload]
        steps[step] = time.monotonic() - t

    timed("merge", [sys.executable, "-m", "core.convert.merge_worker", "--base", str(base), "--adapter",
                    str(adapter), "--out", str(out / "merged"), "--method", "peft"], env=env)
    timed("convert", [sys.executable, str(inst.convert_script), "--outtype", "bf16", "--outfile",
                      str(out / "m-BF16.gguf"), str(out / "merged")], env=inst.converter_env())
    timed("quantize", [str(inst.quantize_bin), str(out / "m-BF16.gguf"), str(out / "m-Q4_K_M.gguf"), "Q4_K_M",
                       str(os.cpu_count() or 2)])
    if smoke:
        t = time.monotonic()
        port = free_port()
        server = subprocess.Popen([str(inst.server_bin), "-m", str(out / "m-Q4_K_M.gguf"), "--host", "127.0.0.1",
                                   "--port", str(port), "-c", "2048", "-np", "1", "-ngl", "0"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.4)
            body = json.dumps({"messages": [{"role": "user", "content": "Say hello in one short sentence."}],
                               "max_tokens": 24, "temperature": 0}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=300) as r:
                assert json.loads(r.read())["choices"][0]["message"]["content"]
        finally:
            server.terminate()
            server.wait()
        steps["verify"] = time.monotonic() - t
    return time.monotonic() - started, steps


def wizard(base: Path, adapter: Path, out: Path, smoke: bool, home: Path) -> tuple[float, dict[str, float]]:
    entry = Path(sys.executable).parent / "tui-tuner"
    cmd = [str(entry)] if entry.is_file() else [sys.executable, "-m", "tui_tuner"]
    cmd += ["convert", "--adapter-path", str(adapter), "--base-model", str(base), "--output-dir", str(out),
            "--quant-type", "Q4_K_M", "--model-name", "m", "--json"]
    if not smoke:
        cmd.append("--no-smoke-test")
    env = {**os.environ, "TUI_TUNER_HOME": str(home), "PYTHONPATH": str(ROOT / "src")}
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not events or events[-1].get("status") != "completed":
        failed = [e for e in events if e["event"] == "StepFailed"]
        raise SystemExit(f"wizard run failed ({proc.returncode}): {failed} {proc.stderr[-2000:]}")
    steps = {e["step"].split(":")[0]: e["seconds"] for e in events if e["event"] == "StepFinished"}
    return seconds, steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--from-log", type=Path, help="the printed lines of an earlier run")
    args = parser.parse_args()
    if args.from_log:
        parsed = _parse_log(args.from_log.read_text(encoding="utf-8"))
        write_section("wall-time", report(parsed, len(parsed[True]["hand"])))
        return
    base = sharded_smollm2()
    adapter = adapter_for(base)
    work = bench_dir() / "wall"
    home = Path(tempfile.mkdtemp(prefix="tui-tuner-bench-home-"))
    results: dict[bool, dict[str, list]] = {}
    try:
        for smoke in (True, False):
            runs: dict[str, list] = {"hand": [], "wizard": []}
            fns = {"hand": lambda o, s=smoke: by_hand(base, adapter, o, s),
                   "wizard": lambda o, s=smoke: wizard(base, adapter, o, s, home)}
            for i in range(-1, args.reps):  # -1: the untimed warm-up
                order = ["hand", "wizard"] if i % 2 == 0 else ["wizard", "hand"]
                for label in order:
                    out = work / f"{label}-{i}"
                    shutil.rmtree(out, ignore_errors=True)
                    out.mkdir(parents=True)
                    seconds, steps = fns[label](out)
                    shutil.rmtree(out, ignore_errors=True)
                    if i >= 0:
                        runs[label].append((seconds, steps))
                    print(f"smoke={smoke} {label} #{i}: {seconds:.1f} s {json.dumps({k: round(v, 1) for k, v in steps.items()})}",
                          flush=True)
            results[smoke] = runs
    finally:
        shutil.rmtree(home, ignore_errors=True)
    write_section("wall-time", report(results, args.reps))


def _parse_log(text: str) -> dict[bool, dict[str, list]]:
    results: dict[bool, dict[str, list]] = {True: {"hand": [], "wizard": []}, False: {"hand": [], "wizard": []}}
    seen = set()
    for line in text.splitlines():
        if not line.startswith("smoke=") or line in seen:
            continue
        seen.add(line)
        head, _, rest = line.partition(": ")
        smoke_part, label, rep = head.split()
        if rep == "#-1":
            continue  # the warm-up
        seconds, _, steps = rest.partition(" s ")
        results[smoke_part == "smoke=True"][label].append((float(seconds), json.loads(steps)))
    return results


def _median(runs: list, step: str | None = None) -> float:
    values = [s for s, _ in runs] if step is None else [steps.get(step, 0.0) for _, steps in runs]
    return statistics.median(values)


def report(results: dict[bool, dict[str, list]], reps: int) -> str:
    lines = [
        "## Wizard wall time vs the same commands by hand",
        "",
        f"Measured {time.strftime('%Y-%m-%d', time.gmtime())} on the dev box (2 CPU cores, shared with other "
        "sessions' work, so single runs vary), SmolLM2-135M-Instruct (4 shards) + a LoRA (r=8, 4 target modules): "
        "peft merge → bf16 GGUF → Q4_K_M → (smoke test: llama-server + one chat completion). The wizard is the "
        "`tui-tuner convert` command as typed, a new process per run (start-up included). "
        f"{reps} runs each after an untimed warm-up, alternating who goes first; medians compared. Target ≤ 1.05×.",
        "",
        "| variant | by hand: runs (s) | median | wizard CLI: runs (s) | median | **ratio** |",
        "|---|---|---|---|---|---|",
    ]
    for smoke in (True, False):
        runs = results[smoke]
        hand, wiz = _median(runs["hand"]), _median(runs["wizard"])
        name = "with the smoke test" if smoke else "`--no-smoke-test`"
        lines.append(f"| {name} | {', '.join(f'{s:.1f}' for s, _ in runs['hand'])} | {hand:.1f} s | "
                     f"{', '.join(f'{s:.1f}' for s, _ in runs['wizard'])} | {wiz:.1f} s | **{wiz / hand:.2f}×** |")
    outside = {smoke: statistics.median(total - sum(steps.values()) for total, steps in results[smoke]["wizard"])
               for smoke in (True, False)}
    lines += ["", "Time the wizard spends outside its steps (process start-up, imports, argument parsing, lock, "
                  "store, exit: wall time minus the sum of its `StepFinished` times, median): "
                  f"**{outside[True]:.2f} s** with the smoke test, **{outside[False]:.2f} s** without. This figure "
                  "hardly moves with the machine's load, unlike the totals."]
    lines += ["", "Per step (medians, s; the wizard's from its own `StepFinished` events, so the CLI start-up, "
                  "preflight and download appear only in the totals):", "",
              "| variant | step | by hand | wizard |", "|---|---|---|---|"]
    for smoke in (True, False):
        runs = results[smoke]
        for step in STEPS:
            hand_v = "—" if step == "verify" and not smoke else f"{_median(runs['hand'], step):.2f}"
            lines.append(f"| {'smoke' if smoke else 'no smoke'} | {step} | {hand_v} | "
                         f"{_median(runs['wizard'], step):.2f} |")
    lines += ["", "What the wizard adds: its start-up (imports are lazy: no torch in the CLI process), the "
                  "preflight (llama.cpp, disk, RAM; the converter `--help` probe runs once per tree and "
                  "interpreter, then is remembered), fingerprints of the inputs (sizes and mtimes, a SHA-256 of "
                  "the adapter weights), the GGUF checks (header and tensor table only, milliseconds; no tensor "
                  "data is read), the state file and store rows."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
