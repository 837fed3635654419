"""Submit the training script to Hugging Face Jobs through huggingface_hub's `run_uv_job`.

Same request as `hf jobs uv run --flavor F --timeout T --secrets HF_TOKEN train.py`: the local script
is shipped by the client (to the namespace's `jobs-artifacts` bucket, mounted at /data), the token
travels only as the job secret HF_TOKEN (its value read by huggingface_hub, never stored or shown),
the timeout is always explicit, and the namespace is always passed (no extra whoami per call).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import TunerError
from core.launch.command import SECRET_NAMES, job_env, job_labels
from core.launch.config import LaunchConfig, label_value
from core.redact import redact


@dataclass(frozen=True)
class SubmittedJob:
    job_id: str
    namespace: str
    stage: str
    url: str | None
    note: str = ""


def submit(config: LaunchConfig, script_path: Path, *, namespace: str, run_name: str) -> SubmittedJob:
    """Create the job; raise a one-line TunerError (nothing submitted) on any failure before creation."""
    from huggingface_hub import get_token
    from huggingface_hub.utils import disable_progress_bars

    from core.hub import call_with_retries, hf_api, hub_error, maybe_done_by_the_hub

    token = get_token()
    if not token:
        raise TunerError("no Hugging Face token found", field="token", hint="run `hf auth login` or set HF_TOKEN")
    # The job reads the token from its HF_TOKEN secret; the Python API needs the value explicitly
    # (the CLI's bare `--secrets HF_TOKEN` does the same lookup). It goes into the request only.
    secrets = {name: token for name in SECRET_NAMES}

    def create(secrets: dict[str, str] = secrets) -> Any:
        return hf_api().run_uv_job(str(script_path), env=job_env(run_name), secrets=secrets, flavor=config.flavor,
                                   timeout=config.timeout_seconds(), name=label_value(run_name),
                                   labels=job_labels(run_name), namespace=namespace)

    disable_progress_bars()  # tqdm locks break under Textual (huggingface_hub #4066)
    captured = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(captured):
            warnings.simplefilter("ignore", UserWarning)  # run_uv_job is marked experimental
            # Not idempotent: only what the Hub refused unseen is repeated (a 429, a refused connection).
            job = call_with_retries(create, what="HF Jobs submission", idempotent=False)
    except FileNotFoundError as exc:
        raise TunerError(f"script not found: {exc}", hint="this is a bug in tui-tuner; please report it") from None
    except TunerError:
        raise
    except Exception as exc:
        error = hub_error(exc, "HF Jobs submission")
        if _failed_before_the_job_request(exc):
            # run_uv_job uploads the script first: a failure there never reached the jobs endpoint.
            raise TunerError(error.message, hint="the script upload failed before the job was submitted: no job "
                             "was created; launching again is safe") from None
        if maybe_done_by_the_hub(exc):
            # Job creation is not idempotent (huggingface_hub #3972): a lost answer may hide a live job.
            raise TunerError(error.message, hint="the job may have been created anyway: check `tui-tuner jobs ps` "
                             "before launching again") from None
        raise error from None
    finally:
        del secrets, token, create
    stage = getattr(getattr(job, "status", None), "stage", None) or "SCHEDULING"
    owner = getattr(getattr(job, "owner", None), "name", None) or namespace
    return SubmittedJob(job_id=job.id, namespace=owner, stage=str(getattr(stage, "value", stage)), url=getattr(job, "url", None),
                        note=redact(" ".join(captured.getvalue().split())))


def cancel(job_id: str, namespace: str) -> None:
    from core.hub import hf_api, hub_error

    try:
        hf_api().cancel_job(job_id=job_id, namespace=namespace)
    except Exception as exc:
        raise hub_error(exc, f"cancel {job_id}") from None


def _failed_before_the_job_request(exc: BaseException) -> bool:
    """The failed request is known and is not the job's creation (e.g. run_uv_job's script upload)."""
    request = getattr(getattr(exc, "response", None), "request", None) or getattr(exc, "_request", None)
    url = str(getattr(request, "url", "") or "")
    return bool(url) and "/api/jobs/" not in url
