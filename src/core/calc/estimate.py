"""Peak GPU memory of one training step (full / LoRA / QLoRA) and of inference, as labelled terms.

The estimate predicts what `torch.cuda.max_memory_allocated` would report at the peak, then adds the
caching allocator's overhead and the CUDA context (neither is in torch's allocated counter) to get what
must fit on the card. Formulas: memory-estimation.md §2 and §6; constants in `core.calc.constants`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from core import flavors as flavor_table
from core.calc import constants as C
from core.calc.architecture import ModelArchitecture, normalise_targets
from core.calc.formats import (
    ATTENTION_IMPLS,
    DTYPE_BYTES,
    LOSS_IMPLS,
    METHODS,
    QLORA_FORMATS,
    WEIGHT_FORMATS,
    normalise_optimizer,
    optimizer_bytes,
    weight_format_bytes,
)
from core.calc.gpus import gpu_capacity_bytes, unsupported_reason
from core.errors import TunerError
from core.flavors import Flavor

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

    @property
    def gb(self) -> float:
        return self.bytes / C.GB

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "bytes": round(self.bytes), "gb": round(self.gb, 3),
                "at_peak": self.at_peak, "note": self.note}


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
    quant: str = "nf4-dq"
    """QLoRA weight format: nf4-dq (double quant, the guide's default) or nf4."""
    loss_impl: str = "hf"
    """hf: full fp32 logits (transformers loss); chunked: fused/chunked CE; bf16-logits: LitGPT-style."""
    attention: str = "sdpa"
    adapter_dtype: str = "fp32"
    """PEFT keeps adapters in fp32 on a 16-bit base (autocast_adapter_dtype=True); "param" = base dtype."""
    upcast_non_quantized: bool = False
    """peft.prepare_model_for_kbit_training casts embeddings / LM head / norms to fp32 (QLoRA only)."""
    bnb_keeps_inputs: bool = False
    """QLoRA with bitsandbytes < 0.43.2: its 4-bit matmul kept every input for backward even with a frozen
    weight (fixed by bitsandbytes PR #1270, July 2024), so each frozen Linear's input stays alive."""
    include_vision: bool = True
    """Multimodal checkpoints (Gemma 3 4B+) load their vision tower with AutoModelForCausalLM."""

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
        if self.quant not in QLORA_FORMATS:
            raise TunerError(f"unknown QLoRA format {self.quant!r}", field="quant", hint=", ".join(QLORA_FORMATS))
        if self.loss_impl not in LOSS_IMPLS:
            raise TunerError(f"unknown loss implementation {self.loss_impl!r}", field="loss_impl",
                             hint=", ".join(LOSS_IMPLS))
        if self.attention not in ATTENTION_IMPLS:
            raise TunerError(f"unknown attention {self.attention!r}", field="attention", hint="sdpa or eager")
        if not 0 <= self.lora_dropout < 1:
            raise TunerError("lora_dropout must be in [0, 1)", field="lora_dropout")
        return replace(self, method=method, dtype=dtype, lora_targets=targets,
                       optimizer=normalise_optimizer(self.optimizer))

    @property
    def tokens_per_micro_batch(self) -> int:
        return self.batch_size * self.max_length

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.arch.name, "method": self.method, "max_length": self.max_length,
                "batch_size": self.batch_size, "gradient_accumulation": self.gradient_accumulation,
                "lora_r": self.lora_r, "lora_targets": list(self.lora_targets), "optimizer": self.optimizer,
                "gradient_checkpointing": self.gradient_checkpointing, "dtype": self.dtype,
                "lora_dropout": self.lora_dropout, "quant": self.quant, "loss_impl": self.loss_impl,
                "attention": self.attention, "adapter_dtype": self.adapter_dtype,
                "upcast_non_quantized": self.upcast_non_quantized, "include_vision": self.include_vision,
                "bnb_keeps_inputs": self.bnb_keeps_inputs}


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

    def validated(self) -> InferenceInputs:
        _positive_int(self.context_length, "context_length", upper=MAX_LENGTH_LIMIT)
        _positive_int(self.batch_size, "batch_size", upper=100_000)
        weight_format_bytes(self.weights)
        if self.kv_dtype not in {"bf16", "fp16", "fp32", "fp8", "q8_0", "q4_0"}:
            raise TunerError(f"unknown KV-cache dtype {self.kv_dtype!r}", field="kv_dtype")
        if self.sliding_window_rule not in {"window", "full"}:
            raise TunerError("sliding_window_rule must be window or full", field="sliding_window_rule")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.arch.name, "context_length": self.context_length, "batch_size": self.batch_size,
                "weights": self.weights, "kv_dtype": self.kv_dtype, "sliding_window_rule": self.sliding_window_rule,
                "include_vision": self.include_vision}


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

    @property
    def total_bytes(self) -> float:
        """What must fit on one GPU: allocated peak + allocator overhead + CUDA context."""
        return sum(t.bytes for t in self.terms if t.at_peak)

    @property
    def allocated_bytes(self) -> float:
        """The `torch.cuda.max_memory_allocated` prediction (no allocator overhead, no context)."""
        return sum(t.bytes for t in self.terms if t.at_peak and t.key not in {"allocator", "cuda_context"})

    @property
    def reserved_bytes(self) -> float:
        """The `torch.cuda.max_memory_reserved` prediction."""
        return sum(t.bytes for t in self.terms if t.at_peak and t.key != "cuda_context")

    @property
    def total_gb(self) -> float:
        return self.total_bytes / C.GB

    def term(self, key: str) -> MemoryTerm | None:
        return next((t for t in self.terms if t.key == key), None)

    def fits_memory(self, flavor: Flavor | str) -> bool:
        """The peak fits in the memory of ONE GPU of the flavor."""
        fl = _flavor(flavor)
        return fl.is_gpu and self.total_bytes <= gpu_capacity_bytes(fl)

    def fits(self, flavor: Flavor | str) -> bool:
        """The run can go on this flavor: the peak fits one GPU and the GPU supports the dtype (no bf16 on T4:
        HF Trainer refuses `bf16=True` there)."""
        return self.fits_memory(flavor) and self.unsupported(flavor) is None

    def unsupported(self, flavor: Flavor | str) -> str | None:
        """Why the flavor cannot run this configuration at all (bf16 on a T4), else None."""
        # Training: the compute dtype (QLoRA's bitsandbytes compute dtype follows it); inference: the weights.
        dtype = getattr(self.inputs, "dtype", None) or getattr(self.inputs, "weights", "")
        return unsupported_reason(_flavor(flavor), str(dtype))

    def usable(self, flavor: Flavor | str) -> bool:
        """Alias of `fits` (memory and dtype support)."""
        return self.fits(flavor)

    def headroom_bytes(self, flavor: Flavor | str) -> float:
        return gpu_capacity_bytes(_flavor(flavor)) - self.total_bytes

    @property
    def fitting_flavors(self) -> list[Flavor]:
        """GPU flavors whose single GPU holds the peak, cheapest first."""
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
            "terms": [t.to_dict() for t in self.terms],
            "peak_phase": self.peak_phase,
            "allocated_bytes": int(self.allocated_bytes),
            "reserved_bytes": int(self.reserved_bytes),
            "total_bytes": int(self.total_bytes),
            "total_gb": round(self.total_gb, 2),
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
    """r·(d_in + d_out) per wrapped Linear, in every layer (PEFT's count)."""
    per_layer = sum(r * sum(arch.linear_shape(role)) for role in targets)
    return arch.num_layers * per_layer


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


