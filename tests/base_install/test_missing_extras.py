"""A feature whose extra is not installed is one line, everywhere: the CLI prints it and exits 2, the TUI
shows it as a notification and stays up. Missing modules are simulated (a `None` in sys.modules is what
`import` and find_spec both take for "not installed"), so this runs in the full venv too; in the
base-install venv the last test runs the real commands with nothing simulated."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from textual.widgets import Input

from core.errors import TunerError
from core.extras import MissingExtra, has_extra, missing_modules, require_extra
from tests.base_install.conftest import base_install_only, run_cli
from tests.conftest import assert_no_canary
from tests.support.pilot_wait import wait_for, wait_for_workers
from tui_tuner.app import TunerApp
from tui_tuner.cli import main

pytestmark = pytest.mark.timeout(180)

TRAIN_LINE = 'training needs the "train" extra: pip install "tui-tuner[train]"'
CONVERT_LINE = 'conversion needs the "convert" extra: pip install "tui-tuner[convert]"'
MLX_LINE = 'MLX training needs the "mlx" extra: pip install "tui-tuner[mlx]"'
TRACKIO_LINE = 'reading a remote Trackio run needs the "trackio" extra: pip install "tui-tuner[trackio]"'


def uninstall(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture
def no_uv(monkeypatch: pytest.MonkeyPatch) -> None:
    """No uv on PATH: a local run then needs the training packages in this Python."""
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "uv" else which(name, *a, **k))


def test_require_extra_names_the_feature_the_extra_and_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    uninstall(monkeypatch, "trl")
    assert "trl" in missing_modules("train") and not has_extra("train")
    with pytest.raises(MissingExtra) as caught:
        require_extra("train", feature="training")
    assert isinstance(caught.value, TunerError) and caught.value.one_line() == TRAIN_LINE
    assert "trl" in caught.value.missing
    with pytest.raises(ValueError, match="unknown extra"):
        require_extra("nope", feature="x")


def test_cli_convert_without_the_extra(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    uninstall(monkeypatch, "gguf")
    monkeypatch.chdir(tmp_path)
    assert main(["convert", "--adapter-repo", "you/qwen-coach", "--output-dir", "out"]) == 2
    out, err = capsys.readouterr()
    assert err == f"error: {CONVERT_LINE}\n" and out == ""
    assert not (tmp_path / "out").exists()  # nothing started
    assert main(["convert", "--adapter-repo", "you/qwen-coach", "--output-dir", "out", "--json"]) == 2
    assert json.loads(capsys.readouterr().err) == {"error": CONVERT_LINE, "field": None}
    assert main(["convert", "--list-types"]) == 0  # what needs no extra still works


def test_cli_local_training_without_the_extra(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                              no_uv: None, tmp_path: Path) -> None:
    uninstall(monkeypatch, "trl", "peft")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chats.jsonl").write_text(json.dumps({"messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}) + "\n")
    argv = ["launch", "--backend", "local", "--base-model", "HuggingFaceTB/SmolLM2-135M-Instruct",
            "--dataset", "chats.jsonl", "--output-repo", "you/smol", "--max-steps", "5"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err == f"error: {TRAIN_LINE}\n"
    # --dry-run still shows the whole preflight, with the same line on the backend row.
    assert main([*argv, "--dry-run", "--offline"]) == 2
    out, err = capsys.readouterr()
    assert TRAIN_LINE in out and "Traceback" not in out + err
    assert main([*argv, "--print-script"]) == 0  # the script itself needs nothing here
    assert_no_canary(out, err)


def test_mlx_and_remote_trackio_without_their_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.jobs.trackio_reader import TrackioRemoteReader
    from core.launch import launcher

    uninstall(monkeypatch, "mlx_lm", "trackio")
    monkeypatch.setattr(launcher, "mlx_unavailable_reason", lambda: None)  # as on Apple Silicon
    with pytest.raises(MissingExtra, match="MLX training") as caught:
        launcher.require_backend_packages("mlx")
    assert caught.value.one_line() == MLX_LINE
    with pytest.raises(MissingExtra) as caught:
        TrackioRemoteReader("you/trackio", "coaching", "run-1").poll()
    assert caught.value.one_line() == TRACKIO_LINE


async def test_tui_conversion_without_the_extra_is_a_notification(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    from tui_tuner.screens.convert.screen import ConvertScreen

    uninstall(monkeypatch, "gguf")
    app = TunerApp(start_area="convert")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, ConvertScreen)
        screen.query_one("#adapter", Input).value = "you/qwen-coach"
        screen.query_one("#output", Input).value = str(tmp_path / "out")
        await pilot.pause()
        await pilot.press("escape", "ctrl+s")
        await wait_for(pilot, lambda: screen.worker is not None and screen.worker.is_finished,
                       what="the conversion's worker ended")
        await pilot.pause()
        notes = [n.message for n in app._notifications]
        assert CONVERT_LINE in notes, notes
        assert app.is_running and app.screen is screen
        assert not (tmp_path / "out").exists()


async def test_tui_local_launch_without_the_extra_is_a_notification(monkeypatch: pytest.MonkeyPatch,
                                                                    no_uv: None, tmp_path: Path) -> None:
    from core.launch.config import LaunchConfig
    from tui_tuner.screens.launch.screen import LaunchScreen

    uninstall(monkeypatch, "trl")
    data = tmp_path / "chats.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "hello"}]}) + "\n")
    app = TunerApp(start_area="launch")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, LaunchScreen)
        # The form mounts all but its first section after the first frame.
        await wait_for(pilot, lambda: screen.form_ready, what="Launch's whole form")
        screen._apply(LaunchConfig(backend="local", base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
                                   dataset=str(data), output_repo="you/smol", load_in_4bit=False,
                                   optimizer="adamw_torch", max_steps=5))
        screen._refresh_now()
        await wait_for_workers(pilot, timeout=30)  # the script and preflight for that config
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: TRAIN_LINE in [n.message for n in app._notifications], timeout=30)
        assert app.is_running and app.screen is screen


@base_install_only
def test_the_real_commands_in_the_base_install(tmp_path: Path) -> None:
    convert = run_cli("convert", "--adapter-repo", "you/qwen-coach", "--output-dir", "out", cwd=tmp_path)
    assert (convert.returncode, convert.stderr) == (2, f"error: {CONVERT_LINE}\n")
    if shutil.which("uv") is None:  # with uv a local run installs its packages itself
        (tmp_path / "chats.jsonl").write_text(json.dumps({"messages": [
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}) + "\n")
        launch = run_cli("launch", "--backend", "local", "--base-model", "HuggingFaceTB/SmolLM2-135M-Instruct",
                         "--dataset", "chats.jsonl", "--output-repo", "you/smol", cwd=tmp_path)
        assert (launch.returncode, launch.stderr) == (2, f"error: {TRAIN_LINE}\n")
