"""Measure real peak GPU memory of training steps and compare it with the estimator.

Models are built from the catalog's `config.json` with random weights (nothing is downloaded), trained
for a few steps on random tokens the way HF Trainer / TRL does it (outputs dropped before backward),
and `torch.cuda.max_memory_allocated` / `max_memory_reserved` are read over steps 2..N (after the
optimizer states exist). The CUDA context is measured as (device used − torch reserved) right after
start-up. Needs a CUDA machine with torch, transformers, peft and (for QLoRA / 8-bit AdamW) bitsandbytes.

    python benchmarks/calc_calibrate_gpu.py                       # default grid, markdown to stdout
    python benchmarks/calc_calibrate_gpu.py --models qwen3-0.6b,llama-3.2-1b --lengths 1024,4096 \\
        --methods lora,qlora --out calib.json
    python benchmarks/calc_calibrate_gpu.py --cpu-smoke           # check the script's plumbing on CPU
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from core.calc import MemoryInputs, estimate_training, resolve_architecture  # noqa: E402
from core.calc.catalog import find_entry  # noqa: E402

DEFAULT_MODELS = "smollm2-135m,qwen3-0.6b,gemma-3-270m,llama-3.2-1b,gemma-3-1b,qwen3-1.7b"
GiB = 2**30


@dataclass(frozen=True)
class Case:
    model: str
    method: str
    length: int
    batch: int
    checkpointing: bool
    optimizer: str
    lora_r: int = 16
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")

    @property
    def label(self) -> str:
        gc_flag = "GC" if self.checkpointing else "noGC"
        return f"{self.model} {self.method} {self.batch}×{self.length} {gc_flag} {self.optimizer}"


def build_model(case: Case, device: str, workdir: Path) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    entry = find_entry(case.model)
    assert entry is not None, case.model
    cfg = dict(entry.config)
    model_type = cfg.pop("model_type")
    if "text_config" in cfg:  # train the text model only (the calibration needs no vision tower)
        cfg = dict(cfg["text_config"])
        model_type = cfg.pop("model_type")
    config = AutoConfig.for_model(model_type, **cfg)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if case.method == "qlora":
        from transformers import BitsAndBytesConfig

        # bitsandbytes quantises at load time: save random bf16 weights once, reload them in 4 bit.
        path = workdir / case.model
        if not (path / "config.json").exists():
            AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).save_pretrained(path)
        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=torch.bfloat16)
        model = AutoModelForCausalLM.from_pretrained(path, quantization_config=quant, dtype=torch.bfloat16,
                                                     device_map={"": 0})
    else:
        model = AutoModelForCausalLM.from_config(config, dtype=dtype).to(device)
    if case.checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if case.method in {"lora", "qlora"}:
        from peft import LoraConfig, get_peft_model

        if case.checkpointing:
            model.enable_input_require_grads()
        model = get_peft_model(model, LoraConfig(r=case.lora_r, lora_alpha=2 * case.lora_r, lora_dropout=0.05,
                                                 target_modules=list(case.targets), task_type="CAUSAL_LM"))
    return model


def make_optimizer(model: Any, name: str) -> Any:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    if name == "adamw_8bit":
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, lr=1e-5)
    return torch.optim.AdamW(params, lr=1e-5)


def train_steps(model: Any, optimizer: Any, case: Case, device: str, steps: int) -> dict[str, float]:
    import torch

    vocab = model.config.get_text_config().vocab_size if hasattr(model.config, "get_text_config") else \
        model.config.vocab_size
    ids = torch.randint(0, vocab, (case.batch, case.length), device=device)

    def loss_of() -> Any:
        # Like Trainer.compute_loss: the outputs (and their logits) go out of scope before backward.
        return model(input_ids=ids, labels=ids).loss

    peak_alloc = peak_reserved = 0
    for step in range(steps):
        if device == "cuda" and step == 1:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        loss = loss_of()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        del loss
    if device == "cuda":
        torch.cuda.synchronize()
        peak_alloc = torch.cuda.max_memory_allocated()
        peak_reserved = torch.cuda.max_memory_reserved()
    return {"allocated": float(peak_alloc), "reserved": float(peak_reserved)}


def cuda_context_bytes() -> float:
    """Device memory in use that torch's allocator does not account for (context, cuBLAS workspace)."""
    import torch

    torch.cuda.init()
    a = torch.randn(1024, 1024, device="cuda", dtype=torch.bfloat16)
    (a @ a).sum().item()  # load cuBLAS
    free, total = torch.cuda.mem_get_info()
    return float(total - free - torch.cuda.memory_reserved())