def activation_bytes_per_token_layer(arch: ModelArchitecture, method: str, targets: Sequence[str],
                                     act_bytes: float, lora_dropout: float) -> float:
    """Saved activations of one decoder layer per token, without checkpointing (§2.6, derived).

    Full fine-tuning keeps every Linear's input for its weight gradient; with a frozen base only the
    inputs of LoRA-wrapped modules are kept (plus a dropout copy and mask each when dropout > 0).
    """
    p = act_bytes
    h, q, k, inter = arch.hidden_size, arch.q_width, arch.kv_width, arch.intermediate_size
    norms = (4 if arch.post_norms else 2) * p * h                      # RMSNorm inputs
    qkv = p * (q + 2 * k) + (p * (q + k) if arch.qk_norm else 0)        # saved by SDPA (+ q/k-norm inputs)
    attn_out = p * q + C.FLASH_LSE_BYTES_PER_HEAD * arch.num_heads      # SDPA output (= o_proj input), LSE
    mlp = (3 if arch.gated_mlp else 1) * p * inter                      # gate, up, act(gate) | act input
    if method == "full":
        inputs = 2 * p * h + (p * inter)                                 # norm outputs + down_proj input
        return norms + qkv + attn_out + mlp + inputs
    wrapped = set(targets)
    inputs = 0.0
    dropout = lora_dropout > 0
    for group, width in ((("q_proj", "k_proj", "v_proj"), h), (("gate_proj", "up_proj"), h)):
        hits = [role for role in group if role in wrapped]
        if hits:
            # One shared input without dropout; with dropout each module keeps its own copy + bool mask.
            inputs += (len(hits) * (p + 1) * width) if dropout else p * width
    if "o_proj" in wrapped and dropout:
        inputs += (p + 1) * q                                            # attn output itself is already saved
    if "down_proj" in wrapped:
        inputs += p * inter + (inter if dropout else 0) + (p * inter if dropout else 0)
    return norms + qkv + attn_out + mlp + inputs


