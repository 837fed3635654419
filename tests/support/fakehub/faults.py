"""Fault injection and request recording for the fake Hub."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

# Error texts the Hub (or the proxy in front of it) sends; used when a test injects a bare status code.
DEFAULT_MESSAGES: dict[int, str] = {
    400: "Bad request",
    401: "Invalid credentials in Authorization header",
    402: "Payment required: add credits to run Jobs",
    403: "You don't have the rights to access this resource",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Error - We're working hard to fix this as soon as possible!",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_REPO_PATH = re.compile(r"^/api/(models|datasets|spaces)/|/resolve/")
_JOB_PATH = re.compile(r"^/api/(scheduled-)?jobs/[^/]+/[^/]+")


@dataclass
class RecordedRequest:
    """One request as the fake Hub received it. The Authorization value is never kept (see `auth`)."""

    method: str
    path: str
    """Raw path as sent (still percent-encoded), without the query string."""
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Lower-cased names; `authorization` is replaced by `Bearer <redacted>`."""
    json: Any
    """Parsed JSON body (a list of objects for an NDJSON commit), None when the body is not JSON."""
    auth: str | None = None
    """"valid" (the accepted token), "invalid" (another token) or None (no Authorization header)."""
    body: bytes = field(default=b"", repr=False)


@dataclass
class Failure:
    pattern: re.Pattern[str]
    status: int
    remaining: int
    headers: dict[str, str]
    method: str | None
    body: Any
    error_code: str | None
    message: str | None

    def matches(self, method: str, path: str) -> bool:
        if self.remaining <= 0:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.pattern.search(path) is not None

    def response(self, path: str) -> tuple[int, dict[str, str], Any]:
        """Status, headers and JSON body shaped like the Hub's own error for that route."""
        message = self.message or DEFAULT_MESSAGES.get(self.status, "Error")
        code = self.error_code
        if code is None and self.status == 404:
            if _JOB_PATH.search(path):
                message = self.message or "Job not found"
            elif _REPO_PATH.search(path):
                code, message = "RepoNotFound", self.message or "Repository not found"
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        headers.update(self.headers)
        body = self.body if self.body is not None else {"error": message}
        return self.status, headers, body


DROP = 0
"""Status of a `drop_next` failure: the connection is closed without any response (a reset, a crash)."""


@dataclass
class RateLimiter:
    """The Hub's fixed-window API quota (reference §11): `quota` requests per `window_s` per client; over it,
    429 with `RateLimit: "api";r=0;t=<reset>` and `RateLimit-Policy`, as huggingface_hub parses them."""

    quota: int
    window_s: float
    pattern: re.Pattern[str]
    started: float = 0.0
    used: int = 0
    refused: int = 0

    def check(self, path: str, now: float) -> tuple[bool, dict[str, str]]:
        """(allowed, headers) for one request at monotonic time `now`; paths outside `pattern` are free."""
        if not self.pattern.search(path):
            return True, {}
        if now - self.started >= self.window_s:
            self.started, self.used = now, 0
        reset = max(1, math.ceil(self.window_s - (now - self.started)))
        policy = f'"fixed window";"api";q={self.quota};w={int(self.window_s)}'
        if self.used >= self.quota:
            self.refused += 1
            return False, {"RateLimit": f'"api";r=0;t={reset}', "RateLimit-Policy": policy}
        self.used += 1
        return True, {"RateLimit": f'"api";r={self.quota - self.used};t={reset}', "RateLimit-Policy": policy}


@dataclass
class Delay:
    pattern: re.Pattern[str]
    seconds: float


@dataclass
class Faults:
    failures: list[Failure] = field(default_factory=list)
    delays: list[Delay] = field(default_factory=list)
    rate_limiter: RateLimiter | None = None

    def take_failure(self, method: str, path: str) -> Failure | None:
        for failure in self.failures:
            if failure.matches(method, path):
                failure.remaining -= 1
                return failure
        return None

    def delay_for(self, path: str) -> float:
        return max((d.seconds for d in self.delays if d.pattern.search(path)), default=0.0)

    def set_delay(self, pattern: str, seconds: float) -> None:
        self.delays = [d for d in self.delays if d.pattern.pattern != pattern]
        if seconds > 0:
            self.delays.append(Delay(re.compile(pattern), float(seconds)))
