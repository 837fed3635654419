"""HF Jobs state of the fake Hub: job records, their JSON as the Hub serves it, hardware and metrics.

Shapes follow /work/shared/reference/hf-jobs-api.md §4 (JobInfo keys, camelCase, `…Z` timestamps,
`secrets` returned as a list of names, `owner.{id,name,type}` always present) and §7 (flavors).
All mutation happens under the FakeHub's condition lock; nothing here does I/O.
"""

from __future__ import annotations

import secrets as _secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import iso_z, started_banner, utcnow

TERMINAL_STAGES = frozenset({"COMPLETED", "CANCELED", "ERROR", "DELETED"})
"""huggingface_hub 2.4.0 `TERMINAL_JOB_STAGES`; any other string (SCHEDULING, RUNNING, UPDATING, ...) is live."""

DEFAULT_TIMEOUT_S = 1800
"""Server-side default when the spec carries no `timeoutSeconds` (hub-docs jobs-pricing: 30 minutes)."""

DEFAULT_UV_IMAGE = "ghcr.io/astral-sh/uv:python3.12-bookworm"


def new_job_id() -> str:
    return _secrets.token_hex(12)


# name, prettyName, vCPU, RAM GB, disk GB, accelerator model, GPU count, VRAM per GPU (GB), $ per hour
_HARDWARE: tuple[tuple[str, str, int, int, int, str | None, int, int, float], ...] = (
    ("cpu-basic", "CPU Basic", 2, 16, 50, None, 0, 0, 0.01),
    ("cpu-upgrade", "CPU Upgrade", 8, 32, 50, None, 0, 0, 0.03),
    ("cpu-performance", "CPU Performance", 32, 256, 1024, None, 0, 0, 1.90),
    ("cpu-xl", "CPU XL", 16, 124, 1000, None, 0, 0, 1.00),
    ("t4-small", "Nvidia T4 - small", 4, 15, 50, "T4", 1, 16, 0.40),
    ("t4-medium", "Nvidia T4 - medium", 8, 30, 100, "T4", 1, 16, 0.60),
    ("l4x1", "1x Nvidia L4", 8, 30, 400, "L4", 1, 24, 0.80),
    ("l4x4", "4x Nvidia L4", 48, 186, 3200, "L4", 4, 24, 3.80),
    ("l40sx1", "1x Nvidia L40S", 8, 62, 380, "L40S", 1, 48, 1.80),
    ("l40sx4", "4x Nvidia L40S", 48, 382, 3200, "L40S", 4, 48, 8.30),
    ("l40sx8", "8x Nvidia L40S", 192, 1534, 6500, "L40S", 8, 48, 23.50),
    ("a10g-small", "Nvidia A10G - small", 4, 15, 110, "A10G", 1, 24, 1.00),
    ("a10g-large", "Nvidia A10G - large", 12, 46, 200, "A10G", 1, 24, 1.50),
    ("a10g-largex2", "2x Nvidia A10G - large", 24, 92, 1000, "A10G", 2, 24, 3.00),
    ("a10g-largex4", "4x Nvidia A10G - large", 48, 184, 2000, "A10G", 4, 24, 5.00),
    ("a100-large", "Nvidia A100 - large", 12, 142, 1000, "A100", 1, 80, 2.50),
    ("a100x4", "4x Nvidia A100", 48, 568, 4000, "A100", 4, 80, 10.00),
    ("a100x8", "8x Nvidia A100", 96, 1136, 8000, "A100", 8, 80, 20.00),
    ("h200", "Nvidia H200", 23, 256, 3000, "H200", 1, 141, 5.00),
    ("h200x2", "Nvidia H200", 46, 512, 6000, "H200", 2, 141, 10.00),
    ("h200x4", "Nvidia H200", 92, 1024, 12000, "H200", 4, 141, 20.00),
    ("h200x8", "Nvidia H200", 184, 2048, 24000, "H200", 8, 141, 40.00),
    ("rtx-pro-6000", "Nvidia RTX PRO 6000", 23, 256, 475, "RTX PRO 6000", 1, 96, 2.75),
    ("rtx-pro-6000x2", "Nvidia RTX PRO 6000", 46, 512, 950, "RTX PRO 6000", 2, 96, 5.50),
    ("rtx-pro-6000x4", "Nvidia RTX PRO 6000", 92, 1024, 1900, "RTX PRO 6000", 4, 96, 11.00),
    ("rtx-pro-6000x8", "Nvidia RTX PRO 6000", 184, 2048, 3800, "RTX PRO 6000", 8, 96, 22.00),
)


