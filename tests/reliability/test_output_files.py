"""Files the user names (`--out`, `rubric init PATH`, `--save-preset`) are written like a shell `>` would,
and never half: `core.output_file`.

Regular files are replaced atomically (mode kept); a device or FIFO is written through and stays what
it was; a symbolic link is followed and stays a link; `-` is standard output. Writing over /dev/null is
checked on a private null device (root) so that a regression cannot replace the machine's own.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.errors import TunerError
from tests.eval_view.fixtures import make_results

ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui_tuner", *args], capture_output=True, text=True,
                          env=dict(os.environ), cwd=cwd, timeout=120)


def read_fifo(path: Path) -> tuple[threading.Thread, list[bytes]]:
    """A reader on the other end of a FIFO (the writer's open blocks until there is one)."""
    got: list[bytes] = []

    def reader() -> None:
        with open(path, "rb") as fh:
            got.append(fh.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    return thread, got


def null_device(tmp_path: Path) -> Path:
    if not IS_ROOT:
        pytest.skip("making a device node needs root")
    path = tmp_path / "null"
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))   # the same device as /dev/null
    return path


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return make_results(tmp_path / "results", models=("baseline", "ft"), n_personas=3, violations=())


# --- the helper ------------------------------------------------------------------------------------

def test_a_regular_file_is_replaced_atomically_and_keeps_its_mode(tmp_path: Path) -> None:
    from core.output_file import write_output

    target = tmp_path / "sub" / "report.md"
    assert write_output(target, "one") == target and target.read_text() == "one\n"   # folder created
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    target.chmod(0o640)
    before = target.stat().st_ino
    write_output(target, "two")
    assert target.read_text() == "two\n" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.stat().st_ino != before                  # a new file renamed over the old one
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.md"]   # no temporary left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from core import output_file

    target = tmp_path / "report.md"
    target.write_text("old\n")

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output_file.os, "replace", full_disk)
    with pytest.raises(TunerError, match=r"report.md: cannot write the report \(No space left on device\)"):
        output_file.write_output(target, "new", what="the report")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_a_symbolic_link_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    from core.output_file import write_output

    real = tmp_path / "shared" / "report.md"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "report.md"
    link.symlink_to(real)
    write_output(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real) and real.read_text() == "new\n"
    dangling = tmp_path / "later.md"
    dangling.symlink_to(tmp_path / "shared" / "later.md")      # target not there yet: created, like `>`
    write_output(dangling, "x")
    assert dangling.is_symlink() and (tmp_path / "shared" / "later.md").read_text() == "x\n"
    broken = tmp_path / "broken.md"
    broken.symlink_to(tmp_path / "no-such-folder" / "r.md")
    with pytest.raises(TunerError, match="whose folder does not exist"):
        write_output(broken, "x")
    assert broken.is_symlink() and not (tmp_path / "no-such-folder").exists()


def test_hard_links_and_other_owners_are_written_in_place(tmp_path: Path) -> None:
    from core.output_file import write_output

    first = tmp_path / "a.md"
    first.write_text("old\n")
    second = tmp_path / "b.md"
    os.link(first, second)
    write_output(second, "new")
    assert first.read_text() == "new\n" and first.stat().st_ino == second.stat().st_ino
    if IS_ROOT:  # root writing a user's file must not take it over
        theirs = tmp_path / "theirs.md"
        theirs.write_text("old\n")
        os.chown(theirs, 65534, 65534)
        write_output(theirs, "new")
        assert theirs.read_text() == "new\n" and (theirs.stat().st_uid, theirs.stat().st_gid) == (65534, 65534)


def test_a_fifo_is_written_through(tmp_path: Path) -> None:
    from core.output_file import write_output

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    thread, got = read_fifo(fifo)
    assert write_output(fifo, "through the pipe") == fifo
    thread.join(10)
    assert got == [b"through the pipe\n"] and stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_device_is_written_through_not_replaced(tmp_path: Path) -> None:
    from core.output_file import write_output

    device = null_device(tmp_path)
    rdev = device.stat().st_rdev
    write_output(device, "discarded")
    info = device.lstat()
    assert stat.S_ISCHR(info.st_mode) and info.st_rdev == rdev


def test_what_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    from core.output_file import write_output

    with pytest.raises(TunerError, match="is a directory, not a file"):
        write_output(tmp_path, "x")
    with pytest.raises(TunerError, match=r"'-' \(standard output\) cannot be used for the export here"):
        write_output("-", "x", what="the export", allow_stdout=False)
    existing = tmp_path / "keep.json"
    existing.write_text("mine\n")
    with pytest.raises(TunerError, match=r"already exists.*--force"):
        write_output(existing, "x", overwrite=False, hint="pass --force")
    if not IS_ROOT:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        with pytest.raises(TunerError, match="Permission denied"):
            write_output(locked / "r.md", "x")
        readonly = tmp_path / "ro.md"
        readonly.write_text("ro\n")
        readonly.chmod(0o444)
        with pytest.raises(TunerError, match="read-only"):
            write_output(readonly, "x")
        assert readonly.read_text() == "ro\n"


# --- every writer of user-named outputs -----------------------------------------------------------

