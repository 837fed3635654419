"""Peak GPU memory of one training step (full / LoRA / QLoRA) and of inference, as labelled terms.

The estimate predicts what `torch.cuda.max_memory_allocated` would report at the peak, then adds the
caching allocator's overhead and the CUDA context (neither is in torch's allocated counter) to get what
must fit on the card. Formulas: memory-estimation.md §2 and §6; constants in `core.calc.constants`.
Over several GPUs (`per_gpu_estimate`) the terms are per GPU and say whether the strategy divides them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from core import flavors as flavor_table
from core.calc import constants as C
from core.calc.architecture import VOCAB_TARGETS, ModelArchitecture, normalise_targets
from core.calc.families import ATTN_IN, ATTN_OUT, MLP_IN, MLP_MID
from core.calc.formats import (
    ADAPTER_DTYPES,
    DTYPE_BYTES,
    METHODS,
    PEFT_METHOD_ALIASES,
    PEFT_METHODS,
    QUANT_FORMATS,
    WEIGHT_FORMATS,
    galore_inner,
    normalise_attention,
    normalise_format,
    normalise_loss,
    normalise_optimizer,
    optimizer_bytes,
)
from core.calc.gpus import gpu_capacity_bytes, unsupported_reason
from core.calc.sharding import (
    DDP_BUCKET_BYTES,
    ZERO3_LARGEST_LAYER_BYTES,
    ZERO_CPU_BUFFER,
    Parallelism,
)
from core.errors import TunerError
from core.flavors import GB, Flavor

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
MAX_LENGTH_LIMIT = 10_000_000


@dataclass(frozen=True)
class MemoryTerm:
    name: str
    bytes: float
    note: str = ""
    at_peak: bool = True
    """False for a term that is real but not alive at the peak moment (shown, not summed)."""
    key: str = ""
    sharded: bool = False
    """Divided over the GPUs by the parallelism strategy (per-GPU share shown)."""
    device: str = "gpu"
    """gpu, or cpu for what an offloading strategy keeps in host RAM (never summed into the GPU peak)."""

    @property
    def gb(self) -> float:
        return self.bytes / C.GB

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "bytes": round(self.bytes), "gb": round(self.gb, 3),
                "at_peak": self.at_peak, "sharded": self.sharded, "device": self.device, "note": self.note}


@dataclass(frozen=True)
class MemoryInputs:
    """One training configuration (the contract the launcher codes against)."""

    arch: ModelArchitecture
    method: str = "qlora"
    max_length: int = 2048
    batch_size: int = 1
    gradient_accumulation: int = 1
    lora_r: int = 16
    lora_targets: tuple[str, ...] = DEFAULT_TARGETS
    optimizer: str = "adamw_8bit"
    gradient_checkpointing: bool = True
    dtype: str = "bf16"
    # Finer switches (defaults follow the guide's SFT script: TRL + PEFT + bitsandbytes).
    lora_dropout: float = 0.05
    quant: str = "auto"
    """Base weight format. auto: nf4-dq for QLoRA (the guide's double quant), `dtype` otherwise. A quantised
    format (nf4/fp4 ± dq, int8, gptq-int4/8, awq-int4, fp8) with LoRA trains the adapter on that frozen base."""
    loss_impl: str = "hf"
    """hf: full fp32 logits (transformers loss); chunked / liger / cce: fused or chunked CE; bf16-logits: LitGPT."""
    attention: str = "sdpa"
    """sdpa, flash-attention-2 (same memory: no s² scores saved; needs an Ampere+ GPU) or eager (s² scores)."""
    adapter_dtype: str = "fp32"
    """PEFT keeps adapters in fp32 on a 16-bit base (autocast_adapter_dtype=True); bf16/fp16/"param" = off."""
    upcast_non_quantized: bool = False
    """peft.prepare_model_for_kbit_training casts embeddings / LM head / norms to fp32 (quantised base only)."""
    bnb_keeps_inputs: bool = False
    """QLoRA with bitsandbytes < 0.43.2: its 4-bit matmul kept every input for backward even with a frozen
    weight (fixed by bitsandbytes PR #1270, July 2024), so each frozen Linear's input stays alive."""
    include_vision: bool = True
    """Multimodal checkpoints (Gemma 3 4B+) load their vision tower with AutoModelForCausalLM."""
    optimizer_in_backward: bool = False
    """Step each parameter as soon as its gradient exists and free it (torchtune `optimizer_in_bwd`): only one
    parameter's gradient is alive at a time. Needs gradient accumulation 1."""
    modules_to_save: tuple[str, ...] = ()
    """PEFT `modules_to_save`: vocabulary matrices trained in full beside the adapter (embed_tokens / wte,
    lm_head). PEFT keeps the frozen original and a trainable copy in the base dtype."""
    activation_offloading: bool = False
    """Saved activations move to CPU RAM as they are produced and come back for backward (torchtune
    `enable_activation_offloading`, Unsloth's offloaded checkpointing): the GPU keeps about two layers' worth."""
    peft_method: str = "lora"
    """Which adapter trains on the frozen base (formats.PEFT_METHODS). lora_r / lora_targets apply to LoRA and
    LoRA-FA; lora_targets are IA3's target modules (down_proj / fc2 scale their input, the others their
    output); LayerNorm tuning trains every norm; prompt tuning prepends `virtual_tokens` trained embeddings."""
    virtual_tokens: int = 20
    """Prompt / prefix tuning: trained virtual tokens per sequence (PEFT num_virtual_tokens)."""
    prefix_projection: int = 0
    """Prefix tuning with PEFT's `prefix_projection=True`: the hidden size of its two-layer MLP
    (`encoder_hidden_size`); 0 = off (PEFT's default: the keys and values themselves are the parameters)."""
    quant_scope: str = "all"
    """Which decoder Linears a quantised base stores quantised: all (bitsandbytes / PEFT QLoRA, GPTQ, AWQ) or
    lora-targets (torchtune's QLoRA quantises only the Linears it wraps with LoRA; the rest stay bf16)."""
    galore_rank: int = 128
    """GaLore's projection rank (HF `optim_args="rank=..."`, default 128); used by the galore_* optimizers."""
    compiled: bool = False
    """torch.compile on the training step (torchtune `compile=True`, HF `torch_compile`): Inductor's min-cut
    partitioner saves matmul inputs/outputs and recomputes cheap pointwise ops in backward, so RMSNorm outputs,
    act(gate) and act(gate)·up are no longer kept per layer (see `activation_bytes_per_token_layer`)."""
    unsloth: bool = False
    """Unsloth's LoRA / QLoRA path: its offloaded gradient checkpointing (`use_gradient_checkpointing="unsloth"`:
    checkpointing + activation offloading), Cut Cross-Entropy (no logits), and its fused LoRA MLP kernel
    (unsloth/kernels/fast_lora.py `LoRA_MLP` saves X, gate and up, and recomputes act(gate)·up in backward).
    validated() turns the first two on; the kernel applies with dropout 0 and LoRA on the gated MLP's three
    Linears, as Unsloth's fast patching does."""
    dora: bool = False
    """DoRA (PEFT `use_dora=True`): a trainable magnitude vector per wrapped Linear, and per token the base
    output and the scaled LoRA output that the magnitude rescales are kept for backward."""

    def validated(self) -> MemoryInputs:
        method = (self.method or "").strip().lower()
        if method not in METHODS:
            raise TunerError(f"unknown method {self.method!r}", field="method", hint="full, lora or qlora")
        _positive_int(self.max_length, "max_length", upper=MAX_LENGTH_LIMIT)
        _positive_int(self.batch_size, "batch_size", upper=100_000)
        _positive_int(self.gradient_accumulation, "gradient_accumulation", upper=1_000_000)
        dtype = (self.dtype or "").strip().lower().replace("bfloat16", "bf16").replace("float16", "fp16")
        dtype = dtype.replace("float32", "fp32")
        if dtype not in DTYPE_BYTES:
            raise TunerError(f"unknown dtype {self.dtype!r}", field="dtype", hint="bf16, fp16 or fp32")
        targets: tuple[str, ...] = tuple(self.lora_targets)
        if method != "full":
            _positive_int(self.lora_r, "lora_r", upper=65_536)
            targets = normalise_targets(self.lora_targets, self.arch)
        quant = base_format(method, self.quant, dtype)
        loss = normalise_loss(self.loss_impl)
        attention = normalise_attention(self.attention)
        if not 0 <= self.lora_dropout < 1:
            raise TunerError("lora_dropout must be in [0, 1)", field="lora_dropout")
        adapter = (self.adapter_dtype or "fp32").strip().lower().replace("bfloat16", "bf16")
        if adapter not in ADAPTER_DTYPES:
            raise TunerError(f"unknown adapter dtype {self.adapter_dtype!r}", field="adapter_dtype",
                             hint="fp32 (PEFT default), bf16, fp16")
        if self.optimizer_in_backward and self.gradient_accumulation > 1:
            raise TunerError("optimizer-in-backward steps after every micro-batch, so it cannot accumulate "
                             f"{self.gradient_accumulation} of them", field="optimizer_in_backward",
                             hint="use gradient accumulation 1 (raise the batch size instead)")
        saved = normalise_saved_modules(self.modules_to_save, self.arch) if method != "full" else ()
        peft = (self.peft_method or "lora").strip().lower()
        peft = PEFT_METHOD_ALIASES.get(peft, peft)
        if peft not in PEFT_METHODS:
            raise TunerError(f"unknown PEFT method {self.peft_method!r}", field="peft_method",
                             hint=", ".join(PEFT_METHODS))
        if method == "full":
            peft = "lora"  # no adapter: the switch does not apply
        if peft in {"prompt-tuning", "prefix-tuning"}:
            _positive_int(self.virtual_tokens, "virtual_tokens", upper=100_000)
        if self.prefix_projection:
            if peft != "prefix-tuning":
                raise TunerError("a prefix projection is part of prefix tuning", field="prefix_projection",
                                 hint="--peft-method prefix-tuning")
            _positive_int(self.prefix_projection, "prefix_projection", upper=1_000_000)
        if self.dora and peft != "lora":
            raise TunerError(f"DoRA is a LoRA variant, not one of {peft}", field="dora")
        scope = (self.quant_scope or "all").strip().lower().replace("_", "-")
        if scope not in {"all", "lora-targets"}:
            raise TunerError(f"unknown quant scope {self.quant_scope!r}", field="quant_scope",
                             hint="all, or lora-targets (torchtune's QLoRA)")
        if scope == "lora-targets" and (method == "full" or quant not in QUANT_FORMATS):
            raise TunerError("quantising only the LoRA targets needs an adapter method on a quantised base",
                             field="quant_scope", hint="--method qlora (or --method lora --quant nf4-dq ...)")
        optimizer = normalise_optimizer(self.optimizer)
        if galore_inner(optimizer):
            _positive_int(self.galore_rank, "galore_rank", upper=65_536)
            if method != "full":
                raise TunerError("GaLore projects full-parameter gradients: it is an optimizer for --method full",
                                 field="optimizer", hint="use --method full, or a plain optimizer for adapters")
            if optimizer.endswith("_layerwise") and self.gradient_accumulation > 1:
                raise TunerError("layer-wise GaLore steps each parameter during backward, so it cannot "
                                 f"accumulate {self.gradient_accumulation} micro-batches", field="optimizer",
                                 hint="use gradient accumulation 1, or galore_adamw without _layerwise")
        if self.dora and method == "full":
            raise TunerError("DoRA is an adapter method: it needs --method lora or qlora", field="dora")
        checkpointing, offloading = self.gradient_checkpointing, self.activation_offloading
        if self.unsloth:
            if method == "full" or peft != "lora" or self.dora:
                raise TunerError("Unsloth's kernels are modelled for its LoRA / QLoRA path", field="unsloth",
                                 hint="--method lora or qlora, --peft-method lora, no --dora")
            checkpointing, offloading, loss = True, True, "cce"
        return replace(self, method=method, dtype=dtype, lora_targets=targets, quant=quant, loss_impl=loss,
                       gradient_checkpointing=checkpointing, activation_offloading=offloading,
                       quant_scope=scope, peft_method=peft,
                       modules_to_save=saved,
                       attention=attention, adapter_dtype=adapter, optimizer=normalise_optimizer(self.optimizer))

    @property
    def quantized(self) -> bool:
        """The frozen base is stored quantised (QLoRA-style training)."""
        return self.quant in QUANT_FORMATS

    @property
    def tokens_per_micro_batch(self) -> int:
        """Tokens through the model per micro-batch (prompt tuning adds its virtual tokens to every sequence)."""
        extra = self.virtual_tokens if self.method != "full" and self.peft_method == "prompt-tuning" else 0
        return self.batch_size * (self.max_length + extra)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.arch.name, "method": self.method, "max_length": self.max_length,
                "batch_size": self.batch_size, "gradient_accumulation": self.gradient_accumulation,
                "lora_r": self.lora_r, "lora_targets": list(self.lora_targets), "optimizer": self.optimizer,
                "gradient_checkpointing": self.gradient_checkpointing, "dtype": self.dtype,
                "lora_dropout": self.lora_dropout, "quant": self.quant, "loss_impl": self.loss_impl,
                "attention": self.attention, "adapter_dtype": self.adapter_dtype,
                "upcast_non_quantized": self.upcast_non_quantized, "include_vision": self.include_vision,
                "bnb_keeps_inputs": self.bnb_keeps_inputs, "optimizer_in_backward": self.optimizer_in_backward,
                "modules_to_save": list(self.modules_to_save),
                "activation_offloading": self.activation_offloading, "compile": self.compiled, "dora": self.dora,
                "galore_rank": self.galore_rank, "quant_scope": self.quant_scope, "peft_method": self.peft_method,
                "virtual_tokens": self.virtual_tokens, "prefix_projection": self.prefix_projection,
                "unsloth": self.unsloth}


_EMBEDDING_NAMES = {"embed_tokens", "wte", "word_embeddings", "embed_in", "model.embed_tokens", "transformer.wte"}
_HEAD_NAMES = {"lm_head", "embed_out", "output"}


def normalise_saved_modules(names: tuple[str, ...] | list[str] | str, arch: ModelArchitecture) -> tuple[str, ...]:
    """`modules_to_save` as embed_tokens / lm_head (the vocabulary matrices, by any family's name)."""
    if isinstance(names, str):
        names = tuple(n.strip() for n in names.replace(";", ",").split(",") if n.strip())
    out: list[str] = []
    for raw in names:
        key = raw.strip()
        if key in _EMBEDDING_NAMES:
            name = "embed_tokens"
        elif key in _HEAD_NAMES:
            name = "lm_head"
        else:
            raise TunerError(f"modules_to_save {raw!r} is not a module the calculator models", field="modules_to_save",
                             hint="the vocabulary matrices: embed_tokens (wte) and lm_head")
        if name not in out:
            out.append(name)
    return tuple(out)


def saved_module_params(arch: ModelArchitecture, names: tuple[str, ...]) -> int:
    """Parameters trained in full by modules_to_save (a tied head is the embedding itself)."""
    params = 0
    if "embed_tokens" in names or ("lm_head" in names and arch.tie_word_embeddings):
        params += arch.embedding_params
    if "lm_head" in names and not arch.tie_word_embeddings:
        params += arch.lm_head_params
    return params


def base_format(method: str, quant: str | None, dtype: str) -> str:
    """The base weights' format for a method: `auto` → nf4-dq for QLoRA, the training dtype otherwise."""
    raw = (quant or "auto").strip().lower()
    if raw in {"auto", "", "none", "default"}:
        return "nf4-dq" if method == "qlora" else dtype
    fmt = normalise_format(raw)
    if method == "qlora" and fmt not in QUANT_FORMATS:
        raise TunerError(f"QLoRA trains on a quantised base, not {fmt}", field="quant",
                         hint="nf4-dq, nf4, fp4, int8, gptq-int4, awq-int4, fp8 — or --method lora for a 16-bit base")
    if method == "full" and fmt in QUANT_FORMATS:
        raise TunerError(f"full fine-tuning updates every weight and cannot train a {fmt} base", field="quant",
                         hint="use --method lora/qlora on a quantised base, or a 16-bit dtype")
    if fmt not in QUANT_FORMATS and fmt != dtype:
        return dtype  # a 16/32-bit base is the training dtype itself
    return fmt


@dataclass(frozen=True)
class InferenceInputs:
    """Generation with HF Transformers (or another engine's KV rule): weights + KV cache."""

    arch: ModelArchitecture
    context_length: int = 4096
    """Prompt + generated tokens held in the KV cache."""
    batch_size: int = 1
    weights: str = "bf16"
    kv_dtype: str = "bf16"
    sliding_window_rule: str = "window"
    """window: sliding layers keep only their window (HF, llama.cpp iSWA); full: every layer keeps all."""
    include_vision: bool = True
    attention: str = "sdpa"
    """eager materialises the prompt's attention scores (b·heads·s², fp32 softmax) one layer at a time."""
    prompt_length: int | None = None
    """Tokens processed at once in the prefill (default: the whole context)."""

    def validated(self) -> InferenceInputs:
        _positive_int(self.context_length, "context_length", upper=MAX_LENGTH_LIMIT)
        _positive_int(self.batch_size, "batch_size", upper=100_000)
        weights = normalise_format(self.weights, field="weights")
        if self.kv_dtype not in KV_BYTES:
            raise TunerError(f"unknown KV-cache dtype {self.kv_dtype!r}", field="kv_dtype", hint=", ".join(KV_BYTES))
        if self.sliding_window_rule not in {"window", "full"}:
            raise TunerError("sliding_window_rule must be window or full", field="sliding_window_rule")
        prompt = self.prompt_length
        if prompt is not None:
            _positive_int(prompt, "prompt_length", upper=self.context_length)
        return replace(self, weights=weights, attention=normalise_attention(self.attention))

    @property
    def dtype(self) -> str:
        """The compute dtype: fp16 weights compute in fp16 (T4), everything else in bf16 unless fp32."""
        return self.weights if self.weights in {"fp16", "fp32"} else "bf16"

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.arch.name, "context_length": self.context_length, "batch_size": self.batch_size,
                "weights": self.weights, "kv_dtype": self.kv_dtype, "sliding_window_rule": self.sliding_window_rule,
                "include_vision": self.include_vision, "attention": self.attention,
                "prompt_length": self.prompt_length}


