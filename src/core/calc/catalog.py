"""Built-in model catalog: `config.json` excerpts for the guide's families and the common small models.

Values are from memory-estimation.md §4 (each row there cites its public config source); the parameter
counts they give are asserted in tests/calc. Entries marked `dev_set` are older models that appear in
the measured development set (Llama 2, Falcon, Gemma 1/2, Phi-3, Mistral v0.2); they are listed so the
accuracy benchmark and users of those checkpoints need no network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_GEMMA3_VISION = {"model_type": "siglip_vision_model", "hidden_size": 1152, "intermediate_size": 4304,
                  "num_hidden_layers": 27, "num_attention_heads": 16, "patch_size": 14, "image_size": 896,
                  "num_channels": 3, "vision_use_head": False}


def _llama(h: int, inter: int, layers: int, heads: int, kv: int, vocab: int, *, tied: bool,
           head_dim: int | None = None, model_type: str = "llama", max_pos: int = 131072,
           **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {"model_type": model_type, "hidden_size": h, "intermediate_size": inter,
                           "num_hidden_layers": layers, "num_attention_heads": heads,
                           "num_key_value_heads": kv, "vocab_size": vocab, "tie_word_embeddings": tied,
                           "max_position_embeddings": max_pos}
    if head_dim is not None:
        cfg["head_dim"] = head_dim
    cfg.update(extra)
    return cfg


def _gemma3(h: int, inter: int, layers: int, heads: int, kv: int, head_dim: int, vocab: int, window: int,
            max_pos: int, *, vision: bool) -> dict[str, Any]:
    layer_types = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(layers)]
    text = {"model_type": "gemma3_text", "hidden_size": h, "intermediate_size": inter,
            "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv,
            "head_dim": head_dim, "vocab_size": vocab, "tie_word_embeddings": True,
            "max_position_embeddings": max_pos, "sliding_window": window, "layer_types": layer_types}
    if not vision:
        return text
    return {"model_type": "gemma3", "text_config": text, "vision_config": dict(_GEMMA3_VISION),
            "tie_word_embeddings": True}


def _qwen1(h: int, inter: int, layers: int, heads: int, vocab: int) -> dict[str, Any]:
    """Qwen-1 (remote code `modeling_qwen.py`): `intermediate_size` is the sum of w1 and w2's widths."""
    return {"model_type": "qwen", "architectures": ["QWenLMHeadModel"],
            "auto_map": {"AutoConfig": "configuration_qwen.QWenConfig",
                         "AutoModelForCausalLM": "modeling_qwen.QWenLMHeadModel"},
            "hidden_size": h, "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
            "kv_channels": 128, "vocab_size": vocab, "no_bias": True, "tie_word_embeddings": False,
            "max_position_embeddings": 8192, "seq_length": 8192}


@dataclass(frozen=True)
class CatalogEntry:
    key: str
    family: str
    display: str
    config: dict[str, Any]
    hub_ids: tuple[str, ...]
    published_params: str
    dev_set: bool = False
    aliases: tuple[str, ...] = field(default=())


def _e(key: str, family: str, display: str, config: dict[str, Any], hub_ids: tuple[str, ...],
       published: str, *, dev_set: bool = False, aliases: tuple[str, ...] = ()) -> CatalogEntry:
    return CatalogEntry(key, family, display, config, hub_ids, published, dev_set, aliases)


