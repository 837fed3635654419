"""Preflight: everything that can go wrong, found before a job is submitted.

Each finding is one line with its severity, the form field it belongs to, and the fix. Errors block
the launch; warnings are shown and the user decides. Checks that need the Hub run only when it can
be reached; offline they are skipped with a visible warning, never silently.

Checks: the settings themselves; the model is the instruction-tuned variant; the dataset exists and
its rows are conversations (validated on a sample); its real token lengths with the model's tokenizer and
chat template (core.launch.data_profile: tokens per example, truncation at max_length, memory at
p95/p99/max; characters ÷ 3.8 when it cannot be profiled); memory fit on the chosen flavor and the cheapest
flavor that fits (`core.calc`); a timeout long enough for the expected steps; the token exists, can
write, and can read a gated model; what the chosen backend needs (GPU, packages, Apple Silicon).
"""

from __future__ import annotations

import math
import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from core.errors import OfflineError, TunerError
from core.extras import has_extra, needs_line
from core.flavors import Flavor, get_flavor, gpu_flavors
from core.launch.config import BNB_OPTIMIZERS, LaunchConfig, human_duration
from core.launch.data_profile import TRUNCATION_WARN, LaunchProfile, ProfileUnavailable, profile_for_launch
from core.launch.dataset import (
    CHARS_PER_TOKEN,
    MAX_HUB_FILE_BYTES,
    DatasetReport,
    check_hub_dataset,
    check_local_jsonl,
)
from core.launch.naming import check_instruct_variant
from core.launch.strategy import StrategyChoice, choose_strategy, gpu_capacity, local_gpu_count, world_size
from core.redact import redact

Severity = Literal["error", "warning", "info", "ok"]
_ORDER = {"error": 0, "warning": 1, "info": 2, "ok": 3}

STARTUP_SECONDS = 15 * 60
"""Image pull, pip/uv install and model download before the first step (a 12B model is ~25 GB)."""
TIMEOUT_MARGIN = 1.5
"""Estimated run time is multiplied by this before it is compared with the timeout."""
# Dense bf16/fp16 tensor throughput per GPU, TFLOP/s (vendor datasheets), used for time estimates only.
GPU_TFLOPS = {"T4": 65, "L4": 121, "A10G": 125, "L40S": 362, "A100": 312, "H200": 989, "RTX PRO 6000": 500}
MFU = {"lora": 0.35, "qlora": 0.22}
"""Model FLOP utilisation seen for LoRA / QLoRA SFT with HF Trainer (QLoRA pays for dequantisation)."""


@dataclass
class Finding:
    severity: Severity
    check: str
    message: str
    fix: str = ""
    field: str | None = None

    def one_line(self) -> str:
        where = f"{self.field}: " if self.field else ""
        text = f"{where}{self.message}"
        return f"{text} — {self.fix}" if self.fix else text


@dataclass
class LocalGpu:
    name: str
    memory_gb: float


