"""One place that builds huggingface_hub clients, retries Hub requests and turns their errors into one line.

`huggingface_hub` reads HF_ENDPOINT once, at import; tui-tuner reads it at call time and passes it to
every client explicitly, so a config change (or a test's loopback fake Hub) takes effect at once.
Tokens are left to the library's own resolution (HF_TOKEN, then the stored login): we never read,
pass around, or print the value ourselves.

Retries (`RetryPolicy`, `call_with_retries`): huggingface_hub retries only list pages; a job lookup,
`whoami` or a cancel answered 429 or 500 fails at once. Every Hub request tui-tuner makes goes through
one policy instead: 429 waits what `Retry-After` (or the Hub's `RateLimit: …;t=N`) asks, capped; 5xx
and connection errors back off exponentially with jitter; both a bounded number of times. A request
that is not idempotent (creating a job) is retried only when the Hub cannot have acted on it.
"""

from __future__ import annotations

import email.utils
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from core.errors import OfflineError, TunerError
from core.redact import redact

if TYPE_CHECKING:
    from huggingface_hub import HfApi

T = TypeVar("T")

DEFAULT_ENDPOINT = "https://huggingface.co"

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Answers worth asking again (huggingface_hub's own `http_backoff` list)."""

_CONNECTION_ERRORS = frozenset({
    "ConnectError", "ConnectTimeout", "ConnectionError", "ConnectionRefusedError", "ConnectionResetError",
    "ConnectionAbortedError", "RemoteProtocolError", "ReadError", "WriteError", "ReadTimeout", "WriteTimeout",
    "PoolTimeout", "TimeoutException", "ProtocolError", "ChunkedEncodingError", "NewConnectionError",
    "MaxRetryError", "RemoteDisconnected", "IncompleteRead", "Timeout", "OfflineError",
})
"""Exception class names (any class in the MRO) meaning "no answer came back": httpx2, requests, urllib3,
http.client and the stdlib, matched by name so no HTTP library has to be imported to classify."""

_BEFORE_SENDING = frozenset({"ConnectError", "ConnectTimeout", "ConnectionRefusedError", "NewConnectionError",
                             "OfflineError"})
"""Connection failures that happen before the request left: safe to retry even a non-idempotent call."""


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hf_api() -> HfApi:
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_endpoint())


# --- reading an error ----------------------------------------------------------------------------------


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a failed request (huggingface_hub, requests, or our own HttpStatusError)."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status
    code = getattr(getattr(exc, "response", None), "status_code", None)
    return code if isinstance(code, int) else None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


_RATELIMIT = re.compile(r"\br\s*=\s*(\d+)\s*;\s*t\s*=\s*(\d+)")


def parse_ratelimit_reset(value: str | None) -> float | None:
    """Seconds until the window resets from the Hub's `RateLimit: "api";r=0;t=55`, when nothing is left."""
    if not value:
        return None
    match = _RATELIMIT.search(value)
    if match is None or int(match.group(1)) > 0:
        return None
    return float(match.group(2))


def retry_after_of(exc: BaseException) -> float | None:
    """What the server asked us to wait: `Retry-After`, else the exhausted `RateLimit` window's reset."""
    explicit = getattr(exc, "retry_after", None)
    if isinstance(explicit, (int, float)):
        return float(explicit)
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None or not hasattr(headers, "get"):
        return None
    wait = parse_retry_after(headers.get("retry-after"))
    return wait if wait is not None else parse_ratelimit_reset(headers.get("ratelimit"))


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def is_connection_error(exc: BaseException) -> bool:
    """No answer came back: refused, reset, cut, timed out (OfflineModeIsEnabled is a choice, not a failure)."""
    names = _class_names(exc)
    if "OfflineModeIsEnabled" in names or status_of(exc) is not None:
        return False
    return bool(names & _CONNECTION_ERRORS) or isinstance(exc, (ConnectionError, TimeoutError))


def is_retryable(exc: BaseException, *, idempotent: bool = True) -> bool:
    status = status_of(exc)
    if status is not None:
        # A 429 was refused before any work; a 5xx may have been half-done, so only idempotent calls repeat.
        return status == 429 or (idempotent and status in RETRY_STATUSES)
    if not is_connection_error(exc):
        return False
    return idempotent or bool(_class_names(exc) & _BEFORE_SENDING)


def maybe_done_by_the_hub(exc: BaseException) -> bool:
    """After a failed non-idempotent request (a job's creation): might the Hub have done it anyway?
    Yes for a 5xx, a timeout, a connection lost after sending, or an answer that could not be read."""
    status = status_of(exc)
    if status is not None:
        return status >= 500
    names = _class_names(exc)
    if "JSONDecodeError" in names or any("Timeout" in name for name in names):
        return True
    return is_connection_error(exc) and not names & _BEFORE_SENDING


