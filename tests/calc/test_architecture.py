"""Parameter counts and KV sizes against memory-estimation.md §4 (exact integers)."""

from __future__ import annotations

import pytest

from core.calc import ModelArchitecture, resolve_architecture
from core.calc.architecture import normalise_targets
from core.calc.catalog import CATALOG
from core.errors import TunerError

# key: (text params computed in §4, KV bf16 per token in KiB from §4)
SECTION4 = {
    "gemma-3-270m": (268_098_176, 18.0), "gemma-3-1b": (999_885_952, 26.0),
    "gemma-3-4b": (3_880_263_168, 136), "gemma-3-12b": (11_766_034_176, 384), "gemma-3-27b": (27_009_346_304, 496),
    "qwen3-0.6b": (596_049_920, 112), "qwen3-1.7b": (1_720_574_976, 112), "qwen3-4b": (4_022_468_096, 144),
    "qwen3-8b": (8_190_735_360, 144), "qwen3-14b": (14_768_307_200, 160), "qwen3-32b": (32_762_123_264, 256),
    "llama-3.2-1b": (1_235_814_400, 32), "llama-3.2-3b": (3_212_749_824, 112), "llama-3.1-8b": (8_030_261_248, 128),
    "llama-3.3-70b": (70_553_706_496, 320), "mistral-7b-v0.3": (7_248_023_552, 128),
    "phi-4": (14_659_507_200, 200), "phi-3.5-mini": (3_821_079_552, 384),
    "smollm2-135m": (134_515_008, 22.5), "smollm2-360m": (361_821_120, 40), "smollm2-1.7b": (1_711_376_384, 192),
}


@pytest.mark.parametrize(("key", "expected"), sorted(SECTION4.items()))
def test_catalog_matches_section4(key: str, expected: tuple[int, float]) -> None:
    arch = resolve_architecture(key)
    params, kv_kib = expected
    assert arch.text_params == params
    assert arch.kv_bytes_per_token(2.0) / 1024 == kv_kib


def test_gemma3_vision_tower_matches_published_multimodal_counts() -> None:
    # §4: +vision totals 4,299,915,632 / 12,187,079,280 / 27,432,062,576 with keras' V = 262,144.
    for key, keras_text, with_vision in (("gemma-3-4b", 3_880_099_328, 4_299_915_632),
                                         ("gemma-3-12b", 11_765_788_416, 12_187_079_280),
                                         ("gemma-3-27b", 27_009_002_240, 27_432_062_576)):
        assert resolve_architecture(key).extra_params == with_vision - keras_text


def test_gemma3_global_layers() -> None:
    globals_ = {k: resolve_architecture(k).num_full_attention_layers
                for k in ("gemma-3-270m", "gemma-3-1b", "gemma-3-4b", "gemma-3-12b", "gemma-3-27b")}
    assert globals_ == {"gemma-3-270m": 3, "gemma-3-1b": 4, "gemma-3-4b": 5, "gemma-3-12b": 8, "gemma-3-27b": 10}


def test_every_catalog_entry_parses_and_has_hub_ids() -> None:
    for entry in CATALOG:
        arch = resolve_architecture(entry.key)
        assert arch.total_params > 1e8
        assert entry.hub_ids
        assert resolve_architecture(entry.hub_ids[0]).total_params == arch.total_params


def test_qwen3_head_dim_is_read_not_derived() -> None:
    arch = resolve_architecture("qwen3-0.6b")
    assert arch.head_dim == 128 and arch.hidden_size // arch.num_heads == 64


def test_config_defaults_and_fallbacks() -> None:
    cfg = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
           "num_attention_heads": 4, "vocab_size": 100}
    arch = ModelArchitecture.from_config(cfg, name="tiny")
    assert arch.num_kv_heads == 4 and arch.head_dim == 16 and arch.tie_word_embeddings is False
    falcon = ModelArchitecture.from_config({"model_type": "falcon", "hidden_size": 64, "num_hidden_layers": 2,
                                            "num_attention_heads": 4, "multi_query": True, "vocab_size": 10},
                                           name="f")
    assert falcon.num_kv_heads == 1 and falcon.intermediate_size == 256 and not falcon.gated_mlp


@pytest.mark.parametrize("cfg", [
    {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4},  # no vocab
    {"model_type": "llama", "hidden_size": -1, "intermediate_size": 8, "num_hidden_layers": 2,
     "num_attention_heads": 4, "vocab_size": 10},
    {"model_type": "llama", "hidden_size": 64, "intermediate_size": 8, "num_hidden_layers": 2,
     "num_attention_heads": 4, "num_key_value_heads": 3, "vocab_size": 10},
    {"model_type": "llama", "hidden_size": 64, "intermediate_size": "x", "num_hidden_layers": 2,
     "num_attention_heads": 4, "vocab_size": 10},
])
def test_broken_configs_raise_one_line(cfg: dict) -> None:
    with pytest.raises(TunerError) as info:
        ModelArchitecture.from_config(cfg, name="broken")
    assert "\n" not in info.value.one_line()


def test_lora_target_names(llama3b: ModelArchitecture) -> None:
    every = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
             "mlp.up_proj", "mlp.down_proj")
    assert normalise_targets("all-linear", llama3b) == every
    assert normalise_targets("q_proj,self_attn.v_proj", llama3b) == ("self_attn.q_proj", "self_attn.v_proj")
    assert normalise_targets("all-attention", llama3b) == every[:4]
    # Fused names of other families are not Llama's modules: PEFT would fail on them, so does the calculator,
    # with the model's own list.
    with pytest.raises(TunerError, match="has no module 'qkv_proj'") as info:
        normalise_targets(("qkv_proj", "gate_up_proj"), llama3b)
    assert "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj" in (info.value.hint or "")
    with pytest.raises(TunerError, match="has no module 'q_prj'"):
        normalise_targets("q_prj", llama3b)
    assert normalise_targets("lm_head", llama3b) == ("lm_head",)