@dataclass
class PreflightReport:
    findings: list[Finding] = field(default_factory=list)
    online: bool | None = None
    dataset: DatasetReport | None = None
    expected_steps: int | None = None
    estimated_seconds: float | None = None
    estimated_cost: float | None = None
    memory_bytes: float | None = None
    cheapest_flavor: str | None = None
    namespace: str | None = None
    local_gpu: LocalGpu | None = None
    strategy: StrategyChoice | None = None
    """How the run is spread over the GPUs (core.launch.strategy), with the per-GPU memory and the reason."""
    data_profile: LaunchProfile | None = None
    """The dataset's real token lengths (model tokenizer + chat template), when they could be had."""
    tokens_per_example: float | None = None
    """Mean tokens per training example at max_length: from the profile, else characters ÷ 3.8."""
    tokens_source: str | None = None
    """"tokenizer" or "chars/3.8"."""
    data_memory: list[dict[str, Any]] = field(default_factory=list)
    """Peak memory and the cheapest flavor with max_length at the data's p95, p99 and max."""
    max_length: int | None = None

    @property
    def world_size(self) -> int:
        return self.strategy.world_size if self.strategy else 1

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def add(self, severity: Severity, check: str, message: str, fix: str = "", field: str | None = None) -> None:
        self.findings.append(Finding(severity, check, redact(message), redact(fix), field))

    def sorted(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: _ORDER[f.severity])

    def field_errors(self) -> dict[str, str]:
        """The first error per form field, for showing next to its input."""
        out: dict[str, str] = {}
        for f in self.findings:
            if f.severity == "error" and f.field and f.field not in out:
                out[f.field] = f.message + (f" ({f.fix})" if f.fix else "")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "online": self.online,
            "expected_steps": self.expected_steps,
            "estimated_seconds": self.estimated_seconds,
            "estimated_cost": self.estimated_cost,
            "memory_bytes": self.memory_bytes,
            "cheapest_flavor": self.cheapest_flavor,
            "namespace": self.namespace,
            "strategy": self.strategy.to_dict() if self.strategy else None,
            "num_examples": self.dataset.num_examples if self.dataset else None,
            "tokens_per_example": None if self.tokens_per_example is None else round(self.tokens_per_example, 1),
            "tokens_source": self.tokens_source,
            "data_profile": ({**self.data_profile.to_dict(self.max_length or 0), "memory": self.data_memory}
                             if self.data_profile else None),
            "findings": [
                {"severity": f.severity, "check": f.check, "field": f.field, "message": f.message, "fix": f.fix}
                for f in self.sorted()
            ],
        }


@dataclass
class PreflightOptions:
    online: bool = True
    """False: skip every Hub check (each one reported as skipped)."""
    offline_note: str = "offline: token, gated-model, dataset and repo checks skipped"
    offline_fix: str = "run preflight online before launching on HF Jobs"
    check_memory: bool = True
    local_gpu_probe: Callable[[], LocalGpu | None] | None = None
    """How to find this machine's GPU (tests inject one); default asks nvidia-smi."""
    python_has_training_stack: Callable[[], bool] | None = None
    local_gpu_count: Callable[[], int] | None = None
    """How many CUDA GPUs this machine has (tests inject it); default asks nvidia-smi."""


def run_preflight(config: LaunchConfig, options: PreflightOptions | None = None) -> PreflightReport:
    options = options or PreflightOptions()
    report = PreflightReport(max_length=config.max_length)
    for error in config.validate():
        report.add("error", "settings", error.message, error.fix, error.field)
    invalid = {f.field for f in report.errors}

    if "base_model" not in invalid:
        advice = check_instruct_variant(config.base_model)
        if advice:
            fix = f"use {advice.suggestion}" if advice.suggestion else "use the instruction-tuned (-it/-Instruct) variant"
            report.add("warning", "model", advice.message, fix, "base_model")

    _check_backend(config, report, options)

    whoami: dict[str, Any] | None = None
    if options.online:
        whoami = _check_token(config, report)
    else:
        report.online = False
        report.add("warning", "hub", options.offline_note, options.offline_fix)

    if "dataset" not in invalid:
        _check_dataset(config, report, online=report.online is not False)
        _profile_tokens(config, report, online=options.online and report.online is not False,
                        model_ok="base_model" not in invalid)
    if report.online and "base_model" not in invalid and not config.model_is_local:
        _check_model_access(config, report)
    if report.online and whoami and config.output_repo and "output_repo" not in invalid:
        _check_output_repo(config, report, whoami)

    _choose_strategy(config, report, options, online=report.online is not False and "base_model" not in invalid)
    _check_steps_and_time(config, report)
    if options.check_memory and "base_model" not in invalid:
        _check_memory(config, report, online=report.online is not False)
    return report


