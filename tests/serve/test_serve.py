"""`tui-tuner serve` without a browser: the token path, the refusals, the signals and the app processes.

The server runs as a subprocess, as from a shell; a websocket client plays the browser's part (the page's
protocol: size in the query, then stdin/resize envelopes) so each test starts a real app process.
tests/serve/test_browser.py drives the same server from chromium.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import assert_no_canary
from tests.serve import server as srv
from tui_tuner.commands.serve_web import is_loopback, make_token, url_host


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers or {})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode("utf-8", "replace")


def _cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui_tuner", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


# ---- pieces ------------------------------------------------------------------------------------------

def test_tokens_are_long_random_and_survive_the_output_redaction() -> None:
    from core.redact import redact

    tokens = {make_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t) >= 32 and redact(t) == t for t in tokens)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("example.org", False)])
def test_only_loopback_addresses_count_as_private(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_printed_url_names_a_reachable_host() -> None:
    assert url_host("127.0.0.1") == "127.0.0.1"
    assert url_host("::1") == "[::1]"
    assert url_host("0.0.0.0") == socket.gethostname()


# ---- the command line --------------------------------------------------------------------------------

def test_help_says_loopback_and_token(tmp_path: Path) -> None:
    result = _cli("serve", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "127.0.0.1" in text and "token" in text and "--port" in text


@pytest.mark.parametrize("port", ["70000", "-1", "eighty"])
def test_a_bad_port_is_a_usage_error(tmp_path: Path, port: str) -> None:
    result = _cli("serve", "--port", port, cwd=tmp_path)
    assert result.returncode == 2 and "--port" in result.stderr and "Traceback" not in result.stderr


def test_a_busy_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _cli("serve", "--port", str(port), cwd=tmp_path)
        as_json = _cli("serve", "--port", str(port), "--json", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{port}" in lines[0] and "--port 0" in lines[0]
    assert as_json.returncode == 2 and "cannot listen" in json.loads(as_json.stderr.strip())["error"]


# ---- the server --------------------------------------------------------------------------------------

@pytest.fixture
def served(tmp_path: Path):
    server = srv.start(tmp_path)
    yield server
    if server.process.poll() is None:
        server.kill()


def test_only_the_token_path_is_served(served: srv.Served) -> None:
    origin, token = served.origin, served.token
    wrong = make_token()
    for path in ("/", "/ws", "/static/js/textual.js", f"/{wrong}/", f"/{wrong}/ws", f"/{wrong}/static/js/textual.js",
                 f"/{token[:-1]}/", f"/{token}x/", "/download/anything", "/favicon.ico"):
        status, _, body = _get(origin + path)
        assert status == 404, (path, status)
        assert token not in body

    status, headers, _ = _get(f"{origin}/{token}")
    assert status == 302 and headers["Location"] == f"/{token}/"

    status, headers, page = _get(served.url)
    assert status == 200
    assert f'data-session-websocket-url="ws://127.0.0.1:{served.port}/{token}/ws"' in page
    assert f"http://127.0.0.1:{served.port}/{token}/static/js/textual.js" in page
    assert "googleapis" not in page and "RobotoMono-VariableFont_wght.ttf" in page  # offline, no third party
    assert headers["Referrer-Policy"] == "no-referrer" and headers["X-Frame-Options"] == "DENY"

    status, _, script = _get(f"{origin}/{token}/static/js/textual.js")
    assert status == 200 and "WebSocket" in script

    assert served.stop(signal.SIGINT) == 0
    assert "stopped (SIGINT)" in served.read_rest()


async def _open_app(served: srv.Served, origin: str | None = None, until: bytes = b"",
                    ) -> tuple[aiohttp.ClientSession, object]:
    """Connect like the page does and wait for the app's first screen bytes (and `until`, when given)."""
    session = aiohttp.ClientSession()
    headers = {"Origin": origin} if origin else {}
    ws = await session.ws_connect(f"ws://127.0.0.1:{served.port}/{served.token}/ws?width=100&height=30",
                                  headers=headers)
    received = b""
    async with asyncio.timeout(60):
        while len(received) < 2000 or until not in received:  # a first paint is far larger than 2000 bytes
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.BINARY, message
            received += message.data
    return session, ws


