"""How a fine-tune uses the GPUs it runs on: one process, DDP, or FSDP full-shard.

`choose_strategy(config)` decides with the calculator's per-GPU estimate (`core.calc.per_gpu_estimate`):

* one GPU (or `--strategy single`): one process, as before.
* DDP when the model, the adapters and the optimizer fit on ONE GPU: every GPU holds a full replica and
  trains its own micro-batches; only gradients travel. The fastest choice whenever it fits (LoRA on small
  and mid models: the frozen base is the big term, and it fits one card).
* FSDP full-shard when only a sharded model fits: weights, gradients and optimizer states are divided over
  the GPUs, each decoder layer gathered for its own forward/backward. Slower (an all-gather per layer per
  pass) but the per-GPU weights term is ÷ N.
* Neither fits: FSDP is still chosen (it needs the least), and the reason says how short it is.

`--strategy ddp|fsdp|single` overrides it; the per-GPU figure shown is then the one for that strategy.
The world size is every GPU of the HF Jobs flavor, or of this machine for the local backend (`--gpus N`
uses N of them; on a machine without a GPU, N CPU processes with the gloo backend).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from core.errors import TunerError
from core.flavors import get_flavor
from core.launch.config import LaunchConfig

if TYPE_CHECKING:
    from core.calc.estimate import MemoryEstimate, MemoryInputs

LABELS = {"single": "one process", "ddp": "DDP", "fsdp": "FSDP full-shard"}


@dataclass(frozen=True)
class StrategyChoice:
    strategy: str
    """single, ddp or fsdp: what the generated script runs."""
    world_size: int
    """Training processes (ranks): one per GPU."""
    reason: str
    per_gpu_bytes: float | None = None
    """The calculator's per-GPU peak for the chosen strategy (None: model size unknown)."""
    capacity_bytes: float | None = None
    """One GPU's memory (None: unknown, e.g. CPU processes)."""
    per_gpu_by_strategy: dict[str, float] = field(default_factory=dict)
    """Per-GPU peak of every strategy that was weighed (ddp, fsdp)."""
    overridden: bool = False
    capacity_label_gb: float | None = None
    """One GPU's memory as the flavor names it (A100: 80 GB), for display; the verdict uses `capacity_bytes`."""

    @property
    def label(self) -> str:
        base = LABELS[self.strategy]
        return base if self.world_size == 1 else f"{base} × {self.world_size}"

    @property
    def fits(self) -> bool | None:
        if self.per_gpu_bytes is None or self.capacity_bytes is None:
            return None
        return self.per_gpu_bytes <= self.capacity_bytes

    def one_line(self) -> str:
        memory = ""
        if self.per_gpu_bytes is not None:
            label = self.capacity_label_gb or (self.capacity_bytes / 1e9 if self.capacity_bytes else None)
            of = f" of {label:g}" if label else ""
            memory = f", ≈{self.per_gpu_bytes / 1e9:.1f}{of} GB per GPU"
        return f"{self.label}{memory}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "world_size": self.world_size, "label": self.label,
                "reason": self.reason, "overridden": self.overridden,
                "per_gpu_bytes": None if self.per_gpu_bytes is None else int(self.per_gpu_bytes),
                "capacity_bytes": None if self.capacity_bytes is None else int(self.capacity_bytes),
                "per_gpu_by_strategy": {k: int(v) for k, v in self.per_gpu_by_strategy.items()}}


def memory_inputs(config: LaunchConfig, arch: Any) -> MemoryInputs:
    """The calculator's inputs for what the generated script trains (LoRA or QLoRA, bf16 compute)."""
    from core.calc.estimate import MemoryInputs

    return MemoryInputs(
        arch=arch, method="qlora" if config.load_in_4bit else "lora", max_length=config.max_length,
        batch_size=config.batch_size, gradient_accumulation=config.gradient_accumulation,
        lora_r=config.lora_r, lora_targets=tuple(config.lora_targets), optimizer=config.optimizer,
        gradient_checkpointing=config.gradient_checkpointing, dtype="bf16")