# -- backend ------------------------------------------------------------------------------------------
def _check_backend(config: LaunchConfig, report: PreflightReport, options: PreflightOptions) -> None:
    if config.backend == "hf-jobs":
        if config.dataset_is_local:
            report.add("error", "dataset", "a local file is not visible inside an HF job",
                       f"upload it first: hf upload <user>/<name> {config.dataset} --repo-type dataset, "
                       "then use that dataset id", "dataset")
        if config.model_is_local:
            report.add("error", "model", "a local model folder is not visible inside an HF job",
                       "use the model's Hub id", "base_model")
        flavor = get_flavor(config.flavor)
        if flavor is not None and not flavor.is_gpu:
            report.add("warning", "flavor", f"{config.flavor} has no GPU: training will be extremely slow",
                       "pick a GPU flavor (the cheapest that fits is listed below)", "flavor")
        if flavor is not None and flavor.gpu_name == "T4" and config.load_in_4bit:
            report.add("info", "flavor", "T4 has no bfloat16: the script trains in float16")
        if not config.trackio_space:
            report.add("warning", "tracking", "no Trackio Space: metrics logged inside the job are lost when it ends",
                       "set a Trackio Space (user/space) to watch the run live", "trackio_space")
        return

    if config.backend == "mlx":
        reason = mlx_unavailable_reason()
        if reason:
            report.add("error", "backend", reason, "use the local or HF Jobs backend", "backend")
        elif not has_extra("mlx"):
            report.add("error", "backend", needs_line("mlx", "MLX training"), "", "backend")
        if not config.dataset_is_local:
            report.add("info", "dataset", "the Hub dataset is downloaded and written as train/valid JSONL for mlx_lm")
        return

    # local
    probe = options.local_gpu_probe or probe_local_gpu
    gpu = probe()
    report.local_gpu = gpu
    if gpu is None:
        report.add("warning", "backend", "no CUDA GPU on this machine: training runs on CPU (slow)",
                   "fine for a smoke test with max_steps; use HF Jobs or a GPU box for real runs")
        if config.load_in_4bit:
            report.add("error", "lora", "4-bit (QLoRA) needs a CUDA GPU (bitsandbytes)",
                       "turn 4-bit off for CPU runs", "load_in_4bit")
        if config.optimizer in BNB_OPTIMIZERS:
            report.add("error", "training", f"{config.optimizer} is a bitsandbytes optimizer and needs a CUDA GPU",
                       "use adamw_torch on CPU", "optimizer")
    has_stack = (options.python_has_training_stack or python_has_training_stack)()
    if not has_stack and not shutil.which("uv"):
        report.add("error", "backend", needs_line("train", "training"),
                   "or install uv (https://docs.astral.sh/uv/): it installs them for each run", "backend")


def mlx_unavailable_reason() -> str | None:
    """None on Apple Silicon; otherwise a plain sentence saying why MLX cannot run here."""
    system, machine = platform.system(), platform.machine()
    if system == "Darwin" and machine == "arm64":
        return None
    return f"MLX needs Apple Silicon (macOS on arm64); this machine is {system} {machine}"


def python_has_training_stack() -> bool:
    return has_extra("train")


