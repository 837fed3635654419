"""`FakeHub`: a loopback Hugging Face Hub for end-to-end tests, driven by the real huggingface_hub client.

It follows /work/shared/reference/hf-jobs-api.md (§12 checklist) and the Hub's repo/file API as
huggingface_hub 2.4.0 uses it. A threaded stdlib HTTP/1.1 server runs in a background thread; every
piece of state sits behind one condition variable, which also wakes live log/metrics streams.

    hub = FakeHub(token="hf_...").start()
    job_id = hub.create_job(stage="RUNNING", logs=["step 1"])
    hub.add_logs(job_id, ["step 2"]); hub.set_stage(job_id, "COMPLETED")
    hub.stop()

See `tests/support/fakehub/README.md` for the full API and the deliberate choices (xet disabled, gated repos).
"""

from __future__ import annotations

import contextlib
import copy
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import ThreadingHTTPServer
from typing import Any

from .clock import parse_when, utcnow
from .faults import DROP, Failure, Faults, RateLimiter, RecordedRequest
from .http import Request
from .jobs import DEFAULT_UV_IMAGE, Job, job_from_spec
from .jobs_routes import JobsRoutes
from .repo_routes import RepoRoutes
from .repos import REPO_TYPES, FileEntry, Repo, make_entry


class _Handler(JobsRoutes, RepoRoutes):
    def route(self, req: Request) -> bool:
        return self.route_jobs(req) or self.route_repos(req)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type[_Handler]) -> None:
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Connection-level errors after a stop() or a client hang-up are expected: stay quiet.
        return

    def drop_connections(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
            self.open_sockets.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


class FakeHub:
    """A fake Hugging Face Hub on 127.0.0.1 (contract A in /work/helpers/CONTRACTS.md)."""

    def __init__(
        self, token: str | None, user: str = "tester", *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.token = token
        """The one accepted token (`Authorization: Bearer <token>`); any other token gets 401."""
        self.user = user
        self.orgs: list[str] = []
        """Extra namespaces the user may write to / run jobs in (whoami `orgs`)."""
        self.missing_namespaces: set[str] = set()
        """Namespaces that do not exist on this Hub: their job routes answer 404 (any other foreign one, 403)."""
        self.owner_id = "6" + "0" * 22 + "1"
        self.token_role = "write"
        """whoami `auth.accessToken.role`; "read" makes every write (jobs, repos, commits, LFS) a 403."""
        self.host = host
        self.port = port

        # --- knobs tests may change at any time
        self.keepalive_interval = 30.0
        """Seconds between `: keep-alive` comments on a silent log stream (the Hub: ~30 s). Keep it above
        5 s when a test uses `fetch_job_logs(follow=False)`: that client ends on 5 s of silence."""
        self.log_stream_idle_close: float | None = None
        """When set, a log stream of a live job ends cleanly after this many seconds without a new line
        (like an idle-closing proxy). None (the Hub's behaviour): it stays open with keep-alives, so a
        `fetch_job_logs(follow=False)` on a running job returns only after the client's 5 s read timeout."""
        self.metrics_interval = 1.0
        self.jobs_page_size = 100
        self.tree_page_size = 1000
        self.commits_page_size = 50
        self.create_stage = "SCHEDULING"
        """Stage of a job created through `POST /api/jobs/{ns}` (the Hub: SCHEDULING)."""
        self.on_job_created: Callable[[str, dict[str, Any]], None] | None = None
        """Called as `hook(job_id, body)` when a client creates a job, before the response is sent."""
        self.lfs_redirect = True
        """Resolve of an LFS file answers 302 to the storage host (like the Hub's CDN redirect)."""
        self.lfs_multipart_chunk_size: int | None = None
        """When set, LFS uploads larger than this use the multipart transfer with parts of this size."""

        # --- observable state
        self.requests: list[RecordedRequest] = []
        self.created_job_bodies: list[dict[str, Any]] = []
        self.lfs_uploads: list[str] = []
        """sha256 of every LFS object stored through an upload (single or multipart)."""
        self.unhandled: list[str] = []
        """"METHOD /path" of requests no route matched (answered 404 "Not Found")."""
        self.errors: list[BaseException] = []
        """Exceptions raised inside the fake itself (each answered with a 500); a test can assert it is empty."""

        # --- internal
        self._cond = threading.Condition(threading.RLock())
        self._jobs: dict[str, Job] = {}
        self._repos: dict[tuple[str, str], Repo] = {}
        self._lfs_objects: dict[str, bytes] = {}
        self._lfs_parts: dict[str, dict[int, tuple[str, bytes]]] = {}
        self._faults = Faults()
        self._stopping = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._workers: list[threading.Thread] = []
        self._closed = False

    # ================================================================== lifecycle
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def storage_host(self) -> str:
        """Host name of the "CDN" that LFS downloads are redirected to: the same server under another
        origin, so the client treats it as off-Hub storage (no token forwarded, metadata from the 302)."""
        return "localhost" if self.host != "localhost" else "127.0.0.1"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> FakeHub:
        """Start serving (again, on the same port after a stop())."""
        if self._server is not None:
            return self
        handler = type("FakeHubHandler", (_Handler,), {"hub": self})
        last_error: OSError | None = None
        for _ in range(50):
            try:
                server = _Server((self.host, self.port), handler)
                break
            except OSError as exc:  # the old socket may linger a moment after stop()
                last_error = exc
                time.sleep(0.1)
        else:
            raise RuntimeError(f"fake hub cannot bind {self.host}:{self.port}: {last_error}")
        self.port = server.server_address[1]
        with self._cond:
            self._stopping = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fakehub:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Simulate the Hub going away: refuse new connections and drop open ones (streams included)."""
        server = self._server
        if server is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        server.shutdown()
        server.server_close()
        server.drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def close(self) -> None:
        """stop() and wait for the helper threads started by `run_job_script`."""
        self.stop()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for worker in self._workers:
            worker.join(timeout=5)
        self._workers.clear()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ================================================================== internals used by the handler
    def _record(self, request: RecordedRequest) -> None:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()

    def _take_failure(self, method: str, path: str) -> Failure | None:
        with self._cond:
            return self._faults.take_failure(method, path)

    def _rate_check(self, path: str) -> tuple[bool, dict[str, str]]:
        with self._cond:
            limiter = self._faults.rate_limiter
            return (True, {}) if limiter is None else limiter.check(path, time.monotonic())

    def _sleep(self, seconds: float) -> bool:
        """Interruptible sleep; False if the hub stopped meanwhile."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                self._cond.wait(timeout=left)
        return False

    def _may_use_namespace(self, namespace: str, user: str | None = "") -> bool:
        if user is None:
            return False
        return namespace == self.user or namespace in self.orgs

    def _namespace_id(self, namespace: str) -> str:
        return self.owner_id if namespace == self.user else f"org-{namespace}"

    # ================================================================== jobs API for tests
    def create_job(
        self,
        namespace: str | None = None,
        stage: str = "RUNNING",
        flavor: str = "a10g-large",
        labels: Mapping[str, str] | None = None,
        command: list[str] | None = None,
        logs: Iterable[str] | None = None,
        created_at: Any = None,
        *,
        image: str = DEFAULT_UV_IMAGE,
        env: Mapping[str, str] | None = None,
        secrets: Iterable[str] | None = None,
        timeout_s: int | None = None,
        message: str | None = None,
        metrics: Iterable[dict[str, Any]] | None = None,
    ) -> str:
        """Seed a job as if it had been created earlier; returns its 24-hex id.

        `created_at` (datetime, ISO string or unix time) backdates it; a job created in a stage other
        than SCHEDULING started at `created_at`. `secrets` are names only (values never come back).
        """
        namespace = namespace or self.user
        spec: dict[str, Any] = {
            "command": list(command) if command is not None else ["uv", "run", "train.py"],
            "arguments": [],
            "environment": dict(env or {}),
            "flavor": flavor,
            "dockerImage": image,
        }
        if secrets:
            spec["secrets"] = {name: "<set>" for name in secrets}
        if labels:
            spec["labels"] = dict(labels)
        if timeout_s:
            spec["timeoutSeconds"] = int(timeout_s)
        with self._cond:
            job = job_from_spec(
                namespace=namespace,
                owner_id=self._namespace_id(namespace),
                owner_type="user" if namespace == self.user else "org",
                spec=spec,
                stage=stage,
                message=message,
                created_at=parse_when(created_at),
                initiator={"type": "user", "id": self.owner_id, "name": self.user},
            )
            if logs:
                job.add_logs(list(logs), utcnow())
            if metrics:
                job.metrics.extend(copy.deepcopy(list(metrics)))
            self._jobs[job.id] = job
            self._cond.notify_all()
        return job.id

    def set_stage(self, job_id: str, stage: str, message: str | None = None) -> None:
        """Any string is accepted (e.g. "UPDATING"); terminal stages close live log streams."""
        with self._cond:
            self._jobs[job_id].set_stage(stage, message, utcnow())
            self._cond.notify_all()

    def add_logs(self, job_id: str, lines: Iterable[str]) -> None:
        """Append log lines (one event each, timestamped now); live followers get them at once.
        The stage is left alone: lines of a job that never started are served without the banner."""
        with self._cond:
            self._jobs[job_id].add_logs(list(lines), utcnow())
            self._cond.notify_all()

    def add_metrics(self, job_id: str, samples: Iterable[dict[str, Any]]) -> None:
        """Queue `/metrics` samples; a live stream sends new ones at once, then repeats the latest each interval."""
        with self._cond:
            self._jobs[job_id].metrics.extend(copy.deepcopy(list(samples)))
            self._cond.notify_all()

    def cut_stream_after(self, job_id: str, n_lines: int = 3, times: int = 1) -> None:
        """The next `times` log streams of this job send `n_lines` log lines, then half a line, then drop."""
        with self._cond:
            self._jobs[job_id].pending_cuts.extend([int(n_lines)] * int(times))

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        """JobInfo JSON of every job, exactly as `GET /api/jobs/{ns}/{id}` would serve it now."""
        now = utcnow()
        with self._cond:
            return {job_id: job.to_json(now) for job_id, job in self._jobs.items()}

    def job_logs(self, job_id: str) -> list[str]:
        with self._cond:
            return [line.text for line in self._jobs[job_id].logs]

    def run_job_script(
        self,
        job_id: str,
        lines: Iterable[str],
        *,
        interval: float = 0.05,
        final_stage: str | None = "COMPLETED",
        message: str | None = None,
    ) -> threading.Thread:
        """Play a job in the background: after one `interval` RUNNING, one line per `interval`, then
        `final_stage` (None: stays running). Runs across stop()/start(); ends at close()."""
        lines = list(lines)

        def play() -> None:
            # Scheduling takes one interval, so a job created through the API is answered SCHEDULING.
            if not self._sleep_unless_closed(interval):
                return
            self.set_stage(job_id, "RUNNING")
            for line in lines:
                if not self._sleep_unless_closed(interval):
                    return
                self.add_logs(job_id, [line])
            if final_stage is not None and self._sleep_unless_closed(interval):
                self.set_stage(job_id, final_stage, message)

        worker = threading.Thread(target=play, name=f"fakehub-job-{job_id[:6]}", daemon=True)
        self._workers.append(worker)
        worker.start()
        return worker

    def _sleep_unless_closed(self, seconds: float) -> bool:
        """Sleep for a job script; scripts run on across stop()/start() (the job keeps running while the
        Hub is unreachable) and end only at close()."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                self._cond.wait(timeout=left)
        return False

    # ================================================================== repos API for tests
    def add_repo(
        self,
        repo_id: str,
        repo_type: str = "model",
        files: Mapping[str, bytes | str] | None = None,
        gated: bool | str = False,
        private: bool = False,
        commits: Iterable[Mapping[str, Any]] | None = None,
    ) -> str:
        """Create (or replace) a repo. `files` form the first commit ("initial commit"); each entry of
        `commits` (`{"title", "files", "deleted"?, "message"?, "date"?}`) is applied on top, in order.
        Returns the head commit id. Unlike `create_repo` through the API, no `.gitattributes` is added.
        """
        if repo_type not in REPO_TYPES:
            raise ValueError(f"repo_type must be one of {REPO_TYPES}")
        repo = Repo(
            repo_id=repo_id, repo_type=repo_type, private=private, gated="manual" if gated is True else gated
        )
        tree: dict[str, FileEntry] = {p: make_entry(p, _as_bytes(d)) for p, d in (files or {}).items()}
        repo.commit("initial commit", tree, author=self.user)
        for spec in commits or []:
            tree = dict(repo.head.tree)
            for path, data in (spec.get("files") or {}).items():
                tree[path] = make_entry(path, _as_bytes(data))
            for path in spec.get("deleted") or []:
                tree.pop(path, None)
            repo.commit(
                str(spec.get("title") or "update"),
                tree,
                author=self.user,
                message=str(spec.get("message") or ""),
                when=parse_when(spec.get("date")),
            )
        with self._cond:
            self._repos[(repo_type, repo_id)] = repo
            self._cond.notify_all()
        return repo.head.oid

    def add_commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes | str] | None = None,
        title: str = "update",
        *,
        repo_type: str = "model",
        deleted: Iterable[str] = (),
        message: str = "",
    ) -> str:
        """Push a commit to an existing repo (e.g. a checkpoint a running job uploads); returns its id."""
        with self._cond:
            repo = self._repos[(repo_type, repo_id)]
            tree = dict(repo.head.tree)
            for path, data in (files or {}).items():
                tree[path] = make_entry(path, _as_bytes(data))
            for path in deleted:
                tree.pop(path, None)
            commit = repo.commit(title, tree, author=self.user, message=message)
            self._cond.notify_all()
            return commit.oid

    def repo_files(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> dict[str, bytes]:
        """Path -> content at `revision` (uploads through the API included)."""
        with self._cond:
            repo = self._repos[(repo_type, repo_id)]
            commit = repo.resolve(revision)
            if commit is None:
                raise KeyError(revision)
            return {path: entry.data for path, entry in commit.tree.items()}

    def repo_commits(self, repo_id: str, repo_type: str = "model") -> list[dict[str, Any]]:
        """Oldest first: `{"oid", "title", "message", "files": [paths]}`."""
        with self._cond:
            repo = self._repos[(repo_type, repo_id)]
            return [
                {"oid": c.oid, "title": c.title, "message": c.message, "files": sorted(c.tree)}
                for c in repo.commits
            ]

    def has_repo(self, repo_id: str, repo_type: str = "model") -> bool:
        with self._cond:
            return (repo_type, repo_id) in self._repos

    def lfs_files(self, repo_id: str, repo_type: str = "model") -> set[str]:
        """Paths stored as LFS at the head of the repo."""
        with self._cond:
            repo = self._repos[(repo_type, repo_id)]
            return {path for path, entry in repo.head.tree.items() if entry.lfs}

    # ================================================================== faults & recording
    def fail_next(
        self,
        pattern: str,
        status: int,
        count: int = 1,
        headers: Mapping[str, str] | None = None,
        *,
        method: str | None = None,
        body: Any = None,
        error_code: str | None = None,
        message: str | None = None,
    ) -> None:
        """The next `count` requests whose path matches `pattern` (re.search, path without query) get
        `status` with the Hub's error shape: `{"error": msg}`, X-Error-Message, X-Error-Code where the Hub
        sets one (RepoNotFound on repo routes for 404), plus `headers` (e.g. {"Retry-After": "1"})."""
        with self._cond:
            self._faults.failures.append(
                Failure(
                    pattern=re.compile(pattern),
                    status=int(status),
                    remaining=int(count),
                    headers=dict(headers or {}),
                    method=method,
                    body=body,
                    error_code=error_code,
                    message=message,
                )
            )

    def drop_next(self, pattern: str, count: int = 1, *, method: str | None = None) -> None:
        """The next `count` matching requests get no response at all: the connection is closed after the
        request was read (the client sees a reset / "server disconnected"). Queued with `fail_next` faults,
        in order."""
        self.fail_next(pattern, DROP, count, method=method)

    def rate_limit(self, quota: int | None, window_s: float = 300.0, pattern: str = r"^/api/") -> None:
        """Enforce the Hub's API quota (default route set: every `/api/` request, streams included): at most
        `quota` requests per fixed `window_s`, then 429 with the Hub's `RateLimit` headers until the window
        resets. Every answer carries `RateLimit`/`RateLimit-Policy`. `None` lifts it. See `rate_limited`."""
        with self._cond:
            self._faults.rate_limiter = (
                None if quota is None else RateLimiter(int(quota), float(window_s), re.compile(pattern),
                                                       started=time.monotonic())
            )

    @property
    def rate_limited(self) -> int:
        """Requests refused by `rate_limit` so far."""
        with self._cond:
            limiter = self._faults.rate_limiter
            return limiter.refused if limiter is not None else 0

    def set_delay(self, pattern: str, seconds: float) -> None:
        """Every request whose path matches waits `seconds` before being answered (0 removes the delay)."""
        with self._cond:
            self._faults.set_delay(pattern, seconds)

    def clear_faults(self) -> None:
        """Forget queued failures, delays, the rate limit and pending stream cuts."""
        with self._cond:
            self._faults = Faults()
            for job in self._jobs.values():
                job.pending_cuts.clear()

    def requests_to(self, pattern: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path matches `pattern` (and `method` if given)."""
        regex = re.compile(pattern)
        with self._cond:
            return [
                r
                for r in self.requests
                if regex.search(r.path) and (method is None or r.method == method.upper())
            ]

    def wait_for_request(
        self, pattern: str, method: str | None = None, *, count: int = 1, timeout: float = 10.0
    ) -> RecordedRequest:
        """Block until `count` requests matching `pattern` (and `method`) were received; return the last.
        Raises TimeoutError naming what did arrive — for tests of code that polls in the background."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [
                    r
                    for r in self.requests
                    if regex.search(r.path) and (method is None or r.method == method.upper())
                ]
                if len(hits) >= count:
                    return hits[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = sorted({f"{r.method} {r.path}" for r in self.requests})
                    raise TimeoutError(
                        f"{len(hits)}/{count} requests matching {pattern!r} after {timeout}s; saw {seen}"
                    )
                self._cond.wait(timeout=left)

    def clear_requests(self) -> None:
        with self._cond:
            self.requests.clear()
