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
from core.calc.formats import DTYPE_BYTES, METHODS
from core.calc.resolve import resolve_architecture
from core.calc.sharding import Parallelism, normalise_strategy
from core.costing import RunCost, RunPlan, flavor_estimates, recommended, run_cost
from core.errors import TunerError
from core.flavors import Flavor

DEFAULT_FIELDS: dict[str, Any] = {
    "model": "gemma-3-12b", "method": "qlora", "max_length": "2048", "batch_size": "1", "grad_accum": "8",
    "lora_r": "64", "lora_targets": "q_proj,k_proj,v_proj,o_proj", "lora_dropout": "0.05",
    "optimizer": "adamw_8bit", "gradient_checkpointing": True, "dtype": "bf16", "loss_impl": "hf",
    "examples": "1000", "epochs": "3", "tokens_per_example": "", "mfu": "",
    "mode": "training", "weights": "bf16", "kv_dtype": "bf16", "old_bitsandbytes": False,
    "quant": "auto", "attention": "sdpa", "adapter_dtype": "fp32", "optimizer_in_backward": False,
    "activation_offloading": False, "compile": False, "dora": False, "galore_rank": "128",
    "quantize_lora_targets_only": False, "peft_method": "lora", "virtual_tokens": "20", "prefix_projection": "", "unsloth": False, "upcast_non_quantized": False, "text_only": False,
    "strategy": "auto", "gpus": "", "shard_size": "", "count_from": "auto", "modules_to_save": "",
}
MODES = ("training", "inference")
INT_FIELDS = {"max_length": 10_000_000, "batch_size": 100_000, "grad_accum": 1_000_000, "lora_r": 65_536,
              "galore_rank": 65_536, "virtual_tokens": 100_000,
              "examples": 1_000_000_000}
# Names the estimator uses in TunerError.field, mapped to form field names.
FIELD_ALIASES = {"gradient_accumulation": "grad_accum", "lora_targets": "lora_targets", "model": "model",
                 "world_size": "gpus", "shard_size": "gpus", "quant_scope": "quant", "dora": "peft_method"}


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
    strategy: str = "auto"
    gpus: int | None = None
    """The GPU count the user asked the breakdown for (None: the recommended flavor's)."""

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
    tps = _float(str(values.get("tokens_per_second") or "").strip(), "tokens_per_second", errors, low=1e-6,
                 high=1e9, optional=True)
    projection_text = str(values.get("prefix_projection") or "").strip()
    projection = _int(projection_text, "prefix_projection", errors) if projection_text else None
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
    gpus_text = str(values.get("gpus") or "").strip()
    gpus = _int(gpus_text, "gpus", errors) if gpus_text else None
    if gpus is not None and gpus > 4096:
        errors["gpus"] = "is implausibly large (at most 4,096)"
    try:
        strategy = str(values.get("strategy") or "auto").strip().lower()
        if strategy != "auto":
            normalise_strategy(strategy)
    except TunerError as exc:
        errors["strategy"] = exc.message + (f" ({exc.hint})" if exc.hint else "")
    optimizer = str(values["optimizer"]).strip()
    arch: ModelArchitecture | None = None
    try:
        arch = resolve_architecture(str(values["model"]), allow_hub=allow_hub,
                                    counting=str(values.get("count_from") or "auto"))
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
        loss_impl=str(values["loss_impl"]), quant=str(values.get("quant") or "auto"),
        attention=str(values.get("attention") or "sdpa"), adapter_dtype=str(values.get("adapter_dtype") or "fp32"),
        optimizer_in_backward=bool(values.get("optimizer_in_backward")),
        modules_to_save=tuple(t.strip() for t in str(values.get("modules_to_save") or "").split(",") if t.strip()),
        activation_offloading=bool(values.get("activation_offloading")),
        compiled=bool(values.get("compile")), galore_rank=ints["galore_rank"] or 1,
        peft_method=str(values.get("peft_method") or "lora"), virtual_tokens=ints["virtual_tokens"] or 1,
        prefix_projection=projection or 0, unsloth=bool(values.get("unsloth")),
        quant_scope="lora-targets" if values.get("quantize_lora_targets_only") and method != "full" else "all", dora=bool(values.get("dora")) and method != "full",
        upcast_non_quantized=bool(values.get("upcast_non_quantized")),
        include_vision=not bool(values.get("text_only")),
        # Only QLoRA runs 4-bit matmuls; for LoRA/full the switch would be meaningless.
        bnb_keeps_inputs=method == "qlora" and bool(values.get("old_bitsandbytes")))
    try:
        inputs = inputs.validated()
    except TunerError as exc:
        name = FIELD_ALIASES.get(exc.field or "", exc.field or "model")
        raise FormErrors({name: exc.message + (f" ({exc.hint})" if exc.hint else "")}) from None
    plan = RunPlan(examples=ints["examples"] or 1, epochs=epochs or 1.0,
                   tokens_per_example=tokens or min(inputs.max_length, 2048), mfu=mfu, tokens_per_second=tps)
    return inputs, plan


def inference_weights(values: Mapping[str, Any]) -> str:
    """The weight format inference runs: `weights` if set, else a quantised `quant`, else the `dtype`."""
    weights = str(values.get("weights") or "").strip()
    if weights and weights != "auto":
        return weights
    quant = str(values.get("quant") or "auto").strip()
    if quant and quant != "auto":
        return quant
    return str(values.get("dtype") or "bf16")


