"""The calculator defects reported in issue 12, each reproduced with public models (failed before the fix)."""

from __future__ import annotations

import json

import pytest

from core.calc import MemoryInputs, ModelArchitecture, estimate_training, lora_params, resolve_architecture
from core.calc.architecture import normalise_targets
from core.errors import TunerError
from tui_tuner.cli import main

# Qwen/Qwen-7B's config.json (remote code, model_type "qwen"), as published on the Hub.
QWEN_7B_CONFIG = {
    "architectures": ["QWenLMHeadModel"], "auto_map": {"AutoConfig": "configuration_qwen.QWenConfig",
                                                       "AutoModelForCausalLM": "modeling_qwen.QWenLMHeadModel"},
    "hidden_size": 4096, "intermediate_size": 22016, "kv_channels": 128, "layer_norm_epsilon": 1e-06,
    "max_position_embeddings": 8192, "model_type": "qwen", "no_bias": True, "num_attention_heads": 32,
    "num_hidden_layers": 32, "rotary_emb_base": 10000, "seq_length": 8192, "tie_word_embeddings": False,
    "vocab_size": 151936,
}


def calc_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code = main(["calc", *args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


# ---- `calc --inference` honoured neither --quant, --dtype nor --attention ---------------------------

def test_inference_honours_quant(capsys: pytest.CaptureFixture[str]) -> None:
    nf4 = calc_json(capsys, "-m", "qwen3-8b", "--inference", "--quant", "nf4", "--max-length", "8192")
    bf16 = calc_json(capsys, "-m", "qwen3-8b", "--inference", "--max-length", "8192")
    gib = nf4["estimate"]["allocated_bytes"] / 2**30
    assert gib == pytest.approx(7.1, abs=0.1)  # NF4 Linears + bf16 embedding/head + KV cache
    assert bf16["estimate"]["allocated_bytes"] / 2**30 == pytest.approx(16.4, abs=0.1)
    assert nf4["estimate"]["inputs"]["weights"] == "nf4"


def test_inference_honours_dtype_and_weights_wins(capsys: pytest.CaptureFixture[str]) -> None:
    fp16 = calc_json(capsys, "-m", "smollm2-135m", "--inference", "--dtype", "fp16")
    assert fp16["estimate"]["inputs"]["weights"] == "fp16"
    assert fp16["estimate"]["fits"]["t4-small"]  # fp16 runs on a T4, bf16 does not
    bf16 = calc_json(capsys, "-m", "smollm2-135m", "--inference")
    assert not bf16["estimate"]["fits"]["t4-small"]
    both = calc_json(capsys, "-m", "qwen3-8b", "--inference", "--quant", "nf4", "--weights", "int8")
    assert both["estimate"]["inputs"]["weights"] == "int8"


def test_inference_honours_attention(capsys: pytest.CaptureFixture[str]) -> None:
    eager = calc_json(capsys, "-m", "qwen3-8b", "--inference", "--attention", "eager", "--max-length", "8192")
    sdpa = calc_json(capsys, "-m", "qwen3-8b", "--inference", "--attention", "sdpa", "--max-length", "8192")
    terms = {t["key"]: t for t in eager["estimate"]["terms"]}
    assert terms["prefill"]["bytes"] == pytest.approx(8 * 32 * 8192**2)  # heads × s² scores, one layer
    assert sdpa["estimate"]["total_bytes"] < eager["estimate"]["total_bytes"]
    # flash-attention-2 is accepted for inference and training alike, and only where it exists.
    flash = calc_json(capsys, "-m", "qwen3-8b", "--inference", "--attention", "flash", "--quant", "nf4")
    assert flash["estimate"]["inputs"]["attention"] == "flash-attention-2"
    assert not flash["estimate"]["fits"]["t4-medium"] and flash["estimate"]["fits"]["l4x1"]
    train = calc_json(capsys, "-m", "qwen3-8b", "--attention", "flash-attention-2")
    assert train["estimate"]["inputs"]["attention"] == "flash-attention-2"
    assert not any(r["fits"] for r in train["flavors"] if r["gpu"] == "T4")


# ---- Qwen-1: intermediate_size 22016 is w1 + w2, each 11008 wide ---------------------------------------

def test_qwen1_parameter_count_is_7_72b() -> None:
    arch = ModelArchitecture.from_config(QWEN_7B_CONFIG, name="Qwen/Qwen-7B")
    assert arch.total_params == 7_721_324_544  # the checkpoint's count; 12.05B before the fix
    assert arch.intermediate_size == 11008
    assert resolve_architecture("Qwen/Qwen-7B").total_params == 7_721_324_544
    assert resolve_architecture("qwen-14b").total_params == 14_167_290_880  # published 14.17B


def test_qwen1_lora_targets_are_its_own_modules() -> None:
    arch = ModelArchitecture.from_config(QWEN_7B_CONFIG, name="Qwen/Qwen-7B")
    # c_proj is both the attention output and the MLP's down projection, as PEFT matches it.
    assert normalise_targets("c_attn,c_proj,w1,w2", arch) == ("attn.c_attn", "attn.c_proj", "mlp.w1", "mlp.w2",
                                                              "mlp.c_proj")
    # w2 is the gate (silu(w2(x)) · w1(x)), an h → 11008 matrix, not a down projection.
    w2 = arch.linear("mlp.w2")
    assert (w2.d_in, w2.d_out) == (4096, 11008)
    assert lora_params(arch, 8, ("w2",)) == 32 * 8 * (4096 + 11008)
    assert lora_params(arch, 8, ("c_attn",)) == 32 * 8 * (4096 + 3 * 4096)
    with pytest.raises(TunerError, match="has no module 'q_proj'") as info:
        normalise_targets("q_proj", arch)
    assert "c_attn" in (info.value.hint or "") and "w2" in (info.value.hint or "")
    est = estimate_training(MemoryInputs(arch=arch, method="lora", lora_targets=("c_attn", "c_proj", "w1", "w2"),
                                         max_length=1024))
    assert est.term("adapters") is not None and est.total_bytes > 0


def test_other_families_targets(capsys: pytest.CaptureFixture[str]) -> None:
    starcoder = {"model_type": "gpt_bigcode", "n_embd": 6144, "n_layer": 40, "n_head": 48, "n_inner": 24576,
                 "vocab_size": 49152, "n_positions": 8192, "multi_query": True}
    arch = ModelArchitecture.from_config(starcoder, name="bigcode/starcoder")
    assert normalise_targets("c_fc,c_proj", arch) == ("attn.c_proj", "mlp.c_fc", "mlp.c_proj")
    assert arch.linear("attn.c_attn").d_out == 6144 + 2 * 128  # multi-query: one K and one V head
    phi4 = resolve_architecture("phi-4")
    assert normalise_targets("qkv_proj,gate_up_proj", phi4) == ("self_attn.qkv_proj", "mlp.gate_up_proj")
    data = calc_json(capsys, "-m", "qwen-7b", "--method", "lora", "--lora-targets", "c_attn,c_proj,w1,w2")
    assert data["estimate"]["inputs"]["lora_targets"] == ["attn.c_attn", "attn.c_proj", "mlp.w1", "mlp.w2",
                                                          "mlp.c_proj"]
