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
    "fp4": 0.5 + 4 / 64,              # bitsandbytes FP4: same blocks and absmax as NF4, another 4-bit code
    "fp4-dq": 0.5 + 1 / 64 + 4 / (64 * 256),
}
FORMAT_ALIASES = {
    "bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32",
    "llm.int8": "int8", "llm-int8": "int8", "bnb-int8": "int8", "8bit": "int8", "load_in_8bit": "int8",
    "bnb-nf4": "nf4", "4bit": "nf4-dq", "load_in_4bit": "nf4-dq", "nf4+dq": "nf4-dq", "nf4_dq": "nf4-dq",
    "bnb-fp4": "fp4", "fp4+dq": "fp4-dq", "fp4_dq": "fp4-dq",
    "gptq": "gptq-int4", "gptq-4bit": "gptq-int4", "gptq-int4-g128": "gptq-int4", "gptq-8bit": "gptq-int8",
    "awq": "awq-int4", "awq-4bit": "awq-int4", "fp8-e4m3": "fp8", "float8": "fp8",
}
QLORA_FORMATS = ("nf4-dq", "nf4", "fp4-dq", "fp4")
"""bitsandbytes 4-bit formats (± double quantisation): what `--method qlora` trains on."""
QUANT_FORMATS = ("nf4-dq", "nf4", "fp4-dq", "fp4", "int8", "gptq-int4", "gptq-int8", "awq-int4", "fp8")
"""Frozen quantised bases an adapter can be trained on (QLoRA-style): its Linears stay in this format."""

# name -> (bytes per trainable parameter of optimizer state on the GPU, paged?). The names are HF
# TrainingArguments' `optim` values. torch optimizers keep their states in the parameter dtype, so their size
# depends on it: None below, with the number of parameter-sized states in PARAM_DTYPE_STATES.
OPTIMIZERS: dict[str, tuple[float | None, bool]] = {
    "adamw_torch": (None, False),
    "adamw_torch_fused": (None, False),                 # fused kernel: no parameter-sized step temporary
    "adamw_8bit": (2.0 + 2 * 4 / 256, False),           # bnb: 1 B per state + fp32 absmax per 256-block
    "paged_adamw_8bit": (2.0 + 2 * 4 / 256, True),
    "paged_adamw_32bit": (8.0, True),
    # torchao's low-bit AdamW (HF `adamw_torch_8bit` / `adamw_torch_4bit`, torchtune's `torchao.optim.AdamW8bit`):
    # 8-bit codes with one fp32 scale per block of 256 values; 4-bit: two codes a byte, fp32 scale per 128.
    "adamw_torch_8bit": (2 * (1.0 + 4 / 256), False),
    "adamw_torch_4bit": (2 * (0.5 + 4 / 128), False),
    # Lion keeps one momentum state (bitsandbytes: fp32 for 32-bit, blockwise 8-bit like its AdamW).
    "lion_32bit": (4.0, False),
    "lion_8bit": (1.0 + 4 / 256, False),
    "paged_lion_32bit": (4.0, True),
    "paged_lion_8bit": (1.0 + 4 / 256, True),
    "adafactor": (0.0, False),                          # factored second moment: O(rows+cols), ~0
    "adagrad": (None, False),                           # torch: one state (sum of squares)
    "rmsprop": (None, False),                           # torch: one state (square average)
    "sgd": (0.0, False),                                # torch SGD, momentum 0 (HF's default)
    "sgd_momentum": (None, False),                      # torch SGD with momentum: one buffer
    # GaLore (full fine-tuning): the decoder Linears' states live on rank-r projected gradients; see
    # core.calc.estimate.galore_state_bytes. The figure here is for the parameters GaLore does not project.
    "galore_adamw": (None, False),
    "galore_adamw_8bit": (2.0 + 2 * 4 / 256, False),
    "galore_adafactor": (0.0, False),
    "galore_adamw_layerwise": (None, False),
    "galore_adamw_8bit_layerwise": (2.0 + 2 * 4 / 256, False),
    "galore_adafactor_layerwise": (0.0, False),
}
GALORE_INNER = {"galore_adamw": "adamw_torch", "galore_adamw_8bit": "adamw_8bit", "galore_adafactor": "adafactor"}
"""The optimizer GaLore runs on the projected gradients (the _layerwise variants step in backward hooks)."""


