"""A loopback OpenAI-compatible chat server that behaves like llama-server where the runner cares.

It answers `/health`, `/props` (`total_slots`), `/v1/models` and `/v1/chat/completions`. Replies are
deterministic functions of the request (so the same seed and prompt give the same text, as with a
real server at temperature 0), the judge's reply is valid JSON for the requested schema unless a test
asks for broken ones, and every request is recorded with the number of requests in flight at the
time, so tests can check the runner's concurrency against the advertised slots.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    in_flight: int
    role: str
    """"judge" (a response_format was sent), "simulator" (the role-play prompt) or "model"."""


@dataclass
class FakeOpenAI:
    slots: int | None = 2
    delay_s: float = 0.0
    model_id: str = "fake-model.gguf"
    judge_replies: list[str] = field(default_factory=list)
    """Queued raw judge replies used before the default valid one (e.g. broken JSON)."""
    judge_scores: Callable[[dict[str, Any]], int] | None = None
    reject_json_schema: bool = False
    """Answer 400 to the OpenAI `json_schema` form, like servers that only take `json_object`."""
    loading: bool = False
    fail_model_calls: int = 0
    """The next N calls of the model under test fail with HTTP 500."""
    reject_key_calls: int = 0
    """The next N calls of the model under test fail with HTTP 401 quoting the API key they were sent
    (as careless servers and proxies do), to check that the key is masked wherever the error goes."""
    echo_key: bool = False
    """Every reply (model, simulator and the judge's summary) quotes the API key it was sent."""
    requests: list[Recorded] = field(default_factory=list)
    max_in_flight: int = 0
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    port: int = 0
    """0: any free port; a fixed one stands in for a server a README command names (e.g. 8080)."""

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def count(self, role: str) -> int:
        return sum(1 for r in self.requests if r.role == role)

    # --- behaviour ------------------------------------------------------------------------------
    def _reply(self, body: dict[str, Any], authorization: str = "") -> tuple[int, dict[str, Any]]:
        key = authorization.removeprefix("Bearer ").strip()
        messages = body.get("messages") or []
        fmt = body.get("response_format")
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        role = "judge" if fmt or "impartial evaluator" in system else (
            "simulator" if "role-playing" in system else "model")
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            self.requests.append(Recorded("/v1/chat/completions", body, self._in_flight, role))
            fail_model = role == "model" and self.fail_model_calls > 0
            if fail_model:
                self.fail_model_calls -= 1
            reject_key = role == "model" and not fail_model and self.reject_key_calls > 0
            if reject_key:
                self.reject_key_calls -= 1
            queued = self.judge_replies.pop(0) if role == "judge" and self.judge_replies else None
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            if fail_model:
                return 500, {"error": {"code": 500, "message": "boom"}}
            if reject_key:
                return 401, {"error": {"code": 401, "type": "invalid_request_error",
                                       "message": f"Incorrect API key provided: {key}"}}
            if role == "judge" and self.reject_json_schema and isinstance(fmt, dict) and fmt.get("type") == "json_schema":
                return 400, {"error": {"code": 400, "message": 'response_format type must be one of "text" or '
                                                              '"json_object"'}}
            digest = hashlib.sha256(json.dumps([messages, body.get("seed")], sort_keys=True).encode()).hexdigest()
            if role == "judge":
                content = queued if queued is not None else self._judge_json(body, digest)
            elif role == "simulator":
                content = f"User line {digest[:8]}: I still feel stuck."
            else:
                content = f"Reply {digest[:8]}. How does that feel?"
            if self.echo_key and role != "judge":
                content += f" (you sent the key {key})"
            elif self.echo_key and queued is None:
                reply = json.loads(content)
                reply["summary"] = f"{reply.get('summary', '')} key={key}"
                content = json.dumps(reply)
            return 200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 5}, "model": self.model_id}
        finally:
            with self._lock:
                self._in_flight -= 1

    def _judge_json(self, body: dict[str, Any], digest: str) -> str:
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") or fmt.get("schema") or {}
        props = schema.get("properties") or {}
        score = self.judge_scores(body) if self.judge_scores else int(digest[:2], 16) % 11
        reply: dict[str, Any] = {}
        for key in props:
            if key == "summary":
                reply[key] = f"summary {digest[:6]}"
            else:
                reply[key] = {"reason": f"because {key}", "score": score}
        return json.dumps(reply)

    # --- server ---------------------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if fake.loading and self.path != "/v1/models":
                    self._send(503, {"error": {"code": 503, "message": "Loading model"}})
                elif self.path == "/health":
                    self._send(200, {"status": "ok"})
                elif self.path == "/props":
                    if fake.slots is None:
                        self._send(404, {"error": "not found"})
                    else:
                        self._send(200, {"total_slots": fake.slots,
                                         "default_generation_settings": {"n_ctx": 2048}})
                elif self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": fake.model_id, "object": "model"}]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path not in ("/v1/chat/completions", "/chat/completions"):
                    self._send(404, {"error": "not found"})
                    return
                status, payload = fake._reply(body, self.headers.get("authorization") or "")
                self._send(status, payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
