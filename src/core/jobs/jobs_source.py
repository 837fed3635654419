"""HF Jobs access for the monitor: huggingface_hub first, plain HTTP (`requests`) when the client fails.

The guide's troubleshooting tree: "TTY/socket errors with hf jobs ps → use the Python API fallback",
i.e. GET `/api/jobs/{namespace}` with a bearer token. We go one step further and switch by ourselves:
when a call through the client fails in a way that is not an answer from the server (an OSError from a
missing TTY, an incompatible client version raising TypeError/AttributeError/KeyError), or keeps failing
after its retries (5xx, no connection) while plain HTTP gets through, the session moves to HTTP and
`path` says so. An HTTP error status (401/403/404) is the server's answer and is reported as such.

Every request, on either path, goes through `core.hub.call_with_retries` (429 waits for `Retry-After`,
5xx and connection errors back off with jitter, all bounded). Streams are opened once here; the log and
metrics followers retry them with the same policy.

Every method here blocks (both libraries are synchronous): the TUI calls them from thread workers.
"""

from __future__ import annotations

import contextlib
import email.utils
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from core import safe_json
from core.errors import OfflineError, TunerError
from core.hub import (
    DEFAULT_RETRY,
    RetryNotice,
    RetryPolicy,
    call_with_retries,
    hint_for,
    hub_endpoint,
    hub_error,
    is_connection_error,
    parse_ratelimit_reset,
    parse_retry_after,
    retry_after_of,
    status_of,
)
from core.hub_ids import validate_job_id, validate_namespace, validate_repo_id
from core.jobs.model import JobRow, parse_hub_time
from core.redact import redact

T = TypeVar("T")

CLIENT_PATH = "huggingface_hub"
HTTP_PATH = "http"

HUB_PAGE_SIZE = 100
"""Jobs per `Link` page on the Hub (huggingface_hub PR #4403)."""
LIST_PAGE_LIMIT = 10
"""At most this many pages (1,000 jobs) in one full listing."""

_CONNECT_TIMEOUT_S = 5.0
_READ_TIMEOUT_S = 30.0
LOG_READ_TIMEOUT_S = 120.0
"""The Hub sends a keep-alive every ~30 s on a live log stream; 4x that means the connection is dead."""
METRICS_READ_TIMEOUT_S = 10.0
FALLBACK_PROBE = RetryPolicy(attempts=1)
"""One plain-HTTP try decides whether the client path, not the Hub, is what keeps failing."""
SINGLE_TRY = FALLBACK_PROBE
"""For pollers and followers that have their own schedule: one attempt, the schedule is the retry."""

__all__ = ["CLIENT_PATH", "HTTP_PATH", "HttpStatusError", "HubJobs", "JobsPage", "parse_retry_after",
           "parse_sse_data", "read_token", "row_from_json"]


class HttpStatusError(TunerError):
    """The server answered with an error status (kept so callers can tell 404 from 503)."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.status = status
        self.retry_after = retry_after

    @property
    def permanent(self) -> bool:
        """401/403/404: asking again will get the same answer (no polling loop should repeat it)."""
        return self.status in (400, 401, 403, 404, 410)


def _translate_http(exc: BaseException, what: str, subject: str | None = None) -> TunerError:
    """A one-line error that keeps the HTTP status (for backoff and for the diagnosis banner)."""
    if isinstance(exc, HttpStatusError) and exc.hint is None:
        # An answer on the HTTP path: say what failed, with the hint for that request.
        return HttpStatusError(exc.status, f"{what}: {exc.message}", retry_after=exc.retry_after,
                               hint=hint_for(exc.status, subject))
    if isinstance(exc, TunerError):
        return exc
    status = status_of(exc)
    base = hub_error(exc, what, subject)
    if status is None:
        return base
    return HttpStatusError(status, base.message, retry_after=retry_after_of(exc), hint=base.hint)


def is_client_failure(exc: BaseException) -> bool:
    """True when the failure is the client's own (not an answer from the server): try plain HTTP."""
    if status_of(exc) is not None or isinstance(exc, TunerError):
        return False
    name = type(exc).__name__
    if name in {"OfflineModeIsEnabled", "LocalTokenNotFoundError"}:
        return False
    return isinstance(exc, (OSError, ImportError, AttributeError, TypeError, KeyError, ValueError)) or (
        name in {"ConnectError", "RemoteProtocolError", "ProtocolError", "LocalProtocolError"}
    )