async def test_another_sites_page_cannot_open_the_websocket(served: srv.Served) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await _open_app(served, origin="http://evil.example")
    assert refused.value.status == 403
    assert served.apps() == []
    assert served.stop(signal.SIGTERM) == 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
async def test_a_signal_stops_the_server_and_every_app(served: srv.Served, sig: signal.Signals) -> None:
    first = await _open_app(served)
    second = await _open_app(served)  # a second tab: its own app
    try:
        apps = await asyncio.to_thread(served.wait_for_apps, 2)
        assert len({p.pid for p in apps}) >= 2
        # Each app leads its own session: a Ctrl-C typed at the server's terminal reaches only the server.
        assert all(os.getsid(p.pid) == p.pid for p in apps if p.ppid() == served.process.pid)
        code = await asyncio.to_thread(served.stop, sig)
        assert code == 0
        assert await asyncio.to_thread(srv.wait_gone, apps, 5) == []
    finally:
        for session, _ in (first, second):
            await session.close()
    assert_no_canary(served.read_rest())


@pytest.mark.slow
async def test_apps_end_when_the_server_is_killed(served: srv.Served) -> None:
    session, _ = await _open_app(served)
    try:
        apps = await asyncio.to_thread(served.wait_for_apps, 1)
        served.process.kill()  # SIGKILL: no cleanup runs in the server
        served.process.wait(10)
        left = await asyncio.to_thread(srv.wait_gone, apps, 15)
        for app in left:  # the test fails; no orphan may outlive it
            app.kill()
        assert left == []
    finally:
        await session.close()


@pytest.mark.slow
async def test_closing_the_tab_ends_its_app(served: srv.Served) -> None:
    session, ws = await _open_app(served)
    apps = await asyncio.to_thread(served.wait_for_apps, 1)
    await ws.close()  # type: ignore[attr-defined]
    await session.close()
    assert await asyncio.to_thread(srv.wait_gone, apps, 15) == []
    assert served.process.poll() is None  # the server keeps serving other tabs
    assert served.stop() == 0


@pytest.mark.slow
async def test_area_opens_each_tab_there(tmp_path: Path) -> None:
    served = srv.start(tmp_path, "--area", "jobs")
    try:
        session, _ = await _open_app(served, until=b"JOB ID")  # the monitor's table header
        await session.close()
        assert await asyncio.to_thread(served.stop) == 0
    finally:
        if served.process.poll() is None:
            served.kill()


def test_another_interface_is_opt_in_and_warned_about(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "tui_tuner", "serve", "--host", "0.0.0.0", "--port", "0"],
                               cwd=tmp_path, text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert process.stdout is not None and process.stderr is not None
        line = process.stdout.readline()
        assert line.startswith(f"Serving tui-tuner at http://{socket.gethostname()}:")
        os.kill(process.pid, signal.SIGINT)
        assert process.wait(30) == 0
        warning = process.stderr.read().splitlines()[0]
        assert warning.startswith("warning: serving on 0.0.0.0: anyone who can reach this port")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def test_a_tab_whose_app_dies_is_told_the_session_ended(tmp_path: Path) -> None:
    """In-process: an app that exits at once (a crash) must close the tab's websocket, not leave it blank."""
    from aiohttp.test_utils import TestServer

    from tui_tuner.commands.serve_web import TokenServer

    class CrashingApps(TokenServer):
        def app_argv(self) -> list[str]:
            return [sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"]

    server = CrashingApps("127.0.0.1", 0)
    async with TestServer(server.make_app()) as http, aiohttp.ClientSession() as session:
        ws = await session.ws_connect(http.make_url(f"/{server.token}/ws?width=80&height=24"))
        async with asyncio.timeout(30):
            message = await ws.receive()
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        await server.stop_apps()  # waits for any stop a tab's handler began
        async with asyncio.timeout(15):
            while server.apps:  # the handler lets go of its app once the app has ended
                await asyncio.sleep(0.05)
    from core import process_tree

    assert process_tree.tracked() == []  # ended and untracked: nothing left to kill at exit
