"""Architecture from the model itself: build it on the meta device and count what is really there.

`AutoModelForCausalLM.from_config` under `accelerate.init_empty_weights()` builds the model without
allocating or downloading anything (the config comes from the catalog, a local config.json or the Hub's
config.json). From it: the parameters per module (tied weights once), each decoder layer's `nn.Linear`
modules (and MoE expert banks) by their real names and shapes, the embedding, the LM head and anything
outside the text model (a vision tower). Remote-code models (Qwen-1) and a base install without
transformers use the config formulas (`core.calc.families`); tests/calc/test_families.py holds the two
paths equal on a table of architectures.

Results are cached on disk per config and transformers version: the build takes seconds for large models.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.calc.architecture import ModelArchitecture
from core.calc.families import ATTN_IN, ATTN_OUT, MLP_IN, MLP_MID, LinearModule

_ATTENTION_CONTAINERS = ("attn", "attention")
_OUT_PROJECTIONS = {"o_proj", "dense", "c_proj", "out_proj", "wo", "o"}
_NOT_TEXT = ("vision", "visual", "multi_modal_projector", "audio", "image")
MAX_LAYERS = 512
"""Configs beyond these are not built (a hostile or broken config must not hang the calculator)."""
MAX_WIDTH = 131_072
MAX_VOCAB = 4_000_000
CACHE_VERSION = 1
_lock = threading.Lock()
_memo: dict[str, ModelArchitecture | None] = {}


def transformers_available() -> bool:
    """transformers, accelerate and torch are importable (the train/convert extras)."""
    return all(importlib.util.find_spec(name) is not None for name in ("transformers", "accelerate", "torch"))


def buildable(config: Mapping[str, Any]) -> bool:
    """transformers knows this model_type without remote code, and its size is sane."""
    if not transformers_available():
        return False
    model_type = str(config.get("model_type") or "")
    try:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    except ImportError:  # the base install: the config formulas count instead
        return False
    except Exception:  # a broken install counts as a base install here
        return False
    if model_type not in CONFIG_MAPPING:
        return False
    text = config.get("text_config") if isinstance(config.get("text_config"), Mapping) else config
    for key, limit in (("num_hidden_layers", MAX_LAYERS), ("hidden_size", MAX_WIDTH), ("vocab_size", MAX_VOCAB),
                       ("intermediate_size", 8 * MAX_WIDTH), ("num_experts", 4096), ("num_local_experts", 4096)):
        value = text.get(key, config.get(key))
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= limit):
            return False
    return True


def meta_architecture(config: Mapping[str, Any], formula: ModelArchitecture) -> ModelArchitecture | None:
    """`formula` with its counts and modules replaced by the meta-device model's, or None when
    transformers cannot build this config (remote code, unknown type, an error while building)."""
    if not buildable(config):
        return None
    key = _cache_key(config)
    with _lock:
        if key in _memo:
            found = _memo[key]
            return _named(found, formula) if found else None
    counted = _read_cache(key)
    if counted is None:
        try:
            counted = _count(config)
        except Exception:  # any failure to build means: not buildable here
            counted = None
        if counted is not None:
            _write_cache(key, counted)
    arch = _apply(formula, counted) if counted else None
    with _lock:
        _memo[key] = arch
    return _named(arch, formula) if arch else None


def _named(arch: ModelArchitecture, formula: ModelArchitecture) -> ModelArchitecture:
    return replace(arch, name=formula.name, source=formula.source, hub_ids=formula.hub_ids)


def _apply(formula: ModelArchitecture, counted: Mapping[str, Any]) -> ModelArchitecture:
    linears = tuple(LinearModule(**lin) for lin in counted["linears"])
    mid = next((lin for lin in linears if lin.feeds == MLP_MID), None)
    per_matrix = mid.d_in if mid else formula.intermediate_size
    mlp_width = formula.mlp_width if formula.num_experts else per_matrix
    version = counted.get("transformers", "")
    return replace(
        formula, linears=linears, layer_other_params=int(counted["layer_other"]), outer_params=int(counted["outer"]),
        extra_params=int(counted["extra"]), vocab_size=int(counted["vocab"]), hidden_size=int(counted["hidden"]),
        tie_word_embeddings=bool(counted["tied"]), intermediate_size=per_matrix, mlp_width=mlp_width,
        counted_by=f"meta model (transformers {version})".replace(" ()", ""))


def _classify(path: str, d_in: int, d_out: int, hidden: int) -> str:
    parts = path.split(".")
    if any(container in part for part in parts[:-1] for container in _ATTENTION_CONTAINERS):
        return ATTN_OUT if parts[-1] in _OUT_PROJECTIONS and d_out == hidden else ATTN_IN
    return MLP_MID if d_out == hidden and d_in != hidden else MLP_IN


def _count(config: Mapping[str, Any]) -> dict[str, Any] | None:
    try:  # optional: without the train/convert extras the config formulas count instead
        import torch
        import transformers
        from accelerate import init_empty_weights
        from transformers import AutoModelForCausalLM
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    except ImportError:
        return None

    quiet = logging.getLogger("transformers")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        cfg = CONFIG_MAPPING[str(config["model_type"])].from_dict(dict(config))
        with init_empty_weights(), contextlib.redirect_stderr(io.StringIO()), \
                contextlib.redirect_stdout(io.StringIO()):
            try:
                model = AutoModelForCausalLM.from_config(cfg)
            except ValueError:
                try:
                    from transformers import AutoModelForImageTextToText
                except ImportError:
                    return None
                model = AutoModelForImageTextToText.from_config(cfg)
        if getattr(cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg, "tie_word_embeddings", False) \
                or getattr(cfg, "tie_word_embeddings", False):
            model.tie_weights()  # checkpoint loading ties them; a bare from_config may not have yet
    finally:
        quiet.setLevel(level)
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    n_layers = int(text_cfg.num_hidden_layers)
    stacks = [(name, mod) for name, mod in model.named_modules()
              if isinstance(mod, torch.nn.ModuleList) and len(mod) == n_layers
              and not any(k in name for k in _NOT_TEXT)]
    if not stacks:
        return None
    stack_name, stack = stacks[0]
    embedding = model.get_input_embeddings()
    head = model.get_output_embeddings()
    emb_weight = embedding.weight
    vocab, hidden = int(emb_weight.shape[0]), int(emb_weight.shape[1])
    tied = head is not None and head.weight is emb_weight
    layer = stack[0]
    linears: list[dict[str, Any]] = []
    for name, mod in layer.named_modules():
        if isinstance(mod, torch.nn.Linear):
            d_in, d_out = int(mod.in_features), int(mod.out_features)
            linears.append({"name": name, "d_in": d_in, "d_out": d_out,
                            "feeds": _classify(name, d_in, d_out, hidden), "bias": mod.bias is not None})
        elif name.endswith("experts") or ".experts" in name:
            for pname, param in mod.named_parameters(recurse=False):
                if param.dim() != 3:
                    continue
                experts, a, b = (int(x) for x in param.shape)
                other = b if a == hidden else a  # stored (experts, out, in) or transposed: one side is h
                down = "down" in pname or pname in {"w2", "c_proj"}
                d_in, d_out = (other, hidden) if down else (hidden, other)
                full = f"{name}.{pname}"
                linears.append({"name": full, "d_in": d_in, "d_out": d_out, "feeds": MLP_MID if down else MLP_IN,
                                "bias": False, "experts": experts, "is_linear": False})
    linear_params = sum(LinearModule(**lin).params for lin in linears)
    layer_params = sum(p.numel() for p in layer.parameters())
    all_layers = sum(p.numel() for p in stack.parameters())
    total = sum(p.numel() for p in model.parameters())
    text_total = sum(p.numel() for n, p in model.named_parameters() if not any(k in n for k in _NOT_TEXT))
    head_weight = 0 if tied or head is None else int(head.weight.numel())
    outer = text_total - emb_weight.numel() - head_weight - n_layers * layer_params
    # Layers that differ from the first (a dense layer among MoE ones) land in `outer`, so totals stay exact.
    outer += all_layers - n_layers * layer_params
    return {"linears": linears, "layer_other": layer_params - linear_params, "outer": int(outer),
            "extra": int(total - text_total), "vocab": vocab, "hidden": hidden, "tied": bool(tied),
            "total": int(total), "stack": stack_name, "transformers": transformers.__version__}


def _cache_key(config: Mapping[str, Any]) -> str:
    try:
        import transformers

        version = transformers.__version__
    except ImportError:
        version = "?"
    blob = json.dumps(config, sort_keys=True, default=str) + f"|{version}|{CACHE_VERSION}"
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def _cache_file(key: str) -> Path:
    from core.paths import cache_dir

    return cache_dir() / "calc-meta" / f"{key}.json"


def _read_cache(key: str) -> dict[str, Any] | None:
    from core import safe_json

    try:  # our cache: damaged, nested or a FIFO is a miss, never a crash or a wait
        data = safe_json.load_file(_cache_file(key))
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("linears"), list) else None


def _write_cache(key: str, counted: Mapping[str, Any]) -> None:
    path = _cache_file(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(counted), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache only costs the rebuild next time


__all__ = ["buildable", "meta_architecture", "transformers_available"]