def read_token() -> str | None:
    """The user's token for the HTTP fallback, resolved like huggingface_hub does; never printed."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if value := os.environ.get(name):
            return value.strip()
    with contextlib.suppress(Exception):
        from huggingface_hub import get_token

        if token := get_token():
            return token
    hf_home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    token_file = Path(os.environ.get("HF_TOKEN_PATH") or hf_home / "token")
    with contextlib.suppress(OSError):
        return token_file.read_text(encoding="utf-8").strip() or None
    return None


def _seg(value: str) -> str:
    """One URL path segment, percent-encoded: an id can never walk to another route."""
    return quote(str(value), safe="")


def _json(resp: Any, expect: type | None = None) -> Any:
    """A Hub reply's JSON through core.safe_json (a hostile body is a ValueError, never a RecursionError)."""
    return safe_json.loads(resp.content, source="the Hub's reply", expect=expect)


def _check_job(namespace: str, job_id: str) -> None:
    """Job ids and namespaces become URL path segments: checked with the Hub's rules before any request."""
    validate_job_id(job_id)
    validate_namespace(namespace)


def server_time(headers: Any) -> float | None:
    """Epoch seconds of a response's `Date` header (the Hub's clock, 1 s resolution), None if absent."""
    value = headers.get("date") if headers is not None and hasattr(headers, "get") else None
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() if when.tzinfo is not None else None


@dataclass
class JobsPage:
    """Rows of one listing and whether the Hub has more beyond what was read."""

    rows: list[JobRow] = field(default_factory=list)
    more: bool = False
    requests: int = 0
    """Pages requested (what this listing cost against the Hub's rate limit)."""


# --- converting the Hub's JSON (either path) into rows -------------------------------------------------


def row_from_json(data: dict[str, Any], *, namespace: str | None = None, endpoint: str | None = None) -> JobRow:
    """A JobRow from a JobInfo JSON dict (camelCase, as the Hub sends it).

    Tolerates the older shape the guide's fallback snippet reads (`metadata.jobId`, `status` as a string).
    A reply that is not a job (not an object, no string id: a proxy's page, a changed API) is one line
    naming what is wrong, never a row with an empty id or a Python error; optional fields of the wrong
    type read as absent.
    """
    if not isinstance(data, dict):
        raise safe_json.JsonInputError(f"the Hub's reply: a job that is not a JSON object "
                                       f"(found {type(data).__name__})")
    metadata = data.get("metadata")
    job_id = data.get("id") or (metadata.get("jobId") if isinstance(metadata, dict) else None) or data.get("job_id")
    if not isinstance(job_id, str) or not job_id.strip():
        raise safe_json.JsonInputError("the Hub's reply: a job without an id"
                                       + ("" if job_id is None else f" (found {type(job_id).__name__})"))
    data = {key: value for key, value in data.items() if value is not None}
    for key, kind in (("owner", dict), ("labels", dict), ("durations", dict), ("arguments", list),
                      ("flavor", str), ("name", str)):
        if not isinstance(data.get(key, kind()), kind):
            del data[key]
    status = data.get("status")
    if isinstance(status, dict):
        stage, message = str(status.get("stage") or "UNKNOWN"), status.get("message")
    else:
        stage, message = str(status or "UNKNOWN"), None
    owner = data.get("owner") or {}
    ns = owner.get("name") if isinstance(owner, dict) else None
    ns = ns if isinstance(ns, str) and ns else namespace
    labels = data.get("labels") or {}
    durations = data.get("durations") or {}
    command = data.get("command") or []
    if isinstance(command, list):
        command = " ".join(str(part) for part in [*command, *(data.get("arguments") or [])])
    endpoint = endpoint or hub_endpoint()
    return JobRow(
        id=job_id,
        backend="hf-jobs",
        name=str(labels.get("name") or data.get("name") or job_id[:12]),
        stage=stage.upper(),
        namespace=ns,
        message=redact(str(message)) if message else None,
        flavor=data.get("flavor"),
        created_at=parse_hub_time(data.get("createdAt") or data.get("created_at")),
        started_at=parse_hub_time(data.get("startedAt") or data.get("started_at")),
        finished_at=parse_hub_time(data.get("finishedAt") or data.get("finished_at")),
        running_secs=_float_or_none(durations.get("runningSecs") if isinstance(durations, dict) else None),
        command=redact(str(command)),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        url=f"{endpoint}/jobs/{ns}/{job_id}" if ns else None,
    )


