"""Shared set-up for the jobs benchmarks: a loopback fake Hub, the environment pointing at it, the jobs screen
in a headless Textual app, and the per-benchmark section of `docs/benchmarks/monitor.md`.

The fake Hub is the project's own (`tests/support/fakehub`), driven by the real huggingface_hub client, as in
the tests. `--src` lets a benchmark run against another checkout's `src/` (e.g. the code before a change) to
compare in the same session.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_benchmarkFakeHubToken000000000000"


def use_sources(src: Path | None) -> None:
    """Import `core`/`tui_tuner` from `src` (default: this checkout) and the fake Hub from this checkout."""
    sys.path[:0] = [str((src or ROOT / "src").resolve()), str(ROOT)]


def start_hub() -> Any:
    """A fake Hub on loopback, the environment pointing at it (as `tests/support/fakehub/fixtures.py` does)."""
    from tests.support.fakehub import FakeHub

    home = Path(tempfile.mkdtemp(prefix="tui-tuner-bench-"))
    hub = FakeHub(token=TOKEN, user="tester").start()
    os.environ.update({
        "TUI_TUNER_HOME": str(home), "HF_TOKEN": TOKEN, "HF_ENDPOINT": hub.url, "HF_HOME": str(home / "hf"),
        "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_EXPERIMENTAL_WARNING": "1", "TRACKIO_DIR": str(home / "trackio"),
    })
    os.environ.pop("HF_HUB_OFFLINE", None)
    import huggingface_hub.constants as constants
    import huggingface_hub.hf_api as hf_api

    constants.ENDPOINT = hub.url
    constants.HF_HUB_OFFLINE = False
    hf_api.api.endpoint = hub.url
    return hub


def jobs_app(config: str = "") -> Any:
    """A headless app showing only the jobs screen (with the app's global stylesheet)."""
    from textual.app import App

    from core import paths
    from tui_tuner.screens.jobs.screen import JobsScreen

    paths.ensure(paths.config_dir())
    paths.config_file().write_text(config)
    css = [p for p in (ROOT / "src" / "tui_tuner" / "styles" / "global.tcss",) if p.exists()]

    class JobsApp(App[None]):
        CSS_PATH = css

        def on_mount(self) -> None:
            self.push_screen(JobsScreen())

    return JobsApp()


def write_section(path: Path, name: str, text: str) -> None:
    """Replace this benchmark's section of a shared report (between `<!-- name -->` markers), or append it."""
    begin, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    new = pattern.sub(lambda _: block, old) if pattern.search(old) else old.rstrip() + ("\n\n" if old else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")
