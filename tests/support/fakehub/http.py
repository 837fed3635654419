"""The request handler core: HTTP/1.1 I/O, auth, recording, faults and dispatch to the route mixins."""

from __future__ import annotations

import contextlib
import json
import socket
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from .faults import DROP, RecordedRequest

if TYPE_CHECKING:
    from .server import FakeHub


@dataclass
class Request:
    method: str
    path: str
    """Raw (percent-encoded) path, no query."""
    segments: list[str]
    """Path split on "/" and then percent-decoded one by one (so `%2F` inside a segment survives)."""
    query: dict[str, list[str]]
    body: bytes
    json: Any
    user: str | None
    """The authenticated user name, None for anonymous requests."""

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


class HandlerBase(BaseHTTPRequestHandler):
    """Per-connection handler. Subclasses (the route mixins) implement `route(req) -> bool`."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1.0"
    sys_version = ""
    hub: FakeHub  # set on the per-server subclass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle + delayed ACK add
        # ~40 ms to every response on loopback.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # --- silence: nothing the server does is printed, so no token can leak into test output
    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self, method: str) -> None:
        hub = self.hub
        self._extra_headers: dict[str, str] = {}
        try:
            parts = urlsplit(self.path)
            path = parts.path
            query = parse_qs(parts.query, keep_blank_values=True)
            body = self._read_body()
            parsed_json = _maybe_json(body, self.headers.get("Content-Type", ""))
            auth_state, user = self._auth()
            hub._record(
                RecordedRequest(
                    method=method,
                    path=path,
                    query=query,
                    headers=_masked_headers(self.headers.items()),
                    json=parsed_json,
                    auth=auth_state,
                    body=body,
                )
            )
            with hub._cond:
                delay = hub._faults.delay_for(path)
            if delay > 0 and not hub._sleep(delay):
                self._abort()
                return
            failure = hub._take_failure(method, path)
            if failure is not None:
                if failure.status == DROP:
                    self._abort()  # no status line at all: the client sees a reset / a remote disconnect
                    return
                status, headers, payload = failure.response(path)
                self.send_json(status, payload, headers)
                return
            allowed, limit_headers = hub._rate_check(path)
            if not allowed:
                reset = limit_headers["RateLimit"].rsplit("t=", 1)[-1]
                self.send_error_json(429, f"Too many requests: retry after {reset} seconds", headers=limit_headers)
                return
            self._extra_headers = limit_headers
            segments = [unquote(s) for s in path.split("/")[1:]]
            req = Request(method, path, segments, query, body, parsed_json, user)
            if self.route_public(req):
                return
            if auth_state == "invalid":
                message = "Invalid credentials in Authorization header"
                self.send_error_json(401, message)
                return
            if not self.route(req):
                # Not a route the fake knows: say so loudly in hub.unhandled (a test can assert on it).
                hub.unhandled.append(f"{method} {path}")
                self.send_error_json(404, "Not Found")
        except OSError:
            # The client went away (or the hub is stopping): drop the connection quietly.
            self.close_connection = True
        except Exception as exc:
            # A bug in the fake itself: answer 500 and keep it for the test to see (hub.errors).
            hub.errors.append(exc)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.send_error_json(
                    500, f"fake hub error: {type(exc).__name__}", headers={"Connection": "close"}
                )

    def route_public(self, req: Request) -> bool:
        """Routes that ignore Authorization (signed storage URLs). Overridden by the storage mixin."""
        return False

    def route(self, req: Request) -> bool:
        raise NotImplementedError

    # ------------------------------------------------------------------ auth
    def _auth(self) -> tuple[str | None, str | None]:
        header = self.headers.get("Authorization")
        if not header:
            return None, None
        token = self.hub.token
        if header.strip() == f"Bearer {token}" and token:
            return "valid", self.hub.user
        return "invalid", None

    # ------------------------------------------------------------------ body I/O
    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until the blank line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_bytes(
        self,
        status: int,
        data: bytes,
        content_type: str = "application/octet-stream",
        headers: dict[str, str] | None = None,
        *,
        content_length: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in {**getattr(self, "_extra_headers", {}), **(headers or {})}.items():
            self.send_header(key, value)
        request_id = self.headers.get("X-Amzn-Trace-Id")
        if request_id:
            self.send_header("X-Request-Id", request_id)
        self.send_header("Content-Length", str(len(data) if content_length is None else content_length))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        # bytes go out as they are: a body that is not JSON at all (`fail_next(p, 200, body=b"{trunc")`)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_bytes(status, data, "application/json; charset=utf-8", headers)

    def send_error_json(
        self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        """An error as the Hub sends it: `{"error": ...}` plus X-Error-Message (and X-Error-Code if any)."""
        extra = {"X-Error-Message": message}
        if code:
            extra["X-Error-Code"] = code
        extra.update(headers or {})
        self.send_json(status, {"error": message}, extra)

    def _abort(self) -> None:
        """Drop the connection without finishing the response (a cut stream / a stopping server)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _maybe_json(body: bytes, content_type: str) -> Any:
    """The parsed JSON body; for NDJSON (commits) the list of parsed lines; None otherwise."""
    if not body:
        return None
    if "ndjson" in content_type:
        try:
            return [json.loads(line) for line in body.splitlines() if line.strip()]
        except ValueError:
            return None
    if "json" not in content_type and body[:1] not in (b"{", b"["):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _masked_headers(items: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in items:
        name = key.lower()
        out[name] = "Bearer <redacted>" if name == "authorization" else value
    return out
