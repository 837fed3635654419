"""The inputs users have (issue 12): base formats, attention kernels, optimizer-in-backward, fused and chunked
losses, activation offloading, bf16 adapters — each changes the breakdown terms it names."""

from __future__ import annotations

import pytest

from core.calc import MemoryInputs, ModelArchitecture, estimate_training
from core.calc import constants as C
from core.calc.formats import INPUT_TERMS, WEIGHT_FORMATS
from core.errors import TunerError
from core.flavors import get_flavor


def train(arch: ModelArchitecture, **kw: object):
    base = dict(method="lora", max_length=2048, batch_size=1, gradient_accumulation=1, lora_r=16,
                lora_targets=("q_proj", "v_proj"), optimizer="adamw_torch", gradient_checkpointing=True,
                dtype="bf16", lora_dropout=0.0)
    base.update(kw)
    return estimate_training(MemoryInputs(arch=arch, **base))  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["nf4", "nf4-dq", "fp4", "fp4-dq", "int8", "gptq-int4", "gptq-int8", "awq-int4", "fp8"])
def test_adapter_training_on_every_base_format(llama3b: ModelArchitecture, fmt: str) -> None:
    est = train(llama3b, quant=fmt)
    linear = llama3b.num_layers * llama3b.linear_params_per_layer
    assert est.inputs.quantized and est.inputs.quant == fmt
    assert est.term("weights").bytes == pytest.approx(linear * WEIGHT_FORMATS[fmt] + (llama3b.total_params - linear) * 2)
    assert est.term("dequant") is not None  # each quantised matmul dequantises its weight
    assert est.total_bytes < train(llama3b).total_bytes  # below the 16-bit LoRA


def test_format_names_and_refusals(llama3b: ModelArchitecture) -> None:
    assert train(llama3b, method="qlora").inputs.quant == "nf4-dq"           # the guide's default
    assert train(llama3b, method="qlora", quant="bnb-fp4").inputs.quant == "fp4"
    assert train(llama3b, method="lora", quant="gptq").inputs.quant == "gptq-int4"
    assert WEIGHT_FORMATS["fp4"] == WEIGHT_FORMATS["nf4"] and WEIGHT_FORMATS["fp4-dq"] == WEIGHT_FORMATS["nf4-dq"]
    with pytest.raises(TunerError, match="QLoRA trains on a quantised base") as info:
        train(llama3b, method="qlora", quant="bf16")
    assert info.value.field == "quant"
    with pytest.raises(TunerError, match="cannot train a nf4 base"):
        train(llama3b, method="full", quant="nf4")
    with pytest.raises(TunerError, match="unknown weight format"):
        train(llama3b, quant="int3")


def test_attention_kernels(llama3b: ModelArchitecture) -> None:
    sdpa = train(llama3b, gradient_checkpointing=False)
    flash = train(llama3b, gradient_checkpointing=False, attention="flash_attention_2")
    eager = train(llama3b, gradient_checkpointing=False, attention="eager")
    assert flash.inputs.attention == "flash-attention-2"
    assert flash.total_bytes == sdpa.total_bytes  # neither saves the s² scores
    assert eager.term("activations").bytes > sdpa.term("activations").bytes
    t4, l4 = get_flavor("t4-small"), get_flavor("l4x1")
    small = train(llama3b, dtype="fp16", attention="flash", max_length=256)
    assert small.fits_memory(t4) and "flash-attention-2" in (small.unsupported(t4) or "")
    assert small.unsupported(l4) is None


def test_optimizer_in_backward_frees_gradients(llama3b: ModelArchitecture) -> None:
    full = dict(method="full", optimizer="adamw_torch", max_length=1024)
    normal = train(llama3b, **full)
    in_bwd = train(llama3b, **full, optimizer_in_backward=True)
    assert normal.peak_phase == "optimizer step"
    largest = max(llama3b.embedding_params, max(lin.weight_params for lin in llama3b.linears))
    assert in_bwd.term("gradients").bytes == largest * 2
    assert in_bwd.total_bytes < normal.total_bytes - llama3b.total_params * 2  # no full gradient set at the step
    with pytest.raises(TunerError, match="cannot accumulate") as info:
        train(llama3b, **full, optimizer_in_backward=True, gradient_accumulation=4)
    assert info.value.field == "optimizer_in_backward"


