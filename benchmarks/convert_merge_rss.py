"""Peak RSS of the low-RAM shard-walking merge vs peft's merge_and_unload (target ≤ 0.4×).

Each merge runs in a fresh `python -m core.convert.merge_worker` process, which reports its own peak RSS
(VmHWM of its address space: `wait4`'s ru_maxrss would include this big parent's RSS at fork). Also checks
the two outputs are bit-identical.
Usage: .venv/bin/python benchmarks/convert_merge_rss.py [--skip-1b]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from convert_common import ROOT, adapter_for, bench_dir, sharded_smollm2, synthetic_llama, write_section


def run_merge(base: Path, adapter: Path, method: str) -> tuple[int, float, Path]:
    out = bench_dir() / f"out-{base.name}-{method}"
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "core.convert.merge_worker", "--base", str(base), "--adapter",
                           str(adapter), "--out", str(out), "--method", method], env=env,
                          capture_output=True, text=True)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{method} merge failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return int(result["peak_rss_bytes"]), seconds, out


def identical(a: Path, b: Path) -> bool:
    import torch
    from safetensors.torch import load_file

    def load(d: Path) -> dict:
        out: dict = {}
        for f in sorted(d.glob("*.safetensors")):
            out.update(load_file(str(f)))
        return out

    ta, tb = load(a), load(b)
    return set(ta) == set(tb) and all(torch.equal(ta[k], tb[k]) for k in ta)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-1b", action="store_true")
    args = parser.parse_args()
    models = [("SmolLM2-135M-Instruct", sharded_smollm2())]
    if not args.skip_1b:
        models.append(("random Llama ~1B (hidden 2048, 16 layers)", synthetic_llama(1.0)))
    rows = []
    for label, base in models:
        adapter = adapter_for(base)
        shards = len(list(base.glob("model-*.safetensors")))
        size = sum(p.stat().st_size for p in base.glob("*.safetensors"))
        peft_rss, peft_s, peft_out = run_merge(base, adapter, "peft")
        low_rss, low_s, low_out = run_merge(base, adapter, "low-ram")
        same = identical(peft_out, low_out)
        rows.append((label, shards, size, peft_rss, low_rss, peft_s, low_s, same))
        print(label, shards, f"peft {peft_rss / 1e9:.2f} GB", f"low {low_rss / 1e9:.2f} GB",
              f"ratio {low_rss / peft_rss:.2f}", "identical" if same else "DIFFERENT", flush=True)
        shutil.rmtree(peft_out, ignore_errors=True)
        shutil.rmtree(low_out, ignore_errors=True)
    lines = [
        "## Low-RAM merge: peak RSS vs peft `merge_and_unload`",
        "",
        f"Measured {time.strftime('%Y-%m-%d', time.gmtime())} on the dev box (2 CPU cores, shared), CPU, bf16. "
        "Each merge is a fresh `core.convert.merge_worker` process; peak RSS = its VmHWM. "
        "Target: low-RAM ≤ 0.4× peft.",
        "",
        "| model | shards | weights | peft peak RSS | low-RAM peak RSS | ratio | peft time | low-RAM time | bit-identical |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, shards, size, p_rss, l_rss, p_s, l_s, same in rows:
        lines.append(f"| {label} | {shards} | {size / 1e9:.2f} GB | {p_rss / 1e9:.2f} GB | {l_rss / 1e9:.2f} GB | "
                     f"**{l_rss / p_rss:.2f}×** | {p_s:.0f} s | {l_s:.0f} s | {'yes' if same else 'NO'} |")
    lines += ["", "The low-RAM merge reads each shard tensor by tensor with plain file reads (no mmap, whose touched "
              "pages would count as resident), merges LoRA targets with the same torch ops as peft, and streams "
              "the tensor into the output shard: its peak is the interpreter + torch (~0.23 GB) plus about the "
              "largest tensor. The peft peak is the interpreter + torch + transformers + peft plus the whole model. "
              "The fixed interpreter cost weighs most on the 135M model; the gap grows with model size."]
    write_section("merge-rss", "\n".join(lines))


if __name__ == "__main__":
    main()
