"""Merge a LoRA adapter into its base model, in bfloat16, two ways that give identical tensors.

* `peft_merge`: the guide's way: load the base in bf16, `PeftModel.from_pretrained`, `merge_and_unload`,
  `save_pretrained`. Needs the whole model in RAM (the guide's table: ~2 bytes per parameter).
* `lowram_merge`: walks the base safetensors shards one at a time and applies `W + scale·B·A` to each
  LoRA target, writing each merged shard before reading the next: peak memory ≈ one shard. It performs
  the same torch operations as peft (fp32 delta `(B @ A) * scale`, added in place into the bf16 weight),
  so the result is bit-identical; each shard is written to a temp name and renamed, so an interrupted
  merge resumes shard by shard.

Both run inside `core.convert.merge_worker` (a subprocess: the memory goes back to the OS at the end,
cancel kills it, and its peak RSS is measured on its own).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import safe_json
from core.errors import TunerError

TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
    "chat_template.jinja", "chat_template.json", "added_tokens.json", "vocab.json", "merges.txt",
)
PEFT_PREFIX = "base_model.model."
ProgressFn = Callable[[int, int, str], None]


def _noop(done: int, total: int, label: str) -> None:
    return None


@dataclass
class AdapterInfo:
    path: Path
    config: dict[str, Any]
    weights_file: Path
    r: int
    alpha: float
    use_rslora: bool
    rank_pattern: dict[str, int] = field(default_factory=dict)
    alpha_pattern: dict[str, float] = field(default_factory=dict)
    fan_in_fan_out: bool = False
    unsupported: list[str] = field(default_factory=list)
    """Features the low-RAM merge does not handle (the peft merge does): DoRA, LoRA bias, embeddings."""

    def scaling(self, module: str) -> float:
        # Same arithmetic and pattern matching as peft (LoraLayer.update_layer, get_pattern_key).
        r = self.rank_pattern.get(_pattern_key(self.rank_pattern, module), self.r)
        alpha = self.alpha_pattern.get(_pattern_key(self.alpha_pattern, module), self.alpha)
        return alpha / math.sqrt(r) if self.use_rslora else alpha / r


def _pattern_key(patterns: dict[str, Any], key: str) -> str:
    for pattern in patterns:
        if re.match(rf"(.*\.)?({pattern})$", key):
            return pattern
    return key


ADAPTER_CONFIG_HINT = ("adapter_config.json is damaged: copy or download the adapter folder again (PEFT writes it "
                       "with adapter_model.safetensors)")


def read_adapter_config(path: Path) -> dict[str, Any]:
    """An adapter folder's adapter_config.json as a dict; a damaged one is one line that says so."""
    cfg_path = path / "adapter_config.json"
    try:
        return safe_json.load_file(cfg_path, max_bytes=16 * 1024 * 1024, expect=dict)  # type: ignore[no-any-return]
    except safe_json.JsonInputError as exc:
        raise TunerError(exc.message, field="adapter", hint=ADAPTER_CONFIG_HINT) from None


def read_adapter(path: Path) -> AdapterInfo:
    """Read and check an adapter folder (one line errors for what a user can fix)."""
    cfg_path = path / "adapter_config.json"
    if not cfg_path.is_file():
        raise TunerError(f"{path}: no adapter_config.json", field="adapter",
                         hint="point at the folder saved by PEFT/TRL (adapter_config.json + adapter_model.safetensors)")
    config = read_adapter_config(path)
    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        raise TunerError(f"{path}: peft_type {config.get('peft_type')} is not LoRA", field="adapter")
    weights = path / "adapter_model.safetensors"
    if not weights.is_file():
        raise TunerError(f"{path}: no adapter_model.safetensors", field="adapter",
                         hint="only safetensors adapters are supported; re-save with safe_serialization=True")
    try:
        info = AdapterInfo(
            path=path, config=config, weights_file=weights, r=int(config.get("r", 8)),
            alpha=float(config.get("lora_alpha", 8)), use_rslora=bool(config.get("use_rslora", False)),
            rank_pattern=dict(config.get("rank_pattern") or {}), alpha_pattern=dict(config.get("alpha_pattern") or {}),
            fan_in_fan_out=bool(config.get("fan_in_fan_out", False)),
        )
    except (TypeError, ValueError):
        raise TunerError(f"{cfg_path}: r, lora_alpha, rank_pattern or alpha_pattern has the wrong type",
                         field="adapter", hint=ADAPTER_CONFIG_HINT) from None
    if config.get("use_dora"):
        info.unsupported.append("DoRA")
    if config.get("lora_bias"):
        info.unsupported.append("LoRA bias")
    if config.get("trainable_token_indices"):
        info.unsupported.append("trainable tokens")
    if config.get("modules_to_save"):
        info.unsupported.append("modules_to_save")
    return info


