"""The TUI with a broken store: say so once, stay up, and offer to move the file aside.

When the store file is not a tui-tuner store, every screen that lists or records jobs, conversions or
evaluations would fail. Instead the app switches this process to an empty scratch store (nothing recorded
there lasts, nothing in the broken file is touched), shows the one-line problem as a notification, and
adds a command-palette entry that renames the broken file with a timestamp (never deletes it), after
which new records go to a fresh store.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from textual.app import SystemCommand

from core.store import StoreError, check_store, move_aside, use_real_store, use_scratch_store

_broken: StoreError | None = None
_scratch_dir: tempfile.TemporaryDirectory[str] | None = None


def guard_store() -> list[str]:
    """Check the store at start-up; when it is broken, use a scratch store and return the message to show."""
    global _broken, _scratch_dir
    use_real_store()  # a new app checks again (tests start many apps in one process)
    _broken = None
    problem = check_store()
    if problem is None:
        return []
    _broken = problem
    _scratch_dir = tempfile.TemporaryDirectory(prefix="tui-tuner-scratch-store-")
    use_scratch_store(Path(_scratch_dir.name))
    return [f"{problem.one_line()}. Nothing is recorded until it is moved aside: command palette (ctrl+p) → "
            "'store: move the broken store aside'"]


def store_commands(app: Any) -> Iterator[SystemCommand]:
    """The palette entry, while the store is broken."""
    if _broken is not None:
        yield SystemCommand("store: move the broken store aside",
                            f"rename {_broken.path.name} with a timestamp (nothing is deleted) and start a fresh store",
                            lambda: move_broken_store(app))


def move_broken_store(app: Any) -> Path | None:
    global _broken
    if _broken is None:
        return None
    try:
        target = move_aside(_broken.path)
    except Exception as exc:  # a TunerError (permissions, a vanished file): shown, the app stays up
        app.notify(" ".join(str(exc).split()), severity="error", timeout=10)
        return None
    _broken = None
    use_real_store()
    app.notify(f"moved the broken store to {target}; new records go to a fresh store", timeout=8)
    return target
