"""Render the PEP 723 training script from a `LaunchConfig`.

The script lives as a readable template beside this module (`templates/train_sft.py.tmpl`); values
are substituted as Python literals (`repr`), so no user text can break out of its constant. The
output never contains a token: nothing secret is in the config, and the result is checked anyway.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.errors import TunerError
from core.launch.config import BNB_OPTIMIZERS, LaunchConfig
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
                  run_name: str | None = None) -> GeneratedScript:
    """The complete training script for `config`. `output_dir` defaults to `outputs/<model>-sft`."""
    deps = dependencies_for(config)
    short = model_short_name(config.base_model)
    filename = filename or f"train_{short.replace('.', '_')}.py"
    comments = {"bitsandbytes>=0.45": "4-bit loading / 8-bit optimizers", "pillow": "Gemma 3's processor imports PIL"}
    dep_lines = "\n".join(
        f'#     "{d}",' + (f"  # {comments[d]}" if d in comments else "") for d in deps
    )
    values: dict[str, str] = {
        "DEPENDENCIES": dep_lines,
        "SCRIPT_NAME": filename,
        "MODEL_ID_TEXT": _one_line(config.base_model),
        "DATASET_TEXT": _one_line(config.dataset),
        "MODEL_ID": repr(config.base_model),
        "DATASET": repr(config.dataset),
        "DATASET_SPLIT": repr(config.dataset_split or "train"),
        "OUTPUT_REPO": repr(config.output_repo or None),
        "OUTPUT_DIR": repr(output_dir or f"outputs/{short}-sft"),
        "PRIVATE": repr(bool(config.private)),
        "MAX_LENGTH": repr(int(config.max_length)),
        "LOSS_ON": repr(config.loss_on),
        "EPOCHS": repr(float(config.epochs)),
        "MAX_STEPS": repr(int(config.max_steps)),
        "EVAL_FRACTION": repr(float(config.eval_fraction)),
        "BATCH_SIZE": repr(int(config.batch_size)),
        "GRADIENT_ACCUMULATION": repr(int(config.gradient_accumulation)),
        "LEARNING_RATE": repr(float(config.learning_rate)),
        "SCHEDULER": repr(config.scheduler),
        "WARMUP_RATIO": repr(float(config.warmup_ratio)),
        "OPTIMIZER": repr(config.optimizer),
        "GRADIENT_CHECKPOINTING": repr(bool(config.gradient_checkpointing)),
        "LOGGING_STEPS": repr(int(config.logging_steps)),
        "SAVE_STEPS": repr(int(config.save_steps)),
        "SAVE_TOTAL_LIMIT": repr(int(config.save_total_limit)),
        "SEED": repr(int(config.seed)),
        "LORA_R": repr(int(config.lora_r)),
        "LORA_ALPHA": repr(int(config.lora_alpha)),
        "LORA_DROPOUT": repr(float(config.lora_dropout)),
        "LORA_TARGETS": repr(list(config.lora_targets)),
        "LOAD_IN_4BIT": repr(bool(config.load_in_4bit)),
        "TRACKIO_PROJECT": repr(config.trackio_project),
        "TRACKIO_SPACE": repr(config.trackio_space or None),
        "RUN_NAME_PREFIX": repr(run_name_prefix(config)),
    }
    template = TEMPLATE.read_text(encoding="utf-8")
    missing = sorted(set(_PLACEHOLDER.findall(template)) - set(values))
    if missing:  # pragma: no cover - a template/renderer mismatch is a bug, caught by the tests
        raise RuntimeError(f"template placeholders without values: {missing}")
    text = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    if "{{" in text:  # pragma: no cover - a placeholder the pattern did not match is a bug
        raise RuntimeError("unfilled placeholder in the training script template")
    if redact(text) != text:
        raise TunerError("the generated script would contain a token", hint="remove secrets from the settings")
    return GeneratedScript(text=text, filename=filename, run_name=run_name or "", dependencies=deps)


def _one_line(text: str) -> str:
    # Docstring text: no newlines or quote runs that could end the docstring early.
    return " ".join(text.split()).replace('"""', "'''")
