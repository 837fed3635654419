"""Plan a launch (preflight, run name, script, command), then submit it and record it.

`preview()` is cheap and side-effect free (the TUI calls it on every keystroke). `plan()` runs the
preflight. `launch()` refuses a plan with errors, so nothing is ever submitted that preflight
flagged; every submitted job gets a row in the store before (local) or right after (HF Jobs) it starts.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from core import paths
from core.config import load_config
from core.errors import TunerError
from core.extras import require_extra
from core.launch import job_store
from core.launch.command import Command, hf_jobs_command, local_command, mlx_command, mlx_lora_parameters
from core.launch.config import LaunchConfig
from core.launch.preflight import (
    LocalGpu,
    PreflightOptions,
    PreflightReport,
    mlx_unavailable_reason,
    python_has_training_stack,
    run_preflight,
)
from core.launch.script import GeneratedScript, render_script, run_name_prefix, unique_run_name
from core.launch.strategy import StrategyChoice
from core.redact import redact
from core.store import Store

NAMESPACE_PLACEHOLDER = "<your-namespace>"


@dataclass
class LaunchPlan:
    config: LaunchConfig
    run_name: str
    script: GeneratedScript
    command: Command
    report: PreflightReport
    namespace: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.config.backend,
            "run_name": self.run_name,
            "namespace": self.namespace,
            "script_name": self.script.filename,
            "command": self.command.line,
            "strategy": self.script.strategy.to_dict() if self.script.strategy else None,
            "preflight": self.report.to_dict(),
            "config": self.config.to_dict(),
        }


def jobs_dir() -> Path:
    return paths.data_dir() / "jobs"


def local_python() -> str | None:
    """The interpreter for local runs: `[launch] local_python`, else this one if it has the training
    packages, else None (use `uv run`, which installs them from the script's PEP 723 header)."""
    configured = load_config().get("launch", "local_python")
    if configured:
        return str(configured)
    return sys.executable if python_has_training_stack() else None


def preview(config: LaunchConfig, *, namespace: str | None = None, run_name: str | None = None,
            strategy: StrategyChoice | None = None) -> tuple[GeneratedScript, Command]:
    """The script and the command for `config`, without touching the network or the disk (`strategy`:
    the preflight's choice; by default the calculator's, from the catalog or a local config.json)."""
    run_name = run_name or f"{run_name_prefix(config)}YYYYmmdd-HHMMSS"
    script = render_script(config, strategy=strategy)
    if config.backend == "hf-jobs":
        command = hf_jobs_command(config, script.filename, namespace=namespace or config.namespace or
                                  NAMESPACE_PLACEHOLDER, run_name=run_name)
    elif config.backend == "mlx":
        command = mlx_command(config, python="python", data_dir="data", adapter_dir="adapters",
                              num_examples=None, config_file="mlx_config.yaml")
    else:
        command = local_command(script.filename, python="python" if local_python() else None)
    return script, command


def plan(config: LaunchConfig, options: PreflightOptions | None = None, *, now: datetime | None = None) -> LaunchPlan:
    report = run_preflight(config, options)
    run_name = unique_run_name(config, now)
    namespace = report.namespace or config.namespace or None
    script, command = preview(config, namespace=namespace, run_name=run_name, strategy=report.strategy)
    if config.backend == "mlx" and report.dataset and report.dataset.num_examples:
        command = mlx_command(config, python="python", data_dir="data", adapter_dir="adapters",
                              num_examples=report.dataset.num_examples, config_file="mlx_config.yaml")
    return LaunchPlan(config, run_name, script, command, report, namespace)


def require_backend_packages(backend: str) -> None:
    """Raise the one-line MissingExtra when this Python cannot start a local or MLX run: a local run needs
    the train extra here, a configured `[launch] local_python`, or uv (which installs it for each run)."""
    if backend == "local" and local_python() is None and not shutil.which("uv"):
        require_extra("train", feature="training")
    elif backend == "mlx" and mlx_unavailable_reason() is None:
        require_extra("mlx", feature="MLX training")


def launch(the_plan: LaunchPlan, *, store: Store | None = None, workdir: Path | None = None) -> job_store.JobRecord:
    """Submit a checked plan. Raises TunerError (and submits nothing) when preflight found errors.

    `workdir`: a local run's folder (script, checkpoints, adapter) instead of `<data dir>/jobs/<job id>`;
    the demo keeps everything it makes in its own output folder."""
    require_backend_packages(the_plan.config.backend)
    if the_plan.report.errors:
        first = the_plan.report.errors[0]
        more = len(the_plan.report.errors) - 1
        raise TunerError(first.message + (f" (+{more} more)" if more else ""), field=first.field,
                         hint=first.fix or None)
    store = store or Store()
    backend = the_plan.config.backend
    if backend == "hf-jobs":
        return _launch_hf_jobs(the_plan, store)
    if backend == "local":
        return _launch_local(the_plan, store, workdir)
    if backend == "mlx":
        return _launch_mlx(the_plan, store)
    raise TunerError(f"unknown backend {backend!r}", field="backend")


def _base_extra(the_plan: LaunchPlan, output_dir: str | None) -> dict[str, Any]:
    config, report = the_plan.config, the_plan.report
    strategy = the_plan.script.strategy
    world = strategy.world_size if strategy else 1
    return {
        "expected_steps": report.expected_steps,
        "num_examples": report.dataset.num_examples if report.dataset else None,
        # Global: examples per optimizer step over all ranks (batch × accumulation × world size).
        "effective_batch": config.effective_batch * world,
        "world_size": world,
        "strategy": strategy.strategy if strategy else "single",
        "epochs": config.epochs,
        "max_steps": config.max_steps or None,
        "output_repo": config.output_repo or None,
        "output_dir": output_dir,
        "flavor": _hardware(config.backend, config.flavor, report.local_gpu, world),
        "timeout_s": config.timeout_seconds(),  # valid here: launch() only runs error-free plans
        "trackio_project": config.trackio_project,
        "run_name": the_plan.run_name,
        "trackio_space": config.trackio_space or None,
        "base_model": config.base_model,
        "dataset": config.dataset,
        "estimated_seconds": report.estimated_seconds,
        "estimated_cost": report.estimated_cost,
    }


def _hardware(backend: str, flavor: str, gpu: LocalGpu | None, world: int = 1) -> str:
    """What the job runs on, for the job list: the HF flavor, or this machine's GPU / CPU (× ranks)."""
    if backend == "hf-jobs":
        return flavor
    if backend == "mlx":
        return "apple-silicon"
    ranks = f" x{world}" if world > 1 else ""
    return (f"local {gpu.name}" if gpu is not None else "local cpu") + ranks


def adapter_folder_name(output_repo: str, base_model: str) -> str:
    """The local adapter folder's name, which the conversion wizard turns into `<name>-<QUANT>.gguf`:
    the output repo's name, else `<base model>-sft` (never a generic `output`)."""
    stem = output_repo.rstrip("/").rpartition("/")[2] if output_repo.strip() else ""
    if not stem:
        stem = f"{Path(base_model.strip().rstrip('/')).name or 'model'}-sft"
    return paths.safe_name(stem, "adapter")


def _job_dir(name: str) -> Path:
    return paths.ensure(jobs_dir() / name)


def _launch_hf_jobs(the_plan: LaunchPlan, store: Store) -> job_store.JobRecord:
    from core.hub import whoami_name
    from core.launch.backends import hf_jobs

    namespace = the_plan.namespace or whoami_name()
    workdir = _job_dir(the_plan.run_name)
    script_path = workdir / the_plan.script.filename
    script_path.write_text(the_plan.script.text, encoding="utf-8")
    submitted = hf_jobs.submit(the_plan.config, script_path, namespace=namespace, run_name=the_plan.run_name)
    command = hf_jobs_command(the_plan.config, str(script_path), namespace=submitted.namespace,
                              run_name=the_plan.run_name)
    extra = _base_extra(the_plan, output_dir=None)
    extra.update({"job_url": submitted.url, "script_path": str(script_path), "submit_note": submitted.note})
    record = job_store.JobRecord(
        id=submitted.job_id, backend="hf-jobs", name=the_plan.run_name, status=submitted.stage,
        remote_id=submitted.job_id, namespace=submitted.namespace, config=the_plan.config.to_dict(),
        script=the_plan.script.text, command=command.line, extra=extra,
    )
    return job_store.insert_job(record, store)


def _launch_local(the_plan: LaunchPlan, store: Store, workdir: Path | None = None) -> job_store.JobRecord:

    job_id = job_store.new_local_id()
    workdir = paths.ensure(workdir) if workdir is not None else _job_dir(job_id)
    output_dir = workdir / adapter_folder_name(the_plan.config.output_repo, the_plan.config.base_model)
    script = render_script(the_plan.config, output_dir=str(output_dir), filename=the_plan.script.filename,
                           run_name=the_plan.run_name, strategy=the_plan.script.strategy)
    script_path = workdir / script.filename
    script_path.write_text(script.text, encoding="utf-8")
    python = local_python()
    command = local_command(str(script_path), python=python)
    return _start_supervised(the_plan, store, job_id=job_id, backend="local", script=script.text,
                             command=command, workdir=workdir, output_dir=str(output_dir))


def _launch_mlx(the_plan: LaunchPlan, store: Store) -> job_store.JobRecord:
    from core.launch.backends import mlx

    mlx.require_mlx()
    job_id = job_store.new_local_id()
    workdir = _job_dir(job_id)
    n_train = mlx.prepare_data_dir(the_plan.config, workdir / "data")
    config_file = workdir / "mlx_config.yaml"
    config_file.write_text(json.dumps(mlx_lora_parameters(the_plan.config), indent=2), encoding="utf-8")
    command = mlx_command(the_plan.config, python=sys.executable, data_dir=str(workdir / "data"),
                          adapter_dir=str(workdir / "adapters"), num_examples=n_train, config_file=str(config_file))
    return _start_supervised(the_plan, store, job_id=job_id, backend="mlx", script="", command=command,
                             workdir=workdir, output_dir=str(workdir / "adapters"))


def _start_supervised(the_plan: LaunchPlan, store: Store, *, job_id: str, backend: str, script: str,
                      command: Command, workdir: Path, output_dir: str) -> job_store.JobRecord:
    from core.launch.backends import local

    log_path = paths.ensure(paths.logs_dir()) / f"{job_id}.log"
    extra = _base_extra(the_plan, output_dir=output_dir)
    extra.update({"argv": list(command.argv), "workdir": str(workdir),
                  "env": {"TUI_TUNER_RUN_NAME": the_plan.run_name}})
    record = job_store.JobRecord(
        id=job_id, backend=backend, name=the_plan.run_name, status="SCHEDULING", config=the_plan.config.to_dict(),
        script=script, command=redact(command.line), log_path=str(log_path), extra=extra,
    )
    job_store.insert_job(record, store)
    try:
        pid = local.start_supervisor(job_id, log_path)
    except OSError as exc:
        job_store.update_job(job_id, store, status="ERROR", message=f"cannot start the supervisor: {exc}")
        raise TunerError(f"cannot start the local job: {exc}") from None
    job_store.update_job(job_id, store, pid=pid)
    return job_store.get_job(job_id, store) or record