def galore_inner(name: str) -> str | None:
    """adamw_torch / adamw_8bit / adafactor for a GaLore optimizer, else None."""
    return GALORE_INNER.get(name.removesuffix("_layerwise"))
PARAM_DTYPE_STATES = {"adamw_torch": 2, "adamw_torch_fused": 2, "adagrad": 1, "rmsprop": 1, "sgd_momentum": 1,
                      "galore_adamw": 2, "galore_adamw_layerwise": 2}
"""torch optimizers: how many parameter-sized states they keep, in the parameter's dtype."""
LOW_BIT_TORCHAO = ("adamw_torch_8bit", "adamw_torch_4bit")
OPTIMIZER_ALIASES = {
    "adamw": "adamw_torch", "adam": "adamw_torch", "adamw_fused": "adamw_torch_fused",
    "adamw_bnb_8bit": "adamw_8bit", "adamw8bit": "adamw_8bit", "8bit": "adamw_8bit",
    "paged_adamw": "paged_adamw_32bit", "paged_adamw8bit": "paged_adamw_8bit",
    "torchao_adamw_8bit": "adamw_torch_8bit", "ao_adamw_8bit": "adamw_torch_8bit", "adamw8bit_torchao": "adamw_torch_8bit",
    "torchao_adamw_4bit": "adamw_torch_4bit", "ao_adamw_4bit": "adamw_torch_4bit",
    "lion": "lion_32bit", "lion8bit": "lion_8bit", "paged_lion": "paged_lion_32bit",
    "sgd_nesterov": "sgd_momentum", "momentum": "sgd_momentum",
}

# How the loss is computed (constants.CE_PEAK_BYTES): what is alive per token × vocab at the loss peak.
LOSS_IMPLS = ("hf", "hf-outputs-kept", "fp32-logits", "bf16-logits", "chunked", "chunked-outputs", "liger", "cce")
LOSS_LABELS = {
    "hf": "full fp32 logits (transformers loss; the guide)",
    "hf-outputs-kept": "transformers loss, own loop keeping outputs",
    "fp32-logits": "fp32 logits kept (transformers ≤4.45, torchtune)",
    "bf16-logits": "bf16 logits and CE (LitGPT)",
    "chunked": "chunked CE (TRL ≥1.16 fused LM head)",
    "chunked-outputs": "torchtune chunked-output CE (bf16 logits of every chunk kept)",
    "liger": "Liger fused linear cross-entropy",
    "cce": "Cut Cross-Entropy (Apple; Unsloth, axolotl)",
}
LOSS_ALIASES = {"fused": "chunked", "chunked-ce": "chunked", "liger-flce": "liger", "flce": "liger",
                "cut-cross-entropy": "cce", "cut_cross_entropy": "cce", "transformers": "hf",
                "torchtune": "chunked-outputs", "torchtune-chunked": "chunked-outputs",
                "cewithchunkedoutputloss": "chunked-outputs"}
ATTENTION_IMPLS = ("sdpa", "eager", "flash-attention-2")
ATTENTION_ALIASES = {"flash": "flash-attention-2", "fa2": "flash-attention-2", "flash_attention_2": "flash-attention-2",
                     "flash-attn": "flash-attention-2", "flash_attn": "flash-attention-2", "flash-attention": "flash-attention-2"}
ADAPTER_DTYPES = ("fp32", "bf16", "fp16", "param")
"""PEFT keeps adapters in fp32 on a 16-bit base (autocast_adapter_dtype=True); bf16/fp16 = autocast off."""

PEFT_METHODS = ("lora", "lora-fa", "ia3", "ln-tuning", "prompt-tuning", "prefix-tuning")
"""The adapter on a frozen (--method lora) or quantised (--method qlora) base: LoRA (± DoRA), LoRA-FA (A frozen,
PEFT's lora-fa optimizer), IA3 (learned scaling vectors), LayerNorm tuning, prompt tuning (virtual tokens),
prefix tuning (trained keys and values per layer)."""
PEFT_METHOD_ALIASES = {"lorafa": "lora-fa", "lora_fa": "lora-fa", "ia³": "ia3", "ln_tuning": "ln-tuning",
                       "layernorm": "ln-tuning", "prompt_tuning": "prompt-tuning", "prompt": "prompt-tuning",
                       "prefix_tuning": "prefix-tuning", "prefix": "prefix-tuning"}