KV_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp32": 4.0, "fp8": 1.0, "q8_0": 34 / 32, "q4_0": 18 / 32}


@dataclass(frozen=True)
class MemoryEstimate:
    kind: str
    """training or inference"""
    arch: ModelArchitecture
    inputs: MemoryInputs | InferenceInputs
    terms: list[MemoryTerm]
    peak_phase: str
    notes: tuple[str, ...] = field(default=())
    parallel: Parallelism = field(default_factory=Parallelism)

    @property
    def total_bytes(self) -> float:
        """What must fit on one GPU: allocated peak + allocator overhead + CUDA context."""
        return sum(t.bytes for t in self.terms if t.at_peak and t.device == "gpu")

    @property
    def allocated_bytes(self) -> float:
        """The `torch.cuda.max_memory_allocated` prediction (no allocator overhead, no context)."""
        return sum(t.bytes for t in self.terms if t.at_peak and t.device == "gpu"
                   and t.key not in {"allocator", "cuda_context"})

    @property
    def reserved_bytes(self) -> float:
        """The `torch.cuda.max_memory_reserved` prediction."""
        return sum(t.bytes for t in self.terms if t.at_peak and t.device == "gpu" and t.key != "cuda_context")

    @property
    def cpu_bytes(self) -> float:
        """Host RAM an offloading strategy needs per node (0 without offload)."""
        return sum(t.bytes for t in self.terms if t.device == "cpu")

    @property
    def total_gb(self) -> float:
        return self.total_bytes / C.GB

    @property
    def world_size(self) -> int:
        return self.parallel.world_size

    def term(self, key: str) -> MemoryTerm | None:
        return next((t for t in self.terms if t.key == key), None)

    def fits_memory(self, flavor: Flavor | str) -> bool:
        """The per-GPU peak fits one GPU of the flavor (which has enough GPUs, and host RAM for offload)."""
        fl = _flavor(flavor)
        if not fl.is_gpu or fl.gpu_count < self.world_size:
            return False
        if self.cpu_bytes and self.cpu_bytes > fl.ram_gb * GB:
            return False
        return self.total_bytes <= gpu_capacity_bytes(fl)

    def fits(self, flavor: Flavor | str) -> bool:
        """The run can go on this flavor: the peak fits one GPU and the GPU supports the dtype (no bf16 on T4:
        HF Trainer refuses `bf16=True` there) and the attention kernel."""
        return self.fits_memory(flavor) and self.unsupported(flavor) is None

    def unsupported(self, flavor: Flavor | str) -> str | None:
        """Why the flavor cannot run this configuration at all (bf16 or flash-attention on a T4), else None."""
        dtype = str(getattr(self.inputs, "dtype", "") or "")
        return unsupported_reason(_flavor(flavor), dtype, str(getattr(self.inputs, "attention", "")))

    def usable(self, flavor: Flavor | str) -> bool:
        """Alias of `fits` (memory and dtype support)."""
        return self.fits(flavor)

    def headroom_bytes(self, flavor: Flavor | str) -> float:
        return gpu_capacity_bytes(_flavor(flavor)) - self.total_bytes

    @property
    def fitting_flavors(self) -> list[Flavor]:
        """GPU flavors one GPU of which holds this (per-GPU) peak, cheapest first."""
        fits = [f for f in flavor_table.gpu_flavors() if self.usable(f)]
        return sorted(fits, key=lambda f: (f.price_per_hour, f.gpu_memory_gb))

    @property
    def cheapest_flavor(self) -> Flavor | None:
        fits = self.fitting_flavors
        return fits[0] if fits else None

    def to_dict(self) -> dict[str, Any]:
        cheapest = self.cheapest_flavor
        return {
            "kind": self.kind,
            "model": self.arch.to_dict(),
            "inputs": self.inputs.to_dict() if hasattr(self.inputs, "to_dict") else {},
            "parallel": self.parallel.to_dict(),
            "terms": [t.to_dict() for t in self.terms],
            "peak_phase": self.peak_phase,
            "allocated_bytes": int(self.allocated_bytes),
            "reserved_bytes": int(self.reserved_bytes),
            "total_bytes": int(self.total_bytes),
            "total_gb": round(self.total_gb, 2),
            "cpu_bytes": int(self.cpu_bytes),
            "cheapest_flavor": cheapest.name if cheapest else None,
            "fits": {f.name: self.usable(f) for f in flavor_table.gpu_flavors()},
            "notes": list(self.notes),
        }


