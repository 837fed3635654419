"""The web server behind `tui-tuner serve`: textual-serve's page and protocol, under a secret path.

textual-serve's own `Server` mounts its page at `/` and runs the app through a shell. This server keeps
its page, static files and websocket protocol (`textual_serve.app_service.AppService`) but:

* mounts everything under `/<token>/` and answers 404 to every other path, so knowing the port is not
  enough to drive the app (the token is compared in constant time);
* refuses a websocket whose Origin is another site, and sends no Referer and no framing permission;
* starts each app without a shell, in its own session and tracked by `core.process_tree`, so stopping the
  server (or a second Ctrl-C, or the interpreter's exit) ends every app with whatever it started;
* serves the page without its Google Fonts link (the bundled Roboto Mono is used), so it works offline and
  tells no third party that it was opened;
* logs no request lines (they would carry the token).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import os
import re
import secrets
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
import textual_serve
from aiohttp import WSCloseCode, WSMsgType, web
from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

from core import process_tree
from core.errors import TunerError

PACKAGE_DIR = Path(textual_serve.__file__).resolve().parent
QUIT_GRACE_S = 5.0
"""How long an app may take to quit cleanly when it is told to, before its process group is killed."""
_GOOGLE_FONTS = re.compile(r'<link[^>]*fonts\.googleapis\.com[^>]*>')
_LOCAL_FONT = ('<style>@font-face { font-family: "Roboto Mono"; '
               'src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf"); }</style>')


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def make_token() -> str:
    """A URL-safe random path segment (about 190 bits) that the output redaction leaves readable."""
    from core.redact import redact

    while True:
        token = secrets.token_urlsafe(24)
        if redact(token) == token:  # e.g. a "-hf_..." run would be masked in the printed URL
            return token


def url_host(host: str) -> str:
    """The host part of the URL to print: the machine's name for a wildcard, brackets for IPv6."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _page_source(name: str) -> str:
    source = (PACKAGE_DIR / "templates" / name).read_text(encoding="utf-8")
    return _GOOGLE_FONTS.sub(_LOCAL_FONT, source)


class AppProcess(AppService):
    """One browser tab's app: `tui-tuner tui` under textual's web driver, in its own tracked session."""

    def __init__(self, argv: list[str], **kwargs: Any) -> None:
        super().__init__(" ".join(argv), **kwargs)
        self.argv = argv

    async def _open_app_process(self, width: int = 80, height: int = 24) -> Any:
        environment = self._build_environment(width=width, height=height)
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=environment, start_new_session=True)
        process_tree.track(process.pid, self.argv, None)
        assert process.stdin is not None
        self._stdin = process.stdin
        return process

    async def run(self) -> None:
        """Relay the app's output; when the app has ended (quit, crashed, killed), end the browser's session.

        textual-serve closes the socket only on the app's own "exit" message, so a tab whose app crashed
        stayed blank; closed, the page says "Session ended" and offers Restart.
        """
        try:
            await super().run()
        finally:
            with contextlib.suppress(Exception):
                await self.remote_close()

    async def stop(self) -> None:
        """Ask the app to quit; kill its process group if it has not ended after QUIT_GRACE_S.

        Every caller (the tab's handler, the server's shutdown) waits for the same one stop.
        """
        await asyncio.shield(self.begin_stop())

    def begin_stop(self) -> asyncio.Future[None]:
        """Start the stop (once) and return it; it runs on even if the caller is cancelled."""
        if getattr(self, "_stopping", None) is None:
            self._stopping: asyncio.Future[None] = asyncio.ensure_future(self._stop())
        return self._stopping

    async def _stop(self) -> None:
        task, self._task = self._task, None
        process = self._process
        if process is None:
            return  # never started
        try:
            if task is not None and process.returncode is None:
                await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
                await self.send_meta({"type": "quit"})
            await asyncio.wait_for(process.wait(), QUIT_GRACE_S)
            if task is not None:
                await asyncio.wait_for(asyncio.shield(task), QUIT_GRACE_S)
        except TimeoutError:
            pass
        finally:
            # The app has quit (or will not): end whatever is left in its group, then collect it.
            await asyncio.to_thread(process_tree.end_groups, [process.pid], 2.0)
            process_tree.untrack(process.pid)
            if task is not None:
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