INPUT_TERMS: dict[str, tuple[str, ...]] = {
    "method": ("weights", "adapters", "gradients", "optimizer", "activations"),
    "quant": ("weights", "dequant"),
    "dtype": ("weights", "gradients", "optimizer", "activations"),
    "max_length": ("activations", "recompute", "logits", "cross_entropy", "kv_cache"),
    "batch_size": ("activations", "recompute", "logits", "cross_entropy", "kv_cache"),
    "gradient_accumulation": ("gradients",),
    "lora_r": ("adapters", "gradients", "optimizer"),
    "lora_targets": ("adapters", "gradients", "optimizer", "activations"),
    "lora_dropout": ("activations",),
    "modules_to_save": ("saved_modules", "gradients", "optimizer"),
    "optimizer": ("optimizer", "step_temp"),
    "optimizer_in_backward": ("gradients", "step_temp"),
    "compile": ("activations", "recompute"),
    "galore_rank": ("optimizer", "step_temp"),
    "quant_scope": ("weights", "dequant"),
    "peft_method": ("adapters", "gradients", "optimizer", "activations"),
    "virtual_tokens": ("adapters", "gradients", "optimizer", "activations", "recompute", "logits", "cross_entropy"),
    "prefix_projection": ("adapters", "gradients", "optimizer"),
    "unsloth": ("activations", "recompute", "logits", "cross_entropy"),
    "dora": ("adapters", "gradients", "optimizer", "activations"),
    "gradient_checkpointing": ("activations", "recompute"),
    "activation_offloading": ("activations", "recompute"),
    "attention": ("activations", "prefill"),
    "loss_impl": ("logits", "cross_entropy"),
    "adapter_dtype": ("adapters", "gradients", "optimizer"),
    "upcast_non_quantized": ("weights",),
    "bnb_keeps_inputs": ("activations",),
    "kv_dtype": ("kv_cache",),
    "strategy": ("weights", "gradients", "optimizer", "comm_buffers", "cpu_offload"),
}
"""Which breakdown terms (MemoryTerm.key) each input changes; the CLI help and --json name them."""


def normalise_optimizer(name: str) -> str:
    key = (name or "").strip().lower().replace("-", "_")
    key = OPTIMIZER_ALIASES.get(key, key)
    if key not in OPTIMIZERS:
        raise TunerError(f"unknown optimizer {name!r}", field="optimizer", hint=", ".join(OPTIMIZERS))
    return key


def optimizer_bytes(name: str, param_bytes: float) -> tuple[float, bool]:
    """(bytes of optimizer state per trainable parameter, paged?)."""
    key = normalise_optimizer(name)
    per_param, paged = OPTIMIZERS[key]
    return (PARAM_DTYPE_STATES[key] * param_bytes if per_param is None else per_param), paged


def normalise_format(fmt: str, field: str = "quant") -> str:
    key = (fmt or "").strip().lower().replace("_", "-") if fmt else ""
    key = FORMAT_ALIASES.get(key, FORMAT_ALIASES.get((fmt or "").strip().lower(), key))
    if key not in WEIGHT_FORMATS:
        raise TunerError(f"unknown weight format {fmt!r}", field=field, hint=", ".join(WEIGHT_FORMATS))
    return key


def weight_format_bytes(fmt: str) -> float:
    return WEIGHT_FORMATS[normalise_format(fmt)]


def normalise_attention(name: str) -> str:
    key = (name or "").strip().lower()
    key = ATTENTION_ALIASES.get(key, key)
    if key not in ATTENTION_IMPLS:
        raise TunerError(f"unknown attention {name!r}", field="attention", hint="sdpa, eager or flash-attention-2")
    return key


def normalise_loss(name: str) -> str:
    key = (name or "").strip().lower()
    key = LOSS_ALIASES.get(key, key)
    if key not in LOSS_IMPLS:
        raise TunerError(f"unknown loss implementation {name!r}", field="loss_impl", hint=", ".join(LOSS_IMPLS))
    return key