def probe_local_gpu() -> LocalGpu | None:
    """The first CUDA GPU (name, memory) from nvidia-smi; None when there is none."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        name, mem = out.strip().splitlines()[0].rsplit(",", 1)
        return LocalGpu(name.strip(), float(mem) / 1024 * 1.073741824)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


# -- hub ----------------------------------------------------------------------------------------------
def _check_token(config: LaunchConfig, report: PreflightReport) -> dict[str, Any] | None:
    from huggingface_hub import get_token

    from core.hub import call_with_retries, hf_api, hub_error

    needs_token = config.backend == "hf-jobs" or bool(config.output_repo)
    if not get_token():
        if needs_token:
            report.add("error", "token", "no Hugging Face token found",
                       "run `hf auth login` or set HF_TOKEN", "token")
        else:
            report.add("info", "token", "no Hugging Face token: only public models and datasets can be used")
        report.online = None
        return None
    try:
        # whoami is the Hub's most rate-limited route: a 429, a 5xx or a dropped answer is retried (bounded).
        info = call_with_retries(lambda: hf_api().whoami(), what="token check", retry_unreachable=False)
    except Exception as exc:
        error = hub_error(exc, "token check")
        if isinstance(error, OfflineError):
            report.online = False
            report.add("warning", "hub", f"offline ({error.message}): token, gated-model, dataset and repo checks skipped",
                       "check the network before launching on HF Jobs")
            return None
        report.online = True
        report.add("error", "token", error.message, error.hint or "run `hf auth login` again", "token")
        return None
    report.online = True
    report.namespace = config.namespace or str(info.get("name"))
    role = ((info.get("auth") or {}).get("accessToken") or {}).get("role")
    if role == "read" and config.output_repo:
        report.add("error", "token", "the token is read-only: the job would train for hours, then fail to push",
                   "create a write token (hf auth login) — fine-grained tokens need repo write", "token")
    elif role == "fineGrained":
        report.add("info", "token", "fine-grained token: make sure it can write repos and start Jobs in "
                   f"{report.namespace}")
    if config.namespace and config.namespace != info.get("name"):
        orgs = {o.get("name") for o in info.get("orgs") or []}
        if config.namespace not in orgs:
            report.add("error", "token", f"you are not a member of {config.namespace!r}",
                       f"use your own namespace ({info.get('name')}) or an org you belong to", "namespace")
    return info


def _check_model_access(config: LaunchConfig, report: PreflightReport) -> None:
    from core.hub import call_with_retries, hf_api, hub_error

    api = hf_api()
    try:
        info = call_with_retries(lambda: api.model_info(config.base_model), what=f"model {config.base_model}")
    except Exception as exc:
        error = hub_error(exc, f"model {config.base_model}")
        report.add("error", "model", error.message, error.hint or "", "base_model")
        return
    gated = getattr(info, "gated", False)
    if gated:
        try:
            call_with_retries(lambda: api.auth_check(config.base_model), what=f"model {config.base_model}")
        except Exception as exc:
            name = type(exc).__name__
            if name == "GatedRepoError" or "403" in str(exc):
                report.add("error", "model", f"{config.base_model} is gated and your token has no access yet",
                           f"accept the license at https://huggingface.co/{config.base_model}", "base_model")
            else:
                error = hub_error(exc, f"model {config.base_model}")
                report.add("warning", "model", f"could not confirm access to the gated model ({error.message})",
                           "accept the license on the Hub if you have not", "base_model")
            return
        report.add("ok", "model", f"{config.base_model} is gated; your token has access")
    else:
        report.add("ok", "model", f"{config.base_model} found on the Hub")


def _check_output_repo(config: LaunchConfig, report: PreflightReport, whoami: dict[str, Any]) -> None:
    owner = config.output_repo.split("/", 1)[0]
    writable = {whoami.get("name")} | {o.get("name") for o in whoami.get("orgs") or []}
    if owner not in writable:
        report.add("error", "output", f"you cannot create repos under {owner!r}",
                   f"use {whoami.get('name')}/{config.output_repo.split('/', 1)[1]}", "output_repo")
        return
    from core.hub import hf_api

    try:
        exists = hf_api().repo_exists(config.output_repo)
    except Exception:
        return
    if exists:
        report.add("info", "output", f"{config.output_repo} exists: checkpoints are added as new commits")


# -- dataset --------------------------------------------------------------------------------------------
def _check_dataset(config: LaunchConfig, report: PreflightReport, *, online: bool) -> None:
    try:
        if config.dataset_is_local:
            report.dataset = check_local_jsonl(config.dataset)
        elif not online:
            report.add("warning", "dataset", "offline: the Hub dataset's existence and format were not checked",
                       field="dataset")
            return
        else:
            report.dataset = check_hub_dataset(config.dataset, config.dataset_split)
    except OfflineError as exc:
        report.add("warning", "dataset", f"dataset not checked: {exc.message}", exc.hint or "", "dataset")
        return
    except TunerError as exc:
        report.add("error", "dataset", exc.message, exc.hint or "", "dataset")
        return
    ds = report.dataset
    count = f"{ds.num_examples} examples" if ds.num_examples else "size unknown"
    report.add("ok", "dataset", f"{count}; {ds.checked_rows} rows checked, all conversations with an assistant turn")
    for note in ds.notes:
        report.add("info", "dataset", note)


def _profile_tokens(config: LaunchConfig, report: PreflightReport, *, online: bool, model_ok: bool) -> None:
    """Tokens per example from the dataset's real token lengths (cached profile), the share truncated at
    max_length; else characters ÷ 3.8, said in one line. Never an error."""
    from core.calc.dataset_profile import ROUND_TO, round_up

    ds = report.dataset
    if ds is None and (config.dataset_is_local or any(f.check == "dataset" and f.severity == "error"
                                                      for f in report.findings)):
        return  # the dataset itself failed its check: that error says it all
    too_big = ds is not None and any("format not checked" in note for note in ds.notes)
    if not model_ok:
        outcome: LaunchProfile | ProfileUnavailable = ProfileUnavailable("the base model is not set right")
    elif too_big:  # the same cap as the format check: no multi-GB download just to count tokens
        outcome = ProfileUnavailable(f"the Hub dataset's data file is over {MAX_HUB_FILE_BYTES // 2**20} MB")
    else:
        outcome = profile_for_launch(config, online=online)
    if isinstance(outcome, ProfileUnavailable):
        if ds is None:  # a Hub dataset not checked offline: no estimate either way, nothing to add
            return
        report.tokens_per_example = min(float(config.max_length), ds.avg_tokens) if ds and ds.avg_tokens else None
        report.tokens_source = f"chars/{CHARS_PER_TOKEN:g}"
        report.add("info", "tokens", f"tokens estimated as characters ÷ {CHARS_PER_TOKEN:g} (not profiled with the "
                   f"model's tokenizer: {outcome.reason})")
        if ds and ds.avg_tokens and ds.avg_tokens * 1.25 > config.max_length:
            report.add("warning", "dataset", f"average conversation ≈{ds.avg_tokens:.0f} tokens, near or over "
                       f"max_length {config.max_length}: long conversations are truncated",
                       "raise max_length (check memory) or shorten the data", "max_length")
        return
    prof = outcome.profile
    report.data_profile = outcome
    report.tokens_per_example = float(outcome.tokens_per_example(config.max_length))
    report.tokens_source = "tokenizer"
    of = f"a sample of {prof.profiled:,} of {prof.total:,}" if prof.sampled else f"all {prof.profiled:,}"
    template = " + chat template" if prof.chat_template else ""
    report.add("info", "tokens", f"{prof.tokenizer} tokenizer{template} on {of} conversations: p50 "
               f"{prof.percentile(0.5):,} · p95 {prof.percentile(0.95):,} · p99 {prof.percentile(0.99):,} · max "
               f"{max(prof.lengths):,}; {report.tokens_per_example:,.0f} tokens/example at max_length "
               f"{config.max_length:,}")
    share = prof.truncated_share(config.max_length)
    suggested = round_up(prof.percentile(0.99), ROUND_TO)
    text = f"{share:.1%} of conversations are longer than max_length {config.max_length:,} and get truncated"
    if share > TRUNCATION_WARN:
        report.add("warning", "truncation", text, f"set max_length to {suggested:,} (p99, covers "
                   f"{1 - prof.truncated_share(suggested):.1%}; check memory)", "max_length")
    elif share > 0:
        report.add("info", "truncation", text)
    else:
        report.add("ok", "truncation", f"no conversation is longer than max_length {config.max_length:,}")



# -- GPUs, steps, time, memory --------------------------------------------------------------------------
def _choose_strategy(config: LaunchConfig, report: PreflightReport, options: PreflightOptions, *,
                     online: bool) -> None:
    """Single, DDP or FSDP over every GPU of the flavor / this machine, from the calculator's per-GPU peak."""
    if config.backend == "mlx":
        return
    local_gpus = None
    capacity = None
    if config.backend == "local":
        gpu = report.local_gpu
        local_gpus = 0 if gpu is None else (options.local_gpu_count or local_gpu_count)() or 1
        capacity = gpu_capacity(config, gpu.memory_gb if gpu else None)
        if local_gpus and config.gpus > local_gpus:
            report.add("error", "gpus", f"this machine has {local_gpus} GPU(s), not {config.gpus}",
                       f"use --gpus {local_gpus} or 0 (all of them)", "gpus")
    n = world_size(config, local_gpus=local_gpus)
    choice = choose_strategy(config, world=n, capacity_bytes=capacity, allow_hub=online)
    report.strategy = choice
    if choice.world_size > 1 or config.strategy != "auto":
        if config.backend == "local" and report.local_gpu is None:
            where = f"{choice.world_size} CPU processes (gloo), no GPU: a test of the distributed path"
            report.add("info", "gpus", f"{choice.label} on {where}", field="strategy")
        elif choice.fits is False:
            report.add("warning", "gpus", choice.one_line(), "override with --strategy fsdp/ddp if you know better",
                       "strategy")
        else:
            report.add("info", "gpus", choice.one_line(), field="strategy")