def _flavor(flavor: Flavor | str) -> Flavor:
    if isinstance(flavor, Flavor):
        return flavor
    found = flavor_table.get_flavor(flavor)
    if found is None:
        raise TunerError(f"unknown flavor {flavor!r}", field="flavor")
    return found


def _positive_int(value: Any, name: str, *, upper: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TunerError(f"must be a whole number (got {value!r})", field=name)
    if value <= 0:
        raise TunerError(f"must be positive (got {value})", field=name)
    if value > upper:
        raise TunerError(f"is implausibly large (got {value:,}; at most {upper:,})", field=name)
    return value


# ---- building blocks --------------------------------------------------------------------------------

def lora_params(arch: ModelArchitecture, r: int, targets: Sequence[str]) -> int:
    """r·(d_in + d_out) per wrapped matrix (each expert's own), in every layer (PEFT's count);
    lm_head / embed_tokens once."""
    names = normalise_targets(tuple(targets), arch) if targets else ()
    per_layer = sum(r * (lin.d_in + lin.d_out) * lin.experts for lin in arch.linears if lin.name in names)
    vocab = sum(r * (arch.hidden_size + arch.vocab_size) for name in VOCAB_TARGETS if name in names)
    return arch.num_layers * per_layer + vocab


def _adapter_label(arch: ModelArchitecture, inp: MemoryInputs) -> str:
    """What the adapter term counts, in the words of its PEFT method."""
    on = ",".join(arch.short_names(inp.lora_targets))
    if inp.peft_method == "ia3":
        return f"IA3 vectors on {on}"
    if inp.peft_method == "ln-tuning":
        return "LayerNorm tuning: every norm weight"
    if inp.peft_method == "prompt-tuning":
        return f"prompt tuning: {inp.virtual_tokens} virtual tokens × h"
    if inp.peft_method == "prefix-tuning":
        label = f"prefix tuning: {inp.virtual_tokens} virtual tokens × {arch.num_layers} layers × K,V of {prefix_token_dim(arch):,}"
        return label + (f"; through a {inp.prefix_projection}-wide MLP" if inp.prefix_projection else "")
    if inp.peft_method == "lora-fa":
        return f"LoRA-FA r={inp.lora_r} on {on}: B only, A frozen"
    return f"r={inp.lora_r} on {on}" + ("; DoRA magnitudes" if inp.dora else "")


def adapter_params(arch: ModelArchitecture, inp: MemoryInputs) -> int:
    """Trainable parameters of the adapter (PEFT's counts: LoRA r·(d_in+d_out), LoRA-FA only B's r·d_out, IA3 one
    value per scaled feature, LayerNorm tuning every norm weight, prompt tuning virtual tokens × h)."""
    targets = inp.lora_targets
    if inp.peft_method == "lora-fa":
        per_layer = sum(inp.lora_r * lin.d_out * lin.experts for lin in arch.linears if lin.name in targets)
        return arch.num_layers * per_layer
    if inp.peft_method == "ia3":
        per_layer = sum((lin.d_in if lin.feeds == MLP_MID else lin.d_out) * lin.experts
                        for lin in arch.linears if lin.name in targets)
        return arch.num_layers * per_layer
    if inp.peft_method == "ln-tuning":
        return arch.num_layers * int(arch.layer_other_params or 0) + int(arch.outer_params or 0)
    if inp.peft_method == "prompt-tuning":
        return inp.virtual_tokens * arch.hidden_size
    if inp.peft_method == "prefix-tuning":
        return prefix_tuning_params(arch, inp.virtual_tokens, inp.prefix_projection)
    return lora_params(arch, inp.lora_r, targets)


def prefix_token_dim(arch: ModelArchitecture) -> int:
    """Width of one prefix key (or value) per layer. PEFT's `_prepare_prompt_learning_config` sets `token_dim` to
    head_dim × num_key_value_heads for models with grouped-query attention (peft issue #1901), and to hidden_size
    otherwise, which for multi-head attention is the same width."""
    return arch.kv_width


def prefix_tuning_params(arch: ModelArchitecture, virtual_tokens: int, projection: int = 0) -> int:
    """PEFT's PrefixEncoder: an Embedding(virtual_tokens, layers·2·token_dim) holding every layer's keys and values;
    with prefix_projection an Embedding(virtual_tokens, token_dim) and Linear(token_dim, E) → Tanh →
    Linear(E, layers·2·token_dim), biases included."""
    d = prefix_token_dim(arch)
    out = arch.num_layers * 2 * d
    if not projection:
        return virtual_tokens * out
    return virtual_tokens * d + (d * projection + projection) + (projection * out + out)


def prefix_kv_bytes_per_layer(arch: ModelArchitecture, inp: MemoryInputs, act_bytes: float) -> float:
    """Prefix tuning without checkpointing: each layer's cache update concatenates the prefix keys and values in
    front of the sequence's, and SDPA saves those longer K and V for backward: batch × virtual tokens × 2 × token_dim
    more per layer than the sequence alone (the concatenated tensors are the cache's own, so nothing is counted
    twice)."""
    if inp.method == "full" or inp.peft_method != "prefix-tuning" or inp.gradient_checkpointing:
        return 0.0
    return inp.batch_size * inp.virtual_tokens * 2 * prefix_token_dim(arch) * act_bytes


def galore_state_bytes(arch: ModelArchitecture, rank: int, optimizer: str, param_bytes: float,
                       trainable: int) -> tuple[float, str]:
    """Optimizer memory of GaLore (Zhao et al. 2024, galore-torch as HF Trainer runs it) over the whole model.

    Every decoder Linear (HF `optim_target_modules` attn + mlp) of shape m × n keeps its projector P, min(m, n) × r
    in the parameter dtype, and the inner optimizer's states on the projected gradient, max(m, n) × r; every other
    parameter (embeddings, head, norms) gets the inner optimizer in full.
    """
    inner = galore_inner(optimizer) or "adamw_torch"
    per_state = optimizer_bytes(inner, param_bytes)[0]
    projected = projector = 0.0
    linear_params = 0
    for lin in arch.linears:
        m, n = lin.d_out, lin.d_in
        r = min(rank, m, n)
        projected += max(m, n) * r * lin.experts
        projector += min(m, n) * r * lin.experts
        linear_params += m * n * lin.experts
    projected *= arch.num_layers
    projector *= arch.num_layers
    rest = max(0, trainable - linear_params * arch.num_layers)
    total = projected * per_state + projector * param_bytes + rest * per_state
    note = (f"GaLore r={rank} ({inner} on the projections): {projected / 1e6:,.1f}M projected values × {per_state:.3g} B "
            f"+ projectors {projector / 1e6:,.1f}M × {param_bytes:g} B + {rest / 1e6:,.1f}M unprojected params "
            f"× {per_state:.3g} B")
    return total, note


def galore_step_bytes(arch: ModelArchitecture, param_bytes: float) -> float:
    """GaLore's step peak beyond the gradients: every update_proj_gap steps the projector is refreshed by an SVD of
    one gradient in fp32 (the matrix + U and Vh of its reduced SVD), and each step projects the update back to a
    full-size matrix in the parameter dtype; one (the largest) Linear at a time."""
    big = max(arch.linears, key=lambda lin: lin.d_in * lin.d_out, default=None)
    if big is None:
        return 0.0
    m, n = big.d_out, big.d_in
    k = min(m, n)
    return m * n * (4.0 + param_bytes) + (m * k + k * n) * 4.0


def dora_magnitude_params(arch: ModelArchitecture, targets: Sequence[str]) -> int:
    """DoRA's trainable magnitude: one value per output feature of every wrapped matrix."""
    names = normalise_targets(tuple(targets), arch) if targets else ()
    per_layer = sum(lin.d_out * lin.experts for lin in arch.linears if lin.name in names)
    vocab = sum(arch.vocab_size if name == "lm_head" else arch.hidden_size for name in VOCAB_TARGETS if name in names)
    return arch.num_layers * per_layer + vocab


def weight_terms(arch: ModelArchitecture, *, linear_bytes: float, other_bytes: float,
                 include_vision: bool, label: str) -> tuple[float, str]:
    """Bytes of the model weights: decoder Linears at `linear_bytes`, the rest at `other_bytes`."""
    linear = arch.num_layers * arch.linear_params_per_layer
    rest = arch.text_params - linear
    vision = arch.extra_params if include_vision else 0
    total = linear * linear_bytes + rest * other_bytes + vision * linear_bytes
    note = (f"{linear / 1e9:.2f}B decoder-Linear params × {linear_bytes:.4g} B ({label}) + "
            f"{rest / 1e9:.2f}B embedding/head/norm params × {other_bytes:g} B")
    if vision:
        note += f" + vision tower {vision / 1e9:.2f}B × {linear_bytes:.4g} B"
    return total, note


def _wrapped_feeds(arch: ModelArchitecture, targets: Sequence[str]) -> dict[str, int]:
    """How many LoRA-wrapped matrices read each activation."""
    counts: dict[str, int] = {}
    for lin in arch.linears:
        if lin.name in targets:
            counts[lin.feeds] = counts.get(lin.feeds, 0) + 1
    return counts


def activation_bytes_per_token_layer(arch: ModelArchitecture, method: str, targets: Sequence[str],
                                     act_bytes: float, lora_dropout: float, *, compiled: bool = False,
                                     dora: bool = False, adapter_bytes: float = 4.0,
                                     peft_method: str = "lora", fused_lora_mlp: bool = False) -> float:
    """Saved activations of one decoder layer per token, without checkpointing (§2.6, derived).

    Full fine-tuning keeps every Linear's input for its weight gradient; with a frozen base only the
    inputs of LoRA-wrapped modules are kept (plus a dropout copy and mask each when dropout > 0).

    compiled: torch.compile's partitioner (min-cut, the default for training) keeps the tensors that are
    expensive to recompute (matmul outputs, the residual stream, SDPA's inputs and output) and recomputes
    pointwise ops in backward from them: the RMSNorm outputs that feed q/k/v and gate/up come back from the
    saved norm input and its per-token rstd, and act(gate) and act(gate)·up from the saved gate and up.
    Dropout copies are random and stay saved.

    fused_lora_mlp: Unsloth's LoRA_MLP autograd function saves only X, gate and up (e, g) and recomputes
    act(gate)·up inside its backward kernel, so neither act(gate) nor down_proj's input is kept (see
    `fused_lora_mlp_applies` for when Unsloth uses it).
    """
    p = act_bytes
    h, q, k, inter = arch.hidden_size, arch.q_width, arch.kv_width, arch.active_mlp_width
    norms = (4 if arch.post_norms else 2) * p * h                      # RMSNorm inputs
    qk_norm = 0.0
    if arch.qk_norm:
        qk_norm = p * (q + k)
    qkv = p * (q + 2 * k) + qk_norm                                       # saved by SDPA (+ q/k-norm inputs)
    attn_out = p * q + C.FLASH_LSE_BYTES_PER_HEAD * arch.num_heads      # SDPA output (= o_proj input), LSE
    mlp = (3 if arch.gated_mlp else 1) * p * inter                      # gate, up, act(gate) | act input
    if compiled and arch.gated_mlp:
        mlp -= p * inter                                                 # act(gate) recomputed from gate
    if method == "full":
        # norm outputs + down_proj input; compiled: both recomputed (pointwise of saved tensors)
        inputs = 0.0 if compiled else 2 * p * h + (p * inter)
        return norms + qkv + attn_out + mlp + inputs
    base = norms + qkv + attn_out + mlp  # what backprop through a frozen layer keeps (input gradients only)
    if peft_method == "ia3":
        # PEFT IA3: an output-scaled module keeps its frozen output for the vector's gradient (result * l);
        # a feedforward one (down_proj) scales its input first and keeps that input (x * l, then the Linear).
        kept = sum((lin.d_in if lin.feeds == MLP_MID else lin.d_out) * lin.experts
                   for lin in arch.linears if lin.name in targets)
        return base + p * kept
    if peft_method == "ln-tuning":
        # Each norm's weight gradient needs its normalised input (x · rstd), kept once per norm.
        return base + norms + (p * (q + k) if arch.qk_norm else 0.0)
    if peft_method in {"prompt-tuning", "prefix-tuning"}:
        # prompt tuning: only the (longer) sequence, its virtual tokens are in the token count; prefix tuning: the
        # prefix keys and values are per layer, not per token (`prefix_kv_bytes_per_layer`)
        return base
    wrapped = _wrapped_feeds(arch, targets)
    dropout = lora_dropout > 0
    if fused_lora_mlp and not compiled:
        mlp = 2 * p * inter                                              # e and g; h = act(e)·g recomputed
        wrapped = {k: v for k, v in wrapped.items() if k != MLP_MID}     # down_proj's input is that h
    inputs = 0.0
    for feeds in (ATTN_IN, MLP_IN):
        hits = wrapped.get(feeds, 0)
        if hits:
            # One shared input without dropout; with dropout each module keeps its own copy + bool mask.
            width = arch.feed_width(feeds)
            if dropout:
                inputs += hits * (p + 1) * width
            elif not compiled:                                           # the norm output, recomputed when compiled
                inputs += p * width
    if wrapped.get(ATTN_OUT) and dropout:
        inputs += wrapped[ATTN_OUT] * (p + 1) * q                        # attn output itself is already saved
    if wrapped.get(MLP_MID):
        inputs += (0.0 if compiled else p * inter) + (inter if dropout else 0) + (p * inter if dropout else 0)
    if dora:
        # PEFT's DoRA forward: (m/‖W+sBA‖ − 1)·base_out + m/‖W+sBA‖ · (s·lora_out). The magnitude's gradient
        # needs base_out (activation dtype) and s·lora_out (the adapter path, fp32 by PEFT's default) per
        # wrapped module and token; the norm itself is detached (DoRA paper §4.3), so nothing else is kept.
        out_width = sum(lin.d_out * lin.experts for lin in arch.linears if lin.name in targets)
        inputs += (p + adapter_bytes) * out_width
    return norms + qkv + attn_out + mlp + inputs


def fused_lora_mlp_applies(arch: ModelArchitecture, inp: MemoryInputs) -> bool:
    """Unsloth patches a layer's MLP with its fused LoRA kernel when the MLP is gated, LoRA wraps gate, up and down
    and dropout is 0 (its fast patching skips layers with dropout or bias)."""
    if not inp.unsloth or inp.method == "full" or not arch.gated_mlp or inp.lora_dropout > 0:
        return False
    feeds = _wrapped_feeds(arch, inp.lora_targets)
    mlp = [lin for lin in arch.linears if lin.feeds in {MLP_IN, MLP_MID}]
    return bool(mlp) and all(lin.name in inp.lora_targets for lin in mlp) and feeds.get(MLP_MID, 0) > 0


def legacy_bnb_inputs(arch: ModelArchitecture, wrapped: set[str], p: float, dropout: bool) -> float:
    """Per token and layer: the inputs that bitsandbytes < 0.43.2 kept for every 4-bit matmul.

    Only tensors not already counted as saved: the shared attention / MLP input unless a LoRA without
    dropout keeps it anyway, the contiguous attention output fed to o_proj (a copy of SDPA's saved
    output), and down_proj's input unless LoRA-wrapped (then it is counted already).
    """
    feeds = _wrapped_feeds(arch, tuple(wrapped))
    extra = p * arch.q_width                                             # o_proj input
    for group in (ATTN_IN, MLP_IN):
        if dropout or not feeds.get(group):
            extra += p * arch.hidden_size
    if not feeds.get(MLP_MID):
        extra += p * arch.active_mlp_width
    return extra


def loss_terms(loss_impl: str, vocab: int, tokens: int, hidden: int = 0, *,
               compiled: bool = False) -> tuple[float, float, str]:
    """(fp32 logits copy, the rest of the loss peak, explanation) for one micro-batch."""
    if loss_impl == "chunked-outputs":
        chunk = math.ceil(tokens / C.TORCHTUNE_OUTPUT_CHUNKS)
        kept = C.CHUNKED_OUTPUTS_KEPT_BYTES[compiled]
        return 0.0, (kept * tokens + C.CE_PEAK_BYTES["hf"] * chunk) * vocab, (
            f"torchtune chunked-output CE: {kept:g} B × vocab × {tokens:,} tokens kept for backward "
            + ("(the bf16 logits, saved by the compiled loss)" if compiled
               else "(fp32 log-softmax of every chunk + the bf16 logits list)")
            + f" + one chunk of {chunk:,} tokens × {C.CE_PEAK_BYTES['hf']:g} B × vocab")
    if loss_impl == "chunked":
        chunk = min(tokens, C.CE_CHUNK_TOKENS)
        return 0.0, C.CE_PEAK_BYTES["hf"] * vocab * chunk, (
            f"chunked loss: logits of {chunk:,} tokens at a time × {C.CE_PEAK_BYTES['hf']:g} B × vocab")
    if loss_impl == "liger":
        chunk = liger_chunk_tokens(tokens, vocab, hidden)
        grad_in = C.LIGER_GRAD_INPUT_BYTES * hidden * tokens
        return 0.0, C.LIGER_CHUNK_BYTES * vocab * chunk + grad_in, (
            f"Liger FLCE: one chunk of {chunk:,} tokens × vocab × {C.LIGER_CHUNK_BYTES:g} B "
            f"+ the hidden-state gradient {C.LIGER_GRAD_INPUT_BYTES:g} B × h × tokens")
    if loss_impl == "cce":
        grad_in = C.LIGER_GRAD_INPUT_BYTES * hidden * tokens
        return 0.0, grad_in, ("Cut Cross-Entropy: no logits are materialised; the hidden-state gradient "
                              f"{C.LIGER_GRAD_INPUT_BYTES:g} B × h × tokens")
    per = C.CE_PEAK_BYTES[loss_impl]
    if loss_impl == "bf16-logits":
        return 0.0, per * vocab * tokens, f"bf16 logits, log-softmax and gradient: {per:g} B × vocab × tokens"
    logits = C.LOGITS_FP32_BYTES * vocab * tokens
    why = {"hf": "saved fp32 log-softmax, its gradient and the outgoing gradient",
           "hf-outputs-kept": "as hf, plus the bf16 logits the loop keeps in `outputs`",
           "fp32-logits": "as hf, plus fp32 logits kept in the model output"}[loss_impl]
    return logits, (per - C.LOGITS_FP32_BYTES) * vocab * tokens, (
        f"{why}: {per - C.LOGITS_FP32_BYTES:g} B × vocab × tokens beyond the logits copy")


def liger_chunk_tokens(tokens: int, vocab: int, hidden: int) -> int:
    """Liger's FLCE chunk: next power of two ≥ tokens / ceil(V / h) (its `inc_factor`), at most `tokens`."""
    inc = max(1, math.ceil(vocab / max(hidden, 1)))
    chunk = 1 << max(0, math.ceil(math.log2(max(1, math.ceil(tokens / inc)))))
    return min(chunk, max(1, tokens))


def allocator_term(allocated: float) -> MemoryTerm:
    return MemoryTerm("allocator overhead", allocated * C.FRAGMENTATION,
                      f"caching allocator: reserved ≈ allocated × {1 + C.FRAGMENTATION:.2f} (fitted)", key="allocator")


def _context_term() -> MemoryTerm:
    return MemoryTerm("CUDA context", float(C.CUDA_CONTEXT_BYTES),
                      "driver context + cuBLAS handles (outside torch's counters)", key="cuda_context")


# ---- training -------------------------------------------------------------------------------------

def per_gpu_estimate(inputs: MemoryInputs, strategy: str = "single", world_size: int = 1, *,
                     shard_size: int | None = None) -> MemoryEstimate:
    """Peak memory of ONE GPU when the run is spread over `world_size` GPUs with `strategy`
    (single, ddp, fsdp, fsdp-hybrid, zero2, zero2-offload, zero3, zero3-offload, device-map)."""
    return estimate_training(inputs, Parallelism(strategy, world_size, shard_size))


def estimate_training(inputs: MemoryInputs, parallel: Parallelism | None = None) -> MemoryEstimate:
    """Peak memory of one optimizer step (forward, backward, step) for one micro-batch on one GPU."""
    inp = inputs.validated()
    par = (parallel or Parallelism()).validated()
    arch = inp.arch
    method = inp.method
    quantized = inp.quantized
    strategy, shards = par.strategy, par.shards
    param_bytes = float(DTYPE_BYTES[inp.dtype])
    act_bytes = 2.0 if inp.dtype in {"bf16", "fp16"} or quantized else 4.0  # quantised: bf16 compute dtype
    tokens = inp.tokens_per_micro_batch
    notes: list[str] = []
    terms: list[MemoryTerm] = []

    # ---- model states (weights, trainable copies, gradients, optimizer) ------------------------------------
    if quantized:
        other = 4.0 if inp.upcast_non_quantized else 2.0
        w, w_note = weight_terms(arch, linear_bytes=WEIGHT_FORMATS[inp.quant], other_bytes=other,
                                 include_vision=inp.include_vision, label=inp.quant)
        if inp.quant_scope == "lora-targets":
            # torchtune's QLoRA builds NF4 weights only inside its LoRA Linears; the others load as bf16.
            plain = arch.num_layers * sum(lin.weight_params for lin in arch.linears if lin.name not in inp.lora_targets)
            w += plain * (2.0 - WEIGHT_FORMATS[inp.quant])
            w_note += f"; only the LoRA targets quantised: {plain / 1e9:.2f}B params of other Linears stay bf16"
    else:
        w, w_note = weight_terms(arch, linear_bytes=param_bytes, other_bytes=param_bytes,
                                 include_vision=inp.include_vision, label=inp.dtype)
    if method == "full":
        trainable = arch.total_params if inp.include_vision else arch.text_params
        train_bytes = param_bytes
    else:
        trainable = adapter_params(arch, inp)
        if inp.dora:
            trainable += dora_magnitude_params(arch, inp.lora_targets)
        train_bytes = 4.0 if inp.adapter_dtype == "fp32" else (
            float(DTYPE_BYTES[inp.adapter_dtype]) if inp.adapter_dtype in DTYPE_BYTES else param_bytes)
    zero = strategy.startswith("zero")
    opt_per_param, paged = optimizer_bytes(inp.optimizer, train_bytes)
    if zero:
        # DeepSpeed keeps fp32 master weights, fp32 gradients and fp32 optimizer states for 16-bit runs.
        opt_per_param = optimizer_bytes(inp.optimizer, 4.0)[0] + 4.0 + 4.0
    saved_params = saved_module_params(arch, inp.modules_to_save) if method != "full" else 0
    saved_bytes = 2.0 if quantized else param_bytes  # the trainable copy keeps the base's 16-bit dtype
    grads = trainable * train_bytes + saved_params * saved_bytes
    opt = trainable * opt_per_param + saved_params * optimizer_bytes(inp.optimizer, saved_bytes)[0]
    galore = galore_inner(inp.optimizer)
    galore_note = ""
    if galore and not zero:
        opt, galore_note = galore_state_bytes(arch, inp.galore_rank, inp.optimizer, train_bytes, trainable)
    # layer-wise GaLore steps each parameter in a backward hook: the optimizer-in-backward rules apply
    in_backward = inp.optimizer_in_backward or inp.optimizer.endswith("_layerwise")
    largest_layer = arch.layer_params

    w_gpu, w_sharded = w, False
    grads_gpu, grads_sharded = grads, False
    opt_gpu, opt_sharded = opt, False
    cpu_terms: list[MemoryTerm] = []
    comm = 0.0
    comm_note = ""
    if strategy in {"fsdp", "fsdp-hybrid", "device-map"} or strategy.startswith("zero3"):
        w_gpu, w_sharded = w / shards, True
        w_note += f"; ÷ {shards} GPUs ({par.label})"
    if strategy in {"fsdp", "fsdp-hybrid", "device-map", "zero3"}:
        grads_gpu, grads_sharded = grads / shards, True
        opt_gpu, opt_sharded = opt / shards, True
    if strategy == "zero2":
        opt_gpu, opt_sharded = opt / shards, True  # DeepSpeed's 4P + 16P/N: 16-bit grads stay whole
    if strategy == "zero3":
        grads_gpu = 0.0  # the fp32 gradient partition is in the 16 B/param optimizer share
    if strategy in {"zero2-offload", "zero3-offload"}:
        grads_gpu, opt_gpu, grads_sharded, opt_sharded = 0.0, 0.0, True, True
        floor = 18 if strategy == "zero3-offload" else 16
        factor = max(4 * par.world_size, floor)
        frozen = max(0.0, w - trainable * param_bytes) if strategy == "zero3-offload" and method != "full" else 0.0
        cpu_terms.append(MemoryTerm(
            "CPU RAM (offload)", trainable * factor * ZERO_CPU_BUFFER + frozen,
            f"DeepSpeed: trainable params × max(4·N, {floor}) × {ZERO_CPU_BUFFER:g} in host RAM"
            + ("; plus the frozen base weights" if frozen else ""),
            at_peak=False, key="cpu_offload", sharded=True, device="cpu"))
    if strategy == "zero3-offload":
        w_gpu = 0.0
        w_note += "; parameters live in CPU RAM, gathered layer by layer"
    if strategy == "fsdp-offload":
        # FSDP CPUOffload(offload_params=True): each rank's parameter shard, its gradient shard and the
        # optimizer step are in host RAM (the step runs on the CPU); what is on the GPU is the unit being
        # all-gathered (and the next, prefetched) and the gradients being reduce-scattered: the comm term.
        # Host RAM per node holds every rank's shards: the whole model states once.
        cpu_terms.append(MemoryTerm(
            "CPU RAM (offload)", w + grads + opt,
            "FSDP CPU offload: parameter, gradient and optimizer-state shards of every rank in host RAM",
            at_peak=False, key="cpu_offload", sharded=True, device="cpu"))
        w_gpu, grads_gpu, opt_gpu = 0.0, 0.0, 0.0
        w_sharded = grads_sharded = opt_sharded = True
        w_note += "; sharded in CPU RAM, each layer gathered to the GPU when used"
    if strategy in {"fsdp", "fsdp-hybrid", "fsdp-offload"}:
        # The unit being computed is gathered unsharded, the next prefetched, and (full fine-tuning) its gradients
        # reduce-scattered. The largest unit is a decoder layer or, for large vocabularies, the embedding / LM
        # head. A quantised base is gathered in its stored format (FSDP all-gathers the NF4 tensors themselves);
        # a frozen base has no full-size gradients to reduce, only the adapters' (in the adapter term).
        unit = max(largest_layer, arch.embedding_params, arch.lm_head_params if not arch.tie_word_embeddings else 0)
        unit_bytes = WEIGHT_FORMATS[inp.quant] if quantized else param_bytes
        comm = 2 * unit * unit_bytes + (unit * param_bytes if method == "full" else 0.0)
        comm_note = (f"the largest FSDP unit ({unit / 1e9:.2f}B params) all-gathered + the next prefetched"
                     + (" + its gradients for reduce-scatter" if method == "full" else "; frozen: no gradients"))
    elif strategy.startswith("zero3"):
        comm = ZERO3_LARGEST_LAYER_BYTES * largest_layer
        comm_note = f"DeepSpeed: {ZERO3_LARGEST_LAYER_BYTES} B × the largest layer's params (gathered weights + grads)"
    elif strategy == "ddp" or strategy.startswith("zero2"):
        comm = 2 * DDP_BUCKET_BYTES
        comm_note = "gradient buckets in flight (all-reduce / reduce-scatter)"

    terms.append(MemoryTerm("weights", w_gpu, w_note, key="weights", sharded=w_sharded))
    if saved_params:
        terms.append(MemoryTerm(
            "modules_to_save copies", saved_params * saved_bytes / (shards if w_sharded else 1),
            f"{','.join(inp.modules_to_save)}: {saved_params / 1e9:.2f}B params trained in full, a copy beside the "
            f"frozen original × {saved_bytes:g} B (their gradients and optimizer states are in those terms)",
            key="saved_modules", sharded=w_sharded))
    if method != "full":
        adapters = trainable * train_bytes
        # FSDP shards every parameter of a wrapped unit, the adapters included; DDP and DeepSpeed replicate them.
        adapters_sharded = strategy in {"fsdp", "fsdp-hybrid", "fsdp-offload"}
        if adapters_sharded:
            adapters /= shards
        terms.append(MemoryTerm(
            "LoRA adapters" if inp.peft_method in {"lora", "lora-fa"} else "adapter parameters", adapters,
            f"{trainable / 1e6:.1f}M params ({_adapter_label(arch, inp)}) × {train_bytes:g} B"
            + (f"; ÷ {shards} GPUs" if adapters_sharded else " (replicated)" if par.world_size > 1 else ""),
            key="adapters", sharded=adapters_sharded))
    opt_note = galore_note or f"{inp.optimizer}: {opt_per_param:.3g} B × {trainable / 1e6:,.1f}M trainable params"
    if saved_params:
        opt_note += f" + modules_to_save {saved_params / 1e9:.2f}B × {optimizer_bytes(inp.optimizer, saved_bytes)[0]:g} B"
    if zero:
        opt_note += " (fp32 master + fp32 grads + states, DeepSpeed)"
    if opt_sharded and opt_gpu:
        opt_note += f"; ÷ {shards} GPUs"
    if paged and not strategy.endswith("offload"):
        opt_note += "; paged (unified memory, evicted to CPU RAM under pressure, not in torch's counters)"
        notes.append(f"paged optimizer states ({opt / C.GB:.2f} GB) live in unified memory and are not counted "
                     "in the peak; they use GPU memory while there is room")
        opt_gpu = 0.0
    if strategy.endswith("offload"):
        opt_note += "; on the CPU (offload)"

    # ---- activations and the loss --------------------------------------------------------------------
    per_layer = activation_bytes_per_token_layer(arch, method, inp.lora_targets, act_bytes, inp.lora_dropout,
                                                 compiled=inp.compiled, dora=inp.dora, adapter_bytes=train_bytes,
                                                 peft_method=inp.peft_method,
                                                 fused_lora_mlp=(fused_mlp := fused_lora_mlp_applies(arch, inp)))
    if inp.unsloth and not fused_mlp:
        notes.append("Unsloth's fused LoRA MLP kernel is not applied: it needs LoRA on the gated MLP's gate, up and "
                     "down projections with dropout 0")
    if quantized and inp.bnb_keeps_inputs and inp.quant in {"nf4", "nf4-dq", "fp4", "fp4-dq"}:
        legacy = legacy_bnb_inputs(arch, set(inp.lora_targets), act_bytes, inp.lora_dropout > 0)
        per_layer += legacy
        notes.append(f"bitsandbytes < 0.43.2: 4-bit matmuls keep their inputs (+{legacy / 1024:.0f} KiB per "
                     "token and layer before scaling); upgrade bitsandbytes to drop them")
    per_layer *= C.ACTIVATION_SCALE
    eager = 0.0
    if inp.attention == "eager":
        # Softmax probabilities are saved per layer (b·a·s² × p); the fp32 upcast is transient.
        eager = inp.batch_size * arch.num_heads * inp.max_length**2 * act_bytes
    prefix_kv = prefix_kv_bytes_per_layer(arch, inp, act_bytes)
    one_layer = per_layer * tokens + eager + prefix_kv
    if inp.method != "full" and inp.peft_method == "prefix-tuning" and inp.gradient_checkpointing:
        # transformers' GradientCheckpointingLayer passes cache=None to a checkpointed layer (modeling_layers.py),
        # so PEFT's prefix never reaches attention: nothing extra is kept, and nothing is learned either.
        notes.append("prefix tuning with gradient checkpointing: transformers drops the KV cache in checkpointed "
                     "layers, so the prefix is not attended and gets no gradient; turn checkpointing off")
    logits, ce, ce_note = loss_terms(inp.loss_impl, arch.vocab_size, tokens, arch.hidden_size, compiled=inp.compiled)
    if inp.unsloth:
        ce_note += " (Unsloth)"
    if inp.loss_impl == "liger" and method == "full":
        ce += C.LOGITS_FP32_BYTES * arch.embedding_params  # fp32 accumulator of the LM-head gradient
        ce_note += "; fp32 LM-head gradient accumulator (trainable head)"
    # The LM head's gradient is produced while the logits are still alive (full fine-tuning).
    head_grad = arch.embedding_params * train_bytes if method == "full" else 0.0
    if grads_sharded:
        head_grad /= shards
    largest_param = max(arch.embedding_params, max((lin.weight_params for lin in arch.linears), default=0))
    grads_alive_at_loss = grads_gpu if inp.gradient_accumulation > 1 else head_grad
    dequant = 0.0
    if quantized:
        stored = [lin for lin in arch.linears if inp.quant_scope == "all" or lin.name in inp.lora_targets]
        largest = max((lin.d_in * lin.d_out for lin in stored), default=0)
        dequant = C.DEQUANT_BUFFERS * largest * 2.0

    layers_on_gpu = arch.num_layers / shards if strategy == "device-map" else arch.num_layers
    offload = inp.activation_offloading
    if inp.gradient_checkpointing:
        kept_layers = min(C.OFFLOAD_LAYERS_ON_GPU, layers_on_gpu + 1) if offload else layers_on_gpu + 1
        saved = kept_layers * tokens * arch.hidden_size * act_bytes
        recompute = one_layer * (1 + C.RECOMPUTE_GRAD_FRACTION)
        phase_loss = saved + logits + ce
        phase_recompute = saved + recompute
        act_terms = [
            MemoryTerm("checkpointed activations", saved,
                       f"layer inputs kept by checkpointing: {kept_layers:g} × {tokens:,} tokens × "
                       f"h={arch.hidden_size} × {act_bytes:g} B"
                       + ("; the rest offloaded to CPU RAM" if offload else "")
                       + (" (Unsloth's offloaded gradient checkpointing)" if inp.unsloth else ""), key="activations"),
        ]
        loss_at_peak = phase_loss >= phase_recompute
        act_terms.append(MemoryTerm(
            "layer recompute", recompute,
            f"backward recomputes one layer: {per_layer / 1024:.0f} KiB/token × {tokens:,} tokens "
            f"(+{C.RECOMPUTE_GRAD_FRACTION:.0%} gradients)"
            + ("; Unsloth's fused LoRA MLP keeps X, gate and up only" if fused_mlp else "")
            + ("; after the logits are freed" if loss_at_peak else ""),
            at_peak=not loss_at_peak, key="recompute"))
        offloaded = (layers_on_gpu + 1 - kept_layers) * tokens * arch.hidden_size * act_bytes if offload else 0.0
    else:
        kept = min(C.OFFLOAD_LAYERS_ON_GPU, layers_on_gpu) if offload else layers_on_gpu
        saved = one_layer * kept
        loss_at_peak = True
        act_terms = [MemoryTerm(
            "activations", saved,
            f"{per_layer / 1024:.0f} KiB/token/layer × {kept:g} layers × {tokens:,} tokens"
            + (" + eager attention probabilities" if eager else "")
            + (f" + prefix K,V {inp.batch_size} × {inp.virtual_tokens} virtual tokens × 2 × "
               f"{prefix_token_dim(arch)} × {act_bytes:g} B per layer" if prefix_kv else "")
            + ("; the other layers' offloaded to CPU RAM" if offload else ""), key="activations")]
        offloaded = one_layer * (layers_on_gpu - kept) if offload else 0.0
    if offloaded > 0:
        cpu_terms.append(MemoryTerm("CPU RAM (activations)", offloaded,
                                    "offloaded activations in pinned host memory", at_peak=False,
                                    key="cpu_activations", device="cpu"))

    # Full fine-tuning can peak at the optimizer step instead (weights + grads + states + step temporaries).
    activation_peak = sum(t.bytes for t in act_terms if t.at_peak) + (logits + ce if loss_at_peak else 0.0)
    step_temp = 0.0
    if method == "full" and inp.optimizer == "adamw_torch" and not zero and strategy != "fsdp-offload":
        # (DeepSpeed steps with its fused Adam; FSDP CPU offload steps on the CPU)
        step_temp = (largest_param if inp.optimizer_in_backward else trainable / (shards if opt_sharded else 1)) \
            * train_bytes
    if galore and not zero and strategy != "fsdp-offload":
        step_temp = galore_step_bytes(arch, train_bytes)
    if in_backward:
        # Each gradient is applied and freed as soon as it exists: at most the largest one is alive.
        grads_gpu = min(grads_gpu, largest_param * train_bytes)
        grads_alive_at_loss = min(grads_alive_at_loss, largest_param * train_bytes)
    backward_peak = activation_peak + grads_alive_at_loss
    step_peak = grads_gpu + step_temp
    peak_at_step = step_peak > backward_peak and not in_backward

    terms.extend(act_terms)
    if logits:
        terms.append(MemoryTerm("logits (fp32)", logits,
                                f"{arch.vocab_size:,} vocab × {tokens:,} tokens × 4 B (the guide's logits figure)",
                                at_peak=loss_at_peak and not peak_at_step, key="logits"))
    terms.append(MemoryTerm("cross-entropy copies", ce, ce_note, at_peak=loss_at_peak and not peak_at_step,
                            key="cross_entropy"))
    if peak_at_step:
        for i, t in enumerate(terms):
            if t.key in {"activations", "recompute"}:
                terms[i] = replace(t, at_peak=False)
    grad_at_peak = peak_at_step or inp.gradient_accumulation > 1 or method != "full"
    grad_bytes_at_peak = grads_gpu if grad_at_peak else head_grad
    grad_note = f"{trainable / 1e6:,.1f}M trainable × {train_bytes:g} B"
    if saved_params:
        grad_note += f" + modules_to_save {saved_params / 1e9:.2f}B × {saved_bytes:g} B"
    if grads_sharded and grads_gpu:
        grad_note += f"; ÷ {shards} GPUs"
    if zero and not grads_gpu:
        grad_note += "; partitioned in fp32 with the optimizer states" if strategy == "zero3" else "; on the CPU"
    if in_backward:
        grad_note += "; optimizer in backward: freed as each is applied (largest one alive)"
    elif method == "full" and not grad_at_peak:
        grad_note += f"; at the loss peak only the LM-head gradient exists (full set: {grads_gpu / C.GB:.2f} GB)"
    elif inp.gradient_accumulation > 1:
        grad_note += f"; kept across {inp.gradient_accumulation} accumulation steps"
    at = 1 + max(i for i, t in enumerate(terms) if t.key in {"weights", "saved_modules", "adapters"})
    terms.insert(at, MemoryTerm("gradients", grad_bytes_at_peak, grad_note, key="gradients", sharded=grads_sharded))
    terms.insert(at + 1, MemoryTerm("optimizer states", opt_gpu, opt_note, key="optimizer", sharded=opt_sharded))
    if step_temp:
        terms.append(MemoryTerm("optimizer step temps", step_temp,
                                ("GaLore: fp32 SVD of the largest Linear's gradient (matrix, U, Vh) + its "
                                 "full-size update" if galore else
                                 "torch AdamW (foreach) builds one parameter-sized temporary for the update")
                                + (" (per parameter: optimizer in backward)" if in_backward else ""),
                                at_peak=peak_at_step, key="step_temp", sharded=opt_sharded))
    if dequant:
        terms.append(MemoryTerm("4-bit dequant buffers" if WEIGHT_FORMATS[inp.quant] < 1 else "dequant buffers",
                                dequant, f"{C.DEQUANT_BUFFERS} × largest Linear in bf16 ({inp.quant} base)",
                                key="dequant"))
    if comm:
        terms.append(MemoryTerm("communication buffers", comm, comm_note, key="comm_buffers"))
    allocated = sum(t.bytes for t in terms if t.at_peak)
    terms.append(allocator_term(allocated))
    terms.append(_context_term())
    terms.extend(cpu_terms)

    phase = "optimizer step" if peak_at_step else ("loss (cross-entropy backward)" if loss_at_peak
                                                   else "backward recompute of one layer")
    if method == "full" and inp.dtype == "fp32":
        notes.append("fp32 weights with bf16 autocast: master weights, gradients and AdamW states all fp32")
    if quantized and inp.quant not in {"nf4", "nf4-dq", "fp4", "fp4-dq"}:
        notes.append(f"adapter training on a {inp.quant} base: its kernels dequantise each weight for the matmul "
                     "(the dequant-buffer term); check your kernel supports backward")
    if arch.max_position_embeddings and inp.max_length > arch.max_position_embeddings:
        notes.append(f"max_length {inp.max_length:,} exceeds the model's max_position_embeddings "
                     f"{arch.max_position_embeddings:,}")
    if arch.extra_note and inp.include_vision:
        notes.append(arch.extra_note)
    if par.world_size > 1:
        notes.append(f"per GPU, {par.label}: activations and the loss are per GPU (each runs its own micro-batch"
                     + (", the layers one after another" if strategy == "device-map" else "") + ")")
    return MemoryEstimate("training", arch, inp, list(terms), phase, tuple(notes), par)


# ---- inference ------------------------------------------------------------------------------------

def kv_cache_bytes(arch: ModelArchitecture, tokens: int, *, batch: int = 1, kv_dtype: str = "bf16",
                   sliding_rule: str = "window") -> float:
    """2 · Σ_layers tokens_l · n_kv · head_dim · bytes · batch, sliding layers capped at their window."""
    per_layer_token = 2 * arch.kv_width * KV_BYTES[kv_dtype]
    full_layers = arch.num_full_attention_layers
    sliding_layers = arch.num_sliding_layers
    sliding_tokens = tokens
    if sliding_rule == "window" and arch.sliding_window:
        sliding_tokens = min(tokens, arch.sliding_window)
    return batch * per_layer_token * (full_layers * tokens + sliding_layers * sliding_tokens)


def estimate_inference(inputs: InferenceInputs | MemoryInputs) -> MemoryEstimate:
    """Weights + KV cache + HF generate buffers (+ allocator overhead and CUDA context)."""
    if isinstance(inputs, MemoryInputs):
        base = inputs.validated()
        inputs = InferenceInputs(arch=base.arch, context_length=base.max_length, batch_size=base.batch_size,
                                 weights=base.quant, include_vision=base.include_vision, attention=base.attention)
    inp = inputs.validated()
    arch = inp.arch
    fmt = inp.weights
    other = 4.0 if fmt == "fp32" else 2.0
    w, note = weight_terms(arch, linear_bytes=WEIGHT_FORMATS[fmt], other_bytes=other,
                           include_vision=inp.include_vision, label=fmt)
    if fmt == "fp8" and arch.tie_word_embeddings:
        # Fine-grained FP8 checkpoints store lm_head as its own bf16 tensor even for tied models (the dev
        # set's Qwen3 0.6B/1.7B/4B FP8 rows sit exactly V·h·2 B above a tied count).
        w += arch.embedding_params * 2.0
        note += f" + untied bf16 lm_head {arch.embedding_params / 1e9:.2f}B × 2 B (FP8 checkpoints)"
    kv = kv_cache_bytes(arch, inp.context_length, batch=inp.batch_size, kv_dtype=inp.kv_dtype,
                        sliding_rule=inp.sliding_window_rule)
    kv_note = (f"2 × {arch.num_layers} layers × {arch.num_kv_heads} KV heads × {arch.head_dim} × "
               f"{KV_BYTES[inp.kv_dtype]:g} B × {inp.context_length:,} tokens × batch {inp.batch_size}")
    if arch.sliding_window and arch.num_sliding_layers:
        kv_note += (f"; {arch.num_sliding_layers} sliding layers hold "
                    f"{'≤' + str(arch.sliding_window) if inp.sliding_window_rule == 'window' else 'all'} tokens")
    terms = [
        MemoryTerm("weights", w, note, key="weights"),
        MemoryTerm("KV cache", kv, kv_note, key="kv_cache"),
        MemoryTerm("runtime buffers", float(C.INFERENCE_RUNTIME_BYTES),
                   "last-position logits, RoPE tables, sampling (HF generate)", key="runtime"),
    ]
    if inp.attention == "eager":
        prompt = inp.prompt_length or inp.context_length
        scores = C.EAGER_SCORE_BYTES * inp.batch_size * arch.num_heads * prompt * prompt
        terms.append(MemoryTerm(
            "eager attention scores", scores,
            f"prefill of {prompt:,} tokens: {arch.num_heads} heads × s² scores in bf16 + fp32 softmax + bf16 cast "
            f"({C.EAGER_SCORE_BYTES:g} B each), one layer at a time; sdpa / flash-attention-2 never build them",
            key="prefill"))
    allocated = sum(t.bytes for t in terms)
    terms.append(allocator_term(allocated))
    terms.append(_context_term())
    notes = (arch.extra_note,) if arch.extra_note and inp.include_vision else ()
    return MemoryEstimate("inference", arch, inp, list(terms), "generation (KV cache full)", notes)