def test_fused_and_chunked_losses(gemma12b: ModelArchitecture) -> None:
    kw = dict(method="qlora", max_length=16384)
    hf, chunked, liger, cce = (train(gemma12b, **kw, loss_impl=impl) for impl in ("hf", "chunked", "liger", "cce"))
    assert hf.term("logits").bytes == gemma12b.vocab_size * 16384 * 4
    for est in (chunked, liger, cce):
        assert est.term("logits") is None
        assert est.term("cross_entropy").bytes < hf.term("cross_entropy").bytes / 4
    assert cce.term("cross_entropy").bytes == C.LIGER_GRAD_INPUT_BYTES * gemma12b.hidden_size * 16384
    assert train(gemma12b, **kw, loss_impl="cut-cross-entropy").inputs.loss_impl == "cce"


def test_activation_offloading(llama3b: ModelArchitecture) -> None:
    kw = dict(max_length=8192, loss_impl="chunked")
    on_gpu = train(llama3b, **kw)
    offloaded = train(llama3b, **kw, activation_offloading=True)
    per_layer_input = 8192 * llama3b.hidden_size * 2
    assert on_gpu.term("activations").bytes == (llama3b.num_layers + 1) * per_layer_input
    assert offloaded.term("activations").bytes == C.OFFLOAD_LAYERS_ON_GPU * per_layer_input
    cpu = offloaded.term("cpu_activations")
    assert cpu is not None and cpu.device == "cpu" and not cpu.at_peak
    assert offloaded.total_bytes < on_gpu.total_bytes and offloaded.cpu_bytes == cpu.bytes
    no_gc = train(llama3b, **kw, gradient_checkpointing=False, activation_offloading=True)
    assert no_gc.term("activations").bytes < train(llama3b, **kw, gradient_checkpointing=False).term(
        "activations").bytes / 10


def test_bf16_adapters(llama3b: ModelArchitecture) -> None:
    fp32, bf16 = train(llama3b), train(llama3b, adapter_dtype="bf16")
    assert bf16.term("adapters").bytes == fp32.term("adapters").bytes / 2
    assert bf16.term("optimizer").bytes == fp32.term("optimizer").bytes / 2  # AdamW states in the param dtype
    with pytest.raises(TunerError, match="unknown adapter dtype"):
        train(llama3b, adapter_dtype="int8")


def test_every_input_names_terms_that_exist(llama3b: ModelArchitecture) -> None:
    keys: set[str] = set()
    for kw in ({}, {"method": "full", "optimizer": "adamw_torch"}, {"method": "qlora"},
               {"activation_offloading": True}, {"strategy": "zero3-offload"},
               {"modules_to_save": ("lm_head",)}):
        strategy = kw.pop("strategy", None)
        from core.calc import per_gpu_estimate

        inputs = MemoryInputs(arch=llama3b, **{"method": "lora", "lora_targets": ("q_proj",), **kw})  # type: ignore[arg-type]
        est = per_gpu_estimate(inputs, strategy, 4) if strategy else estimate_training(inputs)
        keys |= {t.key for t in est.terms}
    keys |= {"kv_cache", "prefill", "logits", "step_temp", "recompute"}
    for name, terms in INPUT_TERMS.items():
        assert set(terms) <= keys, name


def test_modules_to_save_trains_the_vocabulary_matrices_in_full() -> None:
    from core.calc import resolve_architecture

    qwen = resolve_architecture("qwen-7b")  # untied: wte and lm_head are two matrices
    base = train(qwen, lora_targets=("c_attn", "c_proj", "w1", "w2"))
    emb = train(qwen, lora_targets=("c_attn", "c_proj", "w1", "w2"), modules_to_save=("wte", "lm_head"))
    assert emb.inputs.modules_to_save == ("embed_tokens", "lm_head")
    saved = 2 * qwen.embedding_params
    assert emb.term("saved_modules").bytes == saved * 2
    assert emb.term("gradients").bytes - base.term("gradients").bytes == saved * 2
    assert emb.term("optimizer").bytes - base.term("optimizer").bytes == pytest.approx(saved * 4)  # AdamW, bf16
    keys = [t.key for t in emb.terms]
    assert keys[:5] == ["weights", "saved_modules", "adapters", "gradients", "optimizer"]
    with pytest.raises(TunerError, match="not a module the calculator models") as info:
        train(qwen, lora_targets=("c_attn",), modules_to_save=("ln_f",))
    assert info.value.field == "modules_to_save"