def calculate(fields: Mapping[str, Any], *, allow_hub: bool = True) -> CalcResult:
    """Training (default) or, with `mode = "inference"`, generation with `max_length` tokens of context.

    Training is judged on every GPU flavor with the run spread over all its GPUs (`strategy`, default
    auto: the fastest that fits); the breakdown shown is for `gpus` GPUs if given, else the recommended
    flavor's (one GPU when a one-GPU flavor fits)."""
    values = {**DEFAULT_FIELDS, **fields}
    mode = str(values.get("mode") or "training")
    if mode not in MODES:
        raise FormErrors({"mode": f"unknown mode {mode!r} (training or inference)"})
    if mode == "inference":
        # Only the shared fields matter: a training-only quirk (a QLoRA target list) must not block it.
        values = {**values, "method": "full", "quant": "auto"}
    inputs, plan = parse_fields(values, allow_hub=allow_hub)
    if mode == "inference":
        try:
            est = estimate_inference(InferenceInputs(
                arch=inputs.arch, context_length=inputs.max_length, batch_size=inputs.batch_size,
                weights=inference_weights({**DEFAULT_FIELDS, **fields}), kv_dtype=str(values["kv_dtype"]),
                attention=inputs.attention, include_vision=inputs.include_vision))
        except TunerError as exc:
            name = {"quant": "weights"}.get(exc.field or "", exc.field or "weights")
            raise FormErrors({name: exc.message + (f" ({exc.hint})" if exc.hint else "")}) from None
        return CalcResult(arch=inputs.arch, inputs=inputs, estimate=est, plan=plan)
    strategy = str(values.get("strategy") or "auto").strip().lower()
    gpus_text = str(values.get("gpus") or "").strip()
    gpus = int(gpus_text.replace(",", "").replace("_", "")) if gpus_text else None
    try:
        pairs = flavor_estimates(inputs, strategy)
        runs = sorted((run_cost(est, plan, fl) for fl, est in pairs),
                      key=lambda r: (not r.fits, r.cost, r.flavor.price_per_hour))
        best = recommended(runs)
        if gpus is not None:
            chosen = "ddp" if strategy == "auto" and gpus > 1 else ("single" if strategy == "auto" else strategy)
            shard_text = str(values.get("shard_size") or "").strip()
            shard = int(shard_text) if shard_text.isdigit() else None
            estimate = estimate_training(inputs, Parallelism(chosen, gpus, shard))
        elif best is not None:
            estimate = next(est for fl, est in pairs if fl.name == best.flavor.name)
        else:
            estimate = estimate_training(inputs)
    except TunerError as exc:
        name = FIELD_ALIASES.get(exc.field or "", exc.field or "model")
        raise FormErrors({name: exc.message + (f" ({exc.hint})" if exc.hint else "")}) from None
    return CalcResult(arch=inputs.arch, inputs=inputs, estimate=estimate, plan=plan, runs=runs, best=best,
                      strategy=strategy, gpus=gpus)


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
    if str(values["optimizer"]).strip().startswith("galore") and str(values.get("galore_rank") or "128").strip() != "128":
        parts += ["--galore-rank", str(values["galore_rank"]).strip()]
    for name, flag, default in (("quant", "--quant", "auto"), ("attention", "--attention", "sdpa"),
                                ("adapter_dtype", "--adapter-dtype", "fp32"), ("strategy", "--strategy", "auto")):
        if str(values.get(name) or default).strip() != default:
            parts += [flag, str(values[name]).strip()]
    for name, flag in (("gpus", "--gpus"), ("shard_size", "--shard-size"), ("modules_to_save", "--modules-to-save")):
        if str(values.get(name) or "").strip():
            parts += [flag, str(values[name]).strip()]
    for name, flag in (("optimizer_in_backward", "--optimizer-in-backward"),
                       ("activation_offloading", "--activation-offloading"), ("compile", "--compile"),
                       ("upcast_non_quantized", "--upcast-non-quantized"), ("text_only", "--text-only")):
        if values.get(name):
            parts.append(flag)
    if not values["gradient_checkpointing"]:
        parts.append("--no-gradient-checkpointing")
    peft = str(values.get("peft_method") or "lora").strip()
    if values["method"] != "full" and peft != "lora":
        parts += ["--peft-method", peft]
        if peft in {"prompt-tuning", "prefix-tuning"}:
            parts += ["--virtual-tokens", str(values.get("virtual_tokens") or "20").strip()]
        projection = str(values.get("prefix_projection") or "").strip()
        if peft == "prefix-tuning" and projection:
            parts += ["--prefix-projection", projection]
    if values["method"] != "full" and values.get("dora"):
        parts.append("--dora")
    if values.get("unsloth"):
        parts.append("--unsloth")
    if values["method"] != "full" and values.get("quantize_lora_targets_only"):
        parts.append("--quantize-lora-targets-only")
    if values["method"] == "qlora" and values.get("old_bitsandbytes"):
        parts.append("--old-bitsandbytes")
    parts += ["--examples", str(values["examples"]).strip(), "--epochs", str(values["epochs"]).strip()]
    if str(values.get("tokens_per_example", "")).strip():
        parts += ["--tokens-per-example", str(values["tokens_per_example"]).strip()]
    if str(values.get("mfu", "")).strip():
        parts += ["--mfu", str(values["mfu"]).strip()]
    return " ".join(parts)
