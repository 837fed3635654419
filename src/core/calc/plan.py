"""From form fields (text, as typed) to an estimate, per-flavor verdicts and a recommendation.

Shared by the calculator screen and `tui-tuner calc`: every field is checked on its own so the screen can
show all problems at once, each under its field, as one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.calc.architecture import ModelArchitecture
from core.calc.estimate import (
    InferenceInputs,
    MemoryEstimate,
    MemoryInputs,
    estimate_inference,
    estimate_training,
)
from core.calc.formats import DTYPE_BYTES, LOSS_IMPLS, METHODS
from core.calc.resolve import resolve_architecture
from core.costing import RunCost, RunPlan, recommended, run_costs
from core.errors import TunerError
from core.flavors import Flavor

DEFAULT_FIELDS: dict[str, Any] = {
    "model": "gemma-3-12b", "method": "qlora", "max_length": "2048", "batch_size": "1", "grad_accum": "8",
    "lora_r": "64", "lora_targets": "q_proj,k_proj,v_proj,o_proj", "lora_dropout": "0.05",
    "optimizer": "adamw_8bit", "gradient_checkpointing": True, "dtype": "bf16", "loss_impl": "hf",
    "examples": "1000", "epochs": "3", "tokens_per_example": "", "mfu": "",
    "mode": "training", "weights": "bf16", "kv_dtype": "bf16", "old_bitsandbytes": False,
}
MODES = ("training", "inference")
INT_FIELDS = {"max_length": 10_000_000, "batch_size": 100_000, "grad_accum": 1_000_000, "lora_r": 65_536,
              "examples": 1_000_000_000}
# Names the estimator uses in TunerError.field, mapped to form field names.
FIELD_ALIASES = {"gradient_accumulation": "grad_accum", "lora_targets": "lora_targets", "model": "model",
                 "tokens_per_second": "mfu"}


class FormErrors(TunerError):
    """Several fields are wrong; `errors` maps field name → one-line message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        first = next(iter(errors.items()))
        super().__init__(first[1], field=first[0])


@dataclass(frozen=True)
class CalcResult:
    arch: ModelArchitecture
    inputs: MemoryInputs
    estimate: MemoryEstimate
    plan: RunPlan
    runs: list[RunCost] = field(default_factory=list)
    """Training: one row per GPU flavor with time and cost. Inference: empty (no run to price)."""
    best: RunCost | None = None

    def run_for(self, flavor_name: str) -> RunCost | None:
        return next((r for r in self.runs if r.flavor.name == flavor_name), None)

    @property
    def best_flavor(self) -> Flavor | None:
        return self.best.flavor if self.best else self.estimate.cheapest_flavor


def _int(text: Any, name: str, errors: dict[str, str]) -> int | None:
    raw = str(text).strip().replace("_", "").replace(",", "")
    try:
        value = int(raw)
    except ValueError:
        errors[name] = f"must be a whole number (got {str(text).strip() or 'nothing'!r})"
        return None
    if value <= 0:
        errors[name] = f"must be positive (got {value})"
        return None
    if value > INT_FIELDS.get(name, 10**9):
        errors[name] = f"is implausibly large (at most {INT_FIELDS[name]:,})"
        return None
    return value


def _float(text: Any, name: str, errors: dict[str, str], *, low: float, high: float,
           optional: bool = False) -> float | None:
    raw = str(text).strip()
    if optional and not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        errors[name] = f"must be a number (got {raw or 'nothing'!r})"
        return None
    if not low <= value <= high:
        errors[name] = f"must be between {low:g} and {high:g} (got {value:g})"
        return None
    return value