def hardware_json() -> list[dict[str, Any]]:
    """`GET /api/jobs/hardware` body: the §4.7 keys, priced per minute as the API does (`unitLabel: minute`)."""
    out: list[dict[str, Any]] = []
    for name, pretty, cpu, ram, disk, gpu, count, vram, per_hour in _HARDWARE:
        per_minute = per_hour / 60.0
        item: dict[str, Any] = {
            "name": name,
            "prettyName": pretty,
            "cpu": f"{cpu} vCPU",
            "ram": f"{ram} GB",
            "ephemeralStorage": f"{disk} GB",
            "accelerator": None,
            "unitCostMicroUSD": round(per_minute * 1_000_000),
            "unitCostUSD": round(per_minute, 6),
            "unitLabel": "minute",
        }
        if gpu is not None:
            item["accelerator"] = {
                "type": "gpu",
                "model": gpu,
                "quantity": str(count),
                "vram": f"{vram * count} GB",
                "manufacturer": "Nvidia",
            }
        out.append(item)
    return out


def _gpu_layout(flavor: str) -> tuple[int, int]:
    for name, _p, _c, _r, _d, gpu, count, vram, _price in _HARDWARE:
        if name == flavor:
            return (count, vram) if gpu else (0, 0)
    return (0, 0)


def synthetic_metric(flavor: str, tick: int) -> dict[str, Any]:
    """A plausible `/metrics` sample (§4.8 shape) for jobs a test gave no samples for."""
    count, vram_gb = _gpu_layout(flavor)
    gpus = {
        f"gpu{idx:02d}": {
            "utilization": 90,
            "memory_used_bytes": int(vram_gb * 1e9 * 0.6),
            "memory_total_bytes": int(vram_gb * 1e9),
        }
        for idx in range(count)
    }
    return {
        "cpu_usage_pct": 50,
        "cpu_millicores": 1000,
        "memory_used_bytes": 4_000_000_000,
        "memory_total_bytes": 16_000_000_000,
        "rx_bps": 1000 + tick,
        "tx_bps": 500,
        "gpus": gpus,
        "replica": "fake1",
    }


@dataclass
class LogLine:
    text: str
    timestamp: str

    def event(self) -> dict[str, str]:
        return {"data": self.text, "timestamp": self.timestamp}


