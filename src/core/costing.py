"""Time and cost of a training run on each HF Jobs flavor.

Time = tokens to process × training FLOPs per token ÷ (GPU dense bf16 peak × utilisation) + a fixed
start-up allowance (image pull, `uv` install, model download). The utilisation (MFU) is the throughput
assumption the user can change, or they can give tokens/second directly.

Default MFU: 0.12 for QLoRA (bitsandbytes dequantises every weight on every matmul and batches are
small), 0.25 for LoRA / full fine-tuning. With these, the guide's cost table is reproduced: Gemma 3 12B
QLoRA, 1K examples × 3 epochs at ~2k tokens on an A100 takes ~3.3 h (guide: 3-4 h), Llama 3.1 8B
QLoRA at ~1k tokens on an A10G ~2.7 h (guide: 2-3 h). tests/calc/test_costing.py checks both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core import flavors as flavor_table
from core.calc.gpus import gpu_capacity_bytes
from core.calc.sharding import SCALING_EFFICIENCY
from core.errors import TunerError
from core.flavors import Flavor

if TYPE_CHECKING:
    from core.calc.estimate import MemoryEstimate, MemoryInputs

# Dense (no sparsity) bf16/fp16 tensor-core peak per GPU, TFLOP/s, from NVIDIA datasheets.
GPU_PEAK_TFLOPS: dict[str, float] = {
    "T4": 65.0,            # fp16 (no bf16 on Turing)
    "L4": 121.0,
    "A10G": 125.0,         # NVIDIA A10 datasheet figure; the AWS A10G variant is close to it
    "L40S": 362.0,
    "A100": 312.0,
    "H200": 989.0,
    "RTX PRO 6000": 500.0,
}
DEFAULT_MFU = {"qlora": 0.12, "lora": 0.25, "full": 0.25}
STARTUP_SECONDS = 300.0
"""Scheduling, image pull, dependency install and model download before the first step (a rough allowance)."""


@dataclass(frozen=True)
class RunPlan:
    examples: int = 1000
    epochs: float = 3.0
    tokens_per_example: int = 2048
    """Average tokens per example after truncation to max_length (padding-free: what the GPU computes)."""
    mfu: float | None = None
    """Model FLOPs utilisation; None = the method's default."""
    tokens_per_second: float | None = None
    """If given, overrides the FLOPs model on every GPU."""
    startup_seconds: float = STARTUP_SECONDS

    def validated(self) -> RunPlan:
        if isinstance(self.examples, bool) or not isinstance(self.examples, int) or self.examples <= 0:
            raise TunerError(f"must be a positive whole number (got {self.examples!r})", field="examples")
        if not isinstance(self.epochs, (int, float)) or not 0 < self.epochs <= 1000:
            raise TunerError(f"must be between 0 and 1000 (got {self.epochs!r})", field="epochs")
        if not isinstance(self.tokens_per_example, int) or self.tokens_per_example <= 0:
            raise TunerError(f"must be a positive whole number (got {self.tokens_per_example!r})",
                             field="tokens_per_example")
        if self.mfu is not None and not 0 < self.mfu <= 1:
            raise TunerError(f"must be in (0, 1] (got {self.mfu!r})", field="mfu")
        if self.tokens_per_second is not None and self.tokens_per_second <= 0:
            raise TunerError(f"must be positive (got {self.tokens_per_second!r})", field="tokens_per_second")
        return self


@dataclass(frozen=True)
class RunCost:
    flavor: Flavor
    fits: bool
    headroom_bytes: float
    tokens_per_second: float
    seconds: float
    cost: float
    steps: int
    problem: str | None = None
    """Why it cannot run at all (e.g. no bf16), independent of memory."""
    strategy: str = "single"
    """How the run uses the flavor's GPUs (core.calc.sharding); the memory verdict is per GPU."""
    peak_bytes: float = 0.0
    """The per-GPU peak under that strategy."""

    @property
    def tight(self) -> bool:
        """Fits with less than 10% of the card to spare: at long context the estimate can be ~10% low
        (docs/benchmarks/calc.md), and a longer sample or a library update can OOM."""
        return self.fits and self.headroom_bytes < 0.10 * gpu_capacity_bytes(self.flavor)

    @property
    def hours(self) -> float:
        return self.seconds / 3600.0

    def to_dict(self) -> dict[str, Any]:
        return {"flavor": self.flavor.name, "gpu": self.flavor.gpu_name, "gpu_count": self.flavor.gpu_count,
                "gpu_memory_gb": self.flavor.gpu_memory_gb, "price_per_hour": self.flavor.price_per_hour,
                "fits": self.fits, "tight": self.tight, "problem": self.problem,
                "headroom_gb": round(self.headroom_bytes / 1e9, 2),
                "tokens_per_second": round(self.tokens_per_second, 1), "hours": round(self.hours, 2),
                "cost_usd": round(self.cost, 2), "steps": self.steps, "strategy": self.strategy,
                "peak_gb": round(self.peak_bytes / 1e9, 2)}


def training_flops_per_token(estimate: MemoryEstimate, seq_len: int | None = None) -> float:
    """Matmul FLOPs per trained token: forward 2P, backward 2P (input grads) [+2P weight grads if full]
    [+2P recompute with checkpointing], plus causal attention (2·L·s·q per pass)."""
    inputs = estimate.inputs
    arch = estimate.arch
    method = getattr(inputs, "method", "full")
    passes = 2.0 + (1.0 if method == "full" else 0.0) + (1.0 if getattr(inputs, "gradient_checkpointing", False) else 0.0)
    dense = 2.0 * arch.text_params * passes
    seq = seq_len or getattr(inputs, "max_length", 2048)
    attention = 2.0 * arch.num_layers * seq * arch.q_width * passes / 2  # causal: half the scores
    return dense + attention


