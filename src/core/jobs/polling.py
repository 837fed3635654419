"""How often the monitor may ask the Hub: one request budget for the job list and the job being watched.

The Hub allows about 500 API requests per 5 minutes per user (1.67/s), shared by everything the user runs:
other tools, training jobs pushing checkpoints, a second monitor. The monitor keeps its polling at or
under `max_requests_per_s` (default 0.2/s, an eighth of that quota), whatever the number of jobs:

- the list polls the newest page of each namespace (100 jobs) — older pages only once, when the user
  scrolls to them; a job not on that page is asked about on its own only while it is live;
- an ended job is never polled again, and neither is one the Hub refused (401/403/404);
- a refresh that cost N requests is followed by a pause of at least N / budget seconds;
- nothing live in the list: the pause is `idle_factor` times longer; errors back off (Retry-After honoured);
- the detail screen polls the job it shows at the same budget, stops at a final stage, and the list
  pauses while it is on top.

Log and metrics streams are long-lived connections, not polls: they are outside the budget (each costs one
request per connection; reconnects back off on their own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import TunerError

DEFAULT_MAX_RPS = 0.2


@dataclass(frozen=True)
class PollBudget:
    """The polling schedule: `refresh_s` is how fresh the user wants it, `max_rps` what the Hub can afford."""

    max_rps: float = DEFAULT_MAX_RPS
    refresh_s: float = 5.0
    idle_factor: float = 3.0
    """With no live job in view, refresh this many times less often."""
    max_refresh_s: float = 120.0
    """Longest pause between two polls (error backoff included), unless the budget needs more."""

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> PollBudget:
        try:
            budget = cls(max_rps=float(settings.get("max_requests_per_s", DEFAULT_MAX_RPS)),
                         refresh_s=float(settings.get("refresh_s", 5.0)),
                         max_refresh_s=float(settings.get("max_refresh_s", 120.0)))
        except (TypeError, ValueError):
            raise TunerError("[jobs] refresh_s, max_refresh_s and max_requests_per_s must be numbers") from None
        if budget.max_rps <= 0 or budget.refresh_s <= 0:
            raise TunerError("[jobs] refresh_s and max_requests_per_s must be positive")
        return budget

    def floor(self, requests: int) -> float:
        """The shortest pause after `requests` requests that keeps the average at or under the budget."""
        return max(requests, 0) / self.max_rps

    def interval(self, requests: int, *, live: bool = True) -> float:
        base = self.refresh_s if live else min(self.refresh_s * self.idle_factor, max(self.max_refresh_s,
                                                                                     self.refresh_s))
        return max(base, self.floor(requests))


def is_permanent(exc: BaseException) -> bool:
    """An answer that polling again will not change: 400/401/403/404/410."""
    return bool(getattr(exc, "permanent", False))


class Backoff:
    """Doubling waits after errors, from `interval` up to `max_interval`; a `Retry-After` is honoured."""

    def __init__(self, interval: float, max_interval: float) -> None:
        self.interval, self.max_interval = interval, max_interval
        self.current = interval
        self.failures = 0

    def success(self) -> float:
        self.failures, self.current = 0, self.interval
        return self.current

    def failure(self, retry_after: float | None = None, *, permanent: bool = False) -> float:
        self.failures += 1
        self.current = self.max_interval if permanent else min(self.max_interval, self.current * 2)
        if retry_after is not None:
            self.current = max(self.current, min(retry_after, self.max_interval * 2))
        return self.current


class StatusPoll:
    """When to ask again about the one job a screen shows: None means "stop polling"."""

    def __init__(self, budget: PollBudget, *, requests_per_poll: int = 1) -> None:
        self.budget = budget
        self.backoff = Backoff(max(budget.refresh_s, budget.floor(requests_per_poll)), budget.max_refresh_s)
        self.stopped_because: str | None = None

    def after_success(self, stage: str) -> float | None:
        from core.jobs.model import is_terminal

        if is_terminal(stage):
            self.stopped_because = f"the job ended ({stage})"
            return None
        return self.backoff.success()

    def after_error(self, exc: TunerError) -> float | None:
        if is_permanent(exc):
            self.stopped_because = exc.one_line()
            return None  # a 403 job stays 403: asking every 20 s forever helps nobody
        return self.backoff.failure(getattr(exc, "retry_after", None))