def estimate(case: Case) -> Any:
    arch = resolve_architecture(case.model)
    return estimate_training(MemoryInputs(
        arch=arch, method=case.method, max_length=case.length, batch_size=case.batch, gradient_accumulation=1,
        lora_r=case.lora_r, lora_targets=case.targets, optimizer=case.optimizer,
        gradient_checkpointing=case.checkpointing, dtype="bf16", lora_dropout=0.05, loss_impl="hf",
        include_vision=False))


def grid(models: list[str], methods: list[str], lengths: list[int], batches: list[int],
         checkpointing: list[bool]) -> list[Case]:
    cases = []
    for model, method, length, batch, gc_flag in itertools.product(models, methods, lengths, batches, checkpointing):
        optimizer = "adamw_8bit" if method == "qlora" else "adamw_torch"
        cases.append(Case(model, method, length, batch, gc_flag, optimizer))
    return cases


def run(cases: list[Case], device: str, steps: int) -> list[dict[str, Any]]:
    import torch

    results = []
    with tempfile.TemporaryDirectory(prefix="calc-calib-") as tmp:
        for case in cases:
            started = time.monotonic()
            row: dict[str, Any] = {"case": case.label, **case.__dict__}
            try:
                model = build_model(case, device, Path(tmp))
                optimizer = make_optimizer(model, case.optimizer)
                measured = train_steps(model, optimizer, case, device, steps)
                est = estimate(case)
                row.update(measured_allocated=measured["allocated"], measured_reserved=measured["reserved"],
                           estimated_allocated=est.allocated_bytes, estimated_reserved=est.reserved_bytes,
                           seconds=round(time.monotonic() - started, 1))
                if measured["allocated"]:
                    row["err_allocated"] = (est.allocated_bytes - measured["allocated"]) / measured["allocated"]
                    row["err_reserved"] = (est.reserved_bytes - measured["reserved"]) / measured["reserved"]
            except torch.cuda.OutOfMemoryError:
                row["error"] = "OOM"
            except Exception as exc:  # keep going: one failing case must not lose the others
                row["error"] = f"{type(exc).__name__}: {exc}"[:300]
            finally:
                with contextlib.suppress(NameError):
                    del model, optimizer
                gc.collect()
                if device == "cuda":
                    torch.cuda.empty_cache()
            results.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "targets"}), file=sys.stderr, flush=True)
    return results


def markdown(results: list[dict[str, Any]], context: float | None, gpu: str) -> str:
    lines = [f"GPU: {gpu}" + (f"; CUDA context + cuBLAS outside torch: {context / 2**20:.0f} MiB" if context else ""),
             "", "| case | measured alloc (GiB) | estimated alloc | err | measured reserved | estimated reserved | err |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['case']} | {r['error']} | | | | | |")
            continue
        lines.append(f"| {r['case']} | {r['measured_allocated'] / GiB:.2f} | {r['estimated_allocated'] / GiB:.2f} | "
                     f"{r.get('err_allocated', 0):+.1%} | {r['measured_reserved'] / GiB:.2f} | "
                     f"{r['estimated_reserved'] / GiB:.2f} | {r.get('err_reserved', 0):+.1%} |")
    errs = sorted(abs(r["err_allocated"]) for r in results if "err_allocated" in r)
    if errs:
        lines += ["", f"median |err| (allocated) {errs[len(errs) // 2]:.1%} over {len(errs)} cases"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--methods", default="full,lora,qlora")
    parser.add_argument("--lengths", default="512,2048,8192")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--checkpointing", default="on,off")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write every case as JSON here")
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="run one tiny case on CPU to check the plumbing (no memory figures)")
    args = parser.parse_args(argv)
    import torch

    if args.cpu_smoke:
        results = run([Case("smollm2-135m", "lora", 64, 1, True, "adamw_torch")], "cpu", 2)
        ok = all("error" not in r for r in results)
        print("cpu smoke:", "ok" if ok else results)
        return 0 if ok else 1
    if not torch.cuda.is_available():
        print("no CUDA device: run this on a GPU machine (or --cpu-smoke to check the script)", file=sys.stderr)
        return 2
    context = cuda_context_bytes()
    cases = grid(args.models.split(","), args.methods.split(","), [int(x) for x in args.lengths.split(",")],
                 [int(x) for x in args.batches.split(",")], [x == "on" for x in args.checkpointing.split(",")])
    results = run(cases, "cuda", args.steps)
    gpu = torch.cuda.get_device_name(0)
    if args.out:
        args.out.write_text(json.dumps({"gpu": gpu, "cuda_context_bytes": context, "results": results}, indent=2,
                                       default=str))
    print(markdown(results, context, gpu))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
