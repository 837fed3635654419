"""The spine: config, store, redaction, themes, the CLI entry and the app shell."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core import paths
from core.config import load_config
from core.errors import TunerError
from core.redact import redact
from core.store import Store, put_json
from tests.conftest import CANARY_TOKEN, assert_no_canary

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "tui_tuner", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_redact_masks_live_token_and_token_shapes() -> None:
    text = f"token={CANARY_TOKEN} other=hf_abcdefghijklmnop Authorization: Bearer xyz123456"
    out = redact(text)
    assert CANARY_TOKEN not in out and "hf_abcdefghijklmnop" not in out and "xyz123456" not in out
    assert "token=***" in out


def test_redact_masks_the_saved_login_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A user who ran `hf auth login` has no HF_TOKEN in the environment; the saved token is still secret.
    monkeypatch.delenv("HF_TOKEN")
    saved = "tok-saved-not-hf-shaped-12345"
    (tmp_path / "token").write_text(saved + "\n", encoding="utf-8")
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "token"))
    assert redact(f"x {saved} y") == "x *** y"
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "missing"))
    assert redact(f"x {saved} y") == f"x {saved} y"


def test_tuner_error_is_one_line() -> None:
    err = TunerError("bad\nthing\n  happened", field="max_length", hint="use a positive number")
    assert err.one_line() == "max_length: bad thing happened (use a positive number)"


def test_config_roundtrip_and_broken_file(tmp_path: Path) -> None:
    assert load_config().data == {}
    broken = tmp_path / "config.toml"
    broken.write_text("[ui\ntheme=", encoding="utf-8")
    cfg = load_config(broken)
    assert cfg.data == {} and cfg.problem and "using defaults" in cfg.problem
    assert "\n" not in cfg.problem


def test_store_wal_and_redaction() -> None:
    store = Store()
    assert store.path.parent == paths.data_dir()
    with store.connect() as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        conn.execute(
            "INSERT INTO jobs (id, backend, name, status, created_at, updated_at, config_json) "
            "VALUES ('j1', 'local', 'n', 'RUNNING', 0, 0, ?)", (put_json({"env": CANARY_TOKEN}),))
    assert mode == "wal"
    assert_no_canary(store.path.read_bytes())


def test_cli_help_lists_locate_and_is_fast_to_import() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "locate" in result.stdout
    code = "import sys, tui_tuner.cli as c; c.build_parser(); print(sorted(m for m in ('torch','transformers','textual','trl','peft','datasets') if m in sys.modules))"
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"


def test_cli_locate_json() -> None:
    result = run_cli("locate", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"config", "data", "store", "themes"}


def test_bundled_themes_load_and_user_theme_is_read(tmp_path: Path) -> None:
    from tui_tuner.themes import load_themes

    user_dir = paths.ensure(paths.user_themes_dir())
    (user_dir / "mine.toml").write_text('name = "mine"\nprimary = "#ff00ff"\ndark = true\n', encoding="utf-8")
    (user_dir / "broken.toml").write_text('name = "x"\nbogus = 1\n', encoding="utf-8")
    themes, problems = load_themes()
    names = {t.name for t in themes}
    assert {"tuner-dark", "tuner-light", "mine"} <= names
    assert any(t.dark for t in themes) and any(not t.dark for t in themes)
    assert len(problems) == 1 and "broken.toml" in problems[0]


@pytest.mark.asyncio
async def test_app_starts_with_theme_and_survives_broken_config() -> None:
    from tui_tuner.app import TunerApp

    paths.ensure(paths.config_dir())
    paths.config_file().write_text("[ui]\ntheme = 'does-not-exist'\n", encoding="utf-8")
    app = TunerApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.theme == "tuner-dark"
        built = [a.mode for a in app.areas]
        if built:
            assert app.current_mode == built[0]
            for area in app.areas:
                # F1-F5 switch from anywhere (an area opens with its first field focused, which takes digits).
                await pilot.press(f"f{area.key}")
                await pilot.pause()
                assert app.current_mode == area.mode


def test_cli_output_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    # `tui-tuner calc ... | head -1`: the reader is gone before the CLI writes; no traceback, SIGPIPE status.
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "wb") as closed_pipe:
        proc = subprocess.run([sys.executable, "-m", "tui_tuner", "calc", "--model", "llama-3.1-8b"],
                              stdout=closed_pipe, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=60,
                              env={**os.environ, "TUI_TUNER_HOME": str(tmp_path)})
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 141


def test_hub_error_tells_no_token_from_a_rejected_token() -> None:
    from huggingface_hub.errors import LocalTokenNotFoundError

    from core.hub import hub_error

    missing = hub_error(LocalTokenNotFoundError("Token is required"), "whoami")
    assert missing.one_line().startswith("whoami: no Hugging Face token") and "401" not in missing.one_line()

    class Rejected(Exception):
        response = type("Response", (), {"status_code": 401})()

    assert "not logged in (401)" in hub_error(Rejected("Unauthorized"), "whoami").one_line()