@dataclass
class Job:
    id: str
    namespace: str
    owner_id: str
    owner_type: str
    spec: dict[str, Any]
    """The creation body (secret values included); never served as-is."""
    stage: str
    message: str | None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    logs: list[LogLine] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    initiator: dict[str, Any] | None = None
    pending_cuts: list[int] = field(default_factory=list)
    """Log streams still to cut mid-line: each entry is the number of whole events sent first."""
    default_timeout_s: int | None = None
    """The server default that applies when the spec has no `timeoutSeconds` (set for API-created jobs;
    seeded jobs have none, so a test can seed a job that has been running for hours)."""

    @property
    def flavor(self) -> str:
        return str(self.spec.get("flavor") or "cpu-basic")

    @property
    def timeout_s(self) -> int | None:
        value = self.spec.get("timeoutSeconds")
        return int(value) if value else self.default_timeout_s

    @property
    def terminal(self) -> bool:
        return self.stage in TERMINAL_STAGES

    def set_stage(self, stage: str, message: str | None, now: datetime) -> None:
        self.stage = stage
        self.message = message
        if stage != "SCHEDULING" and stage not in TERMINAL_STAGES and self.started_at is None:
            self.started_at = now
        if stage in TERMINAL_STAGES and self.finished_at is None:
            self.finished_at = now

    def enforce_timeout(self, now: datetime) -> bool:
        """Turn a RUNNING job past its timeout into ERROR "Job timeout" (what the platform does)."""
        timeout = self.timeout_s
        if self.terminal or self.started_at is None or timeout is None:
            return False
        if (now - self.started_at).total_seconds() >= timeout:
            self.set_stage("ERROR", "Job timeout", now)
            return True
        return False

    def add_logs(self, lines: list[str], now: datetime) -> None:
        stamp = iso_z(now)
        for line in lines:
            # One event per line, as the platform splits container output: on "\n" only — a progress bar
            # redrawn with "\r" stays inside its event (str.splitlines would also split on \r, \v, \f...).
            for part in str(line).removesuffix("\n").split("\n"):
                self.logs.append(LogLine(part, stamp))

    def log_events(self) -> list[dict[str, str]]:
        """The full replay: the `Job started` banner (once running) then every line."""
        if self.started_at is None:
            return [line.event() for line in self.logs]
        banner = LogLine(started_banner(self.started_at), iso_z(self.started_at))
        return [banner.event()] + [line.event() for line in self.logs]

    def durations(self, now: datetime) -> dict[str, int] | None:
        if self.started_at is None:
            sched = int(((self.finished_at or now) - self.created_at).total_seconds())
            return {"schedulingSecs": max(sched, 0), "runningSecs": 0, "totalSecs": max(sched, 0)}
        sched = int((self.started_at - self.created_at).total_seconds())
        run = int(((self.finished_at or now) - self.started_at).total_seconds())
        return {"schedulingSecs": max(sched, 0), "runningSecs": max(run, 0), "totalSecs": max(sched + run, 0)}

    def to_json(self, now: datetime) -> dict[str, Any]:
        spec = self.spec
        secrets = spec.get("secrets") or {}
        out: dict[str, Any] = {
            "id": self.id,
            "createdAt": iso_z(self.created_at),
            "command": list(spec.get("command") or []),
            "arguments": list(spec.get("arguments") or []),
            "environment": dict(spec.get("environment") or {}),
            # The Hub never returns secret values, only their names.
            "secrets": sorted(secrets) if isinstance(secrets, dict) else list(secrets),
            "flavor": self.flavor,
            "labels": dict(spec.get("labels") or {}),
            "status": {"stage": self.stage, "message": self.message},
            "owner": {
                "id": self.owner_id,
                "name": self.namespace,
                "type": self.owner_type,
                "avatarUrl": "/avatars/fake.svg",
            },
            "durations": self.durations(now),
        }
        if self.timeout_s is not None:
            out["timeoutSeconds"] = self.timeout_s
        if spec.get("spaceId"):
            out["spaceId"] = spec["spaceId"]
        else:
            out["dockerImage"] = spec.get("dockerImage") or DEFAULT_UV_IMAGE
        if self.started_at is not None:
            out["startedAt"] = iso_z(self.started_at)
        if self.finished_at is not None:
            out["finishedAt"] = iso_z(self.finished_at)
        if spec.get("volumes"):
            out["volumes"] = spec["volumes"]
        if self.initiator is not None:
            out["initiator"] = self.initiator
        if spec.get("attempts"):
            out["retry"] = max(int(spec["attempts"]) - 1, 0)
        if spec.get("expose"):
            out["expose"] = spec["expose"]
        if spec.get("network"):
            out["network"] = spec["network"]
        return out


def job_from_spec(
    *,
    namespace: str,
    owner_id: str,
    owner_type: str,
    spec: dict[str, Any],
    stage: str,
    message: str | None = None,
    created_at: datetime | None = None,
    initiator: dict[str, Any] | None = None,
) -> Job:
    now = utcnow()
    created = created_at or now
    job = Job(
        id=new_job_id(),
        namespace=namespace,
        owner_id=owner_id,
        owner_type=owner_type,
        spec=spec,
        stage="SCHEDULING",
        message=None,
        created_at=created,
        initiator=initiator,
    )
    if stage != "SCHEDULING":
        # A job created directly in a later stage started when it was created (tests may backdate it).
        job.set_stage(stage, message, created)
        # A job seeded as finished is taken to have run (and logged) from `created` until now.
        job.started_at = job.started_at or created
        if stage in TERMINAL_STAGES:
            job.finished_at = now
    else:
        job.message = message
    return job


def matches_filters(job: Job, stages: list[str], labels: list[str]) -> bool:
    """`GET /api/jobs/{ns}` filters: any of the repeated `stage=`, all of the repeated `label=key=value`."""
    if stages and job.stage.upper() not in {s.upper() for s in stages}:
        return False
    job_labels = job.spec.get("labels") or {}
    for item in labels:
        key, sep, value = item.partition("=")
        if key not in job_labels:
            return False
        if sep and str(job_labels[key]) != value:
            return False
    return True
