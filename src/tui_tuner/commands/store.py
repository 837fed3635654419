"""`tui-tuner store check|move-aside`: look at the state file, and set a broken one aside without losing it.

A store that is not a tui-tuner store (garbage bytes, a cut-off copy, a folder, another program's SQLite)
makes every command that needs it stop with one line that points here. `move-aside` renames it with a
timestamp (never deletes it); the next command starts a fresh store.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.errors import TunerError
from tui_tuner.output import emit_json


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    store = subparsers.add_parser("store", parents=[parent], help="check the state store, or move a broken one aside")
    sub = store.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", parents=[parent], help="say whether the store is a readable tui-tuner store")
    check.set_defaults(func=_check)
    aside = sub.add_parser("move-aside", parents=[parent],
                           help="rename the store to <name>.broken-<timestamp> (nothing is deleted)")
    aside.add_argument("--force", action="store_true", help="move it aside even when it reads fine")
    aside.set_defaults(func=_move_aside)


def _check(args: argparse.Namespace) -> int:
    from core import paths
    from core.store import check_store

    path = paths.store_file()
    problem = check_store(path)
    if problem is not None:
        raise problem
    if args.json:
        emit_json({"path": str(path), "ok": True})
    else:
        print(f"{path}: ok")
    return 0


def _move_aside(args: argparse.Namespace) -> int:
    from core import paths
    from core.store import check_store, move_aside

    path = paths.store_file()
    problem = check_store(path) if path.exists() or path.is_symlink() else None
    if problem is None and not args.force:
        if not path.exists():
            raise TunerError(f"{path}: no store to move aside")
        raise TunerError(f"{path} reads fine; nothing to move aside", hint="add --force to move it anyway")
    target = move_aside(path)
    if args.json:
        emit_json({"path": str(path), "moved_to": str(target)})
    else:
        print(f"moved {path} to {target}", file=sys.stderr)
        print("the next command starts a fresh store; the old one is kept under the new name", file=sys.stderr)
    return 0