def steps_for(examples: int, epochs: float, batch_size: int, gradient_accumulation: int) -> int:
    """Optimizer steps: ceil(examples / effective batch) per epoch (the guide's `(1294 ÷ 8) × 3 = 486`)."""
    per_epoch = math.ceil(examples / max(1, batch_size * gradient_accumulation))
    return math.ceil(per_epoch * epochs)


def run_cost(estimate: MemoryEstimate, plan: RunPlan, flavor: Flavor | str) -> RunCost:
    """Time and cost of the run on `flavor` with the estimate's own parallelism (one GPU unless it says
    otherwise): the memory verdict is the estimate's per-GPU peak against one of the flavor's GPUs."""
    plan = plan.validated()
    fl = flavor if isinstance(flavor, Flavor) else flavor_table.get_flavor(flavor)
    if fl is None or not fl.is_gpu:
        raise TunerError(f"unknown GPU flavor {flavor!r}", field="flavor")
    inputs = estimate.inputs
    method = getattr(inputs, "method", "full")
    tokens_per_example = min(plan.tokens_per_example, getattr(inputs, "max_length", plan.tokens_per_example))
    total_tokens = plan.examples * plan.epochs * tokens_per_example
    par = estimate.parallel
    if plan.tokens_per_second:
        tps = plan.tokens_per_second
    else:
        mfu = plan.mfu if plan.mfu is not None else DEFAULT_MFU.get(method, 0.25)
        peak = GPU_PEAK_TFLOPS.get(fl.gpu_name or "", 100.0) * 1e12
        # device_map="auto" splits a model over a flavor's GPUs but runs them one after another, so a
        # multi-GPU flavor without data parallelism trains at one GPU's speed.
        tps = peak * mfu / training_flops_per_token(estimate, tokens_per_example)
    if par.data_parallel > 1:
        tps *= par.data_parallel * SCALING_EFFICIENCY.get(par.strategy, 0.8)
    elif par.strategy.endswith("offload"):
        tps *= SCALING_EFFICIENCY[par.strategy]
    seconds = total_tokens / tps + plan.startup_seconds
    steps = steps_for(plan.examples, plan.epochs, getattr(inputs, "batch_size", 1) * par.data_parallel,
                      getattr(inputs, "gradient_accumulation", 1))
    return RunCost(flavor=fl, fits=estimate.usable(fl), headroom_bytes=estimate.headroom_bytes(fl),
                   tokens_per_second=tps, seconds=seconds, cost=fl.cost(seconds), steps=steps,
                   problem=estimate.unsupported(fl), strategy=par.strategy, peak_bytes=estimate.total_bytes)


def run_costs(estimate: MemoryEstimate, plan: RunPlan) -> list[RunCost]:
    """Every GPU flavor judged with this one estimate (its per-GPU peak), the ones that fit first."""
    rows = [run_cost(estimate, plan, fl) for fl in flavor_table.gpu_flavors()]
    return sorted(rows, key=lambda r: (not r.fits, r.cost, r.flavor.price_per_hour))


def flavor_estimates(inputs: MemoryInputs, strategy: str = "auto") -> list[tuple[Flavor, MemoryEstimate]]:
    """For every GPU flavor, the per-GPU estimate of the run spread over all its GPUs.

    One-GPU flavors run it on one GPU (a named offload strategy applies there too). On an N-GPU flavor a
    named strategy is used as is; `auto` takes the fastest of DDP, ZeRO-2, FSDP, ZeRO-3, ZeRO-2/3 offload
    whose per-GPU peak fits (if none fits, the one with the smallest peak, so the verdict says how short).
    """
    from core.calc.estimate import per_gpu_estimate
    from core.calc.sharding import AUTO_ORDER, normalise_strategy

    named = None if (strategy or "auto").strip().lower() == "auto" else normalise_strategy(strategy)
    single = per_gpu_estimate(inputs, "single", 1)
    out: list[tuple[Flavor, MemoryEstimate]] = []
    cache: dict[tuple[str, int], MemoryEstimate] = {("single", 1): single}

    def get(name: str, n: int) -> MemoryEstimate:
        key = (name, n)
        if key not in cache:
            cache[key] = per_gpu_estimate(inputs, name, n)
        return cache[key]

    for fl in flavor_table.gpu_flavors():
        n = fl.gpu_count
        if named is not None:
            out.append((fl, get(named if (n > 1 or named.endswith("offload")) else "single", n)))
            continue
        if n == 1:
            out.append((fl, single))
            continue
        candidates = [get(name, n) for name in AUTO_ORDER]
        fitting = [e for e in candidates if e.usable(fl)]
        out.append((fl, fitting[0] if fitting else min(candidates, key=lambda e: e.total_bytes)))
    return out


def run_costs_by_flavor(inputs: MemoryInputs, plan: RunPlan, strategy: str = "auto") -> list[RunCost]:
    """Every GPU flavor with its own strategy and per-GPU estimate, the ones that fit first, cheapest first."""
    rows = [run_cost(est, plan, fl) for fl, est in flavor_estimates(inputs, strategy)]
    return sorted(rows, key=lambda r: (not r.fits, r.cost, r.flavor.price_per_hour))


def recommended(rows: list[RunCost]) -> RunCost | None:
    """The flavor with the lowest hourly price that fits (the guide's rule, and `cheapest_flavor`).

    Not the lowest run cost: that ranking rests on the MFU assumption, which is least reliable on the
    fastest GPUs (small QLoRA batches do not scale with peak FLOPs), so it is shown, not acted on.
    """
    fitting = [r for r in rows if r.fits]
    return min(fitting, key=lambda r: (r.flavor.price_per_hour, r.flavor.gpu_memory_gb)) if fitting else None
