"""The launch configuration: one dataclass, checked field by field, saved and loaded as TOML presets.

Everything the generated training script and the submission command need is here, and nothing
secret: the token never enters a config (the job gets it as the secret *name* `HF_TOKEN`).
`validate()` returns one error per field so the form and the CLI can show each next to its input.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from core.config import read_toml
from core.errors import TunerError
from core.flavors import get_flavor
from core.hub_ids import is_explicit_path, is_local_ref, namespace_problem, repo_id_problem

BACKENDS = ("hf-jobs", "local", "mlx")
SCHEDULERS = (
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
    "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay",
)
OPTIMIZERS = (
    "adamw_8bit", "paged_adamw_8bit", "adamw_torch", "adamw_torch_fused", "adafactor", "sgd",
    "paged_adamw_32bit", "lion_8bit",
)
BNB_OPTIMIZERS = frozenset({"adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "lion_8bit"})
"""Optimizers implemented by bitsandbytes: they need a CUDA GPU."""
LOSS_ON = ("assistant", "all")
STRATEGIES = ("auto", "ddp", "fsdp", "single")
"""How a multi-GPU run is spread (core.launch.strategy): auto picks DDP or FSDP full-shard with the calculator."""
MAX_GPUS = 64

_TIMEOUT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_TIMEOUT_FACTORS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_LABEL_SAFE = re.compile(r"[^A-Za-z0-9_-]")
_TARGET = re.compile(r"^[A-Za-z0-9_.]+$")


@dataclass
class FieldError:
    """A problem with one form field, as one line plus how to fix it."""

    field: str
    message: str
    fix: str = ""

    def one_line(self) -> str:
        text = f"{self.field}: {self.message}"
        return f"{text} ({self.fix})" if self.fix else text


@dataclass
class LaunchConfig:
    # -- model & data -------------------------------------------------------------------------------
    base_model: str = ""
    """Hub id (use the instruction-tuned variant) or a local model directory."""
    dataset: str = ""
    """Hub dataset id, or a local JSONL file whose lines hold a `messages` list."""
    dataset_split: str = "train"
    output_repo: str = ""
    """Hub model repo the adapter is pushed to (`user/name`); optional for local runs."""
    private: bool = True
    """Create the output repo (and the Trackio Space) private: training data often is."""
    max_length: int = 2048
    loss_on: str = "assistant"
    """`assistant`: loss on assistant turns only (the guide's mask_prompt lesson); `all`: every token."""
    # -- training -----------------------------------------------------------------------------------
    epochs: float = 3.0
    max_steps: int = 0
    """Stop after this many optimizer steps (0 = run all epochs); handy for a smoke test."""
    eval_fraction: float = 0.0
    """Hold out this share of the conversations for an eval loss at every save (0 = no eval)."""
    batch_size: int = 1
    gradient_accumulation: int = 8
    learning_rate: float = 2e-4
    scheduler: str = "cosine"
    warmup_ratio: float = 0.1
    optimizer: str = "adamw_8bit"
    gradient_checkpointing: bool = True
    logging_steps: int = 10
    save_steps: int = 100
    save_total_limit: int = 2
    seed: int = 42
    # -- LoRA ---------------------------------------------------------------------------------------
    lora_r: int = 64
    lora_alpha: int = 128
    lora_dropout: float = 0.05
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    load_in_4bit: bool = True
    # -- tracking -----------------------------------------------------------------------------------
    trackio_project: str = "tui-tuner"
    trackio_space: str = ""
    """`user/space` to log live to a Trackio Space; empty = local SQLite only."""
    run_name: str = ""
    """Empty = `<model>-sft-<timestamp>`, made unique at launch."""
    # -- backend ------------------------------------------------------------------------------------
    backend: str = "hf-jobs"
    flavor: str = "a10g-large"
    timeout: str = "6h"
    namespace: str = ""
    """HF Jobs namespace (user or org) that runs and pays; empty = the logged-in user."""
    mlx_lora_layers: int = 16
    # -- GPUs ---------------------------------------------------------------------------------------
    gpus: int = 0
    """GPUs (training processes) to use: 0 = every GPU of the flavor (HF Jobs) or of this machine (local)."""
    strategy: str = "auto"
    """auto (DDP when the model, adapters and optimizer fit one GPU, else FSDP full-shard), ddp, fsdp, single."""

    # ------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> LaunchConfig:
        """Build a config from plain values (a preset, a form), with one clear error per bad field."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise TunerError(f"{source}: unknown setting(s) {', '.join(unknown)}",
                             hint=f"valid: {', '.join(sorted(known))}")
        values: dict[str, Any] = {}
        defaults = cls()
        for name, value in data.items():
            values[name] = _coerce(name, value, getattr(defaults, name), source)
        return cls(**values)

    @classmethod
    def from_form(cls, values: dict[str, Any]) -> tuple[LaunchConfig, list[FieldError]]:
        """Like `from_dict`, but a value that does not parse keeps the default and becomes a field error
        (a form shows every bad field at once, not just the first)."""
        defaults = cls()
        good: dict[str, Any] = {}
        errors: list[FieldError] = []
        for name, value in values.items():
            if not hasattr(defaults, name):
                continue
            try:
                good[name] = _coerce(name, value, getattr(defaults, name), "the form")
            except TunerError as exc:
                errors.append(FieldError(name, exc.message, "enter a number" if not isinstance(
                    getattr(defaults, name), (str, list)) else ""))
        return cls(**good), errors

    def replace(self, **changes: Any) -> LaunchConfig:
        return dataclasses.replace(self, **changes)

    # -- derived values -------------------------------------------------------------------------------
    @property
    def effective_batch(self) -> int:
        return max(1, self.batch_size) * max(1, self.gradient_accumulation)

    def train_examples(self, num_examples: int) -> int:
        """Conversations left for training after the eval hold-out (datasets' train_test_split rounding)."""
        if not self.eval_fraction:
            return num_examples
        return num_examples - math.ceil(num_examples * self.eval_fraction)

    @property
    def dataset_is_local(self) -> bool:
        return dataset_is_local(self.dataset)

    @property
    def model_is_local(self) -> bool:
        return is_local_ref(self.base_model)

    def timeout_seconds(self) -> int:
        return parse_timeout(self.timeout)

    # -- checks ---------------------------------------------------------------------------------------
    def validate(self) -> list[FieldError]:
        """Everything that can be checked without the network or the dataset's contents."""
        errors: list[FieldError] = []

        def err(name: str, message: str, fix: str = "") -> None:
            errors.append(FieldError(name, message, fix))

        if not self.base_model.strip():
            err("base_model", "required", "a Hub id such as google/gemma-3-12b-it, or a local model folder")
        elif self.model_is_local:
            if not Path(self.base_model).expanduser().is_dir():
                err("base_model", f"no such folder {self.base_model}", "give an existing model directory")
            elif not (Path(self.base_model).expanduser() / "config.json").is_file():
                err("base_model", "the folder has no config.json", "point at a Hugging Face model directory")
            elif problem := _model_config_problem(Path(self.base_model).expanduser() / "config.json"):
                err("base_model", problem, "the model folder is damaged: copy or download it again")
        elif problem := _owned_repo_problem(self.base_model):
            err("base_model", f"{self.base_model!r} is not a Hub model id ({problem})",
                "use owner/name, e.g. Qwen/Qwen3-14B, or ./folder for a local model")

        if not self.dataset.strip():
            err("dataset", "required", "a Hub dataset id (user/name) or a local .jsonl file with `messages`")
        elif self.dataset_is_local:
            path = Path(self.dataset).expanduser()
            if not path.is_file():
                err("dataset", f"no such file {self.dataset}", "give an existing .jsonl file")
        elif problem := _owned_repo_problem(self.dataset):
            err("dataset", f"{self.dataset!r} is neither a Hub dataset id nor a .jsonl file ({problem})",
                "use user/name or a path ending in .jsonl")

        if self.output_repo and (problem := _owned_repo_problem(self.output_repo)):
            err("output_repo", f"{self.output_repo!r} is not a valid repo id ({problem})",
                "use user/name: letters, digits, '-', '_', '.'")
        if not self.output_repo and self.backend == "hf-jobs":
            err("output_repo", "required for HF Jobs", "the job's disk is gone when it ends: push the adapter to user/name")

        if self.trackio_space and (problem := _owned_repo_problem(self.trackio_space)):
            err("trackio_space", f"{self.trackio_space!r} is not a Space id ({problem})", "use user/space, or leave empty")
        if not self.trackio_project.strip():
            err("trackio_project", "required", "any name, e.g. my-sft")
        elif not re.match(r"^[A-Za-z0-9_.-]+$", self.trackio_project):
            err("trackio_project", "use letters, digits, '-', '_', '.' only", "Trackio keeps one SQLite file per project")
        if self.run_name and not re.match(r"^[A-Za-z0-9_.-]+$", self.run_name):
            err("run_name", "use letters, digits, '-', '_', '.' only", "or leave empty for a timestamped name")

        _positive(err, "max_length", self.max_length, 16, 1_048_576)
        if not 0 < self.epochs <= 100:
            err("epochs", f"{self.epochs} is out of range", "between 0 and 100 (fractions allowed)")
        if not 0 <= self.eval_fraction <= 0.5:
            err("eval_fraction", f"{self.eval_fraction} is out of range", "0 (no eval) up to 0.5, e.g. 0.05")
        if self.max_steps < 0:
            err("max_steps", "must be 0 (all epochs) or a positive number of steps")
        _positive(err, "batch_size", self.batch_size, 1, 4096)
        _positive(err, "gradient_accumulation", self.gradient_accumulation, 1, 4096)
        if not 0 < self.learning_rate < 1:
            err("learning_rate", f"{self.learning_rate} is out of range", "typical LoRA values are 1e-4 to 2e-4")
        if self.scheduler not in SCHEDULERS:
            err("scheduler", f"unknown scheduler {self.scheduler!r}", f"one of {', '.join(SCHEDULERS)}")
        if not 0 <= self.warmup_ratio < 1:
            err("warmup_ratio", f"{self.warmup_ratio} is out of range", "a fraction of the steps in [0, 1), e.g. 0.1")
        if self.optimizer not in OPTIMIZERS:
            err("optimizer", f"unknown optimizer {self.optimizer!r}", f"one of {', '.join(OPTIMIZERS)}")
        _positive(err, "logging_steps", self.logging_steps, 1, 1_000_000)
        _positive(err, "save_steps", self.save_steps, 1, 1_000_000)
        _positive(err, "save_total_limit", self.save_total_limit, 1, 1000)
        _positive(err, "lora_r", self.lora_r, 1, 4096)
        _positive(err, "lora_alpha", self.lora_alpha, 1, 65536)
        if not 0 <= self.lora_dropout < 1:
            err("lora_dropout", f"{self.lora_dropout} is out of range", "in [0, 1), e.g. 0.05")
        if not self.lora_targets:
            err("lora_targets", "at least one module is needed", "e.g. q_proj,k_proj,v_proj,o_proj or all-linear")
        elif bad := [t for t in self.lora_targets if not _TARGET.match(t) and t != "all-linear"]:
            err("lora_targets", f"invalid module name(s): {', '.join(bad)}", "comma-separated names like q_proj")
        if self.loss_on not in LOSS_ON:
            err("loss_on", f"unknown value {self.loss_on!r}", "assistant (recommended) or all")

        if self.backend not in BACKENDS:
            err("backend", f"unknown backend {self.backend!r}", f"one of {', '.join(BACKENDS)}")
        if self.backend == "hf-jobs":
            if get_flavor(self.flavor) is None:
                err("flavor", f"unknown flavor {self.flavor!r}", "see `tui-tuner calc` or `hf jobs hardware`")
            if self.namespace and (problem := namespace_problem(self.namespace)):
                err("namespace", f"{self.namespace!r} is not a user or org name ({problem})")
        try:
            seconds = parse_timeout(self.timeout)
            if seconds < 60:
                err("timeout", f"{self.timeout!r} is under a minute", "e.g. 6h, 90m or 2d")
        except TunerError as exc:
            err("timeout", exc.message, exc.hint or "")
        _positive(err, "mlx_lora_layers", self.mlx_lora_layers, 1, 1024)
        if self.strategy not in STRATEGIES:
            err("strategy", f"unknown strategy {self.strategy!r}", f"one of {', '.join(STRATEGIES)}")
        if not 0 <= self.gpus <= MAX_GPUS:
            err("gpus", f"{self.gpus} is out of range", f"0 (every GPU) up to {MAX_GPUS}")
        elif self.backend == "hf-jobs" and (flavor := get_flavor(self.flavor)) is not None and self.gpus > max(
                1, flavor.gpu_count):
            err("gpus", f"{self.flavor} has {max(1, flavor.gpu_count)} GPU(s), not {self.gpus}",
                "use 0 (all of them) or pick a flavor with more GPUs")
        elif self.backend == "mlx" and self.gpus > 1:
            err("gpus", "MLX trains in one process", "use 0 or 1 with the MLX backend")
        return errors

    # -- presets --------------------------------------------------------------------------------------
    def to_toml(self) -> str:
        return tomli_w.dumps({"launch": self.to_dict()})


def dataset_is_local(dataset: str) -> bool:
    text = dataset.strip()
    return bool(text) and (
        text.endswith((".jsonl", ".json")) or is_explicit_path(text) or Path(text).expanduser().exists()
    )


def _model_config_problem(path: Path) -> str | None:
    """Why a local model's config.json cannot be what transformers loads, or None (the first thing the
    job does is read it: a broken one is caught here, before a job is paid for)."""
    from core import safe_json

    try:
        config = safe_json.load_file(path, what=f"{path.parent.name}/config.json", max_bytes=16 * 1024 * 1024,
                                     expect=dict)
    except safe_json.JsonInputError as exc:
        return exc.message
    if not isinstance(config.get("model_type", ""), str) or not isinstance(config.get("architectures", []), list):
        return f"{path.parent.name}/config.json: model_type must be a string and architectures a list"
    return None


def _owned_repo_problem(text: str) -> str | None:
    """Why `text` is not a `namespace/name` Hub id (the Hub's rules, core.hub_ids), or None."""
    problem = repo_id_problem(text)
    if problem is None and "/" not in text:
        return "use namespace/name"
    return problem


def parse_timeout(value: str | int | float) -> int:
    """`6h` / `90m` / `3600` / `1.5h` → seconds (the same units `hf jobs --timeout` accepts)."""
    if isinstance(value, (int, float)):
        return int(value)
    match = _TIMEOUT.match(str(value))
    if not match:
        raise TunerError(f"{value!r} is not a duration", field="timeout", hint="a number with s, m, h or d, e.g. 6h")
    return int(float(match.group(1)) * _TIMEOUT_FACTORS[match.group(2)])


def format_duration(seconds: float) -> str:
    """Seconds as the shortest exact `hf jobs --timeout` string (`6h`, `90m`, `45s`)."""
    seconds = int(seconds)
    for unit, factor in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= factor and seconds % factor == 0:
            return f"{seconds // factor}{unit}"
    return f"{seconds}s"


def human_duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


def label_value(text: str) -> str:
    """A string made safe for an HF Jobs label (alphanumerics, '-', '_'; at most 100 characters)."""
    return _LABEL_SAFE.sub("-", text)[:100]


def load_preset(path: Path) -> LaunchConfig:
    """Read a TOML preset: either a `[launch]` table or the settings at top level."""
    data = read_toml(Path(path).expanduser())
    table = data.get("launch", data)
    if not isinstance(table, dict):
        raise TunerError(f"{path}: [launch] must be a table")
    return LaunchConfig.from_dict(table, source=str(path))


def save_preset(config: LaunchConfig, path: str | Path, *, allow_stdout: bool = False) -> Path | None:
    """Write a TOML preset by `core.output_file`'s rules (a one-line TunerError when it cannot be written;
    ``-`` prints it where `allow_stdout`)."""
    from core.output_file import write_output

    return write_output(path, config.to_toml(), what="the preset", allow_stdout=allow_stdout)


def _positive(err: Any, name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        err(name, f"{value} is out of range", f"between {low} and {high}")


def _coerce(name: str, value: Any, default: Any, source: str) -> Any:
    """Turn a preset/form value into the field's type, or fail with a one-line error naming the field."""
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"true", "yes", "on", "1"}:
                return True
            if text in {"false", "no", "off", "0", ""}:
                return False
            raise ValueError(value)
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(str(value).strip()) if not isinstance(value, (int, float)) else int(value)
        if isinstance(default, float):
            return float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
        if isinstance(default, list):
            items = value if isinstance(value, list) else str(value).split(",")
            if isinstance(value, dict) or any(isinstance(v, (dict, list)) for v in items):
                raise TypeError(value)
            return [str(v).strip() for v in items if str(v).strip()]
        if isinstance(value, (dict, list)):  # a TOML table or array where text belongs
            raise TypeError(value)
        return str(value).strip()
    except (TypeError, ValueError):
        kind = type(default).__name__
        raise TunerError(f"{value!r} is not a valid {kind}", field=name, hint=f"in {source}") from None
