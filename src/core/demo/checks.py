"""What the demo needs before it starts: the train and convert extras (one install: the `demo` extra)."""

from __future__ import annotations

from core.errors import TunerError
from core.extras import missing_modules, needs_line


def require_demo_extras() -> None:
    """One line naming the `demo` extra when training or conversion packages are missing."""
    missing = sorted(set(missing_modules("train")) | set(missing_modules("convert")))
    if missing:
        raise TunerError(needs_line("demo", "the demo") + f" (missing: {', '.join(missing)})",
                         hint="install torch's CPU build first on a machine without a GPU: pip install torch")
