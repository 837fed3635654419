"""The `tui-tuner` command: no arguments opens the TUI; subcommands run the same core headless.

Start-up must stay fast: only argparse and the light command modules are imported here; each
handler imports what it needs (torch only for commands that train, merge or convert).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from core.errors import TunerError
from tui_tuner.output import RedactingStream, emit_json, emit_json_line

COMMAND_MODULES = (
    "tui_tuner.commands.calc",
    "tui_tuner.commands.launch",
    "tui_tuner.commands.jobs",
    "tui_tuner.commands.convert",
    "tui_tuner.commands.llama_cpp",
    "tui_tuner.commands.eval",
    "tui_tuner.commands.store",
    "tui_tuner.commands.demo",
    "tui_tuner.commands.serve",
)


def _run_tui(args: argparse.Namespace) -> int:
    from tui_tuner.app import TunerApp

    app = TunerApp(start_area=getattr(args, "area", None))
    app.run()
    return app.return_code or 0  # 1 when the app stopped on an unexpected error


def _locate(args: argparse.Namespace) -> int:
    from core import paths

    where = {
        "config": paths.config_file(),
        "data": paths.data_dir(),
        "store": paths.store_file(),
        "themes": paths.user_themes_dir(),
        "cache": paths.cache_dir(),
        "logs": paths.logs_dir(),
    }
    if args.json:
        emit_json({k: str(v) for k, v in where.items()} if args.what == "all" else {args.what: str(where[args.what])})
    elif args.what == "all":
        for key, value in where.items():
            print(f"{key:7} {value}")
    else:
        print(where[args.what])
    return 0


_json_errors = False


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors honour `--json`: one JSON line on stderr, exit 2 (the README's promise).

    Sub-commands inherit the class (argparse builds subparsers with the parent's type). The root parser
    decides from the whole command line, so `--json` counts wherever it stands before a `--`.
    """

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None) -> Any:
        global _json_errors
        if getattr(self, "is_root", False):
            argv = list(sys.argv[1:] if args is None else args)
            _json_errors = "--json" in (argv[: argv.index("--")] if "--" in argv else argv)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        if _json_errors:
            emit_json_line({"error": f"{self.prog}: {message}", "field": None, "usage": " ".join(
                self.format_usage().split())}, sys.stderr)
            raise SystemExit(2)
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="machine-readable JSON output")

    parser = _Parser(
        prog="tui-tuner",
        description="Plan, launch, monitor, convert and evaluate LLM fine-tunes. No arguments: open the TUI.",
    )
    parser.is_root = True  # type: ignore[attr-defined]
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    tui = sub.add_parser("tui", help="open the terminal UI (the default)")
    tui.add_argument("--area", choices=["calc", "launch", "jobs", "convert", "eval", "monitor"],
                     help="area to open (monitor: the old name of jobs)")
    tui.set_defaults(func=_run_tui)

    locate = sub.add_parser("locate", parents=[parent], help="print where config, data and themes live")
    locate.add_argument("what", nargs="?", default="all",
                        choices=["all", "config", "data", "store", "themes", "cache", "logs"])
    locate.set_defaults(func=_locate)

    for module_name in COMMAND_MODULES:
        if importlib.util.find_spec(module_name) is None:
            continue  # area not built: its command is absent, not a placeholder
        importlib.import_module(module_name).register(sub, parent)
    return parser


def spends_or_publishes(args: argparse.Namespace) -> bool:
    """Commands that cost money or write to the Hub: they must not run on defaults when config.toml cannot
    be read (a lost `[launch] namespace` bills the wrong account, a lost judge endpoint calls another API)."""
    command = getattr(args, "command", None)
    if command == "launch":
        return not (getattr(args, "dry_run", False) or getattr(args, "print_script", False))
    if command == "jobs":
        return getattr(args, "jobs_command", None) == "cancel"
    if command == "convert":
        return bool(getattr(args, "upload", False))
    if command == "eval":
        return getattr(args, "eval_command", None) == "run"
    return False


def _check_config(args: argparse.Namespace) -> None:
    """A config.toml that cannot be read: one warning line on stderr, or an error for `spends_or_publishes`."""
    from core.config import load_config

    problem = load_config().problem
    if not problem:
        return
    if spends_or_publishes(args):
        raise TunerError(problem.removesuffix("; using defaults"),
                         hint="fix the file (or move it away) first: this command spends money or writes to the "
                              "Hub, and its settings, such as [launch] namespace, would be ignored")
    print(f"warning: {problem}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    sys.stdout = RedactingStream(sys.stdout)  # type: ignore[assignment]
    sys.stderr = RedactingStream(sys.stderr)  # type: ignore[assignment]
    arguments = sys.argv[1:] if argv is None else list(argv)
    # The TUI alone (no arguments) skips importing every command module for a parser with nothing to parse.
    args = build_parser().parse_args(arguments) if arguments else argparse.Namespace()
    func = getattr(args, "func", None) or _run_tui
    try:
        if func is not _run_tui:  # the TUI shows the same problem as a notification
            _check_config(args)
        return int(func(args) or 0)
    except TunerError as exc:
        if getattr(args, "json", False):
            emit_json_line({"error": exc.one_line(), "field": exc.field}, sys.stderr)
        else:
            print(f"error: {exc.one_line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `tui-tuner jobs ps | head`: the reader left. Point stdout at /dev/null so the final flush
        # (and the interpreter's own at exit) cannot raise again; exit like a killed-by-SIGPIPE tool.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # a bug: one line here, the traceback in a log file, never exit 0
        from tui_tuner.internal_error import report_internal_error

        return report_internal_error(exc, argv, json_mode=getattr(args, "json", False))
    finally:
        sys.stdout.flush()
