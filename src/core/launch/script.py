"""Render the PEP 723 training script from a `LaunchConfig`.

The script lives as a readable template beside this module (`templates/train_sft.py.tmpl`). Every value
enters it through one function, `py_literal`, in its docstring and comments as well as in its constants:
plain ASCII with every quote, backslash and control character escaped, so no user text (a path with a
backslash, a run of quotes, a newline, `{{...}}`) can end a string or comment early. The output never
contains a token: nothing secret is in the config, and the result is checked anyway.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import TunerError
from core.launch.config import BNB_OPTIMIZERS, LaunchConfig
from core.launch.strategy import StrategyChoice, choose_strategy
from core.redact import redact

TEMPLATE = Path(__file__).parent / "templates" / "train_sft.py.tmpl"
_PLACEHOLDER = re.compile(r"\{\{([A-Z0-9_]+)\}\}")

# Lower bounds are the versions this template was tested with (TRL 1.x API: quantization_config as a
# trainer argument, warmup_steps as a ratio, SFTConfig.project/trackio_space_id).
BASE_DEPENDENCIES = (
    "trl>=1.16",
    "transformers>=5.24",
    "peft>=0.21",
    "accelerate>=1.0",
    "datasets>=3.0",
    "trackio>=0.43",
)


@dataclass(frozen=True)
class GeneratedScript:
    text: str
    filename: str
    run_name: str
    dependencies: tuple[str, ...]
    strategy: StrategyChoice | None = None
    """How the script spreads the run over GPUs (single, ddp, fsdp) and why."""


def model_short_name(model: str) -> str:
    name = model.rstrip("/").rsplit("/", 1)[-1] or "model"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).lower()[:48]


def run_name_prefix(config: LaunchConfig) -> str:
    """What a run name starts with; the script (or the launcher) appends a timestamp."""
    return f"{config.run_name or model_short_name(config.base_model) + '-sft'}-"


def unique_run_name(config: LaunchConfig, now: datetime | None = None) -> str:
    """`<model>-sft-YYYYmmdd-HHMMSS-xxxx`: timestamped and unique even for jobs launched in the same second."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{run_name_prefix(config)}{stamp}-{secrets.token_hex(2)}"


def dependencies_for(config: LaunchConfig) -> tuple[str, ...]:
    deps = list(BASE_DEPENDENCIES)
    if config.load_in_4bit or config.optimizer in BNB_OPTIMIZERS:
        deps.append("bitsandbytes>=0.45")
    # Gemma 3 (and other multimodal families) load an image processor that imports PIL.
    deps.append("pillow")
    return tuple(deps)


def render_script(config: LaunchConfig, *, output_dir: str | None = None, filename: str | None = None,
                  run_name: str | None = None, strategy: StrategyChoice | None = None) -> GeneratedScript:
    """The complete training script for `config`. `output_dir` defaults to `outputs/<model>-sft`;
    `strategy` defaults to `choose_strategy(config)` (the calculator, without network)."""
    strategy = strategy or choose_strategy(config)
    deps = dependencies_for(config)
    short = model_short_name(config.base_model)
    filename = filename or f"train_{short.replace('.', '_')}.py"
    comments = {"bitsandbytes>=0.45": "4-bit loading / 8-bit optimizers", "pillow": "Gemma 3's processor imports PIL"}
    # PEP 723 metadata is TOML inside comments: a py_literal of a plain string is a TOML literal string.
    dep_lines = "\n".join(
        f"#     {py_literal(d)}," + (f"  # {comments[d]}" if d in comments else "") for d in deps
    )
    values: dict[str, Any] = {
        "SCRIPT_NAME": filename,
        "MODEL_ID": config.base_model,
        "DATASET": config.dataset,
        "DATASET_SPLIT": config.dataset_split or "train",
        "OUTPUT_REPO": config.output_repo or None,
        "OUTPUT_DIR": output_dir or f"outputs/{short}-sft",
        "PRIVATE": bool(config.private),
        "MAX_LENGTH": int(config.max_length),
        "LOSS_ON": config.loss_on,
        "EPOCHS": float(config.epochs),
        "MAX_STEPS": int(config.max_steps),
        "EVAL_FRACTION": float(config.eval_fraction),
        "BATCH_SIZE": int(config.batch_size),
        "GRADIENT_ACCUMULATION": int(config.gradient_accumulation),
        "LEARNING_RATE": float(config.learning_rate),
        "SCHEDULER": config.scheduler,
        "WARMUP_RATIO": float(config.warmup_ratio),
        "OPTIMIZER": config.optimizer,
        "GRADIENT_CHECKPOINTING": bool(config.gradient_checkpointing),
        "LOGGING_STEPS": int(config.logging_steps),
        "SAVE_STEPS": int(config.save_steps),
        "SAVE_TOTAL_LIMIT": int(config.save_total_limit),
        "SEED": int(config.seed),
        "LORA_R": int(config.lora_r),
        "LORA_ALPHA": int(config.lora_alpha),
        "LORA_DROPOUT": float(config.lora_dropout),
        "LORA_TARGETS": list(config.lora_targets),
        "LOAD_IN_4BIT": bool(config.load_in_4bit),
        "TRACKIO_PROJECT": config.trackio_project,
        "TRACKIO_SPACE": config.trackio_space or None,
        "RUN_NAME_PREFIX": run_name_prefix(config),
        "STRATEGY": strategy.strategy,
        "NUM_PROCESSES": int(strategy.world_size),
        "STRATEGY_REASON": strategy.one_line().replace("×", "x").replace("≈", "~"),  # ASCII: no escapes shown
    }
    literals = {name: py_literal(value) for name, value in values.items()}
    literals["DEPENDENCIES"] = dep_lines
    template = TEMPLATE.read_text(encoding="utf-8")
    missing = sorted(set(_PLACEHOLDER.findall(template)) - set(literals))
    if missing:  # pragma: no cover - a template/renderer mismatch is a bug, caught by the tests
        raise RuntimeError(f"template placeholders without values: {missing}")
    if "{{" in _PLACEHOLDER.sub("", template):  # pragma: no cover - a placeholder the pattern missed is a bug
        raise RuntimeError("unfilled placeholder in the training script template")
    # One pass: a value that itself reads `{{MODEL_ID}}` stays text inside its literal, never expanded.
    text = _PLACEHOLDER.sub(lambda m: literals[m.group(1)], template)
    if redact(text) != text:
        raise TunerError("the generated script would contain a token", hint="remove secrets from the settings")
    return GeneratedScript(text=text, filename=filename, run_name=run_name or "", dependencies=deps,
                           strategy=strategy)


_SHORT_ESCAPES = {"\\": "\\\\", '"': '\\"', "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def py_literal(value: Any) -> str:
    """`value` (str, int, float, bool, None, or a list of them) as a Python literal in plain ASCII with
    no quote, backslash or control character left unescaped.

    The one quoting function of the generated script: the result evaluates back to `value`, and the
    same text can also stand inside the module docstring (no run of three quotes can form, no `\\x`
    is left raw) or a comment (no newline). Strings get single quotes like `repr`; a string that needs
    no escape is then also a TOML literal string (the PEP 723 header).
    """
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        return repr(float(value)) if math.isfinite(value) else f"float('{value}')"  # inf/nan have no literal
    if isinstance(value, str):
        return "'" + "".join(_escape_char(ch) for ch in value) + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(py_literal(item) for item in value) + "]"
    raise TypeError(f"no literal for {type(value).__name__}")


def _escape_char(ch: str) -> str:
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    code = ord(ch)
    if 0x20 <= code < 0x7F:
        return ch
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
