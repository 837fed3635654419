"""A small async client for OpenAI-compatible chat servers (llama-server first, vLLM/ollama/others too).

Only what the evaluation needs: `/v1/chat/completions` (with JSON-schema constrained output),
`/v1/models` for the model id, and llama-server's `/health` and `/props` (`total_slots`, the number
of requests it decodes in parallel). Every failure becomes an `EndpointError`: one line naming the
endpoint, never a traceback, never a token.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from core import safe_json
from core.errors import TunerError
from core.redact import redact, register_secret_env


def _reply_json(response: httpx.Response) -> Any:
    """A server's JSON body: nesting past the cap or a huge number is a ValueError like bad syntax, never a
    RecursionError (a misbehaving or hostile endpoint must not crash the run)."""
    return safe_json.loads(response.content, source="the server's reply")

class EndpointError(TunerError):
    """A chat server failed (unreachable, HTTP error, malformed reply)."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 hint: str | None = None) -> None:
        super().__init__(redact(message), hint=hint)
        self.status = status
        self.retryable = retryable


def normalize_endpoint(value: str) -> str:
    """`8081`, `127.0.0.1:8081`, `http://host:8081` or `http://host:8081/v1` → `http://host:8081/v1`."""
    text = value.strip()
    if not text:
        raise TunerError("empty endpoint", hint="give a URL like http://127.0.0.1:8080/v1 or a port like 8080")
    if text.isdigit():
        text = f"http://127.0.0.1:{text}"
    elif "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TunerError(f"{value!r} is not an http(s) URL or a port")
    try:
        _ = parts.port
    except ValueError:
        raise TunerError(f"{value!r} has an invalid port") from None
    path = parts.path.rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    if not path.endswith("/v1"):
        path += "/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"


def server_root(endpoint: str) -> str:
    """The server's root URL (where llama-server serves /health and /props)."""
    endpoint = normalize_endpoint(endpoint)
    return endpoint[: -len("/v1")]


@dataclass
class ChatReply:
    content: str
    finish_reason: str
    usage: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)


@dataclass
class ServerInfo:
    endpoint: str
    model: str | None
    slots: int | None
    """`total_slots` from llama-server's /props; None when the server does not say."""
    n_ctx: int | None = None
    kind: str = "openai"
    """"llama-server" when /props answered like llama-server, else "openai"."""


