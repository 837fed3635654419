"""How a training run is spread over GPUs, and which memory terms that divides.

`Parallelism(strategy, world_size, shard_size)`; `per_gpu_estimate(inputs, strategy, world_size)` in
`core.calc.estimate` applies it. Strategies (data parallel unless noted; every GPU runs its own micro-batch,
so activations, logits and the loss are never divided):

- single: one GPU.
- ddp: DistributedDataParallel. Everything replicated; gradients live in DDP's buckets.
- fsdp: FSDP FULL_SHARD. Weights, gradients and optimizer states ÷ N; each wrapped unit (one decoder layer)
  is all-gathered for its forward/backward, the next one prefetched, and its gradients reduce-scattered.
- fsdp-offload: FSDP full shard with CPUOffload(offload_params=True) (torchtune `fsdp_cpu_offload`, accelerate
  `fsdp_offload_params`): the sharded parameters, their gradients and the optimizer step live in host RAM;
  the GPU holds only the units being all-gathered (current + prefetched) and the gradients being reduced.
- fsdp-hybrid: HYBRID_SHARD. Full shard inside a group of `shard_size` GPUs, replicated across groups.
- zero2 / zero2-offload: DeepSpeed ZeRO-2 (optimizer states and fp32 gradients partitioned; fp32 master
  weights as DeepSpeed keeps them for bf16 runs); offload puts the optimizer on the CPU.
- zero3 / zero3-offload: ZeRO-3 (the weights partitioned too); offload puts parameters and optimizer on the
  CPU. Model-state figures follow DeepSpeed's own `estimate_zero2/zero3_model_states_mem_needs`
  (GPU: ZeRO-2 4·P + 16·P/N, offload 2·P; ZeRO-3 largest layer × 4 + 18·P/N, offload largest layer;
  CPU with offload: P·max(4·N, 16 or 18) × 1.5).
- device-map: transformers' `device_map="auto"` (no data parallelism): the layers are split over the GPUs
  and run one after another, so each GPU holds 1/N of the model and its activations, the last one the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import TunerError

STRATEGIES = ("single", "ddp", "fsdp", "fsdp-offload", "fsdp-hybrid", "zero2", "zero2-offload", "zero3", "zero3-offload",
              "device-map")
STRATEGY_ALIASES = {
    "none": "single", "1gpu": "single", "fsdp-full": "fsdp", "full-shard": "fsdp", "full_shard": "fsdp",
    "fsdp_full_shard": "fsdp", "fsdp-cpu-offload": "fsdp-offload", "fsdp-cpu": "fsdp-offload", "hybrid": "fsdp-hybrid", "hybrid-shard": "fsdp-hybrid", "hybrid_shard": "fsdp-hybrid",
    "zero-2": "zero2", "zero-3": "zero3", "deepspeed-zero2": "zero2", "deepspeed-zero3": "zero3",
    "zero2-cpu": "zero2-offload", "zero3-cpu": "zero3-offload", "zero-2-offload": "zero2-offload",
    "zero-3-offload": "zero3-offload", "device_map": "device-map", "pipeline": "device-map",
}
STRATEGY_LABELS = {
    "single": "one GPU", "ddp": "DDP (replicated)", "fsdp": "FSDP full shard", "fsdp-hybrid": "FSDP hybrid shard",
    "zero2": "DeepSpeed ZeRO-2", "zero2-offload": "ZeRO-2 + CPU optimizer", "zero3": "DeepSpeed ZeRO-3",
    "zero3-offload": "ZeRO-3 + CPU params/optimizer", "fsdp-offload": "FSDP + CPU params/optimizer", "device-map": "device_map=auto (layers split)",
}
# Throughput of N GPUs relative to N × one GPU (communication, CPU optimizer steps): an assumption for the
# cost estimate, not a measurement. device-map runs the GPUs one after another: one GPU's speed in total.
SCALING_EFFICIENCY = {"single": 1.0, "ddp": 0.95, "fsdp": 0.85, "fsdp-offload": 0.45, "fsdp-hybrid": 0.9, "zero2": 0.9,
                      "zero2-offload": 0.55, "zero3": 0.8, "zero3-offload": 0.45, "device-map": 1.0}
AUTO_ORDER = ("ddp", "zero2", "fsdp", "zero3", "zero2-offload", "zero3-offload")
"""What `auto` tries on a multi-GPU flavor, fastest first; the first that fits is used."""
ZERO3_LARGEST_LAYER_BYTES = 4
"""DeepSpeed's `largest_layer_memory = 4 × largest_layer_params` (16-bit parameters + gradients gathered)."""
ZERO_CPU_BUFFER = 1.5
"""DeepSpeed's `additional_buffer_factor` for the CPU side of offload."""
DDP_BUCKET_BYTES = 25 * 1024**2
"""DDP's default bucket_cap_mb: gradients are views into buckets; one more bucket is in flight."""


def normalise_strategy(name: str) -> str:
    key = (name or "single").strip().lower().replace("_", "-")
    key = STRATEGY_ALIASES.get(key, STRATEGY_ALIASES.get(key.replace("-", "_"), key))
    if key not in STRATEGIES:
        raise TunerError(f"unknown strategy {name!r}", field="strategy", hint=", ".join(STRATEGIES) + " or auto")
    return key


@dataclass(frozen=True)
class Parallelism:
    strategy: str = "single"
    world_size: int = 1
    shard_size: int | None = None
    """fsdp-hybrid: GPUs per shard group (default: all of them, i.e. one node = full shard)."""

    def validated(self) -> Parallelism:
        strategy = normalise_strategy(self.strategy)
        if isinstance(self.world_size, bool) or not isinstance(self.world_size, int) or not 1 <= self.world_size <= 4096:
            raise TunerError(f"must be a whole number of GPUs from 1 to 4096 (got {self.world_size!r})", field="gpus")
        if strategy == "single" and self.world_size > 1:
            strategy = "ddp"
        shard = self.shard_size
        if strategy == "fsdp-hybrid":
            shard = shard or self.world_size
            if shard < 1 or self.world_size % shard:
                raise TunerError(f"shard size {shard} must divide the {self.world_size} GPUs", field="shard_size")
        else:
            shard = None
        return Parallelism(strategy, self.world_size, shard)

    @property
    def shards(self) -> int:
        """Over how many GPUs the sharded states are divided."""
        if self.strategy == "fsdp-hybrid":
            return self.shard_size or self.world_size
        if self.strategy in {"fsdp", "fsdp-offload", "zero2", "zero2-offload", "zero3", "zero3-offload", "device-map"}:
            return self.world_size
        return 1

    @property
    def data_parallel(self) -> int:
        """How many micro-batches run at once (device-map: one)."""
        return 1 if self.strategy == "device-map" else self.world_size

    @property
    def label(self) -> str:
        base = STRATEGY_LABELS[self.strategy]
        return base if self.world_size == 1 else f"{base} × {self.world_size} GPUs"

    def to_dict(self) -> dict[str, object]:
        return {"strategy": self.strategy, "world_size": self.world_size, "shard_size": self.shard_size,
                "label": self.label}


__all__ = ["AUTO_ORDER", "SCALING_EFFICIENCY", "STRATEGIES", "STRATEGY_LABELS", "Parallelism",
           "normalise_strategy"]
