"""`tui-tuner serve`: the same TUI in a web browser, served with textual-serve.

    tui-tuner serve                     # http://127.0.0.1:8000/<token>/ : this machine only
    tui-tuner serve --port 0            # any free port (the printed URL says which)
    tui-tuner serve --host 0.0.0.0      # every interface: anyone who can reach it and has the URL drives the app

Each browser tab runs its own app process (`tui-tuner tui`, with textual's web driver). The app can submit
jobs with the user's Hub token, so the server is bound to loopback unless `--host` says otherwise, and every
page, websocket and static file lives under a random path (`secrets.token_urlsafe`) that only the printed
URL carries: another local user who finds the port gets 404s. Over SSH, forward the port
(`ssh -L 8000:127.0.0.1:8000 HOST`) and open the URL on your own machine.

Ctrl-C, SIGTERM and SIGHUP stop the server and every app it started: each app is asked to quit (its own
cleanup ends what it started), and any that has not ended after a grace period is killed with its process
group. The apps run in their own sessions and die with the server even when it is killed with SIGKILL
(Linux: parent-death signal).

Only argparse at import time; aiohttp and textual-serve load in the handler.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "serve", parents=[parent], help="serve the TUI to a web browser (textual-serve, loopback by default)",
        description="Serve the TUI to a web browser with textual-serve. Bound to 127.0.0.1 unless --host says "
                    "otherwise; the printed URL carries a random token path and every other path is refused. "
                    "Each browser tab runs its own app. Ctrl-C, SIGTERM or SIGHUP stop the server and every "
                    "app it started.")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}); another address lets anyone who can "
                        "reach it and has the URL drive the app")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT,
                   help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--area", choices=["calc", "launch", "jobs", "convert", "eval"],
                   help="area each new browser tab opens on")
    p.set_defaults(func=_serve)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535 (0: a free one), got {value}")
    return value


def _serve(args: argparse.Namespace) -> int:
    import signal

    from core import process_tree
    from tui_tuner.commands.serve_web import TokenServer, is_loopback

    server = TokenServer(host=args.host, port=args.port, area=args.area)
    if not is_loopback(args.host):
        print(f"warning: serving on {args.host}: anyone who can reach this port and has the URL can drive "
              "the app (and your Hub token)", file=sys.stderr, flush=True)
    try:
        process_tree.run_until_signal(lambda: server.run(_announce(args.json)))
    except process_tree.Interrupted as stop:
        if stop.signum == signal.SIGHUP:
            process_tree.quiet_output()  # the terminal is gone
        else:
            print(f"stopped ({stop.name}); every app it started has ended", file=sys.stderr, flush=True)
        return 0
    return 0


def _announce(json_mode: bool) -> Any:
    def announce(url: str, port: int) -> None:
        if json_mode:
            from tui_tuner.output import emit_json_line

            emit_json_line({"url": url, "port": port})
        else:
            print(f"Serving tui-tuner at {url}", flush=True)
            print(f"Open it in a browser (each tab runs its own app). Over SSH: ssh -L {port}:127.0.0.1:{port} "
                  "HOST, then open the URL here. Ctrl-C stops the server and every app.", flush=True)
        sys.stdout.flush()

    return announce


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux for SIGTERM when the server dies; textual's web driver turns SIGTERM into a clean quit.

    Without it an app whose server was SIGKILLed would live on: the web driver does not quit on stdin EOF.
    """
    import os
    import signal

    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent_pid:  # the server died before the request took effect
        raise SystemExit(0)


def _child_main(argv: list[str]) -> int:
    """One browser tab's app: `python -m tui_tuner.commands.serve SERVER_PID [tui options]`."""
    die_with_parent(int(argv[0]))
    from tui_tuner.cli import main

    return main(["tui", *argv[1:]])


if __name__ == "__main__":
    raise SystemExit(_child_main(sys.argv[1:]))
