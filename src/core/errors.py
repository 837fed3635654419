"""Errors that reach the user as one clear line.

Every failure caused by the user's input or environment (a missing file, a wrong model id, a dead
server) is raised as a `TunerError`. The CLI prints `error: <message>` and exits 2; the TUI shows the
message and stays up. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class TunerError(Exception):
    """A failure the user can fix; its message is one line that says what is wrong and how to fix it."""

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        # Collapse to one line: multi-line library messages must not break the one-line contract.
        self.message = " ".join(str(message).split())
        self.field = field
        self.hint = " ".join(hint.split()) if hint else None
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.field}: {self.message}" if self.field else self.message
        return f"{text} ({self.hint})" if self.hint else text


class OfflineError(TunerError):
    """The Hub (or another server) could not be reached; the caller decides whether that is fatal."""