# --- the retry policy ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one Hub request. The defaults wait at most ~1+2+4 s on a dead Hub
    (a clear error after ~7 s) and honour a rate limit's reset up to `max_retry_after_s`."""

    attempts: int = 4
    """Tries in all (the first one included); 1 disables retrying."""
    base_s: float = 1.0
    """First backoff; doubled on every further failure."""
    max_backoff_s: float = 16.0
    max_retry_after_s: float = 60.0
    """The longest rate-limit `Retry-After` waited out. A 429 that asks for longer fails at once, saying when
    (the Hub's fixed-window quota refuses every try before its reset: waiting less only burns attempts). A 503
    `Retry-After` longer than this is cut to it (the service may come back sooner)."""
    jitter: float = 0.25
    """Backoffs are spread by ±this fraction so that many clients do not retry in lockstep."""

    def delay(self, failures: int, retry_after: float | None = None, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait after the `failures`-th failure in a row (1-based)."""
        if retry_after is not None:
            # The server said when: never earlier, a little later so a fleet does not all come back at once.
            return min(self.max_retry_after_s, retry_after) * (1.0 + self.jitter * 0.2 * rng())
        backoff = min(self.max_backoff_s, self.base_s * 2.0 ** max(failures - 1, 0))
        spread = 1.0 + self.jitter * (2.0 * rng() - 1.0)
        return max(0.0, min(self.max_backoff_s, backoff * spread))

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> RetryPolicy:
        """`[jobs] retry_attempts`, `retry_max_backoff_s`, `retry_max_wait_s` over the defaults."""
        settings = settings or {}
        default = cls()
        try:
            return cls(attempts=max(1, int(settings.get("retry_attempts", default.attempts))),
                       base_s=float(settings.get("retry_base_s", default.base_s)),
                       max_backoff_s=float(settings.get("retry_max_backoff_s", default.max_backoff_s)),
                       max_retry_after_s=float(settings.get("retry_max_wait_s", default.max_retry_after_s)))
        except (TypeError, ValueError):
            raise TunerError("[jobs] retry_* settings must be numbers") from None


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class RetryNotice:
    """One retry about to happen (for a status line: "rate limited, retrying in 2 s")."""

    what: str
    failures: int
    wait_s: float
    reason: str


def retry_reason(exc: BaseException) -> str:
    status = status_of(exc)
    if status == 429:
        return "rate limited (429)"
    if status is not None:
        return f"server error ({status})"
    return f"no answer ({type(exc).__name__})"


def call_with_retries(fn: Callable[[], T], *, what: str = "Hub request", policy: RetryPolicy = DEFAULT_RETRY,
                      idempotent: bool = True, sleep: Callable[[float], Any] = time.sleep,
                      on_retry: Callable[[RetryNotice], None] | None = None,
                      rng: Callable[[], float] = random.random, retry_unreachable: bool = True) -> T:
    """`fn()`, retried per `policy` while it fails in a retryable way; the last error is re-raised as is.
    `retry_unreachable=False`: a connection that could not even be opened (refused, no route) fails at once,
    for a check that reports "offline" and moves on instead of making the user wait out the back-off."""
    failures = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            failures += 1
            if failures >= policy.attempts or not is_retryable(exc, idempotent=idempotent):
                raise
            if not retry_unreachable and _class_names(exc) & _BEFORE_SENDING:
                raise
            if status_of(exc) == 429 and (retry_after_of(exc) or 0.0) > policy.max_retry_after_s:
                raise  # "come back in an hour": say so now rather than after minutes of refused tries
            wait = policy.delay(failures, retry_after_of(exc) if status_of(exc) == 429 or status_of(exc) == 503
                                else None, rng)
            if on_retry is not None:
                on_retry(RetryNotice(what, failures, wait, retry_reason(exc)))
            sleep(wait)


# --- errors as one line ------------------------------------------------------------------------------------


def whoami_name(policy: RetryPolicy = DEFAULT_RETRY) -> str:
    """The logged-in user's name (the default namespace), resolved once per call site.

    `/whoami-v2` is the Hub's most strictly rate-limited route: a 429 there is waited out, not fatal.
    """
    try:
        return str(call_with_retries(lambda: hf_api().whoami()["name"], what="whoami", policy=policy))
    except Exception as exc:  # translated to a one-line TunerError below
        raise hub_error(exc, "whoami") from None


def request_subject(exc: BaseException) -> str | None:
    """What the failed request was about, from its URL: 'job', 'jobs' (a namespace's list), 'whoami',
    'repo', or None when unknown. Hints depend on it: a 403 on a job is not a model licence."""
    names = _class_names(exc)
    if "JobNotFoundError" in names:
        return "job"
    if names & {"RepositoryNotFoundError", "GatedRepoError", "RevisionNotFoundError", "EntryNotFoundError",
                "RemoteEntryNotFoundError"}:
        return "repo"
    response = getattr(exc, "response", None)
    url = getattr(getattr(response, "request", None), "url", None) or getattr(response, "url", None)
    path = urlsplit(str(url)).path if url else ""
    if path.startswith(("/api/jobs/", "/api/scheduled-jobs/")):
        parts = [p for p in path.split("/") if p]
        return "jobs" if len(parts) == 3 else "job"
    if path.startswith("/api/whoami"):
        return "whoami"
    if path.startswith(("/api/models/", "/api/datasets/", "/api/spaces/")) or "/resolve/" in path:
        return "repo"
    return None


_HINTS: dict[tuple[int, str], str] = {
    (403, "job"): "this token cannot access that job: check its namespace and the token's Jobs permission",
    (403, "jobs"): "this token cannot list jobs there: check --namespace and the token's Jobs permission",
    (403, "whoami"): "the token was refused: check it with `hf auth whoami`",
    (403, "repo"): "accept the model's license on the Hub and check the token's scopes",
    (404, "job"): "check the job id and its namespace (`tui-tuner jobs ps` lists them)",
    (404, "jobs"): "no such user or organisation: check --namespace or [jobs].namespace",
    (404, "repo"): "check the repo id and your access",
}


def hint_for(status: int | None, subject: str | None) -> str | None:
    """The hint for an HTTP status on a request about `subject` (see `request_subject`)."""
    if status is None:
        return None
    if status == 401:
        return "run `hf auth login` or set HF_TOKEN"
    if status == 403:
        return _HINTS.get((403, subject or ""), "check the token's scopes")
    if status == 429:
        return "wait and retry; the Hub allows ~500 requests per 5 minutes"
    return _HINTS.get((status, subject or ""))


def hub_error(exc: BaseException, what: str, subject: str | None = None) -> TunerError:
    """Translate a huggingface_hub / HTTP exception into a one-line, token-free TunerError.

    `subject` ('job', 'jobs', 'whoami', 'repo') picks the hint; by default it is read from the failed
    request's URL, and a request that cannot be placed gets no guess.
    """
    name = type(exc).__name__
    text = redact(" ".join(str(exc).split()))[:300]
    status = status_of(exc)
    subject = subject or request_subject(exc)
    if name in {"OfflineModeIsEnabled"}:
        return OfflineError(f"{what}: offline mode is enabled (HF_HUB_OFFLINE=1)")
    if status is None and (is_connection_error(exc) or "Connection refused" in text
                           or "Name or service not known" in text):
        return OfflineError(f"{what}: cannot reach {hub_endpoint()} ({name})", hint="check the network or HF_ENDPOINT")
    if name == "LocalTokenNotFoundError":  # raised before any request: there is no token at all
        return TunerError(f"{what}: no Hugging Face token", hint="run `hf auth login` or set HF_TOKEN")
    if name == "GatedRepoError" or status == 403:
        return TunerError(f"{what}: access denied (403)", hint=_HINTS.get((403, subject or ""),
                                                                          "check the token's scopes"))
    if name in {"RepositoryNotFoundError", "EntryNotFoundError", "RevisionNotFoundError"} or status == 404:
        return TunerError(f"{what}: not found on the Hub (404)", hint=_HINTS.get((404, subject or "")))
    if status == 401:
        return TunerError(f"{what}: not logged in (401)", hint="run `hf auth login` or set HF_TOKEN")
    if status == 429:
        wait = retry_after_of(exc)
        when = f"retry in {wait:.0f}s" if wait is not None else "wait and retry"
        return TunerError(f"{what}: rate limited by the Hub (429)", hint=f"{when}; the Hub allows ~500 requests "
                          "per 5 minutes")
    if status is not None and status >= 500:
        return TunerError(f"{what}: the Hub failed ({status})", hint="it kept failing after retries; try again later")
    if "JSONDecodeError" in _class_names(exc):
        # A proxy's error page or a cut body where the API sends JSON: not a token or input problem.
        return TunerError(f"{what}: the Hub's reply is not valid JSON",
                          hint="a proxy or an outage between you and the Hub; try again later")
    return TunerError(f"{what}: {name}: {text}")