def load_adapter_tensors(info: AdapterInfo) -> dict[str, Any]:
    from safetensors.torch import load_file

    try:
        return load_file(str(info.weights_file))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise TunerError(f"{info.weights_file}: cannot read ({type(exc).__name__}: {exc})", field="adapter",
                         hint="the adapter weights are corrupt or truncated: download them again") from None


def lora_pairs(tensors: dict[str, Any], info: AdapterInfo) -> dict[str, tuple[Any, Any, float]]:
    """Map base weight name -> (A, B, scaling) from the adapter's state dict."""
    pairs: dict[str, dict[str, Any]] = {}
    for key, value in tensors.items():
        m = re.match(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.\w+)?\.weight$", key)
        if not m:
            if "lora_embedding" in key:
                info.unsupported.append("embedding LoRA")
            continue
        pairs.setdefault(m["module"], {})[m["ab"]] = value
    out: dict[str, tuple[Any, Any, float]] = {}
    for module, ab in pairs.items():
        if set(ab) != {"A", "B"}:
            raise TunerError(f"adapter tensor for {module} has lora_{next(iter(ab))} without its pair",
                             field="adapter", hint="the adapter file is incomplete: download it again")
        out[f"{module}.weight"] = (ab["A"], ab["B"], info.scaling(module))
    if not out:
        raise TunerError(f"{info.weights_file}: no lora_A/lora_B tensors", field="adapter",
                         hint="this is not a LoRA adapter saved by PEFT")
    return out


def read_weight_map(index: Path) -> dict[str, str]:
    """`weight_map` of a model.safetensors.index.json (tensor name -> shard file), or one line why not."""
    try:
        data = safe_json.load_file(index, max_bytes=64 * 1024 * 1024, expect=dict)
    except safe_json.JsonInputError as exc:
        raise TunerError(exc.message, field="base_model", hint="the model folder is damaged: download it again") from None
    weight_map = data.get("weight_map", {})
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise TunerError(f"{index}: weight_map is not a table of tensor names to file names", field="base_model",
                         hint="the model folder is damaged: download it again")
    return weight_map


def shard_files(model_dir: Path) -> list[Path]:
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        weight_map = read_weight_map(index)
        names = sorted(set(weight_map.values()))
        missing = [n for n in names if not (model_dir / n).is_file()]
        if missing:
            raise TunerError(f"{model_dir}: missing shards {missing[:3]}", field="base_model",
                             hint="the download is incomplete: run again without --skip-download")
        return [model_dir / n for n in names]
    single = model_dir / "model.safetensors"
    if single.is_file():
        return [single]
    raise TunerError(f"{model_dir}: no safetensors weights", field="base_model",
                     hint="the base model must be a Hugging Face folder with *.safetensors")


def weights_bytes(model_dir: Path) -> int:
    return sum(p.stat().st_size for p in shard_files(model_dir))


def copy_side_files(base: Path, adapter: Path | None, out: Path, *, with_config: bool = True) -> None:
    """config/generation config from the base; tokenizer files from the adapter first (training may have
    changed the chat template or added tokens), else from the base."""
    for name in ("config.json", "generation_config.json") if with_config else ():
        if (base / name).is_file():
            shutil.copy2(base / name, out / name)
    copied = False
    if adapter is not None:
        for name in TOKENIZER_FILES:
            if (adapter / name).is_file():
                shutil.copy2(adapter / name, out / name)
                copied = True
    if not copied:
        for name in TOKENIZER_FILES:
            if (base / name).is_file():
                shutil.copy2(base / name, out / name)


