"""Both ways of reading an architecture, held together: the config formulas (`core.calc.families`, the
base install and remote-code models) and the model built on the meta device (`core.calc.introspect`).

Every family of issue 12's table: exact parameter counts against published totals where a public exact
figure exists, and the meta-device model's counts, Linear modules and shapes equal to the formulas'.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.calc import ModelArchitecture, resolve_architecture
from core.calc.architecture import normalise_targets
from core.calc.catalog import find_entry
from core.calc.introspect import meta_architecture, transformers_available
from core.errors import TunerError

CONFIGS: dict[str, dict] = {
    # Shapes from the models' config.json on the Hub (transformers defaults fill what a config omits).
    "qwen2.5-0.5b": {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                     "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
                     "tie_word_embeddings": True, "max_position_embeddings": 32768},
    "qwen3-30b-a3b": {"model_type": "qwen3_moe", "hidden_size": 2048, "intermediate_size": 6144,
                      "moe_intermediate_size": 768, "num_experts": 128, "num_experts_per_tok": 8,
                      "num_hidden_layers": 48, "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128,
                      "vocab_size": 151936, "tie_word_embeddings": False, "max_position_embeddings": 40960},
    "phi-2": {"model_type": "phi", "hidden_size": 2560, "intermediate_size": 10240, "num_hidden_layers": 32,
              "num_attention_heads": 32, "vocab_size": 51200, "max_position_embeddings": 2048,
              "partial_rotary_factor": 0.4, "tie_word_embeddings": False},
    "starcoder": {"model_type": "gpt_bigcode", "n_embd": 6144, "n_layer": 40, "n_head": 48, "n_inner": 24576,
                  "vocab_size": 49152, "n_positions": 8192, "multi_query": True},
    "pythia-160m": {"model_type": "gpt_neox", "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                    "num_attention_heads": 12, "vocab_size": 50304, "max_position_embeddings": 2048,
                    "tie_word_embeddings": False, "rotary_pct": 0.25},
    "olmo-1b": {"model_type": "olmo", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
                "num_attention_heads": 16, "vocab_size": 50304, "max_position_embeddings": 2048,
                "tie_word_embeddings": True},
    "olmo2-1b": {"model_type": "olmo2", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
                 "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 100352,
                 "tie_word_embeddings": False},
    "falcon-40b": {"model_type": "falcon", "hidden_size": 8192, "num_hidden_layers": 60, "num_attention_heads": 128,
                   "num_kv_heads": 8, "new_decoder_architecture": True, "vocab_size": 65024, "bias": False,
                   "parallel_attn": True},
    "mixtral-8x7b": {"model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                     "num_attention_heads": 32, "num_key_value_heads": 8, "num_local_experts": 8,
                     "num_experts_per_tok": 2, "vocab_size": 32000, "tie_word_embeddings": False},
}
CATALOG_KEYS = ("llama-3.2-3b", "mistral-7b-v0.3", "qwen3-0.6b", "qwen3-8b", "gemma-2-2b", "gemma-3-1b", "gemma-3-4b",
                "phi-3.5-mini", "phi-4", "falcon-7b", "smollm2-135m", "qwen-7b")


def config_of(key: str) -> dict:
    entry = find_entry(key)
    return dict(entry.config) if entry is not None else CONFIGS[key]


def formula(key: str) -> ModelArchitecture:
    return ModelArchitecture.from_config(config_of(key), name=key)


# (key, which count, exact published figure, where it is published)
PUBLISHED = [
    ("llama-3.2-3b", "total", 3_212_749_824, "PEFT method-comparison logs (num_total_params)"),
    ("mistral-7b-v0.3", "total", 7_248_023_552, "Ollama model page / safetensors metadata"),
    ("qwen2.5-0.5b", "total", 494_032_768, "model.num_parameters() of Qwen/Qwen2.5-0.5B"),
    ("qwen3-0.6b", "total", 596_049_920, "safetensors metadata of Qwen/Qwen3-0.6B"),
    ("qwen3-8b", "total", 8_190_735_360, "safetensors metadata of Qwen/Qwen3-8B"),
    ("qwen3-30b-a3b", "total", 30_532_122_624, "safetensors index metadata of Qwen/Qwen3-30B-A3B"),
    ("gemma-2-2b", "non_embedding", 2_024_517_888, "Gemma 2 report (arXiv 2408.00118) Table 1"),
    ("gemma-3-1b", "total", 999_885_952, "keras-hub gemma3_presets.py"),
    ("gemma-3-4b", "total", 4_300_079_472, "keras-hub count with vision (4,299,915,632) + HF's 64 extra tokens"),
    ("phi-2", "total", 2_779_683_840, "safetensors metadata of microsoft/phi-2"),
    ("phi-3.5-mini", "total", 3_821_079_552, "safetensors metadata of microsoft/Phi-3.5-mini-instruct"),
    ("pythia-160m", "non_embedding", 85_056_000, "EleutherAI/pythia-160m model card table"),
    ("pythia-160m", "total", 162_322_944, "EleutherAI/pythia-160m model card (exact parameter counts)"),
    ("olmo-1b", "total", 1_176_764_416, "allenai/OLMo-1B checkpoint"),
    ("qwen-7b", "total", 7_721_324_544, "safetensors / GGUF metadata of Qwen/Qwen-7B(-Chat)"),
    ("qwen-14b", "total", 14_167_290_880, "Qwen/Qwen-14B: 14.17B on its Hub page"),
]


@pytest.mark.parametrize(("key", "which", "published", "where"), PUBLISHED,
                         ids=[f"{k}-{w}" for k, w, _, _ in PUBLISHED])
def test_formulas_give_published_counts(key: str, which: str, published: int, where: str) -> None:
    arch = formula(key)
    count = arch.total_params if which == "total" else arch.non_embedding_params
    assert count == published, where


needs_transformers = pytest.mark.skipif(not transformers_available(), reason="base install: no transformers")
TABLE = [*CATALOG_KEYS[:-1], *CONFIGS]


@needs_transformers
@pytest.mark.parametrize("key", TABLE)
def test_meta_model_equals_formulas(key: str) -> None:
    config = config_of(key)
    by_formula = ModelArchitecture.from_config(config, name=key)
    built = meta_architecture(config, by_formula)
    assert built is not None and built.counted_by.startswith("meta model")
    assert built.total_params == by_formula.total_params
    assert built.extra_params == by_formula.extra_params
    assert built.layer_params == by_formula.layer_params and built.outer_params == by_formula.outer_params
    assert {lin.name: lin for lin in built.linears} == {lin.name: lin for lin in by_formula.linears}
    assert built.tie_word_embeddings == by_formula.tie_word_embeddings


@needs_transformers
def test_remote_code_models_use_the_formulas() -> None:
    config = config_of("qwen-7b")
    assert meta_architecture(config, formula("qwen-7b")) is None  # transformers has no `qwen` model type
    arch = resolve_architecture("Qwen/Qwen-7B", counting="model")
    assert arch.counted_by == "config formula" and arch.total_params == 7_721_324_544


@needs_transformers
def test_a_config_path_is_counted_on_the_meta_device(tmp_path: Path) -> None:
    path = tmp_path / "phi-2"
    path.mkdir()
    (path / "config.json").write_text(json.dumps(CONFIGS["phi-2"]), encoding="utf-8")
    arch = resolve_architecture(str(path))
    assert arch.counted_by.startswith("meta model") and arch.total_params == 2_779_683_840
    assert resolve_architecture(str(path), counting="config").counted_by == "config formula"
    # LoRA targets are the model's own names; an unknown one is refused with the model's list.
    assert normalise_targets("dense,fc1", arch) == ("self_attn.dense", "mlp.fc1")
    with pytest.raises(TunerError) as info:
        normalise_targets("o_proj", arch)
    assert info.value.hint == "its Linear modules: q_proj, k_proj, v_proj, dense, fc1, fc2 (or all-linear)"


def test_unknown_family_says_how_it_was_counted(tmp_path: Path) -> None:
    cfg = {"model_type": "my_own_decoder", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
           "num_attention_heads": 4, "vocab_size": 100}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    arch = resolve_architecture(str(path))
    assert arch.counted_by == "config formula" and "Llama-style" in arch.extra_note
