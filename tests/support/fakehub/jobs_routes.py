"""`/api/whoami-v2`, `/api/agent-harnesses` and every `/api/jobs/...` route (reference §2, §4–§6, §11, §12)."""

from __future__ import annotations

import copy
import time
from typing import Any
from urllib.parse import urlencode

from .clock import iso_z, utcnow
from .http import HandlerBase, Request
from .jobs import DEFAULT_TIMEOUT_S, Job, hardware_json, job_from_spec, matches_filters, synthetic_metric
from .sse import KEEP_ALIVE, ChunkedWriter, log_event, metric_event

_KNOWN_FLAVORS = frozenset(item["name"] for item in hardware_json())


class JobsRoutes(HandlerBase):
    def route_jobs(self, req: Request) -> bool:
        seg = req.segments
        if seg[:2] == ["api", "whoami-v2"] and req.method == "GET":
            self._whoami(req)
            return True
        if seg[:2] == ["api", "agent-harnesses"] and req.method == "GET":
            # Best-effort registry fetched by huggingface_hub 2.x; an empty one disables agent detection.
            self.send_json(200, {"standardEnvVars": [], "harnesses": {}})
            return True
        if seg[:2] == ["api", "scheduled-jobs"]:
            self.send_error_json(501, "Scheduled jobs are not available on the fake Hub")
            return True
        if seg[:2] != ["api", "jobs"] or len(seg) < 3:
            return False
        if req.user is None:
            self.send_error_json(401, "Invalid username or password.")
            return True
        if seg[2] == "hardware" and len(seg) == 3 and req.method == "GET":
            self.send_json(200, hardware_json())
            return True
        namespace = seg[2]
        if namespace in self.hub.missing_namespaces:
            self.send_error_json(404, f"Namespace '{namespace}' not found")
            return True
        if not self.hub._may_use_namespace(namespace):
            self.send_error_json(403, f"You don't have access to jobs in the '{namespace}' namespace")
            return True
        if req.method in ("POST", "PUT") and self.hub.token_role == "read":
            self.send_error_json(403, "This token has read-only access: it cannot start or manage Jobs")
            return True
        if len(seg) == 3:
            if req.method == "POST":
                self._create(req, namespace)
            elif req.method == "GET":
                self._list(req, namespace)
            else:
                return False
            return True
        job_id = seg[3]
        action = seg[4] if len(seg) > 4 else None
        handlers = {
            (None, "GET"): self._inspect,
            ("cancel", "POST"): self._cancel,
            ("duplicate", "POST"): self._duplicate,
            ("logs", "GET"): self._logs,
            ("metrics", "GET"): self._metrics,
            ("labels", "PUT"): self._labels,
            ("expose", "PUT"): self._expose,
        }
        handler = handlers.get((action, req.method))
        if handler is None or len(seg) > 5:
            return False
        handler(req, namespace, job_id)
        return True

    # ------------------------------------------------------------------ identity
    def _whoami(self, req: Request) -> None:
        hub = self.hub
        if req.user is None:
            self.send_error_json(401, "Invalid username or password.")
            return
        self.send_json(
            200,
            {
                "type": "user",
                "id": hub.owner_id,
                "name": hub.user,
                "fullname": "Test User",
                "email": f"{hub.user}@example.com",
                "emailVerified": True,
                "canPay": True,
                "isPro": False,
                "periodEnd": None,
                "avatarUrl": "/avatars/fake.svg",
                "orgs": [
                    {"type": "org", "name": org, "fullname": org, "id": f"org-{org}", "roleInOrg": "write"}
                    for org in hub.orgs
                ],
                "auth": {
                    "type": "access_token",
                    "accessToken": {
                        "displayName": "fakehub",
                        "role": hub.token_role,
                        "createdAt": iso_z(utcnow()),
                    },
                },
            },
        )

    # ------------------------------------------------------------------ CRUD
    def _job_or_404(self, namespace: str, job_id: str) -> Job | None:
        job = self.hub._jobs.get(job_id)
        if job is None or job.namespace != namespace:
            self.send_error_json(404, "Job not found")
            return None
        return job

    def _create(self, req: Request, namespace: str) -> None:
        hub = self.hub
        body = req.json
        if not isinstance(body, dict):
            self.send_error_json(400, "Invalid job spec: expected a JSON object")
            return
        problem = _spec_problem(body)
        if problem:
            self.send_error_json(400, problem)
            return
        spec = copy.deepcopy(body)
        spec.setdefault("flavor", "cpu-basic")
        with hub._cond:
            hub.created_job_bodies.append(copy.deepcopy(body))
            job = job_from_spec(
                namespace=namespace,
                owner_id=hub._namespace_id(namespace),
                owner_type="user" if namespace == hub.user else "org",
                spec=spec,
                stage=hub.create_stage,
                initiator={"type": "user", "id": hub.owner_id, "name": hub.user},
            )
            job.default_timeout_s = DEFAULT_TIMEOUT_S
            hub._jobs[job.id] = job
            hub._cond.notify_all()
        hook = hub.on_job_created
        if hook is not None:
            hook(job.id, copy.deepcopy(body))
        with hub._cond:
            payload = job.to_json(utcnow())
        self.send_json(200, payload)

    def _list(self, req: Request, namespace: str) -> None:
        hub = self.hub
        stages = req.query.get("stage", [])
        labels = req.query.get("label", [])
        try:
            offset = int(req.param("cursor", "0") or 0)
        except ValueError:
            self.send_error_json(400, "Invalid cursor")
            return
        now = utcnow()
        with hub._cond:
            for job in hub._jobs.values():
                job.enforce_timeout(now)
            selected = [
                j
                for j in hub._jobs.values()
                if j.namespace == namespace and matches_filters(j, stages, labels)
            ]
            selected.sort(key=lambda j: (j.created_at, j.id), reverse=True)
            size = max(int(hub.jobs_page_size), 1)
            page = [j.to_json(now) for j in selected[offset : offset + size]]
            more = offset + size < len(selected)
        headers: dict[str, str] = {}
        if more:
            params = [(k, v) for k, values in req.query.items() if k != "cursor" for v in values]
            params.append(("cursor", str(offset + size)))
            headers["Link"] = f'<{hub.url}/api/jobs/{namespace}?{urlencode(params)}>; rel="next"'
        self.send_json(200, page, headers)

    def _inspect(self, req: Request, namespace: str, job_id: str) -> None:
        with self.hub._cond:
            job = self._job_or_404(namespace, job_id)
            if job is None:
                return
            now = utcnow()
            if job.enforce_timeout(now):
                self.hub._cond.notify_all()
            payload = job.to_json(now)
        self.send_json(200, payload)

    def _cancel(self, req: Request, namespace: str, job_id: str) -> None:
        with self.hub._cond:
            job = self._job_or_404(namespace, job_id)
            if job is None:
                return
            if not job.terminal:
                job.set_stage("CANCELED", None, utcnow())
                self.hub._cond.notify_all()
            payload = job.to_json(utcnow())
        self.send_json(200, payload)

    def _duplicate(self, req: Request, namespace: str, job_id: str) -> None:
        hub = self.hub
        with hub._cond:
            old = self._job_or_404(namespace, job_id)
            if old is None:
                return
            job = job_from_spec(
                namespace=namespace,
                owner_id=old.owner_id,
                owner_type=old.owner_type,
                spec=copy.deepcopy(old.spec),
                stage=hub.create_stage,
                initiator={"type": "duplicated-job", "id": old.id, "name": hub.user},
            )
            job.default_timeout_s = old.default_timeout_s
            hub._jobs[job.id] = job
            hub._cond.notify_all()
            payload = job.to_json(utcnow())
        self.send_json(200, payload)

    def _labels(self, req: Request, namespace: str, job_id: str) -> None:
        body = req.json if isinstance(req.json, dict) else {}
        labels = body.get("labels")
        if not isinstance(labels, dict):
            self.send_error_json(400, 'Expected {"labels": {...}}')
            return
        with self.hub._cond:
            job = self._job_or_404(namespace, job_id)
            if job is None:
                return
            job.spec["labels"] = {str(k): str(v) for k, v in labels.items()}
            payload = job.to_json(utcnow())
        self.send_json(200, payload)

    def _expose(self, req: Request, namespace: str, job_id: str) -> None:
        body = req.json if isinstance(req.json, dict) else {}
        with self.hub._cond:
            job = self._job_or_404(namespace, job_id)
            if job is None:
                return
            job.spec["expose"] = {
                "ports": list(body.get("ports") or []),
                "portsPublic": list(body.get("portsPublic") or []),
            }
            payload = job.to_json(utcnow())
        self.send_json(200, payload)

    # ------------------------------------------------------------------ streams
    def _start_stream(self) -> ChunkedWriter:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Accel-Buffering", "no")
        self.send_header("Transfer-Encoding", "chunked")
        # One stream per connection: said up front, so the client never reuses a socket we close.
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        return ChunkedWriter(self.wfile)

    def _logs(self, req: Request, namespace: str, job_id: str) -> None:
        """Full replay on every connection, `?tail=N` on the first, keep-alives, close at a terminal stage."""
        hub = self.hub
        tail_raw = req.param("tail")
        try:
            tail = int(tail_raw) if tail_raw not in (None, "") else None
        except ValueError:
            self.send_error_json(400, "tail must be an integer")
            return
        with hub._cond:
            job = self._job_or_404(namespace, job_id)
            if job is None:
                return
            cut_after = job.pending_cuts.pop(0) if job.pending_cuts else None
        writer = self._start_stream()
        sent = 0  # events of the full replay already handled (written or skipped by tail)
        lines_written = 0  # non-banner events written on this connection (for cuts)
        first = True
        last_write = last_event = time.monotonic()
        while True:
            with hub._cond:
                while True:
                    if hub._stopping:
                        self._abort()
                        return
                    now = utcnow()
                    if job.enforce_timeout(now):
                        hub._cond.notify_all()
                    events = job.log_events()
                    terminal = job.terminal
                    keepalive_due = time.monotonic() - last_write >= hub.keepalive_interval
                    idle = hub.log_stream_idle_close
                    if idle is not None and time.monotonic() - last_event >= idle and len(events) <= sent:
                        terminal = True  # end this stream cleanly; the job itself goes on
                    if len(events) > sent or terminal or keepalive_due or first:
                        break
                    hub._cond.wait(timeout=min(0.2, hub.keepalive_interval))
            new = events[sent:]
            if first and tail is not None and new:
                # The `Job started` banner is always sent, then the last N lines (#4202).
                has_banner = new[0]["data"].startswith("===== Job started")
                banner, lines = (new[:1], new[1:]) if has_banner else ([], new)
                new = banner + (lines[-tail:] if tail > 0 else [])
            sent = len(events)
            first = False
            for event in new:
                is_banner = event["data"].startswith("===== Job started")
                data = log_event(event)
                if cut_after is not None and not is_banner and lines_written >= cut_after:
                    writer.write(data[: max(len(data) // 2, 1)])
                    self._abort()
                    return
                writer.write(data)
                if not is_banner:
                    lines_written += 1
                last_write = last_event = time.monotonic()
            if terminal:
                writer.end()
                return
            if not new and time.monotonic() - last_write >= hub.keepalive_interval:
                writer.write(KEEP_ALIVE)
                last_write = time.monotonic()

    def _metrics(self, req: Request, namespace: str, job_id: str) -> None:
        """One `event: metric` per interval while running, no history; 406 once the job has finished."""
        hub = self.hub
        with hub._cond:
            job = self._job_or_404(namespace, job_id)
            if job is None:
                return
            job.enforce_timeout(utcnow())
            if job.terminal:
                self.send_error_json(406, "Job is not running")
                return
            cursor = len(job.metrics) - 1
        writer = self._start_stream()
        tick = 0
        last_sample = 0.0
        while True:
            batch: list[dict[str, Any]] = []
            with hub._cond:
                while True:
                    if hub._stopping:
                        self._abort()
                        return
                    job.enforce_timeout(utcnow())
                    if job.terminal:
                        break
                    running = job.started_at is not None
                    due = time.monotonic() - last_sample >= hub.metrics_interval
                    if running and len(job.metrics) - 1 > cursor:
                        batch = job.metrics[cursor + 1 :]
                        cursor = len(job.metrics) - 1
                        break
                    if running and due:
                        latest = job.metrics[cursor] if cursor >= 0 else synthetic_metric(job.flavor, tick)
                        batch = [latest]
                        break
                    hub._cond.wait(timeout=min(0.1, hub.metrics_interval))
                terminal = job.terminal
            for sample in batch:
                writer.write(metric_event(sample))
                tick += 1
            if batch:
                last_sample = time.monotonic()
            if terminal:
                writer.end()
                return


def _spec_problem(body: dict[str, Any]) -> str | None:
    """Validation the client's spec must pass (reference §5); None when the spec is acceptable."""
    command = body.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        return "Invalid job spec: 'command' must be a non-empty list of strings"
    if not (body.get("dockerImage") or body.get("spaceId")):
        return "Invalid job spec: one of 'dockerImage' or 'spaceId' is required"
    flavor = body.get("flavor", "cpu-basic")
    if flavor not in _KNOWN_FLAVORS:
        return f"Invalid flavor '{flavor}'. Available flavors: {', '.join(sorted(_KNOWN_FLAVORS))}"
    timeout = body.get("timeoutSeconds")
    if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
        return "Invalid job spec: 'timeoutSeconds' must be a positive integer"
    for key in ("environment", "secrets", "labels"):
        value = body.get(key)
        if value is not None and not isinstance(value, dict):
            return f"Invalid job spec: '{key}' must be an object"
    return None


__all__ = ["JobsRoutes"]