CATALOG: tuple[CatalogEntry, ...] = (
    # Gemma 3 (hybrid sliding window: 5 local layers per global one; 262k vocabulary)
    _e("gemma-3-270m", "Gemma 3", "Gemma 3 270M",
       _gemma3(640, 2048, 18, 4, 1, 256, 262144, 512, 32768, vision=False),
       ("google/gemma-3-270m", "google/gemma-3-270m-it"), "268,098,176"),
    _e("gemma-3-1b", "Gemma 3", "Gemma 3 1B",
       _gemma3(1152, 6912, 26, 4, 1, 256, 262144, 512, 32768, vision=False),
       ("google/gemma-3-1b-pt", "google/gemma-3-1b-it"), "999,885,952"),
    _e("gemma-3-4b", "Gemma 3", "Gemma 3 4B",
       _gemma3(2560, 10240, 34, 8, 4, 256, 262208, 1024, 131072, vision=True),
       ("google/gemma-3-4b-pt", "google/gemma-3-4b-it"), "3,880,263,168 text + vision"),
    _e("gemma-3-12b", "Gemma 3", "Gemma 3 12B",
       _gemma3(3840, 15360, 48, 16, 8, 256, 262208, 1024, 131072, vision=True),
       ("google/gemma-3-12b-pt", "google/gemma-3-12b-it"), "11,766,034,176 text + vision"),
    _e("gemma-3-27b", "Gemma 3", "Gemma 3 27B",
       _gemma3(5376, 21504, 62, 32, 16, 128, 262208, 1024, 131072, vision=True),
       ("google/gemma-3-27b-pt", "google/gemma-3-27b-it"), "27,009,346,304 text + vision"),
    # Qwen3 (explicit head_dim 128 at every size; q/k-norm)
    _e("qwen3-0.6b", "Qwen3", "Qwen3 0.6B",
       _llama(1024, 3072, 28, 16, 8, 151936, tied=True, head_dim=128, model_type="qwen3", max_pos=40960),
       ("Qwen/Qwen3-0.6B", "Qwen/Qwen3-0.6B-Base"), "596,049,920"),
    _e("qwen3-1.7b", "Qwen3", "Qwen3 1.7B",
       _llama(2048, 6144, 28, 16, 8, 151936, tied=True, head_dim=128, model_type="qwen3", max_pos=40960),
       ("Qwen/Qwen3-1.7B", "Qwen/Qwen3-1.7B-Base"), "1,720,574,976"),
    _e("qwen3-4b", "Qwen3", "Qwen3 4B",
       _llama(2560, 9728, 36, 32, 8, 151936, tied=True, head_dim=128, model_type="qwen3", max_pos=40960),
       ("Qwen/Qwen3-4B", "Qwen/Qwen3-4B-Base"), "4,022,468,096"),
    _e("qwen3-8b", "Qwen3", "Qwen3 8B",
       _llama(4096, 12288, 36, 32, 8, 151936, tied=False, head_dim=128, model_type="qwen3", max_pos=40960),
       ("Qwen/Qwen3-8B", "Qwen/Qwen3-8B-Base"), "8,190,735,360"),
    _e("qwen3-14b", "Qwen3", "Qwen3 14B",
       _llama(5120, 17408, 40, 40, 8, 151936, tied=False, head_dim=128, model_type="qwen3", max_pos=40960),
       ("Qwen/Qwen3-14B", "Qwen/Qwen3-14B-Base"), "14,768,307,200"),
    _e("qwen3-32b", "Qwen3", "Qwen3 32B",
       _llama(5120, 25600, 64, 64, 8, 151936, tied=False, head_dim=128, model_type="qwen3", max_pos=40960),
       ("Qwen/Qwen3-32B",), "32,762,123,264"),
    # Llama 3.x
    _e("llama-3.2-1b", "Llama 3", "Llama 3.2 1B",
       _llama(2048, 8192, 16, 32, 8, 128256, tied=True, head_dim=64),
       ("meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.2-1B-Instruct"), "1,235,814,400"),
    _e("llama-3.2-3b", "Llama 3", "Llama 3.2 3B",
       _llama(3072, 8192, 28, 24, 8, 128256, tied=True, head_dim=128),
       ("meta-llama/Llama-3.2-3B", "meta-llama/Llama-3.2-3B-Instruct"), "3,212,749,824"),
    _e("llama-3.1-8b", "Llama 3", "Llama 3.1 8B",
       _llama(4096, 14336, 32, 32, 8, 128256, tied=False, head_dim=128),
       ("meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Meta-Llama-3-8B",
        "meta-llama/Meta-Llama-3-8B-Instruct", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
       "8,030,261,248", aliases=("llama-3-8b",)),
    _e("llama-3.3-70b", "Llama 3", "Llama 3.3 70B",
       _llama(8192, 28672, 80, 64, 8, 128256, tied=False, head_dim=128),
       ("meta-llama/Llama-3.3-70B-Instruct", "meta-llama/Llama-3.1-70B", "meta-llama/Llama-3.1-70B-Instruct",
        "meta-llama/Meta-Llama-3-70B-Instruct"), "70,553,706,496", aliases=("llama-3.1-70b", "llama-3-70b")),
    # Mistral, Phi, SmolLM2
    _e("mistral-7b-v0.3", "Mistral", "Mistral 7B v0.3",
       _llama(4096, 14336, 32, 32, 8, 32768, tied=False, head_dim=128, model_type="mistral", max_pos=32768),
       ("mistralai/Mistral-7B-v0.3", "mistralai/Mistral-7B-Instruct-v0.3"), "7,248,023,552"),
    _e("phi-4", "Phi", "Phi-4",
       _llama(5120, 17920, 40, 40, 10, 100352, tied=False, head_dim=128, model_type="phi3", max_pos=16384),
       ("microsoft/phi-4",), "14,659,507,200"),
    _e("phi-3.5-mini", "Phi", "Phi-3.5 mini",
       _llama(3072, 8192, 32, 32, 32, 32064, tied=False, model_type="phi3", max_pos=131072),
       ("microsoft/Phi-3.5-mini-instruct",), "3,821,079,552"),
    _e("smollm2-135m", "SmolLM2", "SmolLM2 135M",
       _llama(576, 1536, 30, 9, 3, 49152, tied=True, head_dim=64, max_pos=8192),
       ("HuggingFaceTB/SmolLM2-135M", "HuggingFaceTB/SmolLM2-135M-Instruct"), "134,515,008"),
    _e("smollm2-360m", "SmolLM2", "SmolLM2 360M",
       _llama(960, 2560, 32, 15, 5, 49152, tied=True, head_dim=64, max_pos=8192),
       ("HuggingFaceTB/SmolLM2-360M", "HuggingFaceTB/SmolLM2-360M-Instruct"), "361,821,120"),
    _e("smollm2-1.7b", "SmolLM2", "SmolLM2 1.7B",
       _llama(2048, 8192, 24, 32, 32, 49152, tied=True, head_dim=64, max_pos=8192),
       ("HuggingFaceTB/SmolLM2-1.7B", "HuggingFaceTB/SmolLM2-1.7B-Instruct"), "1,711,376,384"),
    # Qwen-1 (remote code). Shapes: the configs at https://huggingface.co/Qwen/Qwen-7B/blob/main/config.json
    # (and -1_8B, -14B); published sizes 1.8B / 7.72B / 14.17B.
    _e("qwen-1.8b", "Qwen-1", "Qwen 1.8B", _qwen1(2048, 11008, 24, 16, 151936),
       ("Qwen/Qwen-1_8B", "Qwen/Qwen-1_8B-Chat"), "1.8B"),
    _e("qwen-7b", "Qwen-1", "Qwen 7B", _qwen1(4096, 22016, 32, 32, 151936),
       ("Qwen/Qwen-7B", "Qwen/Qwen-7B-Chat"), "7,721,324,544"),
    _e("qwen-14b", "Qwen-1", "Qwen 14B", _qwen1(5120, 27392, 40, 40, 152064),
       ("Qwen/Qwen-14B", "Qwen/Qwen-14B-Chat"), "14,167,290,880"),
    # Older models that appear in the measured development set.
    _e("llama-2-7b", "Llama 2", "Llama 2 7B", _llama(4096, 11008, 32, 32, 32, 32000, tied=False, max_pos=4096),
       ("meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-7b-chat-hf", "meta-llama/Llama-2-7b"), "6.74B",
       dev_set=True),
    _e("llama-2-13b", "Llama 2", "Llama 2 13B", _llama(5120, 13824, 40, 40, 40, 32000, tied=False, max_pos=4096),
       ("meta-llama/Llama-2-13b-hf", "meta-llama/Llama-2-13b"), "13.0B", dev_set=True),
    _e("llama-2-70b", "Llama 2", "Llama 2 70B", _llama(8192, 28672, 80, 64, 8, 32000, tied=False, max_pos=4096),
       ("meta-llama/Llama-2-70b-hf", "meta-llama/Llama-2-70b"), "69.0B", dev_set=True),
    _e("codellama-34b", "Llama 2", "CodeLlama 34B", _llama(8192, 22016, 48, 64, 8, 32000, tied=False, max_pos=16384),
       ("codellama/CodeLlama-34b-hf", "codellama/CodeLlama-34b"), "33.7B", dev_set=True),
    _e("mistral-7b-v0.2", "Mistral", "Mistral 7B v0.2",
       _llama(4096, 14336, 32, 32, 8, 32000, tied=False, head_dim=128, model_type="mistral", max_pos=32768),
       ("mistralai/Mistral-7B-v0.2", "mistralai/Mistral-7B-Instruct-v0.2"), "7.24B", dev_set=True),
    _e("falcon-7b", "Falcon", "Falcon 7B",
       {"model_type": "falcon", "hidden_size": 4544, "num_hidden_layers": 32, "num_attention_heads": 71,
        "multi_query": True, "vocab_size": 65024, "parallel_attn": True, "bias": False,
        "tie_word_embeddings": True, "max_position_embeddings": 2048},
       ("tiiuae/falcon-7b", "tiiuae/falcon-7b-instruct"), "6.92B", dev_set=True),
    _e("gemma-2b", "Gemma", "Gemma 2B", _llama(2048, 16384, 18, 8, 1, 256000, tied=True, head_dim=256,
                                               model_type="gemma", max_pos=8192),
       ("google/gemma-2b", "google/gemma-2b-it"), "2.51B", dev_set=True),
    _e("gemma-7b", "Gemma", "Gemma 7B", _llama(3072, 24576, 28, 16, 16, 256000, tied=True, head_dim=256,
                                               model_type="gemma", max_pos=8192),
       ("google/gemma-7b", "google/gemma-7b-it"), "8.54B", dev_set=True),
    _e("gemma-2-2b", "Gemma 2", "Gemma 2 2B",
       _llama(2304, 9216, 26, 8, 4, 256000, tied=True, head_dim=256, model_type="gemma2", max_pos=8192,
              sliding_window=4096),
       ("google/gemma-2-2b", "google/gemma-2-2b-it"), "2.61B", dev_set=True),
    _e("gemma-2-9b", "Gemma 2", "Gemma 2 9B",
       _llama(3584, 14336, 42, 16, 8, 256000, tied=True, head_dim=256, model_type="gemma2", max_pos=8192,
              sliding_window=4096),
       ("google/gemma-2-9b", "google/gemma-2-9b-it"), "9.24B", dev_set=True),
    _e("phi-3-mini-4k", "Phi", "Phi-3 mini 4k",
       _llama(3072, 8192, 32, 32, 32, 32064, tied=False, model_type="phi3", max_pos=4096, sliding_window=2047),
       ("microsoft/Phi-3-mini-4k-instruct",), "3.82B", dev_set=True),
)

_BY_KEY: dict[str, CatalogEntry] = {}
for _entry in CATALOG:
    for _name in (_entry.key, *_entry.aliases, *_entry.hub_ids):
        _BY_KEY[_name.lower()] = _entry


def find_entry(name: str) -> CatalogEntry | None:
    """A catalog entry by key, alias or Hub id (case-insensitive)."""
    return _BY_KEY.get(name.strip().lower())


def catalog_keys(*, include_dev_set: bool = True) -> list[str]:
    return [e.key for e in CATALOG if include_dev_set or not e.dev_set]
