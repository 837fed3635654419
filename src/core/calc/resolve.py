"""Turn what the user typed (catalog key, Hub id, config.json path, model directory) into an architecture.

Order: the built-in catalog (keys, aliases and the Hub ids it knows), then a local file or directory,
then the Hub, where only `config.json` is fetched through huggingface_hub with short timeouts so an
offline machine gets a one-line error instead of a hang.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from core import safe_json
from core.calc.architecture import ModelArchitecture
from core.calc.catalog import find_entry
from core.errors import OfflineError, TunerError
from core.hub_ids import repo_id_problem

HUB_TIMEOUT_S = 10.0
_CONFIG_MAX_BYTES = 16 * 1024 * 1024
"""A model's config.json is a few KB; anything this large is not one."""
_hub_cache: dict[tuple[str, str, str], ModelArchitecture] = {}
_cache_lock = threading.Lock()


COUNTING = ("auto", "model", "config")
"""How parameters are counted: auto (the model built on the meta device when transformers can build it,
except catalog models, whose formulas tests/calc/test_families.py holds equal to it), model (always try the
meta device) or config (the config formulas only)."""


def resolve_architecture(model: str, *, allow_hub: bool = True, counting: str = "auto") -> ModelArchitecture:
    """The architecture of `model`; raises a one-line TunerError for unknown, offline or broken input."""
    name = (model or "").strip()
    if not name:
        raise TunerError("no model given", field="model", hint="a catalog key like gemma-3-12b, a Hub id or a path")
    if counting not in COUNTING:
        raise TunerError(f"unknown counting {counting!r}", field="count_from", hint="auto, model or config")
    entry = find_entry(name)
    if entry is not None:
        arch = ModelArchitecture.from_config(entry.config, name=entry.display, source=f"catalog:{entry.key}",
                                             hub_ids=entry.hub_ids)
        return _counted(entry.config, arch, counting == "model")
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")) or name.endswith(".json"):
        return architecture_from_path(path, counting=counting)
    problem = repo_id_problem(name) or (None if "/" in name else "not in the catalog")
    if problem:
        raise TunerError(f"unknown model {name!r} ({problem})", field="model",
                         hint="use a catalog key (e.g. gemma-3-12b, qwen3-8b, llama-3.1-8b), a Hub id or a config.json path")
    if not allow_hub:
        raise TunerError(f"{name!r} is not in the catalog and Hub lookups are off", field="model")
    return architecture_from_hub(name, counting=counting)


def _counted(config: dict[str, Any], arch: ModelArchitecture, use_model: bool) -> ModelArchitecture:
    """The meta-device count when asked for and possible, else the formula's, saying which it is."""
    from core.calc.families import FORMULA_FAMILIES
    from core.calc.introspect import meta_architecture

    if use_model:
        meta = meta_architecture(config, arch)
        if meta is not None:
            return meta
    family = str(config.get("model_type") or "")
    if family not in FORMULA_FAMILIES and not arch.extra_note:
        return replace(arch, extra_note=f"{family or 'unknown'} is not a family the config formulas know: "
                                        "counted as a Llama-style decoder (install transformers to count the "
                                        "real model)")
    return arch


def architecture_from_path(path: Path, *, counting: str = "auto") -> ModelArchitecture:
    config_path = path / "config.json" if path.is_dir() else path
    if not config_path.is_file():
        raise TunerError(f"no config.json at {config_path}", field="model")
    config = _read_json(config_path)
    arch = ModelArchitecture.from_config(config, name=path.name if path.is_dir() else
                                         (config_path.parent.name or config_path.name), source=str(config_path))
    return _counted(config, arch, counting != "config")


def architecture_from_hub(repo_id: str, revision: str | None = None, *, counting: str = "auto") -> ModelArchitecture:
    from core.hub import hub_endpoint, hub_error

    key = (hub_endpoint(), f"{repo_id}@{revision or 'main'}", counting)
    with _cache_lock:
        cached = _hub_cache.get(key)
    if cached is not None:
        return cached
    config = _fetch_hub_config(repo_id, revision, hub_endpoint(), hub_error)
    arch = ModelArchitecture.from_config(config, name=repo_id, source=f"hub:{repo_id}",
                                         hub_ids=(repo_id,))
    arch = _counted(config, arch, counting != "config")
    with _cache_lock:
        _hub_cache[key] = arch
    return arch


def _fetch_hub_config(repo_id: str, revision: str | None, endpoint: str, hub_error: Any) -> dict[str, Any]:
    """config.json from the HF cache if present, else one GET with a short timeout and no retries.

    `hf_hub_download` retries connection errors with backoff for ~25 s and logs each retry; a calculator
    that updates as the user types must answer within seconds, so only the request itself goes out here
    (through huggingface_hub's session, headers and error mapping).
    """
    from huggingface_hub import hf_hub_download, hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    what = f"config.json of {repo_id}"
    try:
        cached = hf_hub_download(repo_id, "config.json", revision=revision, local_files_only=True)
        return _read_json(Path(cached))
    except TunerError:
        raise
    except Exception:  # not cached: fetch it
        pass
    url = hf_hub_url(repo_id, "config.json", revision=revision, endpoint=endpoint)
    try:
        response = get_session().get(url, headers=build_hf_headers(), timeout=HUB_TIMEOUT_S, follow_redirects=True)
        hf_raise_for_status(response)
    except Exception as exc:  # every failure becomes one line
        err = hub_error(exc, what)
        if isinstance(err, OfflineError):
            raise OfflineError(f"cannot fetch {what}: the Hub is unreachable", field="model",
                               hint="offline? use a catalog key or a local config.json path") from None
        raise TunerError(err.message, field="model", hint=err.hint) from None
    try:
        data = safe_json.loads(response.content, source=f"config.json of {repo_id}", expect=dict)
    except safe_json.JsonInputError as exc:
        raise TunerError(f"broken config.json from the Hub ({exc.message})", field="model") from None
    return data


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return safe_json.load_file(path, expect=dict, max_bytes=_CONFIG_MAX_BYTES)  # type: ignore[no-any-return]
    except safe_json.JsonInputError as exc:
        raise TunerError(f"broken config.json ({exc.message})", field="model") from None