class TokenServer:
    """Serve the TUI to browsers under `/<token>/` until cancelled; `run` ends every app on the way out."""

    def __init__(self, host: str, port: int, area: str | None = None, token: str | None = None) -> None:
        self.host = host
        self.port = port
        self.area = area
        self.token = token or make_token()
        self.prefix = f"/{self.token}"
        self.download_manager = DownloadManager()
        self.apps: set[AppProcess] = set()
        self.sockets: set[web.WebSocketResponse] = set()
        self.pages = jinja2.Environment(loader=jinja2.FunctionLoader(_page_source), autoescape=True)

    # -- the app each tab runs ---------------------------------------------------------------------------

    def app_argv(self) -> list[str]:
        argv = [sys.executable, "-m", "tui_tuner.commands.serve", str(os.getpid())]
        return [*argv, "--area", self.area] if self.area else argv

    # -- aiohttp -----------------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.add_routes([
            web.get(self.prefix, self._to_slash),
            web.get(f"{self.prefix}/", self.handle_index, name="index"),
            web.get(f"{self.prefix}/ws", self.handle_websocket, name="websocket"),
            # textual.js fetches deliveries at the origin's /download/KEY (no way to add the token); the
            # key is the app's random delivery id and only exists while that delivery is pending.
            web.get("/download/{key}", self.handle_download, name="download"),
            web.static(f"{self.prefix}/static", PACKAGE_DIR / "static", name="static"),
        ])
        return app

    @web.middleware
    async def _guard(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        first = request.path.split("/")[1]
        if not (hmac.compare_digest(first.encode(), self.token.encode()) or first == "download"):
            raise web.HTTPNotFound(text="404: Not Found")
        response = await handler(request)
        if not response.prepared:
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["Cache-Control"] = "no-store"
        return response

    async def _to_slash(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"{self.prefix}/")

    async def handle_index(self, request: web.Request) -> web.Response:
        origin = f"{request.scheme}://{request.host}"
        try:
            font_size = int(request.query.get("fontsize", "16"))
        except ValueError:
            font_size = 16
        ws_origin = ("wss:" if request.scheme == "https" else "ws:") + origin.split(":", 1)[1]
        page = self.pages.get_template("app_index.html").render(
            font_size=font_size,
            app_websocket_url=f"{ws_origin}{self.prefix}/ws",
            config={"static": {"url": f"{origin}{self.prefix}/static/"}},
            application={"name": "tui-tuner"},
        )
        return web.Response(text=page, content_type="text/html")

    async def handle_download(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        try:
            meta = await self.download_manager.get_download_metadata(key)
        except KeyError:
            raise web.HTTPNotFound(text="404: Not Found") from None
        response = web.StreamResponse()
        response.headers["Content-Type"] = meta.mime_type + (f"; charset={meta.encoding}" if meta.encoding else "")
        disposition = "inline" if meta.open_method == "browser" else "attachment"
        response.headers["Content-Disposition"] = f"{disposition}; filename={meta.file_name}"
        await response.prepare(request)
        async for chunk in self.download_manager.download(key):
            await response.write(chunk)
        await response.write_eof()
        return response

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            raise web.HTTPForbidden(text="403: another site's page may not open this app")
        websocket = web.WebSocketResponse(heartbeat=15)
        width = _int(request.query.get("width"), 80)
        height = _int(request.query.get("height"), 24)
        await websocket.prepare(request)
        self.sockets.add(websocket)
        app = AppProcess(self.app_argv(), write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                         close=websocket.close, download_manager=self.download_manager)
        self.apps.add(app)
        try:
            await app.start(width, height)
            await self._relay(websocket, app)
        finally:
            # The app leaves `apps` only once it has ended, so a server shutting down waits for it even
            # when this handler is cancelled (aiohttp cancels it when the browser's connection drops).
            stopping = app.begin_stop()
            stopping.add_done_callback(lambda _: self.apps.discard(app))
            self.sockets.discard(websocket)
            await asyncio.shield(stopping)
            await websocket.close()
        return websocket

    async def _relay(self, websocket: web.WebSocketResponse, app: AppProcess) -> None:
        """Browser -> app: keys and pastes, size, focus; answers pings."""
        async for message in websocket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                envelope = message.json()
                kind, data = envelope[0], (envelope[1] if len(envelope) > 1 else None)
            except (ValueError, TypeError, IndexError, KeyError):
                continue  # not the page's protocol: ignore it, keep the session
            if kind == "stdin" and isinstance(data, str):
                await app.send_bytes(data.encode("utf-8"))
            elif kind == "resize" and isinstance(data, dict):
                await app.set_terminal_size(_int(data.get("width"), 80), _int(data.get("height"), 24))
            elif kind == "ping":
                await websocket.send_json(["pong", data])
            elif kind == "blur":
                await app.blur()
            elif kind == "focus":
                await app.focus()

    # -- lifetime ----------------------------------------------------------------------------------------

    async def stop_apps(self) -> None:
        """Tell every app to quit, wait for them together, kill what is left; close the browsers' sockets."""
        apps = list(self.apps)
        if apps:
            await asyncio.gather(*(app.stop() for app in apps), return_exceptions=True)
        for websocket in list(self.sockets):
            with contextlib.suppress(Exception):
                await websocket.close(code=WSCloseCode.GOING_AWAY, message=b"server stopped")

    async def run(self, announce: Callable[[str, int], None]) -> None:
        runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            try:
                await site.start()
            except OSError as exc:
                reason = exc.strerror or str(exc)
                hint = "pick another with --port, or --port 0 for a free one" if self.port else None
                raise TunerError(f"cannot listen on {self.host}:{self.port}: {reason}", field="port",
                                 hint=hint) from None
            port = int(runner.addresses[0][1])
            announce(f"http://{url_host(self.host)}:{port}{self.prefix}/", port)
            try:
                await asyncio.Event().wait()  # until cancelled (Ctrl-C, SIGTERM, SIGHUP)
            finally:
                await self.stop_apps()
        finally:
            await runner.cleanup()


def _int(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if 1 <= number <= 10_000 else default
