"""The log follower's events are a typed union: each stream notice is its own frozen dataclass, and the
consumers (`MonitorSession.iter_log`, the jobs screen, `tui-tuner jobs logs`) `match` on the type."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import pytest

from core.jobs import events
from core.jobs.events import (
    FollowEvent,
    LogLine,
    PartialLine,
    StreamConnected,
    StreamDisconnected,
    StreamFailed,
    StreamFinished,
    StreamIncomplete,
    StreamNotice,
    StreamRetrying,
)
from core.jobs.service import MonitorSession
from core.store import Store
from tests.jobs.conftest import store_job
from tui_tuner.cli import main
from tui_tuner.screens.jobs.screen import JobDetailScreen

NOTICES = (StreamConnected, StreamRetrying, StreamFailed, StreamDisconnected, StreamFinished, StreamIncomplete)
LOCAL_ID = "local-20260101-000000-abcd"


def test_every_notice_is_its_own_frozen_type_with_its_name() -> None:
    assert set(typing.get_args(StreamNotice)) == set(NOTICES)
    assert set(typing.get_args(FollowEvent)) == {LogLine, PartialLine, *NOTICES}
    assert len({cls.kind for cls in NOTICES}) == len(NOTICES)
    notice = StreamRetrying("429 Too Many Requests", 2)
    assert isinstance(notice, StreamNotice) and not isinstance(LogLine(0, "x"), StreamNotice)
    with pytest.raises(dataclasses.FrozenInstanceError):
        notice.detail = "changed"  # type: ignore[misc]
    assert (notice.kind, notice.detail, notice.reconnects) == ("retrying", "429 Too Many Requests", 2)
    assert events.StreamEnd == StreamFinished | StreamIncomplete


def _replay(monkeypatch: pytest.MonkeyPatch, stream: list[FollowEvent]) -> None:
    monkeypatch.setattr(MonitorSession, "log_follower", lambda self, row, **kwargs: iter(stream))


def test_iter_log_yields_the_lines_and_keeps_how_the_log_ended(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    store_job(Store(), job_id=LOCAL_ID, backend="local", status="COMPLETED", log_path=str(tmp_path / "job.log"))
    session = MonitorSession()
    row = session.resolve(LOCAL_ID)
    _replay(monkeypatch, [StreamConnected(), LogLine(0, "a"), PartialLine("50%|█"), StreamRetrying("cut", 1),
                          LogLine(1, "b"), StreamIncomplete("COMPLETED: the stream kept failing", 3)])
    assert [line.text for line in session.iter_log(row, follow=False)] == ["a", "b"]
    assert session.final_notice == StreamIncomplete("COMPLETED: the stream kept failing", 3)
    _replay(monkeypatch, [LogLine(0, "a"), StreamFinished("end of log file")])
    assert [line.text for line in session.iter_log(row, follow=False)] == ["a"]
    assert session.final_notice == StreamFinished("end of log file")


def test_logs_cli_says_an_incomplete_log_in_one_line_and_exits_2(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: Any, tmp_path: Path) -> None:
    store_job(Store(), job_id=LOCAL_ID, backend="local", status="COMPLETED", log_path=str(tmp_path / "job.log"))
    _replay(monkeypatch, [LogLine(0, "step 1"), StreamIncomplete("COMPLETED: the stream kept failing", 3)])
    assert main(["jobs", "logs", LOCAL_ID]) == 2
    out, err = capsys.readouterr()
    assert out == "step 1\n"
    assert f"job {LOCAL_ID}: COMPLETED: the stream kept failing; the log may be incomplete" in err
    assert "Traceback" not in err
    _replay(monkeypatch, [LogLine(0, "step 1"), StreamFinished("end of log file")])
    assert main(["jobs", "logs", LOCAL_ID]) == 0


class _Detail:
    """What `JobDetailScreen._on_batch` touches, recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.tracker = self

    def _ingest(self, lines: list[LogLine], *, save: bool) -> None:
        self.calls.append(("lines", [line.text for line in lines]))

    def _on_notice(self, notice: StreamNotice) -> None:
        self.calls.append(("notice", notice))

    def feed_line(self, text: str, when: float) -> bool:
        self.calls.append(("progress", text))
        return True

    def _render_header(self) -> None:
        self.calls.append(("header", None))


def test_the_jobs_screen_takes_a_batch_by_type() -> None:
    detail = _Detail()
    batch: list[FollowEvent] = [StreamConnected("reconnected", 1), LogLine(0, "a"), PartialLine("10%"),
                                LogLine(1, "b"), PartialLine("20%"), StreamFinished("COMPLETED", 1)]
    JobDetailScreen._on_batch(detail, batch)  # type: ignore[arg-type]
    assert detail.calls == [
        ("lines", ["a", "b"]),  # every line of the batch in one update
        ("notice", StreamConnected("reconnected", 1)),
        ("notice", StreamFinished("COMPLETED", 1)),
        ("progress", "20%"),  # only the newest unfinished line: the bar as it is now
        ("header", None),
    ]
