"""Map the rows of the memory development set onto the estimator's inputs (or say why a row can't be).

Used by benchmarks/calc_accuracy.py (scores) and tests/calc/test_devset_mapping.py (coverage). Every
mapping states its assumptions in `assumption`; nothing here adjusts a prediction per row.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from core.calc import (
    InferenceInputs,
    MemoryInputs,
    estimate_inference,
    estimate_training,
    resolve_architecture,
)
from core.calc import constants as C
from core.calc.architecture import ModelArchitecture
from core.calc.formats import WEIGHT_FORMATS

DATA = Path(__file__).resolve().parent / "data"
DEV_CSV = DATA / "memory-points-dev.csv"
"""The development set (116 published measurements; sources in data/README.md)."""
ADDED_CSV = DATA / "memory-points-added.csv"
"""Public measured points added for the inputs of issue 12, same columns, each with its source."""

UNIT_BYTES = {"GiB": 2**30, "GB": 1e9, "MB": 2**20, "MB (MiB-like)": 2**20}


@dataclass(frozen=True)
class Mapped:
    row_id: str
    group: str
    """training, inference or component (a single term measured on its own)"""
    measured_bytes: float
    predict: Callable[[], float]
    accelerate: Callable[[], float | None]
    assumption: str
    metric: str


@dataclass(frozen=True)
class Unmapped:
    row_id: str
    reason: str


def load_rows(path: Path | None = None) -> list[dict[str, str]]:
    """The development set plus the added points (or one file)."""
    rows: list[dict[str, str]] = []
    for one in ([path] if path else [DEV_CSV, ADDED_CSV]):
        with one.open(newline="", encoding="utf-8") as fh:
            rows.extend(csv.DictReader(fh))
    return rows


def in_scope(row: dict[str, str]) -> bool:
    """Quality high or medium (including medium-high and qualified highs); not SUSPECT, low, low-medium."""
    quality = row["quality"].strip().lower()
    return quality.startswith(("high", "medium"))


def measured_bytes(row: dict[str, str]) -> float:
    return float(row["value"]) * UNIT_BYTES[row["unit"].strip()]


# ---- accelerate estimate-memory's method ------------------------------------------------------------

_ACCEL_CACHE: dict[str, int] = {}


def accelerate_param_bytes_fp32(arch_key: str) -> int:
    """`calculate_maximum_sizes(AutoModel.from_config(config))` at fp32, as `accelerate estimate-memory` does.

    Built on the meta device from the catalog's config dict (no download); AutoModel = base model without
    the LM head, tied parameters counted once.
    """
    if arch_key in _ACCEL_CACHE:
        return _ACCEL_CACHE[arch_key]
    from accelerate import init_empty_weights
    from accelerate.utils import calculate_maximum_sizes
    from transformers import AutoConfig, AutoModel

    from core.calc.catalog import find_entry

    entry = find_entry(arch_key)
    assert entry is not None, arch_key
    cfg = dict(entry.config)
    model_type = cfg.pop("model_type")
    config = AutoConfig.for_model(model_type, **cfg)
    with init_empty_weights():
        model = AutoModel.from_config(config, dtype="float32")
    total, _ = calculate_maximum_sizes(model)
    _ACCEL_CACHE[arch_key] = int(total)
    return int(total)


def accelerate_training(arch_key: str, dtype: str) -> float:
    """'Training using Adam': max(model, gradients, optimizer, step), shown as one figure."""
    fp32 = accelerate_param_bytes_fp32(arch_key)
    if dtype == "fp32":
        return 4 * fp32  # step = fp32 × 4
    return 2 * fp32      # float16/bfloat16: optimizer = step = fp32 × 2


def accelerate_inference(arch_key: str, fmt: str) -> float:
    fp32 = accelerate_param_bytes_fp32(arch_key)
    if fmt == "fp32":
        return fp32
    if fmt in {"bf16", "fp16"}:
        return fp32 / 2
    if fmt in {"int8", "fp8", "gptq-int8"}:
        return fp32 / 4
    return fp32 / 8  # int4 column for nf4 / nf4-dq / awq / gptq-int4


# ---- the mapping ------------------------------------------------------------------------------------

_MODEL_KEYS = {
    "meta-llama/Llama-3.2-1B": "llama-3.2-1b", "meta-llama/Llama-3.2-3B": "llama-3.2-3b",
    "meta-llama/Llama-3.1-8B": "llama-3.1-8b", "mistralai/Mistral-7B-v0.2": "mistral-7b-v0.2",
    "microsoft/Phi-3-mini-4k-instruct": "phi-3-mini-4k", "meta-llama/Llama-2-7b": "llama-2-7b",
    "meta-llama/Llama-2-13b": "llama-2-13b", "meta-llama/Llama-2-70b": "llama-2-70b",
    "codellama/CodeLlama-34b": "codellama-34b", "tiiuae/falcon-7b": "falcon-7b",
    "google/gemma-3-4b-it": "gemma-3-4b", "LLaMA-1 7B": "llama-2-7b",
}


def _arch(key: str, *, untie: bool = False) -> ModelArchitecture:
    arch = resolve_architecture(key, allow_hub=False)
    # LitGPT keeps separate wte and lm_head tensors even for checkpoints with tied embeddings.
    return replace(arch, tie_word_embeddings=False) if untie else arch


def _train(row: dict[str, str], group: str, key: str, assumption: str, metric: str, *, reserved: bool,
           accel_dtype: str | None, untie: bool = False, **kwargs: object) -> Mapped:
    def predict() -> float:
        est = estimate_training(MemoryInputs(arch=_arch(key, untie=untie), **kwargs))  # type: ignore[arg-type]
        return est.reserved_bytes if reserved else est.allocated_bytes

    def accel() -> float | None:
        return accelerate_training(key, accel_dtype) if accel_dtype else None

    return Mapped(row["id"], group, measured_bytes(row), predict, accel, assumption, metric)


def _sharded(row: dict[str, str], key: str, strategy: str, gpus: int, assumption: str, *,
             metric: str = "allocated", **kwargs: object) -> Mapped:
    """A multi-GPU row: one GPU's peak under the strategy (per_gpu_estimate). metric: allocated (torch's peak
    counters) or total (what a GPU monitor shows: + allocator overhead + CUDA context)."""
    from core.calc import per_gpu_estimate

    def predict() -> float:
        arch = resolve_architecture(key, allow_hub=False, counting="config") if key.endswith(".json") else _arch(key)
        est = per_gpu_estimate(MemoryInputs(arch=arch, **kwargs), strategy, gpus)  # type: ignore[arg-type]
        return est.total_bytes if metric == "total" else est.allocated_bytes

    return Mapped(row["id"], "multi-gpu", measured_bytes(row), predict, lambda: None, assumption, metric)


def _capacity(row: dict[str, str]) -> Mapped:
    """An Unsloth context-length row: the longest sequence that fit a VRAM budget. Scored as memory: our device
    total (allocated + allocator + CUDA context) at that length against the budget, read as GiB (cards are sold
    in binary sizes). `--unsloth` on Llama QLoRA r=32 on every Linear, batch 1, 8-bit AdamW (the 8B rows say it
    is Unsloth's default; the 70B rows do not state one)."""
    key = "llama-3.3-70b" if "70B" in row["id"] else "llama-3.1-8b"
    # "8 GB VRAM budget", or "A100 80GB (48 GB budget)": the budget, not the card
    budget = int(re.findall(r"(\d+)\s*GB", row["gpu"])[-1])
    tokens = int(float(row["value"]))

    def predict() -> float:
        est = estimate_training(MemoryInputs(
            arch=_arch(key), method="qlora", max_length=tokens, batch_size=1, gradient_accumulation=1, lora_r=32,
            lora_targets=("all-linear",), optimizer="adamw_8bit", dtype="bf16", lora_dropout=0.0, unsloth=True))
        return est.total_bytes

    return Mapped(row["id"], "capacity", budget * 2**30, predict, lambda: None,
                  f"{tokens:,} tokens fit {budget} GiB: --unsloth (offloaded checkpointing, Cut Cross-Entropy, "
                  "fused LoRA MLP), QLoRA nf4-dq r=32 all-linear, batch 1, adamw_8bit", "total")


def _infer(row: dict[str, str], key: str, fmt: str, context: int, assumption: str, *, untie: bool = False) -> Mapped:
    def predict() -> float:
        inputs = InferenceInputs(arch=_arch(key, untie=untie), context_length=context, weights=fmt)
        return estimate_inference(inputs).allocated_bytes

    return Mapped(row["id"], "inference", measured_bytes(row), predict, lambda: accelerate_inference(key, fmt),
                  assumption, "allocated")


def map_row(row: dict[str, str]) -> Mapped | Unmapped:
    rid, source, method = row["id"], row["source"], row["method"]
    if not in_scope(row):
        return Unmapped(rid, f"quality '{row['quality']}' (only high/medium rows are scored)")

    if source == "PEFT method comparison":
        common = dict(max_length=768, batch_size=4, gradient_accumulation=1, optimizer="adamw_torch",
                      gradient_checkpointing=False, dtype="bf16", lora_dropout=0.0, loss_impl="hf-outputs-kept")
        assumption = ("bf16, batch 4 × 768 tokens (the length cap; batches are padded to their longest), no GC, "
                      "loop keeps outputs through backward")
        if method.startswith("full fine-tune"):
            return _train(row, "training", "llama-3.2-3b", assumption, "reserved", reserved=True,
                          accel_dtype="bf16", method="full", **common)
        m = re.match(r"(rs|Do)?(?:LoRA|RA) r=(\d+)(?: alpha=\d+)? on (.+)$", method)
        if m:
            targets = ("gate_proj", "up_proj", "down_proj") if "gate/up/down" in m.group(3) else ("q_proj", "v_proj")
            dora = m.group(1) == "Do"
            return _train(row, "training", "llama-3.2-3b", assumption + "; fp32 adapters, dropout 0"
                          + ("; DoRA (magnitude vectors, base and LoRA outputs kept)" if dora else ""), "reserved",
                          reserved=True, accel_dtype="bf16", method="lora", lora_r=int(m.group(2)),
                          lora_targets=targets, dora=dora, **common)
        other = {"LoRA-FA r=32 q,v (lora-fa optimizer)": dict(peft_method="lora-fa", lora_r=32,
                                                               lora_targets=("q_proj", "v_proj")),
                 "IA3 (k_proj,v_proj,down_proj)": dict(peft_method="ia3",
                                                      lora_targets=("k_proj", "v_proj", "down_proj")),
                 "LayerNorm tuning": dict(peft_method="ln-tuning"),
                 # 614,400 trainable = 200 virtual tokens × h 3,072
                 "prompt tuning": dict(peft_method="prompt-tuning", virtual_tokens=200),
                 # 11,468,800 trainable = 200 virtual tokens × 28 layers × 2 (K, V) × 1,024 (8 KV heads × 128)
                 "prefix tuning": dict(peft_method="prefix-tuning", virtual_tokens=200)}
        if method in other:
            return _train(row, "training", "llama-3.2-3b", assumption + f"; {method}; fp32 adapters",
                          "reserved", reserved=True, accel_dtype="bf16", method="lora",
                          **other[method], **common)  # type: ignore[arg-type]
        return Unmapped(rid, f"PEFT method '{method}' is not one the calculator models (full, LoRA and DoRA, "
                             "LoRA-FA, IA3, LayerNorm tuning, prompt and prefix tuning)")

    if source == "LitGPT config hub":
        if "config default" in method or method.strip() == "QLoRA":
            return Unmapped(rid, "LoRA rank and target modules not stated in the row (LitGPT config default)")
        key = _MODEL_KEYS.get(row["model"])
        if key is None:
            return Unmapped(rid, f"model {row['model']} not in the catalog")
        m = re.search(r"r=(\d+)", method)
        r = int(m.group(1)) if m else 8
        targets: tuple[str, ...] = ("q_proj", "v_proj")
        if "mlp" in method:
            targets = ("all-linear",)
        qlora = method.startswith("QLoRA")
        kwargs = dict(method="qlora" if qlora else "lora", max_length=512, batch_size=int(row["batch"]),
                      gradient_accumulation=1, lora_r=r, lora_targets=targets, optimizer="adamw_torch",
                      gradient_checkpointing=False, dtype="bf16", lora_dropout=0.05, loss_impl="bf16-logits",
                      adapter_dtype="param", quant="nf4" if qlora else "auto")
        assumption = ("LitGPT bf16-true (adapters and AdamW states bf16), 512 tokens (max_seq_length), "
                      "bf16 logits with chunked CE, no GC, lm_head not quantised, separate wte/lm_head copies")
        if "head" in method:
            assumption += "; LoRA on the LM head ignored (r·(h+V) params)"
        if qlora:
            # An assumption, not stated by the table: its QLoRA figures most likely predate bitsandbytes
            # 0.43.2 (Llama-3-8B and 3.1-8B share one figure, 17.41 GB; LitGPT then pinned bitsandbytes 0.42),
            # whose 4-bit matmul still kept each input for backward (PR #1270).
            kwargs["bnb_keeps_inputs"] = True
            assumption += "; bitsandbytes < 0.43.2 (4-bit matmuls keep their inputs)"
        return _train(row, "training", key, assumption, "allocated", reserved=False,
                      accel_dtype=None if qlora else "bf16", untie=True, **kwargs)

    if source == "torchtune README optimization ladder":
        if rid == "torchtune-3B-+packed":
            return _train(row, "training", "llama-3.2-3b",
                          "full FT, packed 2 × 4096 tokens, AdamW bf16 states, the model returns fp32 logits "
                          "(kept through backward), no AC", "allocated", reserved=False,
                          accel_dtype="bf16", method="full", max_length=4096, batch_size=2,
                          gradient_accumulation=1, optimizer="adamw_torch", gradient_checkpointing=False,
                          dtype="bf16", loss_impl="fp32-logits")
        if rid == "torchtune-3B-baseline":
            return Unmapped(rid, "unpacked: padded length of the longest batch not stated")
        # Cumulative flags (the README's table): each row adds its flag to the previous one.
        steps: list[tuple[str, str, dict[str, object]]] = [
            ("torchtune-3B-+compile", "torch.compile", {"compiled": True}),
            ("torchtune-3B-+chunkedCE", "chunked-output CE", {"loss_impl": "chunked-outputs"}),
            ("torchtune-3B-+AC", "activation checkpointing", {"gradient_checkpointing": True}),
            ("torchtune-3B-+optinbwd", "optimizer in backward", {"optimizer_in_backward": True}),
            ("torchtune-3B-+actoffload", "activation offloading", {"activation_offloading": True}),
            ("torchtune-3B-+8bitAdamW", "torchao 8-bit AdamW", {"optimizer": "adamw_torch_8bit"}),
        ]
        flags: dict[str, object] = {"optimizer": "adamw_torch_fused", "gradient_checkpointing": False,
                                    "loss_impl": "fp32-logits"}
        said = ["full FT, packed 2 × 4096 tokens, fused AdamW (bf16 states), fp32 logits kept"]
        for step_id, label, change in steps:
            flags.update(change)
            said.append(label)
            if step_id == rid:
                return _train(row, "training", "llama-3.2-3b", ", ".join(said), "allocated", reserved=False,
                              accel_dtype="bf16", method="full", max_length=4096, batch_size=2,
                              gradient_accumulation=1, dtype="bf16", **flags)  # type: ignore[arg-type]
        if rid == "torchtune-3B-LoRA":
            # The README's reproduce line for these rows: the 3B LoRA config of that commit (r=64 on q, v, output
            # and the MLP, dropout 0), packed, compile, chunked-output CE, AC, activation offloading, fused AdamW.
            return _train(row, "training", "llama-3.2-3b",
                          "LoRA r=64 on q,v,o + MLP (dropout 0), bf16 adapters, packed 2 × 4096, compile, "
                          "chunked-output CE, AC, activation offloading, fused AdamW", "allocated", reserved=False,
                          accel_dtype=None, method="lora", lora_r=64,
                          lora_targets=("q_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
                          lora_dropout=0.0, adapter_dtype="bf16", max_length=4096, batch_size=2,
                          gradient_accumulation=1, optimizer="adamw_torch_fused", gradient_checkpointing=True,
                          dtype="bf16", loss_impl="chunked-outputs", compiled=True, activation_offloading=True)
        if rid == "torchtune-3B-QLoRA":
            # The same settings as the LoRA row on the 3B QLoRA config: NF4 only inside the LoRA Linears
            # (q, v, output and the MLP), k_proj and the embedding stay bf16.
            return _train(row, "training", "llama-3.2-3b",
                          "QLoRA r=64 on q,v,o + MLP (dropout 0), only the LoRA targets in NF4 (k_proj bf16), bf16 "
                          "adapters, packed 2 × 4096, compile, chunked-output CE, AC, activation offloading, "
                          "fused AdamW", "allocated", reserved=False, accel_dtype=None, method="qlora",
                          quant="nf4-dq", quant_scope="lora-targets", lora_r=64,
                          lora_targets=("q_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
                          lora_dropout=0.0, adapter_dtype="bf16", max_length=4096, batch_size=2,
                          gradient_accumulation=1, optimizer="adamw_torch_fused", gradient_checkpointing=True,
                          dtype="bf16", loss_impl="chunked-outputs", compiled=True, activation_offloading=True)
        return Unmapped(rid, "row not mapped")

    if source == "torchtune README memory and training speed (multi-GPU)":
        common = dict(max_length=2048, batch_size=2, gradient_accumulation=1, optimizer="adamw_torch_fused",
                      gradient_checkpointing=True, dtype="bf16", loss_impl="chunked-outputs", compiled=True)
        said = "packed 2 × 2048, compile, chunked-output CE, AC, fused AdamW"
        if rid.endswith("70B-full-8xA100"):
            return _sharded(row, "llama-3.3-70b", "fsdp-offload", 8, said + "; FSDP + CPU offload over 8 GPUs",
                            method="full", **common)
        if rid.endswith("70B-lora-8xA100"):
            return _sharded(row, "llama-3.3-70b", "fsdp", 8, said + "; LoRA r=16 q,k,v, bf16 adapters; FSDP over 8",
                            method="lora", lora_r=16, lora_targets=("q_proj", "k_proj", "v_proj"), lora_dropout=0.0,
                            adapter_dtype="bf16", **common)
        if rid.endswith("405B-qlora-8xA100"):
            return _sharded(row, str(DATA / "configs" / "llama-3.1-405b.json"), "fsdp", 8,
                            said + "; QLoRA r=16 all-linear (torchao NF4 ≈ NF4+DQ), bf16 adapters; FSDP over 8",
                            method="qlora", quant="nf4-dq", lora_r=16, lora_targets=("all-linear",),
                            lora_dropout=0.0, adapter_dtype="bf16", **common)
        return Unmapped(rid, "row not mapped")

    if source == "PEFT docs DeepSpeed / FSDP guides (multi-GPU)":
        # examples/sft/train.py through TRL's SFTTrainer: packed 2048-token sequences, flash attention,
        # gradient checkpointing, LoRA r=8 dropout 0.1 on all linear layers, PEFT's fp32 adapters, HF AdamW.
        # "Memory consumed per GPU" is what a GPU monitor shows: compared with the total (+ allocator, context).
        common = dict(max_length=2048, lora_r=8, lora_targets=("all-linear",), lora_dropout=0.1,
                      optimizer="adamw_torch", gradient_checkpointing=True, dtype="bf16",
                      attention="flash-attention-2", adapter_dtype="fp32")
        said = "packed 2048, flash attention, GC, LoRA r=8 all-linear dropout 0.1, fp32 adapters, AdamW; total"
        if rid.endswith("lora-zero3-8xH100"):
            return _sharded(row, "llama-2-70b", "zero3", 8, said + "; batch 8 × accumulation 4, ZeRO-3 over 8; "
                            "transformers' fp32 logits (2024)", metric="total", method="lora", batch_size=8,
                            gradient_accumulation=4, loss_impl="fp32-logits", **common)
        if rid.endswith("qlora-zero3-2gpu"):
            return _sharded(row, "llama-2-70b", "zero3", 2, said + "; QLoRA NF4+DQ, batch 2 × accumulation 2, "
                            "ZeRO-3 over 2; transformers > 4.44.2 loss (hf)", metric="total", method="qlora",
                            quant="nf4-dq", batch_size=2, gradient_accumulation=2, loss_impl="hf", **common)
        offload = rid.endswith("fsdp-offload-2gpu")
        return _sharded(row, "llama-2-70b", "fsdp-offload" if offload else "fsdp", 2,
                        said + "; QLoRA NF4+DQ, batch 2 × accumulation 2, FSDP over 2"
                        + (" with CPU offload" if offload else "") + "; transformers' fp32 logits (spring 2024)",
                        metric="total", method="qlora", quant="nf4-dq", batch_size=2, gradient_accumulation=2,
                        loss_impl="fp32-logits", **common)

    if source.startswith("torchtune") and rid in {"torchtune-L31-8B-qlora-init", "torchtune-L31-8B-qlora-qv-init"}:
        targets = ("q_proj", "v_proj") if rid.endswith("qv-init") else ("all-linear",)

        def weights_only() -> float:
            est = estimate_training(MemoryInputs(arch=_arch("llama-3.1-8b"), method="qlora", max_length=1,
                                                 lora_r=8, lora_targets=targets, quant="nf4-dq",
                                                 quant_scope="lora-targets", adapter_dtype="bf16"))
            return est.term("weights").bytes + est.term("adapters").bytes  # type: ignore[union-attr]

        return Mapped(rid, "component", measured_bytes(row), weights_only,
                      lambda: accelerate_inference("llama-3.1-8b", "nf4"),
                      "weights + LoRA adapters only (init): torchao NF4 ≈ NF4+DQ for the LoRA-wrapped Linears "
                      f"({'q, v' if rid.endswith('qv-init') else 'all'}), the others bf16", "allocated")
    if source.startswith("torchtune"):
        return Unmapped(rid, "Alpaca unpacked: padded sequence length not stated")

    if source.startswith("LitGPT resource tables") or source == "LitGPT quantize tutorial":
        key = _MODEL_KEYS.get(row["model"])
        if key is None:
            return Unmapped(rid, f"model {row['model']} not in the catalog")
        q = row["quant"].lower()
        fmt = {"bf16": "bf16", "bf16-true": "bf16", "32-true": "fp32", "bnb.nf4": "nf4", "bnb.nf4-dq": "nf4-dq",
               "bnb.int8 (16-true)": "int8"}.get(q)
        if fmt is None:
            return Unmapped(rid, f"format {row['quant']} not modelled")
        context = 256 + 16 if "256" in method else 50 + 16
        return _infer(row, key, fmt, context, f"{fmt} weights + KV for ~{context} tokens (short prompt); "
                      "LitGPT keeps separate wte/lm_head copies", untie=True)

    if source.startswith("Qwen3 speed benchmark"):
        key = row["model"].split("/")[-1].lower()
        fmt = {"BF16": "bf16", "FP8": "fp8", "GPTQ-Int8": "gptq-int8", "AWQ-INT4": "awq-int4"}[row["quant"]]
        m = re.match(r"input (\d+) \+ (\d+) generated", row["seq"])
        assert m, row["seq"]
        context = int(m.group(1)) + int(m.group(2))
        return _infer(row, key, fmt, context, f"{fmt}, KV for input + 2048 generated = {context:,} tokens")

    if source.startswith("Liger-Kernel benchmark (cross_entropy)"):
        vocab = int(rid.rsplit("V", 1)[1])
        tokens = 8 * 2048
        return Mapped(rid, "component", measured_bytes(row),
                      lambda: C.CE_PEAK_BYTES["fp32-logits"] * tokens * vocab, lambda: None,
                      "the fp32-logits loss constant (kept fp32 input + CE backward, 16 B) × tokens × vocab",
                      "allocated")
    if source.startswith("Liger-Kernel benchmark (fused_linear"):
        bt = int(rid.rsplit("BT", 1)[1])
        vocab, hidden = 128_256, 4096

        def flce() -> float:
            head = vocab * hidden * 2 * 2            # bf16 weight + its gradient
            acts = bt * hidden * 2 * 2               # input + its gradient
            return head + acts + C.CE_PEAK_BYTES["bf16-logits"] * bt * vocab

        if rid.startswith("liger-flce-liger-"):
            def liger() -> float:
                from core.calc.estimate import loss_terms

                head = vocab * hidden * 2 * 2 + vocab * hidden * C.LOGITS_FP32_BYTES  # weight, .grad, fp32 accum
                acts = bt * hidden * 2                                                # the input
                return head + acts + sum(loss_terms("liger", vocab, bt, hidden)[:2])

            return Mapped(rid, "component", measured_bytes(row), liger, lambda: None,
                          "bf16 lm_head weight + its bf16 .grad + fp32 accumulator, input, and the `liger` loss "
                          "term (one chunk × vocab × 10 B + input gradient)", "allocated")
        return Mapped(rid, "component", measured_bytes(row), flce, lambda: None,
                      "bf16 lm_head weight+grad, input+grad, bf16-logits CE constant × tokens × vocab", "allocated")
    if rid == "cce-gemma2-2b-loss":
        return Mapped(rid, "component", measured_bytes(row), lambda: C.CE_PEAK_BYTES["hf"] * 8192 * 256_000,
                      lambda: None, "HF-path CE peak constant × 8,192 tokens × 256,000 vocab", "allocated")
    if rid == "qlora-7B-breakdown":
        def base_4bit() -> float:
            return estimate_inference(InferenceInputs(arch=_arch("llama-2-7b"), context_length=1,
                                                      weights="nf4-dq")).term("weights").bytes  # type: ignore[union-attr]

        return Mapped(rid, "component", measured_bytes(row), base_4bit,
                      lambda: accelerate_inference("llama-2-7b", "nf4"),
                      "NF4+DQ body + bf16 embeddings/head (LLaMA-1 7B = Llama-2-7B shapes)", "component")
    if rid == "vllm21489-gemma3-4b":
        def weights() -> float:
            return estimate_inference(InferenceInputs(arch=_arch("gemma-3-4b"), context_length=1,
                                                      weights="bf16")).term("weights").bytes  # type: ignore[union-attr]

        return Mapped(rid, "component", measured_bytes(row), weights,
                      lambda: accelerate_inference("gemma-3-4b", "bf16"),
                      "bf16 weights incl. the vision tower (the row is vLLM's weight-loading figure)", "weights")
    if source.startswith("Unsloth"):
        return _capacity(row)
    return Unmapped(rid, f"source '{source}' has no mapping")


def mapped_rows(path: Path | None = None) -> tuple[list[Mapped], list[Unmapped]]:
    mapped: list[Mapped] = []
    unmapped: list[Unmapped] = []
    for row in load_rows(path):
        result = map_row(row)
        (mapped if isinstance(result, Mapped) else unmapped).append(result)  # type: ignore[arg-type]
    return mapped, unmapped


__all__ = ["WEIGHT_FORMATS", "Mapped", "Unmapped", "load_rows", "map_row", "mapped_rows"]
