"""TOML files (config, presets, rubrics, themes): hostile content is one line and exit 2; a config.toml
that cannot be read is said on stderr by every command, and stops the ones that spend money or write to
the Hub."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core import paths
from core.config import load_config, read_toml
from core.errors import TunerError
from tui_tuner.cli import main

PRESET = '[launch]\nbase_model = "Qwen/Qwen3-0.6B"\ndataset = "me/chats"\noutput_repo = "me/out"\n'


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def hostile(kind: str, path: Path) -> str:
    """Plant one hostile TOML file; return what the error must say."""
    if kind == "non-utf8":
        path.write_bytes(b'name = "caf\xe9"\n')
        return "not UTF-8 text (byte 0xe9 at offset 11)"
    if kind == "directory":
        path.mkdir()
        return "is a directory"
    if kind == "fifo":
        os.mkfifo(path)
        return "not a regular file"
    if kind == "nested":
        path.write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
        return "nested too deeply"
    if kind == "inline-tables":
        path.write_text("x = " + "{a = " * 20_000 + "1" + "}" * 20_000 + "\n", encoding="utf-8")
        return "nested too deeply"
    if kind == "huge-int":
        path.write_text("x = " + "9" * 5000 + "\n", encoding="utf-8")
        return "not valid TOML"
    if kind == "loop":
        path.symlink_to(path.name)
        return "cannot be read"
    if kind == "syntax":
        path.write_text("[launch\n", encoding="utf-8")
        return "not valid TOML"
    raise AssertionError(kind)


KINDS = ["non-utf8", "directory", "fifo", "nested", "inline-tables", "huge-int", "loop", "syntax"]


@pytest.mark.parametrize("kind", KINDS)
def test_read_toml_is_one_line(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    needle = hostile(kind, path)
    with pytest.raises(TunerError) as info:
        read_toml(path)
    assert needle in str(info.value) and "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", ["preset", "rubric"])
def test_presets_and_rubrics_through_the_cli(kind: str, command: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "file.toml"
    needle = hostile(kind, path)
    argv = (["launch", "--preset", str(path), "--print-script"] if command == "preset"
            else ["eval", "rubric", "check", str(path)])
    code, _, err = run(capsys, *argv)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [err.strip()] and needle in err, err


@pytest.mark.parametrize("where", ["under-a-file", "a-directory", "missing-link-folder"])
def test_save_preset_into_an_unwritable_place(where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    target = {"under-a-file": tmp_path / "file" / "p.toml", "a-directory": tmp_path}.get(where, tmp_path / "link.toml")
    if where == "missing-link-folder":
        target.symlink_to(tmp_path / "gone" / "p.toml")
    code, _, err = run(capsys, "launch", "--model", "Qwen/Qwen3-0.6B", "--dataset", "me/chats",
                       "--save-preset", str(target), "--print-script")
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert str(target) in err


async def test_a_broken_theme_is_skipped_with_one_line(tmp_path: Path) -> None:
    from tui_tuner.themes import load_themes

    for kind in ("non-utf8", "directory", "fifo", "nested"):
        hostile(kind, tmp_path / f"{kind}.toml")
    themes, problems = load_themes([tmp_path])
    assert len(problems) == 4 and all("\n" not in p and "skipped" in p for p in problems)
    assert themes  # the bundled ones are still there


# ------------------------------------------------------------------------------------------------
# config.toml
# ------------------------------------------------------------------------------------------------

@pytest.fixture
def broken_config() -> Path:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[launch]\nnamespace = "my-org"\n[jobs\n', encoding="utf-8")
    return path


def test_load_config_reports_every_kind_of_broken_file(tmp_path: Path) -> None:
    for kind in KINDS:
        path = tmp_path / f"{kind}.toml"
        needle = hostile(kind, path)
        config = load_config(path)
        assert config.data == {} and config.problem and needle in config.problem and "\n" not in config.problem


def test_every_command_says_the_config_is_broken(broken_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "calc", "--model", "llama-3.1-8b", "--json")
    assert code == 0 and out  # calc spends nothing: it runs on defaults, and says so
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith(f"warning: {broken_config}: ") and err.strip().endswith("using defaults")


def test_commands_that_spend_or_publish_stop(broken_config: Path, fake_hub, tmp_path: Path,  # type: ignore[no-untyped-def]
                                           capsys: pytest.CaptureFixture[str]) -> None:
    job = fake_hub.create_job(namespace="my-org", stage="RUNNING")
    fake_hub.orgs.append("my-org")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    spending = {
        "jobs cancel": ["jobs", "cancel", job, "--yes"],
        "launch": ["launch", "--model", "Qwen/Qwen3-0.6B", "--dataset", "me/chats", "--output-repo", "me/out"],
        "convert --upload": ["convert", "--adapter-path", str(adapter), "--output-dir", str(tmp_path / "out"),
                             "--upload"],
        "eval run": ["eval", "run", "--personas", str(tmp_path / "p.json"), "--output-dir", str(tmp_path / "e"),
                     "--port", "baseline=9", "--simulator", "9", "--judge", "9"],
    }
    for name, argv in spending.items():
        fake_hub.requests.clear()
        code, _, err = run(capsys, *argv)
        assert code == 2, name
        assert err.strip().splitlines() == [err.strip()], name
        assert err.startswith(f"error: {broken_config}: not valid TOML") and "[launch] namespace" in err, name
        assert not fake_hub.requests, f"{name} reached the Hub with a config it could not read"
    assert fake_hub.jobs[job]["status"]["stage"] == "RUNNING"
    assert not (tmp_path / "out").exists() and not (tmp_path / "e").exists()
    # The same commands that only look are allowed, with the warning.
    code, _, err = run(capsys, "launch", "--model", "Qwen/Qwen3-0.6B", "--dataset", "me/chats", "--output-repo",
                       "me/out", "--offline", "--dry-run")
    assert err.startswith("warning: ") and "error: preflight" not in err


@pytest.mark.parametrize("body", ['name = ["x"]\nprimary = "#004578"\n', 'name = "t"\nprimary = "not-a-colour"\n',
                                  'name = "t"\nprimary = 12\n', 'name = "t"\nprimary = "#004578"\ndark = "yes"\n',
                                  'name = "t"\nprimary = "#004578"\n[variables]\nmem-ok = [1]\n'])
def test_a_theme_with_wrong_values_is_skipped_not_applied(body: str, tmp_path: Path) -> None:
    from tui_tuner.themes import load_themes

    (tmp_path / "bad.toml").write_text(body, encoding="utf-8")
    themes, problems = load_themes([tmp_path])
    assert len(problems) == 1 and problems[0].startswith("theme bad.toml skipped: ")
    assert all(t.name != "t" for t in themes)