class ChatClient:
    """One endpoint. Create inside the event loop that uses it; close with `aclose()` or `async with`."""

    def __init__(self, endpoint: str, *, timeout_s: float = 600.0, api_key_env: str | None = None,
                 retries: int = 2) -> None:
        self.endpoint = normalize_endpoint(endpoint)
        self.root = server_root(self.endpoint)
        headers = {"content-type": "application/json"}
        if api_key_env:
            register_secret_env(api_key_env)  # whatever a server echoes back, the key never leaves masked
            key = os.environ.get(api_key_env)
            if not key:
                raise TunerError(f"environment variable {api_key_env} is empty", field="api-key-env")
            headers["authorization"] = f"Bearer {key}"
        self.retries = retries
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=10.0), headers=headers)
        self.response_format_mode: str | None = None
        """How this server takes a JSON schema, learnt on first use ("json_schema", "json_object", "none")."""

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- plumbing -------------------------------------------------------------------------------
    async def _request(self, method: str, url: str, body: dict[str, Any] | None = None) -> httpx.Response:
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                response = await self._client.request(method, url, json=body)
            except httpx.TimeoutException:
                error = EndpointError(f"{url}: timed out", retryable=True,
                                      hint="the server may be overloaded; lower concurrency or max tokens")
            except httpx.HTTPError as exc:
                reason = " ".join(str(exc).split()) or type(exc).__name__
                error = EndpointError(f"cannot reach {url} ({reason})", retryable=True,
                                      hint="is the server running? e.g. llama-server -m MODEL.gguf --port PORT")
            else:
                # 503: llama-server still loading the model; 500: a transient server failure;
                # 429/502/504: proxies in front of a server. Worth a retry; other 4xx are not.
                if response.status_code in (429, 500, 502, 503, 504) and attempt < self.retries:
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                return response
            if attempt >= self.retries:
                raise error
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    @staticmethod
    def _error_text(response: httpx.Response) -> str:
        """The server's error message, masked before it is cut (a cut key would no longer match)."""
        try:
            data = _reply_json(response)
        except ValueError:
            return redact(" ".join(response.text.split()))[:300]
        if isinstance(data, dict):
            err = data.get("error", data)
            if isinstance(err, dict):
                return redact(" ".join(str(err.get("message") or err).split()))[:300]
            return redact(" ".join(str(err).split()))[:300]
        return redact(str(data))[:300]

    # --- endpoints ------------------------------------------------------------------------------
    async def chat(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float = 0.7,
                   seed: int | None = None, model: str | None = None, top_p: float | None = None,
                   json_schema: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> ChatReply:
        body: dict[str, Any] = {"messages": messages, "max_tokens": max_tokens, "temperature": temperature,
                                "stream": False}
        if model:
            body["model"] = model
        if seed is not None:
            body["seed"] = seed
        if top_p is not None:
            body["top_p"] = top_p
        if extra:
            body.update(extra)
        if json_schema is None:
            return await self._chat(body)
        # llama-server, vLLM and OpenAI take the OpenAI form; older llama-server builds only the
        # json_object+schema form; some servers neither (then the prompt still asks for the JSON).
        modes = [self.response_format_mode] if self.response_format_mode else ["json_schema", "json_object", "none"]
        last: EndpointError | None = None
        for mode in modes:
            if mode == "json_schema":
                body["response_format"] = {"type": "json_schema",
                                           "json_schema": {"name": "assessment", "strict": True, "schema": json_schema}}
            elif mode == "json_object":
                body["response_format"] = {"type": "json_object", "schema": json_schema}
            else:
                body.pop("response_format", None)
            try:
                reply = await self._chat(body)
            except EndpointError as exc:
                if exc.status == 400 and any(w in exc.message.lower() for w in ("response_format", "schema",
                                                                                  "json", "grammar")):
                    last = exc
                    continue
                raise
            self.response_format_mode = mode
            return reply
        assert last is not None
        raise last

    async def _chat(self, body: dict[str, Any]) -> ChatReply:
        url = f"{self.endpoint}/chat/completions"
        response = await self._request("POST", url, body)
        if response.status_code != 200:
            status = response.status_code
            text = self._error_text(response)
            hint = None
            if "context" in text.lower() and status == 400:
                hint = "fewer --turns or --max-tokens, or a larger llama-server -c (each slot gets c / np)"
            raise EndpointError(f"{url}: HTTP {status}: {text}", status=status, retryable=status >= 500, hint=hint)
        try:
            data = _reply_json(response)
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise EndpointError(f"{url}: reply is not an OpenAI chat completion: "
                                f"{redact(' '.join(response.text.split()))[:200]}") from None
        return ChatReply(content=str(content), finish_reason=str(choice.get("finish_reason") or ""),
                         usage=data.get("usage") or {}, timings=data.get("timings") or {})

    async def health(self) -> bool:
        """True when the server is ready; False while it loads; raises when it cannot be reached."""
        response = await self._request("GET", f"{self.root}/health")
        if response.status_code == 404:
            return True  # not llama-server: no /health, the chat call will tell
        return response.status_code == 200

    async def info(self) -> ServerInfo:
        """Model id and parallel slots, as far as the server tells (llama-server: /props)."""
        model: str | None = None
        response = await self._request("GET", f"{self.endpoint}/models")
        if response.status_code == 200:
            try:
                entries = _reply_json(response).get("data") or []
                model = str(entries[0]["id"]) if entries else None
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                model = None
        elif response.status_code not in (401, 403, 404):
            raise EndpointError(f"{self.endpoint}/models: HTTP {response.status_code}: "
                                f"{self._error_text(response)}", status=response.status_code)
        slots = n_ctx = None
        kind = "openai"
        props = await self._request("GET", f"{self.root}/props")
        if props.status_code == 200:
            try:
                data = _reply_json(props)
                if isinstance(data.get("total_slots"), int) and data["total_slots"] > 0:
                    slots = data["total_slots"]
                    kind = "llama-server"
                settings = data.get("default_generation_settings") or {}
                n_ctx = settings.get("n_ctx") if isinstance(settings.get("n_ctx"), int) else None
            except (ValueError, TypeError, AttributeError):
                pass
        return ServerInfo(endpoint=self.endpoint, model=model, slots=slots, n_ctx=n_ctx, kind=kind)
