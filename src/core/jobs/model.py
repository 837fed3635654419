"""What the monitor shows, as plain dataclasses: one row per job, whatever backend runs it.

HF Jobs rows come from the Hub (client or HTTP fallback) merged with what the launcher stored about
them (expected steps, output repo); local rows come from the store alone. Stage strings are kept as
the Hub sends them: an unknown stage (e.g. "UPDATING") is shown, never rejected.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.flavors import get_flavor

TERMINAL_STAGES = frozenset({"COMPLETED", "CANCELED", "ERROR", "DELETED"})
"""huggingface_hub 2.4.0 `TERMINAL_JOB_STAGES`; anything else (SCHEDULING, RUNNING, UPDATING, …) is live."""


def is_terminal(stage: str) -> bool:
    return stage.upper() in TERMINAL_STAGES


def parse_hub_time(value: Any) -> float | None:
    """Epoch seconds from a Hub timestamp (`2025-07-22T16:06:25.079Z`), a datetime, or a number."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        # Epoch seconds up to the year 5000; NaN, infinities and absurd values read as unknown.
        return float(value) if 0 <= value < 1e11 else None
    if isinstance(value, datetime):
        return value.timestamp()
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Python 3.11's fromisoformat accepts 0-6 fraction digits; the Hub may send up to 9.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(digits):]
        text = f"{head}.{digits[:6].ljust(6, '0')}{tz}" if digits else head + tz
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


@dataclass
class JobRow:
    """One job in the list; every time is epoch seconds (UTC)."""

    id: str
    backend: str
    """'hf-jobs' | 'local' | 'mlx'."""
    name: str
    stage: str
    namespace: str | None = None
    message: str | None = None
    flavor: str | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    running_secs: float | None = None
    """Server-computed running time (HF `durations.runningSecs`), preferred over our own clock."""
    command: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    log_path: str | None = None
    pid: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """The launcher's `extra_json` (expected_steps, output_repo, trackio_project, …) when known."""
    in_store: bool = False

    @property
    def key(self) -> str:
        return f"{self.backend}:{self.id}"

    @property
    def is_terminal(self) -> bool:
        return is_terminal(self.stage)

    def age(self, now: float | None = None) -> float | None:
        now = time.time() if now is None else now
        return None if self.created_at is None else max(0.0, now - self.created_at)

    def duration(self, now: float | None = None) -> float | None:
        """Running time so far (or in total once finished)."""
        if self.running_secs is not None:
            return self.running_secs
        start = self.started_at or (self.created_at if self.backend != "hf-jobs" else None)
        if start is None:
            return None
        now = time.time() if now is None else now
        end = self.finished_at if self.finished_at else (now if not self.is_terminal else None)
        return None if end is None else max(0.0, end - start)

    def cost(self, now: float | None = None) -> float | None:
        """Cost so far in USD: the flavor's price per started minute of running time (HF only)."""
        if self.backend != "hf-jobs" or not self.flavor:
            return None
        flavor = get_flavor(self.flavor)
        seconds = self.duration(now)
        if flavor is None or seconds is None:
            return None
        return flavor.cost(seconds)

    @property
    def expected_steps(self) -> int | None:
        value = self.extra.get("expected_steps")
        if isinstance(value, (int, float)) and value > 0:
            return int(value)
        return expected_steps(self.extra.get("num_examples"), self.extra.get("effective_batch"),
                              self.extra.get("epochs"))

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        return {
            "id": self.id, "backend": self.backend, "name": self.name, "stage": self.stage,
            "namespace": self.namespace, "message": self.message, "flavor": self.flavor,
            "created_at": self.created_at, "started_at": self.started_at, "finished_at": self.finished_at,
            "age_s": self.age(now), "duration_s": self.duration(now), "cost_usd": self.cost(now),
            "command": self.command, "labels": self.labels, "url": self.url, "log_path": self.log_path,
            "pid": self.pid, "expected_steps": self.expected_steps, "extra": self.extra,
        }


def expected_steps(num_examples: Any, effective_batch: Any, epochs: Any) -> int | None:
    """The guide's formula: (examples ÷ effective batch) × epochs, a partial last batch counting as a step.

    (1294 ÷ 8) × 3 = 486: the trainer runs ceil(1294 / 8) = 162 optimizer steps per epoch.
    """
    try:
        n, b, e = float(num_examples), float(effective_batch), float(epochs)
    except (TypeError, ValueError):
        return None
    if n <= 0 or b <= 0 or e <= 0:
        return None
    return int(math.ceil(n / b) * e)


def format_duration(seconds: float | None) -> str:
    """Compact k9s-style duration: 45s, 12m, 3h4m, 2d5h."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600}h"


def format_cost(usd: float | None) -> str:
    return "-" if usd is None else f"${usd:,.2f}"