def lowram_merge(base: Path, adapter: Path, out: Path, progress: ProgressFn = _noop,
                 dtype: str = "bfloat16") -> dict[str, Any]:
    """Merge shard by shard, tensor by tensor; returns a summary. Resumes: finished shards are kept.

    Peak memory ≈ the largest tensor (read into its own buffer, merged, written, dropped) plus the
    adapter: shards are read and written with plain file I/O (`safetensors_stream`), never mmapped.
    """
    import torch

    from core.convert.safetensors_stream import StreamWriter, iter_tensors, read_header

    target_dtype = getattr(torch, dtype)
    target_code = {"bfloat16": "BF16", "float16": "F16", "float32": "F32"}[dtype]
    info = read_adapter(adapter)
    pairs = lora_pairs(load_adapter_tensors(info), info)
    if info.unsupported:
        raise TunerError(f"the low-RAM merge does not handle {', '.join(sorted(set(info.unsupported)))}",
                         field="merge_method", hint="use --merge-method peft")
    shards = shard_files(base)
    out.mkdir(parents=True, exist_ok=True)
    remaining = dict(pairs)
    merged_count = 0
    for i, shard in enumerate(shards):
        progress(i, len(shards), shard.name)
        entries, metadata, _ = read_header(shard)
        target = out / shard.name
        if target.is_file():  # finished by an earlier run (written under a temp name, then renamed)
            for e in entries:
                if remaining.pop(e.name, None) is not None:
                    merged_count += 1
            continue
        # Floating tensors become bf16, as from_pretrained(dtype=bfloat16) does on the peft path.
        floating = {"BF16", "F16", "F32", "F64"}
        layout = [(e.name, target_code if e.dtype in floating else e.dtype, e.shape) for e in entries]
        tmp = target.with_name(target.name + ".part")
        writer = StreamWriter(tmp, layout, {**metadata, "format": "pt"})
        try:
            for key, tensor in iter_tensors(shard):
                if tensor.is_floating_point() and tensor.dtype != target_dtype:
                    tensor = tensor.to(target_dtype)
                lora = remaining.pop(key, None)
                if lora is not None:
                    tensor = _apply(tensor, *lora, fan_in_fan_out=info.fan_in_fan_out, name=key)
                    merged_count += 1
                writer.write(key, tensor)
                del tensor
        except BaseException:
            writer.abort()
            raise
        writer.close()
        tmp.replace(target)
    if remaining:
        names = sorted(remaining)[:3]
        raise TunerError(f"the adapter targets weights the base model does not have: {names}",
                         field="adapter", hint="the adapter was trained on another base model")
    index = base / "model.safetensors.index.json"
    if index.is_file():
        shutil.copy2(index, out / index.name)
    copy_side_files(base, adapter, out)
    _set_config_dtype(out / "config.json", dtype)
    progress(len(shards), len(shards), "done")
    return {"method": "low-ram", "shards": len(shards), "merged_modules": merged_count}


def _apply(weight: Any, lora_a: Any, lora_b: Any, scaling: float, *, fan_in_fan_out: bool, name: str) -> Any:
    """The exact peft arithmetic: adapter weights in fp32, `(B @ A) * scaling`, `W += delta` in place."""
    a = lora_a.float()
    b = lora_b.float()
    delta = b @ a
    if fan_in_fan_out:
        delta = delta.T
    delta = delta * scaling
    if tuple(delta.shape) != tuple(weight.shape):
        raise TunerError(f"{name}: adapter delta {tuple(delta.shape)} does not match the base weight "
                         f"{tuple(weight.shape)}", field="adapter",
                         hint="the adapter was trained on another base model")
    merged = weight.clone()
    merged += delta
    return merged


def _set_config_dtype(config_path: Path, dtype: str) -> None:
    if not config_path.is_file():
        return
    try:
        data = safe_json.load_file(config_path, max_bytes=16 * 1024 * 1024, expect=dict)
    except safe_json.JsonInputError as exc:
        raise TunerError(exc.message, field="base_model", hint="the model folder is damaged: download it again") from None
    key = "dtype" if "dtype" in data or "torch_dtype" not in data else "torch_dtype"
    data[key] = dtype
    config_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def peft_merge(base: Path | str, adapter: Path, out: Path, progress: ProgressFn = _noop,
               device: str = "cpu", max_shard_size: str = "5GB") -> dict[str, Any]:
    """The guide's merge: whole model in bf16, PEFT `merge_and_unload`, `save_pretrained`."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    read_adapter(adapter)  # clear errors before the expensive load
    progress(0, 4, "loading base model (bf16)")
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.bfloat16, low_cpu_mem_usage=True,
                                                 device_map=device)
    progress(1, 4, "loading adapter")
    try:
        model = PeftModel.from_pretrained(model, str(adapter))
    except RuntimeError as exc:  # size mismatch when the adapter belongs to another base
        raise TunerError(" ".join(str(exc).split())[:300], field="adapter",
                         hint="the adapter was trained on another base model") from None
    progress(2, 4, "merge_and_unload")
    merged = model.merge_and_unload()
    progress(3, 4, "saving")
    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(str(tmp), safe_serialization=True, max_shard_size=max_shard_size)
    base_dir = Path(base)
    if base_dir.is_dir():
        copy_side_files(base_dir, adapter, tmp, with_config=False)  # save_pretrained wrote the config
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    progress(4, 4, "done")
    return {"method": "peft", "shards": len(list(out.glob("*.safetensors")))}
