"""Is this the instruction-tuned variant? The guide's naming table, as code.

| Family  | Base                   | Instruction-tuned               |
| Gemma 3 | google/gemma-3-12b     | google/gemma-3-12b-it           |
| Qwen3   | Qwen/Qwen3-14B-Base    | Qwen/Qwen3-14B                  |
| Llama 3 | meta-llama/Llama-3-8B  | meta-llama/Llama-3-8B-Instruct  |

"Always use instruction-tuned for SFT to preserve instruction-following capabilities." A base model
is allowed (someone may mean it) but the launcher warns and suggests the right id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core import safe_json


@dataclass(frozen=True)
class VariantAdvice:
    family: str
    message: str
    suggestion: str | None = None
    """The instruction-tuned id to use instead, when it can be named."""


# (family, pattern on the repo name, how to build the instruct name from the base name)
_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("Gemma", re.compile(r"^(?P<stem>gemma-[\w.]+?)(?:-pt)?$", re.I), "{stem}-it"),
    ("Qwen3", re.compile(r"^(?P<stem>qwen3[\w.-]*?)-base$", re.I), "{stem}"),
    ("Qwen2.5", re.compile(r"^(?P<stem>qwen2\.5-[\d.]+b)$", re.I), "{stem}-Instruct"),
    ("Llama 3", re.compile(r"^(?P<stem>(?:meta-)?llama-3[\w.]*-\d+b)$", re.I), "{stem}-Instruct"),
    ("SmolLM", re.compile(r"^(?P<stem>smollm\d?-[\d.]+[mb])$", re.I), "{stem}-Instruct"),
    ("Mistral", re.compile(r"^(?P<stem>mistral-\d+b)(?P<ver>-v[\d.]+)?$", re.I), "{stem}-Instruct{ver}"),
)
_INSTRUCT_MARKERS = re.compile(r"(-it$|-it-|instruct|-chat|chat-|-sft)", re.I)
_BASE_MARKERS = re.compile(r"(-base$|-pt$|-base-)", re.I)


def check_instruct_variant(model: str) -> VariantAdvice | None:
    """None when the model looks instruction-tuned (or cannot be judged); advice when it looks like a base."""
    text = model.strip().rstrip("/")
    if not text:
        return None
    owner, _, name = text.rpartition("/")
    if Path(text).expanduser().is_dir():
        return _check_local(Path(text).expanduser())
    if name.lower().startswith(("gemma-3", "gemma-2", "gemma3")) and not re.search(r"-it\b", name, re.I):
        stem = re.sub(r"-pt$", "", name, flags=re.I)
        suggestion = f"{owner}/{stem}-it" if owner else f"{stem}-it"
        return VariantAdvice("Gemma", f"{text} is the base (pretrained) Gemma; SFT should start from the -it variant",
                             suggestion)
    if _INSTRUCT_MARKERS.search(name):
        return None
    for family, pattern, template in _RULES:
        match = pattern.match(name)
        if not match:
            continue
        groups = {k: v or "" for k, v in match.groupdict().items()}
        new_name = template.format(**groups)
        if new_name.lower() == name.lower():
            return None
        suggestion = f"{owner}/{new_name}" if owner else new_name
        return VariantAdvice(family, f"{text} looks like the base {family} model; SFT should start from the "
                                     "instruction-tuned variant", suggestion)
    if _BASE_MARKERS.search(name):
        return VariantAdvice("unknown", f"{text} looks like a base model (name ends in -Base/-pt)", None)
    return None


def _check_local(folder: Path) -> VariantAdvice | None:
    """A local folder: judge by its name first, then by whether its tokenizer has a chat template."""
    by_name = check_instruct_variant(folder.name) if not (folder.name.count("/")) else None
    if by_name is not None:
        return VariantAdvice(by_name.family, f"{folder.name}: {by_name.message.split(' ', 1)[1]}", by_name.suggestion)
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return None
    config = folder / "tokenizer_config.json"
    try:
        if config.is_file() and safe_json.load_file(config, expect=dict).get("chat_template"):
            return None
    except ValueError:  # a broken tokenizer_config.json is not this advice's business
        return None
    if config.is_file():
        return VariantAdvice("unknown", f"{folder.name} has no chat template: it looks like a base model, and "
                                        "conversational SFT needs one", None)
    return None
