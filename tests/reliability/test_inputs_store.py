"""A store file that is not a tui-tuner store: one line, exit 2, a way to move it aside, never deleted;
the TUI says so and stays up."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from core import paths
from core.store import Store, move_aside
from tests.eval_run.conftest import SMALL_RUBRIC_TOML
from tests.support.pilot_wait import wait_for
from tui_tuner.cli import main


def _real_store_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "real" / "tui-tuner.sqlite3"
    store = Store(path)
    with store.connect() as conn:
        for i in range(200):  # several pages, so a cut-off copy really is cut off
            conn.execute("INSERT INTO jobs (id, backend, name, status, created_at, updated_at, config_json) "
                         "VALUES (?, 'local', ?, 'COMPLETED', 0, 0, ?)", (f"local-{i}", f"job {i}", "x" * 500))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
    conn.close()
    return path.read_bytes()


def _foreign(path: Path, ddl: str) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(ddl)
    conn.commit()
    conn.close()


def plant(kind: str, path: Path, tmp_path: Path) -> str:
    """Put a broken store at `path`; return the reason the error must name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "garbage":
        path.write_bytes(b"\x00\xffnot sqlite at all" * 50)
        return "file is not a database"
    if kind == "text":
        path.write_text("[jobs]\nid = 1\n", encoding="utf-8")
        return "file is not a database"
    if kind == "truncated":
        data = _real_store_bytes(tmp_path)
        path.write_bytes(data[: len(data) // 3])
        return "malformed"
    if kind == "damaged-page":  # a whole file whose middle page was overwritten (a bad disk, a bad copy)
        data = bytearray(_real_store_bytes(tmp_path))
        middle = len(data) // 2
        data[middle:middle + 512] = b"\xff" * 512
        path.write_bytes(bytes(data))
        return "damaged: "
    if kind == "directory":
        path.mkdir()
        return "a directory"
    if kind == "fifo":
        os.mkfifo(path)
        return "not a regular file"
    if kind == "dangling-link":
        path.symlink_to(tmp_path / "nowhere.sqlite3")
        return "a symlink to nothing"
    if kind == "other-app":
        _foreign(path, "CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT);")
        return "a SQLite database of another program (tables moz_places)"
    if kind == "other-app-jobs":
        _foreign(path, "CREATE TABLE jobs (job_id TEXT, cron TEXT);")
        return "its jobs table is not tui-tuner's"
    if kind == "other-app-id":
        _foreign(path, "PRAGMA application_id = 1234; CREATE TABLE t (x);")
        return "application id 0x4d2"
    raise AssertionError(kind)


KINDS = ["garbage", "text", "truncated", "damaged-page", "directory", "fifo", "dangling-link", "other-app", "other-app-jobs",
         "other-app-id"]


def snapshot(path: Path) -> object:
    if path.is_symlink():
        return ("link", os.readlink(path))
    if path.is_dir():
        return ("dir", sorted(p.name for p in path.iterdir()))
    if not path.is_file():
        return ("special", path.stat().st_mode)
    return ("file", path.read_bytes())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


COMMANDS = {
    "jobs ps": ["jobs", "ps", "--local"],
    "convert --history": ["convert", "--history"],
    "launch": ["launch", "--offline", "--model", "Qwen/Qwen3-0.6B", "--dataset", "me/chats", "--output-repo",
               "me/out"],
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_broken_store_is_one_line_exit_2_and_untouched(kind: str, command: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    store = paths.store_file()
    reason = plant(kind, store, tmp_path)
    before = snapshot(store)
    code, _, err = run(capsys, *COMMANDS[command])
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"error: {store} is not a tui-tuner store (")
    assert reason in lines[0]
    assert "tui-tuner store move-aside" in lines[0] and "nothing is deleted" in lines[0]
    assert snapshot(store) == before, "the broken store must be left exactly as it was"


def test_eval_run_stops_before_the_first_conversation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.eval_run.fake_openai import FakeOpenAI

    plant("garbage", paths.store_file(), tmp_path)
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(SMALL_RUBRIC_TOML, encoding="utf-8")
    assert main(["eval", "personas", "--count", "2", "--out", str(tmp_path / "personas.json")]) == 0
    server = FakeOpenAI().start()
    try:
        capsys.readouterr()
        code, _, err = run(capsys, "eval", "run", "--personas", str(tmp_path / "personas.json"), "--output-dir",
                           str(tmp_path / "out"), "--model", f"baseline={server.url}", "--simulator", server.url,
                           "--judge", server.url, "--rubric", str(rubric), "--conversations", "1", "--turns", "1")
        assert code == 2 and "is not a tui-tuner store" in err
        assert not [r for r in server.requests if "chat/completions" in str(getattr(r, "path", ""))], \
            "no conversation may start (and cost) while nothing can be recorded"
    finally:
        server.stop()


def test_move_aside_renames_with_a_timestamp_and_never_deletes(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    store = paths.store_file()
    plant("garbage", store, tmp_path)
    store.with_name(store.name + "-wal").write_bytes(b"old wal")
    original = store.read_bytes()
    code, _, err = run(capsys, "store", "check")
    assert code == 2 and "is not a tui-tuner store" in err
    code, out, err = run(capsys, "store", "move-aside", "--json")
    assert code == 0, err
    import json

    moved = Path(json.loads(out)["moved_to"])
    assert moved.name.startswith("tui-tuner.sqlite3.broken-") and moved.read_bytes() == original
    assert moved.with_name(moved.name + "-wal").read_bytes() == b"old wal"  # the WAL went with it
    assert not store.exists() and not store.with_name(store.name + "-wal").exists()
    assert run(capsys, "convert", "--history")[0] == 0  # a fresh store
    assert run(capsys, "store", "check")[0] == 0
    code, _, err = run(capsys, "store", "move-aside")
    assert code == 2 and "reads fine" in err  # a good store is moved only with --force
    # Twice in the same second: a second name, nothing overwritten.
    first = move_aside(store, now=0)
    Store(store)
    second = move_aside(store, now=0)
    assert first != second and first.exists() and second.exists()


def test_a_store_from_before_the_application_id_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    Store(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 0")
    conn.commit()
    conn.close()
    Store(path)  # no error: our tables are there
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] != 0
    conn.close()


async def test_tui_stays_up_says_so_and_moves_it_aside(tmp_path: Path) -> None:
    from textual.widgets import Input

    from tui_tuner import areas
    from tui_tuner.app import TunerApp

    store = paths.store_file()
    plant("garbage", store, tmp_path)
    original = store.read_bytes()
    # The jobs list tries the unreachable Hub without seconds of back-off (the app ends sooner).
    paths.ensure(paths.config_dir())
    paths.config_file().write_text("[jobs]\nretry_base_s = 0.01\n", encoding="utf-8")
    app = TunerApp(start_area="jobs")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: any("is not a tui-tuner store" in n.message
                                          and "move the broken store aside" in n.message for n in app._notifications))
        for area in areas.AREAS:  # every area opens on the scratch store
            if isinstance(app.focused, Input):
                await pilot.press("escape")  # a digit typed in a field is text
            await pilot.press(area.key)
            await wait_for(pilot, lambda mode=area.mode, name=area.screen_class: app.current_mode == mode
                           and type(app.screen).__name__ == name)
        assert app.is_running
        assert store.read_bytes() == original
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "store: move the broken store aside" in commands
        from tui_tuner.broken_store import move_broken_store

        moved = move_broken_store(app)
        assert moved is not None and moved.read_bytes() == original
        assert "store: move the broken store aside" not in [c.title for c in app.get_system_commands(app.screen)]
    Store()  # the real path again, fresh
    assert store.is_file()