def parse_fields(fields: Mapping[str, Any], *, allow_hub: bool = True) -> tuple[MemoryInputs, RunPlan]:
    """Validate every field; raise FormErrors listing all the wrong ones."""
    values = {**DEFAULT_FIELDS, **fields}
    errors: dict[str, str] = {}
    ints = {name: _int(values[name], name, errors) for name in INT_FIELDS}
    dropout = _float(values["lora_dropout"], "lora_dropout", errors, low=0.0, high=0.99)
    epochs = _float(values["epochs"], "epochs", errors, low=0.01, high=1000)
    mfu_raw = str(values.get("mfu", "")).strip().rstrip("%")
    mfu = _float(mfu_raw, "mfu", errors, low=0.001, high=100, optional=True)
    if mfu is not None and mfu > 1:
        mfu /= 100  # typed as a percentage
    tokens_text = str(values.get("tokens_per_example", "")).strip()
    tokens = None
    if tokens_text:
        tokens = _int(tokens_text, "tokens_per_example", errors)
    method = str(values["method"]).strip().lower()
    if method not in METHODS:
        errors["method"] = f"unknown method {method!r} (full, lora or qlora)"
    dtype = str(values["dtype"]).strip().lower()
    if dtype not in DTYPE_BYTES:
        errors["dtype"] = f"unknown dtype {dtype!r} (bf16, fp16 or fp32)"
    if str(values["loss_impl"]) not in LOSS_IMPLS:
        errors["loss_impl"] = f"unknown loss path {values['loss_impl']!r}"
    optimizer = str(values["optimizer"]).strip()
    arch: ModelArchitecture | None = None
    try:
        arch = resolve_architecture(str(values["model"]), allow_hub=allow_hub)
    except TunerError as exc:
        errors["model"] = exc.message + (f" ({exc.hint})" if exc.hint else "")
    if errors or arch is None:
        raise FormErrors(errors)
    targets = tuple(t.strip() for t in str(values["lora_targets"]).split(",") if t.strip())
    inputs = MemoryInputs(
        arch=arch, method=method, max_length=ints["max_length"] or 1, batch_size=ints["batch_size"] or 1,
        gradient_accumulation=ints["grad_accum"] or 1, lora_r=ints["lora_r"] or 1, lora_targets=targets,
        optimizer=optimizer, gradient_checkpointing=bool(
            values["gradient_checkpointing"]), dtype=dtype, lora_dropout=dropout or 0.0,
        loss_impl=str(values["loss_impl"]),
        # Only QLoRA runs 4-bit matmuls; for LoRA/full the switch would be meaningless.
        bnb_keeps_inputs=method == "qlora" and bool(values.get("old_bitsandbytes")))
    try:
        inputs = inputs.validated()
    except TunerError as exc:
        name = FIELD_ALIASES.get(exc.field or "", exc.field or "model")
        raise FormErrors({name: exc.message + (f" ({exc.hint})" if exc.hint else "")}) from None
    plan = RunPlan(examples=ints["examples"] or 1, epochs=epochs or 1.0,
                   tokens_per_example=tokens or min(inputs.max_length, 2048), mfu=mfu)
    return inputs, plan


def calculate(fields: Mapping[str, Any], *, allow_hub: bool = True) -> CalcResult:
    """Training (default) or, with `mode = "inference"`, generation with `max_length` tokens of context."""
    inputs, plan = parse_fields(fields, allow_hub=allow_hub)
    values = {**DEFAULT_FIELDS, **fields}
    mode = str(values.get("mode") or "training")
    if mode not in MODES:
        raise FormErrors({"mode": f"unknown mode {mode!r} (training or inference)"})
    if mode == "inference":
        try:
            est = estimate_inference(InferenceInputs(
                arch=inputs.arch, context_length=inputs.max_length, batch_size=inputs.batch_size,
                weights=str(values["weights"]), kv_dtype=str(values["kv_dtype"])))
        except TunerError as exc:
            name = {"quant": "weights"}.get(exc.field or "", exc.field or "weights")
            raise FormErrors({name: exc.message}) from None
        return CalcResult(arch=inputs.arch, inputs=inputs, estimate=est, plan=plan)
    estimate = estimate_training(inputs)
    runs = run_costs(estimate, plan)
    return CalcResult(arch=inputs.arch, inputs=inputs, estimate=estimate, plan=plan, runs=runs,
                      best=recommended(runs))


def cli_command(fields: Mapping[str, Any]) -> str:
    """The `tui-tuner calc` line that reproduces the form (for copying into a shell or a script)."""
    values = {**DEFAULT_FIELDS, **fields}
    parts = ["tui-tuner", "calc", "--model", str(values["model"]).strip(), "--method", str(values["method"]),
             "--max-length", str(values["max_length"]).strip(), "--batch-size", str(values["batch_size"]).strip(),
             "--grad-accum", str(values["grad_accum"]).strip()]
    if values["method"] != "full":
        parts += ["--lora-r", str(values["lora_r"]).strip(), "--lora-targets", str(values["lora_targets"]).strip(),
                  "--lora-dropout", str(values["lora_dropout"]).strip()]
    parts += ["--optimizer", str(values["optimizer"]), "--dtype", str(values["dtype"]), "--loss",
              str(values["loss_impl"])]
    if not values["gradient_checkpointing"]:
        parts.append("--no-gradient-checkpointing")
    if values["method"] == "qlora" and values.get("old_bitsandbytes"):
        parts.append("--old-bitsandbytes")
    parts += ["--examples", str(values["examples"]).strip(), "--epochs", str(values["epochs"]).strip()]
    if str(values.get("tokens_per_example", "")).strip():
        parts += ["--tokens-per-example", str(values["tokens_per_example"]).strip()]
    if str(values.get("mfu", "")).strip():
        parts += ["--mfu", str(values["mfu"]).strip()]
    return " ".join(parts)