def row_from_jobinfo(info: Any, *, namespace: str | None = None, endpoint: str | None = None) -> JobRow:
    """A JobRow from huggingface_hub's `JobInfo` (attribute access, so a field it lacks stays empty)."""
    status = getattr(info, "status", None)
    durations = getattr(info, "durations", None)
    owner = getattr(info, "owner", None)
    data: dict[str, Any] = {
        "id": info.id,
        "status": {"stage": str(getattr(status, "stage", "UNKNOWN") or "UNKNOWN"),
                   "message": getattr(status, "message", None)},
        "owner": {"name": getattr(owner, "name", None)},
        "labels": getattr(info, "labels", None) or {},
        "flavor": getattr(info, "flavor", None),
        "createdAt": getattr(info, "created_at", None),
        "startedAt": getattr(info, "started_at", None),
        "finishedAt": getattr(info, "finished_at", None),
        "durations": {"runningSecs": getattr(durations, "running_secs", None)} if durations else {},
        "command": list(getattr(info, "command", None) or []),
        "arguments": list(getattr(info, "arguments", None) or []),
    }
    # The enum's value, not "JobStage.RUNNING".
    stage = getattr(status, "stage", None)
    data["status"]["stage"] = str(getattr(stage, "value", stage) or "UNKNOWN")
    return row_from_json(data, namespace=namespace, endpoint=endpoint)


def _float_or_none(value: Any) -> float | None:
    """A duration in seconds, or None for what cannot be one (text, NaN, negative, over a century)."""
    try:
        number = None if value is None else float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is not None and 0 <= number < 100 * 365 * 86400 else None


# --- the two paths ---------------------------------------------------------------------------------------


@dataclass
class RepoCommit:
    title: str
    commit_id: str
    created_at: float | None = None