def expected_steps(config: LaunchConfig, num_examples: int, world: int = 1) -> int:
    """Optimizer (global) steps: ceil(examples ÷ (batch × accumulation × world size)) × epochs, or max_steps.

    Every rank takes its own micro-batches, so one global step consumes effective batch × world examples."""
    if config.max_steps:
        return int(config.max_steps)
    train = config.train_examples(num_examples)
    return max(1, math.ceil(math.ceil(train / (config.effective_batch * max(1, world))) * config.epochs))


def estimate_seconds(config: LaunchConfig, *, steps: int, params: float, avg_tokens: float | None,
                     flavor: Flavor, attn_width: float = 0.0, world: int = 1, strategy: str = "single") -> float | None:
    """Wall time of `steps` optimizer steps on `flavor`, from FLOPs.

    Per token: m·N for the weights plus m·L·ctx·d_q for causal attention (half of the 2·L·ctx·d_q of
    QKᵀ and AV), with m = 6 under gradient checkpointing (forward, backward, recompute) and 4 without
    (LoRA needs no weight gradients for the frozen base). `attn_width` = layers × query width.
    Over `world` GPUs each step processes `world` × the effective batch, at `world` × one GPU's speed
    times the strategy's scaling efficiency (core.calc.sharding: DDP 0.95, FSDP 0.85).
    """
    tflops = GPU_TFLOPS.get(flavor.gpu_name or "")
    if not tflops or params <= 0:
        return None
    tokens_per_example = min(float(config.max_length), avg_tokens or float(config.max_length))
    tokens = steps * config.effective_batch * max(1, world) * tokens_per_example
    m = 6.0 if config.gradient_checkpointing else 4.0
    flops_per_token = m * (params + attn_width * tokens_per_example)
    mfu = MFU["qlora" if config.load_in_4bit else "lora"]
    speedup = 1.0
    if world > 1:
        from core.calc.sharding import SCALING_EFFICIENCY

        speedup = world * SCALING_EFFICIENCY.get(strategy, 0.8)
    return tokens * flops_per_token / (tflops * 1e12 * mfu * speedup)


