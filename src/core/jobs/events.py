"""What following a job's log yields: a typed union, handled with `match` on the type.

Log lines and the unfinished last line of a local log are NamedTuples (a million of them are built per
million log lines); changes in the stream itself (connected, retrying, ended...) are frozen dataclasses,
one per kind. `kind` is the notice's name (the status line's wording is looked up by it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple, TypeAlias


class LogLine(NamedTuple):
    # A NamedTuple, not a dataclass: a million of these are built per million log lines.
    index: int | None
    """Position of the event in the job's full log (0-based); unique and gap-free per job. None for a line
    of a `tail` read whose position in the full log is not known (yet)."""
    text: str
    timestamp: str | None = None


class PartialLine(NamedTuple):
    """The unfinished last line of a local log (a progress bar redrawn with \\r): for progress, not the log."""

    text: str


@dataclass(frozen=True)
class StreamConnected:
    """A connection to the log is open (`detail` "reconnected" after the first)."""

    detail: str = ""
    reconnects: int = 0
    kind: ClassVar[str] = "connected"


@dataclass(frozen=True)
class StreamRetrying:
    """A connection failed in a way worth retrying (`detail`: why); the follower waits, then reconnects."""

    detail: str = ""
    reconnects: int = 0
    kind: ClassVar[str] = "retrying"


@dataclass(frozen=True)
class StreamFailed:
    """A connection failed for good (`detail`: why); the follower raises next."""

    detail: str = ""
    reconnects: int = 0
    kind: ClassVar[str] = "error"


@dataclass(frozen=True)
class StreamDisconnected:
    """A connection ended while the job may still be running: its stage is checked, then it reconnects."""

    detail: str = ""
    reconnects: int = 0
    kind: ClassVar[str] = "disconnected"


@dataclass(frozen=True)
class StreamFinished:
    """The whole log has been read (`detail`: the job's final stage, or where the log ended)."""

    detail: str = ""
    reconnects: int = 0
    kind: ClassVar[str] = "finished"


@dataclass(frozen=True)
class StreamIncomplete:
    """The job ended but the stream kept failing: the log read may miss lines (`detail` says so)."""

    detail: str = ""
    reconnects: int = 0
    kind: ClassVar[str] = "incomplete"


StreamNotice: TypeAlias = (StreamConnected | StreamRetrying | StreamFailed | StreamDisconnected | StreamFinished
                           | StreamIncomplete)
"""A change in the stream itself (not a log line): shown in the status bar, not in the log."""

StreamEnd: TypeAlias = StreamFinished | StreamIncomplete
"""The last notice of a follow: nothing more will come."""

FollowEvent: TypeAlias = LogLine | PartialLine | StreamNotice
"""What a log follower yields."""
