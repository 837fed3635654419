"""Bounded buffer in RAM, full log on disk, resume position, tail reading, single writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import paths
from core.jobs.log_buffer import (
    DiskLog,
    LogBuffer,
    decode_event,
    encode_event,
    hub_log_path,
    open_disk_log,
    read_tail,
    read_tail_events,
)
from core.jobs.log_follow import LogLine


def test_buffer_is_bounded_and_counts_everything() -> None:
    buf = LogBuffer(max_lines=100)
    buf.extend(f"line {i}" for i in range(1050))
    assert len(buf.lines) == 100 and buf.total == 1050 and buf.first_index == 950
    assert buf.lines[0] == "line 950" and buf.lines[-1] == "line 1049"
    buf.extend(["x" * 10_000])
    assert len(buf.lines[-1]) == 4001 and buf.lines[-1].endswith("…")


def test_disk_log_lives_under_logs_dir_and_resumes_by_line_count() -> None:
    disk, count = open_disk_log("abc123")
    assert disk.path == hub_log_path("abc123") and disk.path.parent == paths.logs_dir() and count == 0
    disk.append(["one", "two\nstill two", "progress 10%\rprogress 20%\r"])
    disk.append([LogLine(3, "tab\there \\ back", "2026-05-12T14:58:25.162Z")])
    disk.close()
    # One event per line, lossless: text and timestamp come back exactly as the Hub sent them.
    assert disk.path.read_text().splitlines() == ["-\tone", "-\ttwo\\nstill two", "-\tprogress 10%\\rprogress 20%\\r",
                                                 "2026-05-12T14:58:25.162Z\ttab\\there \\\\ back"]
    events, total = read_tail_events(disk.path, 10)
    assert total == 4 and events == [("one", None), ("two\nstill two", None),
                                     ("progress 10%\rprogress 20%\r", None),
                                     ("tab\there \\ back", "2026-05-12T14:58:25.162Z")]
    # A crash mid-write leaves a partial line: it is dropped so the count stays the resume position.
    with disk.path.open("a") as handle:
        handle.write("half a li")
    again, count = open_disk_log("abc123")
    assert count == 4 and disk.path.read_text().endswith("back\n")
    again.close()


def test_an_older_text_log_is_converted_on_first_open() -> None:
    legacy = paths.ensure(paths.logs_dir()) / "hf-old1.log"
    legacy.write_text("a\n\tb\nhalf")
    disk, count = open_disk_log("old1")
    disk.close()
    assert count == 2 and not legacy.exists()
    assert [decode_event(line) for line in disk.path.read_text().splitlines()] == [("a", None), ("\tb", None)]


@pytest.mark.parametrize("text", ["", "plain", "\\", "\\n", "a\tb\rc\nd\\e", "\\\\t", "trailing\\"])
def test_disk_encoding_round_trips(text: str) -> None:
    line = encode_event(text, "2026-01-01T00:00:00Z")
    assert "\n" not in line and decode_event(line) == (text, "2026-01-01T00:00:00Z")


def test_second_writer_is_read_only(tmp_path: Path) -> None:
    first = DiskLog(tmp_path / "j.log")
    second = DiskLog(tmp_path / "j.log")
    assert first.writable and not second.writable
    second.append(["ignored"])
    first.append(["kept"])
    first.close()
    second.close()
    assert (tmp_path / "j.log").read_text() == "-\tkept\n"


def test_read_tail_of_a_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text("".join(f"line {i}\n" for i in range(200_000)) + "partial")
    lines, total = read_tail(path, 1000)
    assert total == 200_000 and len(lines) == 1000
    assert lines[0] == "line 199000" and lines[-1] == "line 199999"
    small = tmp_path / "small.log"
    small.write_text("a\nb\n")
    assert read_tail(small, 10) == (["a", "b"], 2)
    assert read_tail(tmp_path / "missing.log", 10) == ([], 0)