def _check_steps_and_time(config: LaunchConfig, report: PreflightReport) -> None:
    n = report.dataset.num_examples if report.dataset else None
    if n:
        world = report.world_size
        report.expected_steps = expected_steps(config, n, world)
        held = n - config.train_examples(n)
        if held:
            report.add("info", "eval", f"{held} conversations held out for the eval loss (every {config.save_steps} steps)")
        n = config.train_examples(n)
        ranks = f" × {world} GPUs" if world > 1 else ""
        report.add("info", "steps", f"{report.expected_steps} optimizer steps ({n} examples ÷ effective batch "
                   f"{config.effective_batch}{ranks} × {config.epochs:g} epochs)" if not config.max_steps
                   else f"{report.expected_steps} optimizer steps (max_steps)")
        if config.save_steps > report.expected_steps:
            report.add("warning", "training", f"save_steps {config.save_steps} > {report.expected_steps} steps: "
                       "no checkpoint before the end, so a timeout loses everything",
                       f"set save_steps ≤ {max(1, report.expected_steps // 4)}", "save_steps")


def _check_memory(config: LaunchConfig, report: PreflightReport, *, online: bool) -> None:
    try:
        from core import calc as memory

        memory.resolve_architecture, memory.estimate_training, memory.MemoryInputs  # noqa: B018
    except (ImportError, AttributeError):
        report.add("info", "memory", "memory estimator not available in this build; fit not checked")
        return
    try:
        arch = memory.resolve_architecture(config.base_model, allow_hub=online)
    except TypeError:  # older signature without allow_hub
        try:
            arch = memory.resolve_architecture(config.base_model)
        except TunerError as exc:
            report.add("warning", "memory", f"memory fit not checked: {exc.message}", exc.hint or "", "base_model")
            return
    except TunerError as exc:
        report.add("warning", "memory", f"memory fit not checked: {exc.message}", exc.hint or "", "base_model")
        return
    try:
        est = _estimate(memory, arch, config, config.max_length)
    except TunerError as exc:
        report.add("warning", "memory", f"memory fit not checked: {exc.message}", exc.hint or "")
        return
    _memory_by_data(config, report, memory, arch)
    # Over several GPUs the verdict is the chosen strategy's per-GPU peak (DDP: about the one-GPU figure;
    # FSDP: the sharded one); the cheapest single-GPU flavor is still suggested from the one-GPU estimate.
    choice = report.strategy
    multi = choice is not None and choice.world_size > 1 and choice.per_gpu_bytes is not None
    need_bytes = float(choice.per_gpu_bytes) if multi and choice else float(est.total_bytes)
    report.memory_bytes = need_bytes
    # The generated script trains in float16 on GPUs without bfloat16 (T4), so every GPU flavor is usable here
    # and only memory decides; `est.fits` would also reject bf16-less GPUs.
    cheapest = next((f for f in sorted(gpu_flavors(), key=lambda f: (f.price_per_hour, f.gpu_memory_gb))
                     if est.fits_memory(f)), None)
    sharded = None if cheapest else _cheapest_multi_gpu(config, arch)
    report.cheapest_flavor = cheapest.name if cheapest else (sharded[0].name if sharded else None)
    need = f"≈{need_bytes / 1e9:.1f} GB per GPU" + (f" with {choice.label}" if multi and choice else "")
    params = float(_total_params(arch))

    if config.backend == "hf-jobs":
        flavor = get_flavor(config.flavor)
        if flavor is None:
            return
        if not flavor.is_gpu:
            pass
        elif (need_bytes <= gpu_capacity(config) if multi else est.fits_memory(flavor)):
            report.add("ok", "memory", f"fits {flavor.name} ({need} of {flavor.gpu_memory_gb:g} GB)")
            if cheapest and cheapest.name != flavor.name and cheapest.price_per_hour < flavor.price_per_hour:
                report.add("info", "memory", f"{cheapest.name} also fits and costs ${cheapest.price_per_hour:.2f}/h "
                           f"instead of ${flavor.price_per_hour:.2f}/h", f"switch flavor to {cheapest.name}", "flavor")
        else:
            if cheapest:
                fix = (f"use {cheapest.name} ({cheapest.gpu_memory_gb:g} GB, ${cheapest.price_per_hour:.2f}/h), "
                       "or lower max_length / batch size")
            elif sharded:
                fix = (f"no single GPU holds it: use {sharded[0].name} ({sharded[1].one_line().split(':')[0]}, "
                       f"${sharded[0].price_per_hour:.2f}/h), or lower max_length / batch size")
            else:
                fix = "no flavor holds it, even sharded: lower max_length or batch size, or turn on 4-bit"
            report.add("error", "memory", f"does not fit {flavor.name}: needs {need}, "
                       f"the GPU has {flavor.gpu_memory_gb:g} GB", fix, "flavor")
        _check_timeout(config, report, flavor, params, _attn_width(arch))
    elif config.backend == "local" and report.local_gpu is not None:
        gpu = report.local_gpu
        if need_bytes > gpu.memory_gb * 1e9:
            report.add("error", "memory", f"does not fit this machine's {gpu.name}: needs {need}, it has "
                       f"{gpu.memory_gb:.0f} GB", "lower max_length or batch size, or turn on 4-bit", "max_length")
        else:
            report.add("ok", "memory", f"fits this machine's {gpu.name} ({need} of {gpu.memory_gb:.0f} GB)")


