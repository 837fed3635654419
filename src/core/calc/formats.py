"""Bytes per value for weight formats, optimizer states and activations; the named choices the UI offers."""

from __future__ import annotations

from core.errors import TunerError

METHODS = ("full", "lora", "qlora")
DTYPES = ("bf16", "fp16", "fp32")
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}

# Bytes per parameter of a *quantised decoder Linear*; embeddings, LM head and norms stay 16-bit.
WEIGHT_FORMATS: dict[str, float] = {
    "bf16": 2.0,
    "fp16": 2.0,
    "fp32": 4.0,
    "fp8": 1.0,                       # e4m3 with block scales (128×128 fp32: 4/16384 B, negligible)
    "int8": 1.0,                      # bitsandbytes LLM.int8 (int8 + fp32 row scale, /d_in)
    "gptq-int8": 1.0 + 3 / 128,       # 8-bit + fp16 scale + 8-bit zero per group of 128
    "gptq-int4": 0.5 + 2.5 / 128,     # 4-bit + fp16 scale + 4-bit zero per group of 128
    "awq-int4": 0.5 + 2.5 / 128,
    "nf4": 0.5 + 4 / 64,              # NF4 + fp32 absmax per block of 64 (QLoRA paper: 4.5 bits)
    "nf4-dq": 0.5 + 1 / 64 + 4 / (64 * 256),  # double quant: 8-bit absmax + fp32 per 256 blocks (4.127 bits)
}
QLORA_FORMATS = ("nf4-dq", "nf4")

# name -> (bytes per trainable parameter of optimizer state on the GPU, paged?)
# AdamW keeps two states in the parameter dtype (torch), so its size depends on the dtype: None below.
OPTIMIZERS: dict[str, tuple[float | None, bool]] = {
    "adamw_torch": (None, False),
    "adamw_8bit": (2.0 + 2 * 4 / 256, False),           # bnb: 1 B per state + fp32 absmax per 256-block
    "paged_adamw_8bit": (2.0 + 2 * 4 / 256, True),
    "paged_adamw_32bit": (8.0, True),
    "adafactor": (0.0, False),                          # factored second moment: O(rows+cols), ~0
    "sgd": (0.0, False),
}
OPTIMIZER_ALIASES = {
    "adamw": "adamw_torch", "adam": "adamw_torch", "adamw_torch_fused": "adamw_torch",
    "adamw_bnb_8bit": "adamw_8bit", "adamw8bit": "adamw_8bit", "8bit": "adamw_8bit",
    "paged_adamw": "paged_adamw_32bit", "paged_adamw8bit": "paged_adamw_8bit",
}

# How the loss is computed (constants.CE_PEAK_BYTES): what is alive per token × vocab at the loss peak.
LOSS_IMPLS = ("hf", "hf-outputs-kept", "fp32-logits", "bf16-logits", "chunked")
LOSS_LABELS = {
    "hf": "full fp32 logits (transformers loss; the guide)",
    "hf-outputs-kept": "transformers loss, own loop keeping outputs",
    "fp32-logits": "fp32 logits kept (transformers ≤4.45, torchtune)",
    "bf16-logits": "bf16 logits and CE (LitGPT)",
    "chunked": "fused LM head (TRL ≥1.16 SFT, Liger, CCE)",
}
ATTENTION_IMPLS = ("sdpa", "eager")


def normalise_optimizer(name: str) -> str:
    key = (name or "").strip().lower().replace("-", "_")
    key = OPTIMIZER_ALIASES.get(key, key)
    if key not in OPTIMIZERS:
        raise TunerError(f"unknown optimizer {name!r}", field="optimizer", hint=", ".join(OPTIMIZERS))
    return key


def optimizer_bytes(name: str, param_bytes: float) -> tuple[float, bool]:
    """(bytes of optimizer state per trainable parameter, paged?)."""
    per_param, paged = OPTIMIZERS[normalise_optimizer(name)]
    return (2 * param_bytes if per_param is None else per_param), paged


def weight_format_bytes(fmt: str) -> float:
    key = fmt.strip().lower()
    if key not in WEIGHT_FORMATS:
        raise TunerError(f"unknown weight format {fmt!r}", field="quant", hint=", ".join(WEIGHT_FORMATS))
    return WEIGHT_FORMATS[key]