def local_gpu_count() -> int:
    """CUDA GPUs on this machine (nvidia-smi; CUDA_VISIBLE_DEVICES narrows it as it does for torch)."""
    import os

    exe = shutil.which("nvidia-smi")
    if not exe:
        return 0
    try:
        out = subprocess.run([exe, "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    count = len([line for line in out.splitlines() if line.strip()])
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        count = min(count, len([v for v in visible.split(",") if v.strip()]))
    return count


def world_size(config: LaunchConfig, *, local_gpus: int | None = None) -> int:
    """Training processes: the flavor's GPUs (HF Jobs) or this machine's (local), `gpus` when set."""
    if config.strategy == "single" or config.backend == "mlx":
        return 1
    if config.backend == "hf-jobs":
        flavor = get_flavor(config.flavor)
        available = max(1, flavor.gpu_count) if flavor is not None else 1
        return min(config.gpus, available) if config.gpus else available
    if config.gpus:
        return config.gpus  # local: N GPUs, or N CPU processes (gloo) on a machine without one
    return max(1, local_gpus if local_gpus is not None else local_gpu_count())


def gpu_capacity(config: LaunchConfig, local_gpu_memory_gb: float | None = None) -> float | None:
    if config.backend == "hf-jobs":
        from core.calc.gpus import gpu_capacity_bytes

        flavor = get_flavor(config.flavor)
        return gpu_capacity_bytes(flavor) if flavor is not None and flavor.is_gpu else None
    return local_gpu_memory_gb * 1e9 if local_gpu_memory_gb else None


def choose_strategy(config: LaunchConfig, *, arch: Any = None, world: int | None = None,
                    capacity_bytes: float | None = None, allow_hub: bool = False) -> StrategyChoice:
    """The strategy for `config` on `world` GPUs of `capacity_bytes` each (defaults: from the config).

    `arch` is resolved from the model id when not given (catalog / local config.json; the Hub only with
    `allow_hub`); a model that cannot be resolved gets DDP, the launcher's usual default, with that reason.
    """
    choice = _choose(config, arch, world if world is not None else world_size(config),
                     capacity_bytes if capacity_bytes is not None else gpu_capacity(config), allow_hub)
    label = None
    if capacity_bytes is None and config.backend == "hf-jobs" and (flavor := get_flavor(config.flavor)) is not None:
        label = flavor.gpu_memory_gb
    elif choice.capacity_bytes:
        label = round(choice.capacity_bytes / 1e9)
    return replace(choice, capacity_label_gb=label)


def _choose(config: LaunchConfig, arch: Any, n: int, capacity: float | None, allow_hub: bool) -> StrategyChoice:
    override = config.strategy if config.strategy != "auto" else None
    if n <= 1 or override == "single":
        return StrategyChoice("single", 1, "chosen with --strategy single" if override == "single"
                              else "one GPU", overridden=override == "single",
                              capacity_bytes=capacity, **_single_estimate(config, arch, allow_hub))
    estimates = _estimates(config, arch, n, allow_hub)
    if estimates is None:
        name = override or "ddp"
        why = (f"chosen with --strategy {name}" if override else
               "model size unknown to the calculator: DDP (one full replica per GPU), the usual default")
        return StrategyChoice(name, n, why, capacity_bytes=capacity, overridden=bool(override))
    per_gpu = {name: float(est.total_bytes) for name, est in estimates.items()}
    ddp, fsdp = per_gpu["ddp"], per_gpu["fsdp"]
    if override:
        why = f"chosen with --strategy {override}"
        if override == "ddp" and capacity and ddp > capacity:
            why += f"; it does not fit one GPU: FSDP would need ≈{fsdp / 1e9:.1f} GB per GPU"
        return StrategyChoice(override, n, why, per_gpu[override], capacity, per_gpu, overridden=True)
    if capacity is None or ddp <= capacity:
        why = ("model + adapters + optimizer fit one GPU, so each GPU keeps a full replica and only gradients "
               "travel (the fastest way)" if capacity else "GPU memory unknown: DDP (one full replica per GPU)")
        return StrategyChoice("ddp", n, why, ddp, capacity, per_gpu)
    if fsdp <= capacity:
        why = (f"only a sharded model fits: DDP would need ≈{ddp / 1e9:.1f} GB per GPU; FSDP divides weights, "
               f"gradients and optimizer states over the {n} GPUs")
        return StrategyChoice("fsdp", n, why, fsdp, capacity, per_gpu)
    why = (f"does not fit even sharded (DDP ≈{ddp / 1e9:.1f} GB per GPU): lower max_length or batch size, "
           "turn on 4-bit, or pick a flavor with more GPU memory")
    return StrategyChoice("fsdp", n, why, fsdp, capacity, per_gpu)


def _resolve(config: LaunchConfig, arch: Any, allow_hub: bool) -> Any:
    if arch is not None:
        return arch
    if not config.base_model.strip():
        return None
    try:
        from core.calc import resolve_architecture

        return resolve_architecture(config.base_model, allow_hub=allow_hub)
    except (TunerError, ImportError, OSError, ValueError):
        return None


def _estimates(config: LaunchConfig, arch: Any, n: int, allow_hub: bool) -> dict[str, MemoryEstimate] | None:
    arch = _resolve(config, arch, allow_hub)
    if arch is None:
        return None
    from core.calc.estimate import per_gpu_estimate

    try:
        inputs = memory_inputs(config, arch)
        return {name: per_gpu_estimate(inputs, name, n) for name in ("ddp", "fsdp")}
    except TunerError:
        return None


def _single_estimate(config: LaunchConfig, arch: Any, allow_hub: bool) -> dict[str, Any]:
    arch = _resolve(config, arch, allow_hub)
    if arch is None:
        return {}
    from core.calc.estimate import estimate_training

    try:
        total = float(estimate_training(memory_inputs(config, arch)).total_bytes)
    except TunerError:
        return {}
    return {"per_gpu_bytes": total, "per_gpu_by_strategy": {"single": total}}


__all__ = ["LABELS", "StrategyChoice", "choose_strategy", "gpu_capacity", "local_gpu_count", "memory_inputs",
           "world_size"]