class _HttpPath:
    """Plain `requests` against the Hub's REST routes (the guide's fallback, done properly).

    One attempt per call: retries are `HubJobs`'s job, so both paths follow the same policy."""

    def __init__(self, endpoint: str) -> None:
        import requests

        self.endpoint = endpoint
        self.session = requests.Session()
        self.requests = 0
        """Requests sent (each attempt, failed ones included): what the rate-limit budget counts."""

    def _headers(self) -> dict[str, str]:
        token = read_token()
        headers = {"user-agent": "tui-tuner (requests fallback)"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        return headers

    def request(self, method: str, url: str, *, params: Any = None, stream: bool = False,
                read_timeout: float | None = None) -> Any:
        self.requests += 1
        resp = self.session.request(method, url, params=params, headers=self._headers(), stream=stream,
                                    timeout=(_CONNECT_TIMEOUT_S, read_timeout or _READ_TIMEOUT_S))
        if resp.status_code < 400:
            return resp
        raise self._status_error(resp)

    @staticmethod
    def _status_error(resp: Any) -> HttpStatusError:
        retry_after = parse_retry_after(resp.headers.get("retry-after"))
        if retry_after is None:
            retry_after = parse_ratelimit_reset(resp.headers.get("ratelimit"))
        message = resp.headers.get("x-error-message")
        if not message:
            with contextlib.suppress(Exception):
                body = _json(resp)
                message = body.get("error") if isinstance(body, dict) else None
        message = redact(" ".join(str(message or resp.reason or "").split()))[:200]
        status = resp.status_code
        resp.close()
        return HttpStatusError(status, f"HTTP {status}: {message}" if message else f"HTTP {status}",
                               retry_after=retry_after)

    def whoami(self) -> str:
        return str(_json(self.request("GET", f"{self.endpoint}/api/whoami-v2"), dict)["name"])

    def list_page(self, namespace: str, stages: list[str] | None, max_pages: int) -> JobsPage:
        url: str | None = f"{self.endpoint}/api/jobs/{_seg(namespace)}"
        params: Any = [("stage", s.upper()) for s in stages or []] or None
        page = JobsPage()
        while url and page.requests < max_pages:
            page.requests += 1
            resp = self.request("GET", url, params=params)
            body = _json(resp)
            # A list, or the older `{"jobs": [...]}`; anything else is not "no jobs" but a reply we cannot read.
            items = body.get("jobs") if isinstance(body, dict) else body
            if not isinstance(items, list):
                raise safe_json.JsonInputError("the Hub's reply: not a list of jobs "
                                               f"(found {'an object without a jobs list' if isinstance(body, dict) else type(body).__name__})")
            page.rows.extend(row_from_json(item, namespace=namespace, endpoint=self.endpoint) for item in items)
            url, params = resp.links.get("next", {}).get("url"), None  # the next link carries the query
        page.more = bool(url)
        return page

    def inspect(self, namespace: str, job_id: str) -> JobRow:
        resp = self.request("GET", f"{self.endpoint}/api/jobs/{_seg(namespace)}/{_seg(job_id)}")
        return row_from_json(_json(resp, dict), namespace=namespace, endpoint=self.endpoint)

    def cancel(self, namespace: str, job_id: str) -> None:
        self.request("POST", f"{self.endpoint}/api/jobs/{_seg(namespace)}/{_seg(job_id)}/cancel").close()

    def repo_commits(self, repo_id: str) -> list[RepoCommit]:
        path = "/".join(_seg(part) for part in validate_repo_id(repo_id, what="repo id").split("/"))
        resp = self.request("GET", f"{self.endpoint}/api/models/{path}/commits/main")
        return [RepoCommit(str(c.get("title", "")), str(c.get("id", "")), parse_hub_time(c.get("date")))
                for c in _json(resp, list)]

    @contextlib.contextmanager
    def stream(self, url: str, read_timeout: float, tolerated: tuple[int, ...] = (),
               params: dict[str, Any] | None = None) -> Iterator[Any]:
        import requests

        try:
            resp = self.request("GET", url, params=params, stream=True, read_timeout=read_timeout)
        except HttpStatusError as exc:
            if exc.status in tolerated:
                yield _EndedStream()
                return
            raise
        try:
            yield _RequestsLines(resp)
        finally:
            with contextlib.suppress(requests.RequestException, OSError, AttributeError):
                resp.close()


class _EndedStream:
    server_time: float | None = None
    broken = False

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def close(self) -> None:
        pass


class _RequestsLines:
    """Lines of a streamed `requests` response; a cut, a timeout or `close()` from another thread ends it."""

    def __init__(self, resp: Any) -> None:
        self.resp = resp
        self.broken = False
        """True when the connection failed (cut, timeout) rather than being closed by the server."""
        self.timed_out = False
        """True when it ended because nothing arrived within the read timeout (a silent, live stream)."""
        self.server_time = server_time(resp.headers)

    def __iter__(self) -> Iterator[str]:
        import requests

        try:
            for raw in self.resp.iter_lines(chunk_size=65536):
                yield raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        except (requests.RequestException, OSError, AttributeError, ValueError) as exc:
            self.broken = True  # connection cut / timed out / closed by stop(): the follower decides
            self.timed_out = "Timeout" in type(exc).__name__ or "timed out" in str(exc)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.resp.close()


class _ClientPath:
    """huggingface_hub's HfApi (namespace always explicit, endpoint read at call time)."""

    def __init__(self, endpoint: str) -> None:
        from huggingface_hub import HfApi

        self.endpoint = endpoint
        self.api = HfApi(endpoint=endpoint)
        self.requests = 0

    def _call(self, method: str, url: str) -> Any:
        """One request as HfApi sends it (its session, headers and errors) but with a read timeout: the
        client's session has none, so a Hub that accepts and never answers held `jobs inspect` forever."""
        from huggingface_hub import utils

        self.requests += 1
        resp = utils.get_session().request(method, url, headers=self.api._build_hf_headers(),
                                           timeout=_READ_TIMEOUT_S)
        utils.hf_raise_for_status(resp)
        return resp

    def whoami(self) -> str:
        name = _json(self._call("GET", f"{self.endpoint}/api/whoami-v2"), dict).get("name")
        if not isinstance(name, str) or not name:
            raise safe_json.JsonInputError("the Hub's reply: whoami without a user name")
        return name

    def list_page(self, namespace: str, stages: list[str] | None, max_pages: int) -> JobsPage:
        # `HfApi.list_jobs` would do: the same route, headers, error types and `JobInfo` model. But it hides
        # the `Link` header (so "more" could not be told without reading the next page) and retries each
        # page ~23 s on its own (http_backoff) under our retry policy: requests no budget could count.
        from huggingface_hub import JobInfo, utils

        url: str | None = f"{self.endpoint}/api/jobs/{_seg(namespace)}"
        params: Any = [("stage", s.upper()) for s in stages or []] or None
        headers = self.api._build_hf_headers()
        page = JobsPage()
        while url and page.requests < max_pages:
            self.requests += 1
            page.requests += 1
            resp = utils.get_session().get(url, params=params, headers=headers, timeout=_READ_TIMEOUT_S)
            utils.hf_raise_for_status(resp)
            for item in _json(resp, list):
                info = JobInfo(**item, endpoint=self.endpoint)
                page.rows.append(row_from_jobinfo(info, namespace=namespace, endpoint=self.endpoint))
            url, params = resp.links.get("next", {}).get("url"), None  # the next link carries the query
        page.more = bool(url)
        return page

    def inspect(self, namespace: str, job_id: str) -> JobRow:
        from huggingface_hub import JobInfo

        resp = self._call("GET", f"{self.endpoint}/api/jobs/{_seg(namespace)}/{_seg(job_id)}")
        info = JobInfo(**_json(resp, dict), endpoint=self.endpoint)
        return row_from_jobinfo(info, namespace=namespace, endpoint=self.endpoint)

    def cancel(self, namespace: str, job_id: str) -> None:
        self._call("POST", f"{self.endpoint}/api/jobs/{_seg(namespace)}/{_seg(job_id)}/cancel")

    def repo_commits(self, repo_id: str) -> list[RepoCommit]:
        self.requests += 1
        return [RepoCommit(c.title, c.commit_id, parse_hub_time(getattr(c, "created_at", None)))
                for c in self.api.list_repo_commits(repo_id)]

    @contextlib.contextmanager
    def stream(self, url: str, read_timeout: float, tolerated: tuple[int, ...] = (),
               params: dict[str, Any] | None = None) -> Iterator[Any]:
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        headers = build_hf_headers()
        self.requests += 1
        with get_session().stream("GET", url, headers=headers, timeout=read_timeout, params=params) as resp:
            if resp.status_code in tolerated:
                yield _EndedStream()
                return
            if resp.status_code >= 400:
                resp.read()
                hf_raise_for_status(resp)
            yield _HttpxLines(resp)


class _HttpxLines:
    def __init__(self, resp: Any) -> None:
        self.resp = resp
        self.broken = False
        self.timed_out = False
        self.server_time = server_time(resp.headers)

    def __iter__(self) -> Iterator[str]:
        try:
            yield from self.resp.iter_lines()
        except Exception as exc:  # httpx2 read timeout / protocol error / closed from stop()
            if status_of(exc) is not None:
                raise
            self.broken = True
            self.timed_out = "Timeout" in type(exc).__name__

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.resp.close()


@dataclass
class PathState:
    path: str
    reason: str | None = None

    def describe(self) -> str:
        if self.path == CLIENT_PATH:
            return "via huggingface_hub"
        return f"via HTTP fallback ({self.reason})" if self.reason else "via HTTP fallback"


class HubJobs:
    """The monitor's access to HF Jobs; thread-safe, one per session."""

    def __init__(self, *, endpoint: str | None = None, force_path: str | None = None,
                 namespace: str | None = None, retry: RetryPolicy | None = None,
                 on_retry: Callable[[RetryNotice], None] | None = None,
                 sleep: Callable[[float], Any] | None = None) -> None:
        self.endpoint = (endpoint or hub_endpoint()).rstrip("/")
        self._lock = threading.Lock()
        self._namespace = namespace
        self._http: _HttpPath | None = None
        self._client: _ClientPath | None = None
        self.retry = retry or DEFAULT_RETRY
        self.on_retry = on_retry
        """Told about each retry before its wait (the CLI prints it on stderr, the TUI in the status bar)."""
        self._sleep = sleep
        self._client_stream_failures = 0
        self.state = PathState(HTTP_PATH, "forced") if force_path == HTTP_PATH else PathState(CLIENT_PATH)

    @property
    def path(self) -> str:
        return self.state.path

    @property
    def requests(self) -> int:
        """Requests sent to the Hub so far on either path, each attempt counted (streams: one per connection)."""
        return (self._http.requests if self._http else 0) + (self._client.requests if self._client else 0)

    def _http_path(self) -> _HttpPath:
        if self._http is None:
            self._http = _HttpPath(self.endpoint)
        return self._http

    def _client_path(self) -> _ClientPath:
        if self._client is None:
            self._client = _ClientPath(self.endpoint)
        return self._client

    def _retrying(self, what: str, fn: Callable[[], T], *, idempotent: bool, policy: RetryPolicy | None = None) -> T:
        import time

        return call_with_retries(fn, what=what, policy=policy or self.retry, idempotent=idempotent,
                                 sleep=self._sleep or time.sleep, on_retry=self.on_retry)

    def _call(self, what: str, op: Callable[[Any], T], *, idempotent: bool = True, subject: str | None = None,
              retry: RetryPolicy | None = None) -> T:
        """Run `op` on the current path with retries; when huggingface_hub fails on its own, or keeps failing
        without an answer (5xx, no connection), try plain HTTP and stay there if that works."""
        if self.state.path == HTTP_PATH:
            try:
                return self._retrying(what, lambda: op(self._http_path()), idempotent=idempotent, policy=retry)
            except Exception as exc:
                raise _translate_http(exc, what, subject) from None
        try:
            return self._retrying(what, lambda: op(self._client_path()), idempotent=idempotent, policy=retry)
        except Exception as exc:
            client_exc = exc
        status = status_of(client_exc)
        own_failure = is_client_failure(client_exc) and not is_connection_error(client_exc)
        kept_failing = (status is not None and status >= 500) or is_connection_error(client_exc)
        if not (own_failure or kept_failing):
            raise _translate_http(client_exc, what, subject) from None
        # A broken client gets the full policy over HTTP; after the client's own retries, one try is enough
        # to tell "the Hub is down" from "the client path is what fails".
        try:
            result = self._retrying(what, lambda: op(self._http_path()), idempotent=idempotent,
                                    policy=None if own_failure else FALLBACK_PROBE)
        except Exception as http_exc:
            # HTTP failed too: the server (not the client) is the problem; stay on the client path.
            raise _translate_http(client_exc if kept_failing else http_exc, what, subject) from None
        detail = redact(f"{type(client_exc).__name__}: {' '.join(str(client_exc).split())}")[:120]
        with self._lock:
            self.state = PathState(HTTP_PATH, f"huggingface_hub {'failed' if own_failure else 'kept failing'}: {detail}")
        return result

    # --- public API (all blocking) ---

    @property
    def namespace_resolved(self) -> bool:
        """True once the namespace is known (configured, or whoami already asked)."""
        return self._namespace is not None

    def namespace(self) -> str:
        """The namespace to list: the configured one, else whoami (resolved once: /whoami-v2 is rate-limited)."""
        if self._namespace:
            return self._namespace
        name = self._call("whoami", lambda p: p.whoami(), subject="whoami")
        self._namespace = name
        return name

    def list_jobs(self, namespace: str, stages: list[str] | None = None) -> list[JobRow]:
        """Every job of a namespace, up to `LIST_PAGE_LIMIT` pages."""
        return self.list_page(namespace, stages, pages=LIST_PAGE_LIMIT).rows

    def list_page(self, namespace: str, stages: list[str] | None = None, *, pages: int = 1) -> JobsPage:
        """The newest `pages` pages of a namespace's jobs (one request each) and whether more exist."""

        validate_namespace(namespace)

        def op(path: Any) -> JobsPage:
            # huggingface_hub retries a refused connection for ~23 s (http_backoff) before failing; a TCP
            # probe first turns "the Hub is down" into one fast, clear line.
            self._probe()
            return path.list_page(namespace, stages, max(1, pages))

        return self._call(f"list jobs of {namespace}", op, subject="jobs")

    def _probe(self) -> None:
        parts = urlsplit(self.endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname or "", port), timeout=_CONNECT_TIMEOUT_S).close()
        except OSError as exc:
            raise OfflineError(f"cannot reach {self.endpoint} ({type(exc).__name__})",
                               hint="check the network or HF_ENDPOINT") from None

    def inspect(self, namespace: str, job_id: str, *, retry: RetryPolicy | None = None) -> JobRow:
        """The job's current row. `retry` overrides the session's policy (a poller with its own schedule
        asks once and comes back later instead of sleeping inside the call)."""
        _check_job(namespace, job_id)
        return self._call(f"inspect job {job_id}", lambda p: p.inspect(namespace, job_id), subject="job",
                          retry=retry)

    def cancel(self, namespace: str, job_id: str) -> None:
        _check_job(namespace, job_id)
        # Cancelling twice is harmless: the call is idempotent, so a 5xx is retried too.
        self._call(f"cancel job {job_id}", lambda p: p.cancel(namespace, job_id), subject="job")

    def repo_commits(self, repo_id: str) -> list[RepoCommit]:
        validate_repo_id(repo_id, what="repo id")  # before any request, on either path
        return self._call(f"commits of {repo_id}", lambda p: p.repo_commits(repo_id), subject="repo")

    def log_url(self, namespace: str, job_id: str) -> str:
        _check_job(namespace, job_id)
        return f"{self.endpoint}/api/jobs/{_seg(namespace)}/{_seg(job_id)}/logs"

    def metrics_url(self, namespace: str, job_id: str) -> str:
        _check_job(namespace, job_id)
        return f"{self.endpoint}/api/jobs/{_seg(namespace)}/{_seg(job_id)}/metrics"

    STREAM_FAILURES_BEFORE_FALLBACK = 3
    """Connections in a row that huggingface_hub could not open (no answer) before plain HTTP is tried."""

    @contextlib.contextmanager
    def open_stream(self, url: str, *, read_timeout: float, tolerated: tuple[int, ...] = (),
                    params: dict[str, Any] | None = None) -> Iterator[Any]:
        """One SSE connection (one attempt; the followers retry): yields an iterable of raw lines with
        `close()` (abort from another thread), `broken` (it was cut) and `server_time` (its `Date`).

        When huggingface_hub keeps failing to open streams without an answer while plain HTTP gets one, the
        session moves to HTTP, as for every other call."""
        with contextlib.ExitStack() as stack:
            path = self._http_path() if self.state.path == HTTP_PATH else self._client_path()
            try:
                lines = stack.enter_context(path.stream(url, read_timeout, tolerated, params))
            except TunerError:
                raise
            except Exception as exc:
                if status_of(exc) is not None:
                    raise _translate_http(exc, "log stream", "job") from None
                lines = self._stream_fallback(stack, path, exc, url, read_timeout, tolerated, params)
            else:
                self._client_stream_failures = 0
            try:
                yield lines
            except (TunerError, GeneratorExit):
                raise
            except Exception as exc:  # raised while reading: one line, with the status if there was one
                if status_of(exc) is not None:
                    raise _translate_http(exc, "log stream", "job") from None
                raise _stream_failure(exc, read_timeout) from None

    def _stream_fallback(self, stack: contextlib.ExitStack, path: Any, exc: Exception, url: str,
                         read_timeout: float, tolerated: tuple[int, ...], params: dict[str, Any] | None) -> Any:
        """The stream over plain HTTP when huggingface_hub failed on its own or kept failing; else the error."""
        failure = _stream_failure(exc, read_timeout)
        if path is not self._client:
            raise failure from None
        own = is_client_failure(exc) and not is_connection_error(exc)
        self._client_stream_failures += 1
        if not own and self._client_stream_failures < self.STREAM_FAILURES_BEFORE_FALLBACK:
            raise failure from None
        try:
            lines = stack.enter_context(self._http_path().stream(url, read_timeout, tolerated, params))
        except Exception:
            raise failure from None  # HTTP cannot get through either: the Hub is the problem
        with self._lock:
            how = "failed" if own else "kept failing"
            self.state = PathState(HTTP_PATH, f"huggingface_hub stream {how}: {type(exc).__name__}")
        return lines


def _stream_failure(exc: BaseException, read_timeout: float) -> OfflineError:
    """A log or metrics stream that failed without an HTTP status, in words (the exception's name in brackets)."""
    name = type(exc).__name__
    if "Timeout" in name and "Connect" not in name:
        return OfflineError(f"log stream: the Hub sent nothing for {read_timeout:g}s ({name})",
                            hint="it is slow or down; try again later")
    if is_connection_error(exc):
        return OfflineError(f"log stream: no answer from {hub_endpoint()} ({name})",
                            hint="check the network or HF_ENDPOINT; try again later")
    return OfflineError(f"log stream: {name}: {redact(str(exc))[:100]}")


def parse_sse_data(line: str) -> dict[str, Any] | None:
    """The JSON of a `data: {…}` SSE line, or None for comments, other fields and a line cut mid-way."""
    if not line.startswith("data: {"):
        return None
    try:
        value = safe_json.loads(line[len("data: "):], source="log stream")
    except ValueError:  # also nesting past the cap or a huge number: a line we cannot use, never a crash
        return None
    return value if isinstance(value, dict) else None