def _estimate(memory: Any, arch: Any, config: LaunchConfig, max_length: int) -> Any:
    return memory.estimate_training(memory.MemoryInputs(
        arch=arch, method="qlora" if config.load_in_4bit else "lora", max_length=max_length,
        batch_size=config.batch_size, gradient_accumulation=config.gradient_accumulation,
        lora_r=config.lora_r, lora_targets=tuple(config.lora_targets), optimizer=config.optimizer,
        gradient_checkpointing=config.gradient_checkpointing, dtype="bf16"))


def _memory_by_data(config: LaunchConfig, report: PreflightReport, memory: Any, arch: Any) -> None:
    """One-GPU peak and the cheapest single-GPU flavor with max_length at the data's p95, p99 and max."""
    from core.calc.dataset_profile import ROUND_TO, round_up

    if report.data_profile is None:
        return
    prof = report.data_profile.profile
    parts = []
    for at, length in (("p95", prof.percentile(0.95)), ("p99", prof.percentile(0.99)), ("max", max(prof.lengths))):
        max_length = round_up(length, ROUND_TO)
        try:
            est = _estimate(memory, arch, config, max_length)
        except TunerError:
            continue
        flavor = next((f for f in sorted(gpu_flavors(), key=lambda f: (f.price_per_hour, f.gpu_memory_gb))
                       if est.fits_memory(f)), None)
        report.data_memory.append({"at": at, "max_length": max_length, "peak_gb": round(est.total_bytes / 1e9, 2),
                                   "truncated_share": round(prof.truncated_share(max_length), 4),
                                   "flavor": flavor.name if flavor else None})
        parts.append(f"{at} {max_length:,} → {est.total_bytes / 1e9:.1f} GB"
                     + (f" ({flavor.name})" if flavor else " (no single GPU)"))
    if parts:
        report.add("info", "memory", "peak at the data's lengths: " + " · ".join(parts), field="max_length")