def legacy_bnb_inputs(arch: ModelArchitecture, wrapped: set[str], p: float, dropout: bool) -> float:
    """Per token and layer: the inputs that bitsandbytes < 0.43.2 kept for every 4-bit matmul.

    Only tensors not already counted as saved: the shared attention / MLP input unless a LoRA without
    dropout keeps it anyway, the contiguous attention output fed to o_proj (a copy of SDPA's saved
    output), and down_proj's input unless LoRA-wrapped (then it is counted already).
    """
    h, q, inter = arch.hidden_size, arch.q_width, arch.intermediate_size
    extra = p * q                                                        # o_proj input
    for group in (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj")):
        if dropout or not wrapped.intersection(group):
            extra += p * h
    if "down_proj" not in wrapped:
        extra += p * inter
    return extra


def loss_terms(loss_impl: str, vocab: int, tokens: int) -> tuple[float, float, str]:
    """(fp32 logits copy, the rest of the loss peak, explanation) for one micro-batch."""
    if loss_impl == "chunked":
        chunk = min(tokens, C.CE_CHUNK_TOKENS)
        return 0.0, C.CE_PEAK_BYTES["hf"] * vocab * chunk, (
            f"fused/chunked loss: logits of {chunk:,} tokens at a time × {C.CE_PEAK_BYTES['hf']:g} B × vocab")
    per = C.CE_PEAK_BYTES[loss_impl]
    if loss_impl == "bf16-logits":
        return 0.0, per * vocab * tokens, f"bf16 logits, log-softmax and gradient: {per:g} B × vocab × tokens"
    logits = C.LOGITS_FP32_BYTES * vocab * tokens
    why = {"hf": "saved fp32 log-softmax, its gradient and the outgoing gradient",
           "hf-outputs-kept": "as hf, plus the bf16 logits the loop keeps in `outputs`",
           "fp32-logits": "as hf, plus fp32 logits kept in the model output"}[loss_impl]
    return logits, (per - C.LOGITS_FP32_BYTES) * vocab * tokens, (
        f"{why}: {per - C.LOGITS_FP32_BYTES:g} B × vocab × tokens beyond the logits copy")


def allocator_term(allocated: float) -> MemoryTerm:
    return MemoryTerm("allocator overhead", allocated * C.FRAGMENTATION,
                      f"caching allocator: reserved ≈ allocated × {1 + C.FRAGMENTATION:.2f} (fitted)", key="allocator")


# ---- training -------------------------------------------------------------------------------------

def estimate_training(inputs: MemoryInputs) -> MemoryEstimate:
    """Peak memory of one optimizer step (forward, backward, step) for one micro-batch."""
    inp = inputs.validated()
    arch = inp.arch
    method = inp.method
    param_bytes = float(DTYPE_BYTES[inp.dtype])
    act_bytes = 2.0 if inp.dtype in {"bf16", "fp16"} else 4.0
    if method == "qlora":
        act_bytes = 2.0  # bnb compute dtype bf16
    tokens = inp.tokens_per_micro_batch
    notes: list[str] = []
    terms: list[MemoryTerm] = []

    # Weights
    if method == "qlora":
        other = 4.0 if inp.upcast_non_quantized else 2.0
        w, note = weight_terms(arch, linear_bytes=weight_format_bytes(inp.quant), other_bytes=other,
                               include_vision=inp.include_vision, label=inp.quant)
    else:
        w, note = weight_terms(arch, linear_bytes=param_bytes, other_bytes=param_bytes,
                               include_vision=inp.include_vision, label=inp.dtype)
    terms.append(MemoryTerm("weights", w, note, key="weights"))

    # Trainable parameters, gradients, optimizer states
    opt_per_param: float
    if method == "full":
        trainable = arch.total_params if inp.include_vision else arch.text_params
        train_bytes = param_bytes
        opt_per_param, paged = optimizer_bytes(inp.optimizer, train_bytes)
    else:
        trainable = lora_params(arch, inp.lora_r, inp.lora_targets)
        train_bytes = 4.0 if inp.adapter_dtype == "fp32" else param_bytes
        opt_per_param, paged = optimizer_bytes(inp.optimizer, train_bytes)
        terms.append(MemoryTerm(
            "LoRA adapters", trainable * train_bytes,
            f"{trainable / 1e6:.1f}M params (r={inp.lora_r} on {','.join(inp.lora_targets)}) × {train_bytes:g} B",
            key="adapters"))
    grads = trainable * train_bytes
    opt = trainable * opt_per_param
    opt_note = f"{inp.optimizer}: {opt_per_param:.3g} B × {trainable / 1e6:,.1f}M trainable params"
    if paged:
        opt_note += "; paged (unified memory, evicted to CPU RAM under pressure, not in torch's counters)"
        notes.append(f"paged optimizer states ({opt / C.GB:.2f} GB) live in unified memory and are not counted "
                     "in the peak; they use GPU memory while there is room")
        opt_on_gpu = 0.0
    else:
        opt_on_gpu = opt

    # Activations and the loss
    per_layer = activation_bytes_per_token_layer(arch, method, inp.lora_targets, act_bytes, inp.lora_dropout)
    if method == "qlora" and inp.bnb_keeps_inputs:
        legacy = legacy_bnb_inputs(arch, set(inp.lora_targets), act_bytes, inp.lora_dropout > 0)
        per_layer += legacy
        notes.append(f"bitsandbytes < 0.43.2: 4-bit matmuls keep their inputs (+{legacy / 1024:.0f} KiB per "
                     "token and layer before scaling); upgrade bitsandbytes to drop them")
    per_layer *= C.ACTIVATION_SCALE
    eager = 0.0
    if inp.attention == "eager":
        # Softmax probabilities are saved per layer (b·a·s² × p); the fp32 upcast is transient.
        eager = inp.batch_size * arch.num_heads * inp.max_length**2 * act_bytes
    one_layer = per_layer * tokens + eager
    logits, ce, ce_note = loss_terms(inp.loss_impl, arch.vocab_size, tokens)
    # The LM head's gradient is produced while the logits are still alive (full fine-tuning).
    head_grad_early = arch.embedding_params * train_bytes if method == "full" else 0.0
    grads_alive_at_loss = grads if inp.gradient_accumulation > 1 else head_grad_early
    dequant = 0.0
    if method == "qlora":
        largest = max(a * b for a, b in (arch.linear_shape(r) for r in arch.linear_roles))
        dequant = C.DEQUANT_BUFFERS * largest * 2.0

    if inp.gradient_checkpointing:
        saved = (arch.num_layers + 1) * tokens * arch.hidden_size * act_bytes
        recompute = one_layer * (1 + C.RECOMPUTE_GRAD_FRACTION)
        phase_loss = saved + logits + ce
        phase_recompute = saved + recompute
        act_terms = [
            MemoryTerm("checkpointed activations", saved,
                       f"layer inputs kept by checkpointing: {arch.num_layers + 1} × {tokens:,} tokens × "
                       f"h={arch.hidden_size} × {act_bytes:g} B",
                       key="activations"),
        ]
        loss_at_peak = phase_loss >= phase_recompute
        act_terms.append(MemoryTerm(
            "layer recompute", recompute,
            f"backward recomputes one layer: {per_layer / 1024:.0f} KiB/token × {tokens:,} tokens "
            f"(+{C.RECOMPUTE_GRAD_FRACTION:.0%} gradients)"
            + ("; after the logits are freed" if loss_at_peak else ""),
            at_peak=not loss_at_peak, key="recompute"))
    else:
        saved = one_layer * arch.num_layers
        loss_at_peak = True
        act_terms = [MemoryTerm(
            "activations", saved,
            f"{per_layer / 1024:.0f} KiB/token/layer × {arch.num_layers} layers × {tokens:,} tokens"
            + (" + eager attention probabilities" if eager else ""), key="activations")]

    # Full fine-tuning can peak at the optimizer step instead (weights + grads + states + step temporaries).
    activation_peak = sum(t.bytes for t in act_terms if t.at_peak) + (logits + ce if loss_at_peak else 0.0)
    step_temp = trainable * train_bytes if (method == "full" and inp.optimizer == "adamw_torch") else 0.0
    backward_peak = activation_peak + grads_alive_at_loss
    step_peak = grads + step_temp
    peak_at_step = step_peak > backward_peak

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
    grad_bytes_at_peak = grads if grad_at_peak else head_grad_early
    grad_note = f"{trainable / 1e6:,.1f}M trainable × {train_bytes:g} B"
    if method == "full" and not grad_at_peak:
        grad_note += f"; at the loss peak only the LM-head gradient exists (full set: {grads / C.GB:.2f} GB)"
    elif inp.gradient_accumulation > 1:
        grad_note += f"; kept across {inp.gradient_accumulation} accumulation steps"
    terms.insert(2 if method != "full" else 1, MemoryTerm("gradients", grad_bytes_at_peak, grad_note,
                                                          key="gradients"))
    terms.insert(3 if method != "full" else 2, MemoryTerm("optimizer states", opt_on_gpu, opt_note,
                                                          key="optimizer"))
    if step_temp:
        terms.append(MemoryTerm("optimizer step temps", step_temp,
                                "torch AdamW (foreach) builds one parameter-sized temporary for the update",
                                at_peak=peak_at_step, key="step_temp"))
    if dequant:
        terms.append(MemoryTerm("4-bit dequant buffers", dequant,
                                f"{C.DEQUANT_BUFFERS} × largest Linear in bf16", key="dequant"))
    allocated = sum(t.bytes for t in terms if t.at_peak)
    terms.append(allocator_term(allocated))
    terms.append(MemoryTerm("CUDA context", float(C.CUDA_CONTEXT_BYTES),
                            "driver context + cuBLAS handles (outside torch's counters)", key="cuda_context"))

    phase = "optimizer step" if peak_at_step else ("loss (cross-entropy backward)" if loss_at_peak
                                                   else "backward recompute of one layer")
    if method == "full" and inp.dtype == "fp32":
        notes.append("fp32 weights with bf16 autocast: master weights, gradients and AdamW states all fp32")
    if arch.max_position_embeddings and inp.max_length > arch.max_position_embeddings:
        notes.append(f"max_length {inp.max_length:,} exceeds the model's max_position_embeddings "
                     f"{arch.max_position_embeddings:,}")
    if arch.extra_note and inp.include_vision:
        notes.append(arch.extra_note)
    return MemoryEstimate("training", arch, inp, list(terms), phase, tuple(notes))


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
        fmt = base.quant if base.method == "qlora" else base.dtype
        inputs = InferenceInputs(arch=base.arch, context_length=base.max_length, batch_size=base.batch_size,
                                 weights=fmt, include_vision=base.include_vision)
    inp = inputs.validated()
    arch = inp.arch
    fmt = inp.weights.strip().lower()
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
    allocated = sum(t.bytes for t in terms)
    terms.append(allocator_term(allocated))
    terms.append(MemoryTerm("CUDA context", float(C.CUDA_CONTEXT_BYTES),
                            "driver context + cuBLAS handles (outside torch's counters)", key="cuda_context"))
    notes = (arch.extra_note,) if arch.extra_note and inp.include_vision else ()
    return MemoryEstimate("inference", arch, inp, list(terms), "generation (KV cache full)", notes)
