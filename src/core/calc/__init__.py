"""GPU memory estimator for fine-tuning (full / LoRA / QLoRA) and inference.

    arch = resolve_architecture("gemma-3-12b")
    est = estimate_training(MemoryInputs(arch=arch, method="qlora", max_length=16384))
    est.total_bytes, est.terms, est.fits("a100-large"), est.cheapest_flavor
    per_gpu_estimate(inputs, "fsdp", 4)       # one GPU's share when the run is sharded over 4
"""

from core.calc.architecture import ModelArchitecture, normalise_targets
from core.calc.estimate import (
    InferenceInputs,
    MemoryEstimate,
    MemoryInputs,
    MemoryTerm,
    estimate_inference,
    estimate_training,
    kv_cache_bytes,
    lora_params,
    per_gpu_estimate,
)
from core.calc.resolve import resolve_architecture

__all__ = [
    "InferenceInputs",
    "MemoryEstimate",
    "MemoryInputs",
    "MemoryTerm",
    "ModelArchitecture",
    "estimate_inference",
    "estimate_training",
    "kv_cache_bytes",
    "lora_params",
    "normalise_targets",
    "per_gpu_estimate",
    "resolve_architecture",
]