def _cheapest_multi_gpu(config: LaunchConfig, arch: Any) -> tuple[Flavor, StrategyChoice] | None:
    """The cheapest multi-GPU flavor whose GPUs hold the run with the strategy the launcher would choose."""
    for flavor in sorted((f for f in gpu_flavors() if f.gpu_count > 1), key=lambda f: (f.price_per_hour, f.gpu_count)):
        candidate = config.replace(backend="hf-jobs", flavor=flavor.name, gpus=0, strategy="auto")
        choice = choose_strategy(candidate, arch=arch)
        if choice.fits:
            return flavor, choice
    return None


def _check_timeout(config: LaunchConfig, report: PreflightReport, flavor: Flavor, params: float,
                   attn_width: float = 0.0) -> None:
    if not report.expected_steps:
        report.add("info", "timeout", "run time not estimated (dataset size unknown)")
        return
    avg = report.tokens_per_example
    choice = report.strategy
    train = estimate_seconds(config, steps=report.expected_steps, params=params, avg_tokens=avg, flavor=flavor,
                             attn_width=attn_width, world=report.world_size,
                             strategy=choice.strategy if choice else "single")
    if train is None:
        return
    total = train + STARTUP_SECONDS
    report.estimated_seconds = total
    report.estimated_cost = flavor.cost(total)
    timeout = config.timeout_seconds()
    needed = total * TIMEOUT_MARGIN
    text = (f"estimated {human_duration(total)} ({report.expected_steps} steps, start-up included), "
            f"≈${report.estimated_cost:.2f} on {flavor.name}")
    if timeout < total:
        report.add("error", "timeout", f"timeout {config.timeout} is shorter than the {text}",
                   f"set timeout to at least {_round_up_hours(needed)}", "timeout")
    elif timeout < needed:
        report.add("warning", "timeout", f"timeout {config.timeout} leaves little margin: {text}",
                   f"set timeout to {_round_up_hours(needed)}", "timeout")
    else:
        report.add("ok", "timeout", f"timeout {config.timeout} covers the {text}")


def _round_up_hours(seconds: float) -> str:
    hours = math.ceil(seconds / 3600)
    return f"{hours}h" if hours > 1 or seconds > 1800 else f"{math.ceil(seconds / 60)}m"


def _attn_width(arch: Any) -> float:
    """Layers × query width (full-attention layers only when the model interleaves sliding windows)."""
    width = getattr(arch, "q_width", 0)
    width = width() if callable(width) else width
    layers = getattr(arch, "num_full_attention_layers", None)
    layers = layers() if callable(layers) else layers
    return float((layers or getattr(arch, "num_layers", 0) or 0) * (width or 0))


def _total_params(arch: Any) -> float:
    value = getattr(arch, "total_params", 0)
    value = value() if callable(value) else value
    return float(value or 0)
