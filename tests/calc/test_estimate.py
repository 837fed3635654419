"""The estimator's terms, one by one, and the properties a user relies on."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.calc import (
    InferenceInputs,
    MemoryInputs,
    ModelArchitecture,
    estimate_inference,
    estimate_training,
    kv_cache_bytes,
    lora_params,
    resolve_architecture,
)
from core.calc import constants as C
from core.calc.formats import WEIGHT_FORMATS
from core.errors import TunerError
from core.flavors import get_flavor


def train(arch: ModelArchitecture, **kw: object) -> object:
    base = dict(method="lora", max_length=768, batch_size=4, gradient_accumulation=1, lora_r=32,
                lora_targets=("q_proj", "v_proj"), optimizer="adamw_torch", gradient_checkpointing=False,
                dtype="bf16", lora_dropout=0.0)
    base.update(kw)
    return estimate_training(MemoryInputs(arch=arch, **base))  # type: ignore[arg-type]


def test_lora_param_counts_match_peft_logs(llama3b: ModelArchitecture) -> None:
    assert lora_params(llama3b, 32, ("q_proj", "v_proj")) == 9_175_040
    assert lora_params(llama3b, 64, ("q_proj", "v_proj")) == 18_350_080
    assert lora_params(llama3b, 10, ("gate_proj", "up_proj", "down_proj")) == 9_461_760


def test_weights_by_dtype_and_quant(llama3b: ModelArchitecture) -> None:
    P = llama3b.total_params
    assert train(llama3b, method="full").term("weights").bytes == P * 2
    assert train(llama3b, method="full", dtype="fp32").term("weights").bytes == P * 4
    q = train(llama3b, method="qlora").term("weights").bytes
    linear = llama3b.num_layers * llama3b.linear_params_per_layer
    assert q == pytest.approx(linear * WEIGHT_FORMATS["nf4-dq"] + (P - linear) * 2)
    assert WEIGHT_FORMATS["nf4-dq"] == pytest.approx(4.127 / 8, abs=1e-3)  # QLoRA paper: 4.127 bits
    assert WEIGHT_FORMATS["nf4"] == 0.5625
    upcast = train(llama3b, method="qlora", upcast_non_quantized=True).term("weights").bytes
    assert upcast - q == pytest.approx((P - linear) * 2)


def test_gradients_and_optimizer_states(llama3b: ModelArchitecture) -> None:
    P = llama3b.total_params
    full = train(llama3b, method="full", gradient_accumulation=4)
    assert full.term("gradients").bytes == P * 2
    assert full.term("optimizer").bytes == P * 4          # AdamW: two bf16 states
    assert train(llama3b, method="full", optimizer="adamw_8bit").term("optimizer").bytes == pytest.approx(
        P * (2 + 8 / 256))
    paged = train(llama3b, method="full", optimizer="paged_adamw_8bit")
    assert paged.term("optimizer").bytes == 0 and any("paged" in n for n in paged.notes)
    lora = train(llama3b)
    n = 9_175_040
    assert lora.term("adapters").bytes == n * 4             # fp32 adapters (PEFT default)
    assert lora.term("gradients").bytes == n * 4
    assert lora.term("optimizer").bytes == n * 8


def test_full_finetune_with_one_micro_step_holds_only_the_head_gradient_at_the_loss(llama3b: ModelArchitecture) -> None:
    est = train(llama3b, method="full", gradient_accumulation=1)
    assert est.term("gradients").bytes == llama3b.embedding_params * 2


def test_logits_term_is_the_guides_formula(gemma12b: ModelArchitecture) -> None:
    est = train(gemma12b, method="qlora", max_length=16384, batch_size=1, gradient_checkpointing=True)
    assert est.term("logits").bytes == 262_208 * 16384 * 4
    assert round(est.term("logits").bytes / 1e9, 1) == 17.2
    assert est.term("cross_entropy").bytes == 262_208 * 16384 * (C.CE_PEAK_BYTES["hf"] - 4)
    chunked = train(gemma12b, method="qlora", max_length=16384, batch_size=1, loss_impl="chunked",
                    gradient_checkpointing=True)
    assert chunked.term("logits") is None and chunked.total_bytes < est.total_bytes / 2


def test_loss_paths_are_ordered(llama3b: ModelArchitecture) -> None:
    totals = [train(llama3b, loss_impl=impl).total_bytes
              for impl in ("chunked", "bf16-logits", "hf", "hf-outputs-kept", "fp32-logits")]
    assert totals == sorted(totals)


def test_gradient_checkpointing_shrinks_activations(llama3b: ModelArchitecture) -> None:
    off = train(llama3b, max_length=4096)
    on = train(llama3b, max_length=4096, gradient_checkpointing=True)
    assert on.term("activations").bytes < off.term("activations").bytes / 5
    assert on.term("activations").bytes == (llama3b.num_layers + 1) * 4 * 4096 * llama3b.hidden_size * 2
    assert on.term("recompute") is not None and off.term("recompute") is None


def test_lora_dropout_and_mlp_targets_cost_activations(llama3b: ModelArchitecture) -> None:
    qv = train(llama3b).term("activations").bytes
    assert train(llama3b, lora_dropout=0.1).term("activations").bytes > qv
    mlp = train(llama3b, lora_r=10, lora_targets=("gate_proj", "up_proj", "down_proj")).term("activations").bytes
    assert mlp > qv  # PEFT measured 23.0 vs 20.8 GiB for these two


def test_old_bitsandbytes_keeps_frozen_inputs(llama3b: ModelArchitecture) -> None:
    # bitsandbytes < 0.43.2 saved every 4-bit matmul's input; with LoRA on q,v and no dropout the shared
    # attention input is saved anyway, so the extra is o_proj's input + the MLP input + down_proj's input.
    new = train(llama3b, method="qlora").term("activations").bytes
    old = train(llama3b, method="qlora", bnb_keeps_inputs=True).term("activations").bytes
    h, q, inter = llama3b.hidden_size, llama3b.q_width, llama3b.intermediate_size
    per_token_layer = 2 * (q + h + inter)
    assert old - new == pytest.approx(per_token_layer * C.ACTIVATION_SCALE * llama3b.num_layers * 4 * 768)
    # With dropout each LoRA input is a dropout copy, so the attention input itself is kept too.
    drop = train(llama3b, method="qlora", lora_dropout=0.05)
    drop_old = train(llama3b, method="qlora", lora_dropout=0.05, bnb_keeps_inputs=True)
    extra = drop_old.term("activations").bytes - drop.term("activations").bytes
    assert extra == pytest.approx(2 * (q + 2 * h + inter) * C.ACTIVATION_SCALE * llama3b.num_layers * 4 * 768)
    # Only 4-bit matmuls did this: LoRA on a bf16 base is unaffected.
    assert train(llama3b, bnb_keeps_inputs=True).total_bytes == train(llama3b).total_bytes


def test_methods_are_monotonic(gemma12b: ModelArchitecture) -> None:
    for length in (512, 4096):
        q, lo, full = (train(gemma12b, method=m, max_length=length, gradient_checkpointing=True).total_bytes
                       for m in ("qlora", "lora", "full"))
        assert q < lo < full


def test_terms_sum_to_total_and_allocator_and_context(llama3b: ModelArchitecture) -> None:
    est = train(llama3b)
    assert est.total_bytes == pytest.approx(sum(t.bytes for t in est.terms if t.at_peak))
    assert est.term("cuda_context").bytes == C.CUDA_CONTEXT_BYTES
    assert est.term("allocator").bytes == pytest.approx(est.allocated_bytes * C.FRAGMENTATION)
    assert est.reserved_bytes == pytest.approx(est.allocated_bytes * (1 + C.FRAGMENTATION))


def test_eager_attention_adds_quadratic_memory(llama3b: ModelArchitecture) -> None:
    sdpa = train(llama3b, max_length=2048, batch_size=1)
    eager = train(llama3b, max_length=2048, batch_size=1, attention="eager")
    extra = eager.term("activations").bytes - sdpa.term("activations").bytes
    assert extra == pytest.approx(llama3b.num_layers * llama3b.num_heads * 2048**2 * 2, rel=1e-6)


def test_fits_cheapest_and_bf16_support(gemma12b: ModelArchitecture) -> None:
    est = train(gemma12b, method="qlora", max_length=16384, batch_size=1, gradient_accumulation=8, lora_r=64,
                lora_targets=("q_proj", "k_proj", "v_proj", "o_proj"), optimizer="adamw_8bit",
                gradient_checkpointing=True, lora_dropout=0.05)
    assert est.fits("a100-large") and not est.fits("l40sx1")
    assert est.cheapest_flavor == get_flavor("a100-large")
    small = train(resolve_architecture("smollm2-135m"), method="qlora", max_length=512, batch_size=1)
    t4 = get_flavor("t4-small")
    assert small.fits_memory(t4) and small.unsupported(t4) and not small.fits(t4)
    assert small.cheapest_flavor is not None and small.cheapest_flavor.gpu_name != "T4"
    fp16 = train(resolve_architecture("smollm2-135m"), method="lora", max_length=512, batch_size=1, dtype="fp16")
    assert fp16.cheapest_flavor == t4
    huge = train(resolve_architecture("llama-3.3-70b"), method="full", max_length=8192)
    assert huge.cheapest_flavor is None


def test_inference_weights_plus_kv_matches_qwen3_table() -> None:
    # Qwen3-8B BF16, 30,720 + 2,048 tokens: 20,267 MiB measured with max_memory_allocated.
    est = estimate_inference(InferenceInputs(arch=resolve_architecture("qwen3-8b"), context_length=32768))
    assert est.allocated_bytes / 2**20 == pytest.approx(20267, rel=0.005)
    assert est.term("kv_cache").bytes == 2 * 36 * 8 * 128 * 2 * 32768


def test_sliding_window_kv_rule(gemma12b: ModelArchitecture) -> None:
    window = kv_cache_bytes(gemma12b, 32768)
    full = kv_cache_bytes(gemma12b, 32768, sliding_rule="full")
    per = 2 * gemma12b.kv_width * 2
    assert window == per * (8 * 32768 + 40 * 1024)
    assert full == per * 48 * 32768
    assert kv_cache_bytes(gemma12b, 512) == kv_cache_bytes(gemma12b, 512, sliding_rule="full")


def test_fp8_checkpoints_carry_an_untied_head() -> None:
    arch = resolve_architecture("qwen3-4b")
    fp8 = estimate_inference(InferenceInputs(arch=arch, context_length=1, weights="fp8")).term("weights").bytes
    linear = arch.num_layers * arch.linear_params_per_layer
    assert fp8 == pytest.approx(linear * 1.0 + (arch.text_params - linear) * 2 + arch.embedding_params * 2)


@pytest.mark.parametrize(("change", "field"), [
    ({"max_length": -5}, "max_length"), ({"max_length": 0}, "max_length"), ({"batch_size": 0}, "batch_size"),
    ({"method": "dora"}, "method"), ({"dtype": "int3"}, "dtype"), ({"lora_targets": ("nope",)}, "lora_targets"),
    ({"optimizer": "lamb"}, "optimizer"), ({"lora_r": 0}, "lora_r"), ({"loss_impl": "magic"}, "loss_impl"),
    ({"max_length": 10**9}, "max_length"),
])
def test_bad_inputs_raise_one_line_with_field(llama3b: ModelArchitecture, change: dict, field: str) -> None:
    inputs = replace(MemoryInputs(arch=llama3b), **change)
    with pytest.raises(TunerError) as info:
        estimate_training(inputs)
    assert info.value.field == field and "\n" not in info.value.one_line()


def test_to_dict_is_json_ready(llama3b: ModelArchitecture) -> None:
    import json

    data = train(llama3b).to_dict()
    json.dumps(data)
    assert data["terms"][0]["key"] == "weights" and data["cheapest_flavor"]