def test_eval_report_and_export_over_a_link_a_fifo_and_a_device(results: Path, tmp_path: Path) -> None:
    real = tmp_path / "kept" / "report.md"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "report-link.md"
    link.symlink_to(real)
    result = run_cli("eval", "report", str(results), "--out", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and real.read_text().startswith("# Evaluation Report")
    fifo = tmp_path / "export.fifo"
    os.mkfifo(fifo)
    thread, got = read_fifo(fifo)
    result = run_cli("eval", "export", str(results), "--format", "csv", "--out", str(fifo))
    thread.join(30)
    assert result.returncode == 0, result.stderr
    assert got and got[0].startswith(b"model,role,personas") and stat.S_ISFIFO(fifo.lstat().st_mode)
    # Like /dev/stdout, a link to whatever standard output is (a pipe here): written through, not replaced.
    # A private link, so that a regression cannot replace the machine's /dev/stdout.
    if Path("/proc/self/fd/1").exists():
        stdout_link = tmp_path / "stdout"
        stdout_link.symlink_to("/proc/self/fd/1")
        result = run_cli("eval", "export", str(results), "--format", "csv", "--out", str(stdout_link))
        assert result.returncode == 0 and result.stdout.startswith("model,role,personas")
        assert stdout_link.is_symlink()
    if IS_ROOT:
        device = null_device(tmp_path)
        for args in (("eval", "report", str(results)), ("eval", "export", str(results), "--format", "json")):
            result = run_cli(*args, "--out", str(device))
            assert result.returncode == 0, result.stderr
            assert stat.S_ISCHR(device.lstat().st_mode), f"{args[1]} replaced the device with a file"
    result = run_cli("eval", "export", str(results), "--out", str(tmp_path))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "is a directory" in result.stderr


def test_personas_rubric_and_preset_follow_the_same_rules(tmp_path: Path) -> None:
    from core.launch.config import LaunchConfig, load_preset, save_preset

    fifo = tmp_path / "personas.fifo"
    os.mkfifo(fifo)
    thread, got = read_fifo(fifo)
    result = run_cli("eval", "personas", "--count", "2", "--out", str(fifo))   # no --force needed for a FIFO
    thread.join(30)
    assert result.returncode == 0, result.stderr
    assert got and b'"seed": 9000' in got[0] and stat.S_ISFIFO(fifo.lstat().st_mode)

    real = tmp_path / "rubrics" / "mine.toml"
    real.parent.mkdir()
    link = tmp_path / "rubric.toml"
    link.symlink_to(real)
    assert run_cli("eval", "rubric", "init", str(link)).returncode == 0
    assert link.is_symlink() and "pass_threshold" in real.read_text()
    again = run_cli("eval", "rubric", "init", str(link))
    assert again.returncode == 2 and "already exists" in again.stderr

    preset_real = tmp_path / "presets" / "gemma.toml"
    preset_real.parent.mkdir()
    preset_link = tmp_path / "gemma.toml"
    preset_link.symlink_to(preset_real)
    config = LaunchConfig()
    assert save_preset(config, preset_link) == preset_link
    assert preset_link.is_symlink() and load_preset(preset_real) == config
    with pytest.raises(TunerError, match="is a directory"):
        save_preset(config, tmp_path)
    with pytest.raises(TunerError, match="standard output"):
        save_preset(config, "-")                              # the TUI has no standard output to give


def test_the_viewer_export_refuses_dash_and_reports_errors(results: Path, tmp_path: Path) -> None:
    from core.eval.report import build_report, render_markdown, write_export
    from core.eval.results import load_results

    text = render_markdown(build_report(load_results(results)))
    with pytest.raises(TunerError, match="standard output"):
        write_export(Path("-"), text)                         # as the export dialog passes it
    assert write_export(tmp_path / "r.md", text) == tmp_path / "r.md"


def test_eval_run_that_cannot_write_its_results_is_one_line_exit_2(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from tests.eval_run.conftest import SMALL_RUBRIC_TOML
    from tests.eval_run.fake_openai import FakeOpenAI
    from tui_tuner.cli import main

    rubric = tmp_path / "rubric.toml"
    rubric.write_text(SMALL_RUBRIC_TOML, encoding="utf-8")
    assert main(["eval", "personas", "--count", "1", "--out", str(tmp_path / "p.json")]) == 0
    results = tmp_path / "results"
    (results / "conversations.jsonl").mkdir(parents=True)       # in the way of the first append
    server = FakeOpenAI().start()
    # The stub server's own thread prints socketserver's traceback on stderr when the aborted run resets a
    # connection: that is the test's server talking, not the CLI (it made this test flaky).
    server._server.handle_error = lambda request, client_address: None  # type: ignore[union-attr]
    try:
        capsys.readouterr()
        code = main(["eval", "run", "--personas", str(tmp_path / "p.json"), "--output-dir", str(results),
                     "--model", f"baseline={server.url}", "--model", f"ft={server.url}", "--simulator", server.url,
                     "--judge", server.url, "--rubric", str(rubric), "--conversations", "1", "--turns", "1"])
    finally:
        server.stop()
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip().splitlines()[-1] == (
        f"error: {results / 'conversations.jsonl'}: cannot write the results (Is a directory) "
        "(what finished is saved; fix it and run the same command to resume)")
    assert "Traceback" not in err and "internal error" not in err
