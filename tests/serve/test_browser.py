"""`tui-tuner serve` in a real browser: Debian's chromium, headless, driven by Playwright (no browser download).

The page is textual-serve's own (xterm.js on a canvas). To read what the browser's terminal holds, the test
serves the page's script with one addition that hands the xterm `Terminal` to the test
(`window.__tuiTerminal`); the text is then read from the terminal's buffer, i.e. after the app's bytes
went through the server, the websocket and xterm's parser in the browser. A screenshot of the calculator is
kept (the test's tmp dir and, when set, $TUI_TUNER_ARTIFACTS).

CI (.ci/run) installs chromium when it is missing: without it this test fails, except in the base-install
venv (TUI_TUNER_BASE_INSTALL=1), which has neither the browser driver nor the dev extra.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import assert_no_canary
from tests.serve import server as srv

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OPEN_MARK = "this.terminal.open(e)"
"""Where textual.js opens its xterm Terminal; the test appends `window.__tuiTerminal = this.terminal`."""
SCREEN_TEXT_JS = """() => {
  const t = window.__tuiTerminal;
  if (!t) return null;
  const b = t.buffer.active, rows = [];
  for (let y = 0; y < t.rows; y++) { const l = b.getLine(b.viewportY + y); rows.push(l ? l.translateToString(true) : ""); }
  return rows.join("\\n");
}"""


def _chromium(which: Callable[[str], str | None] = shutil.which, debian: Path = Path("/usr/bin/chromium")) -> str:
    found = which("chromium") or (str(debian) if debian.is_file() else None)
    if found:
        return found
    if os.environ.get("TUI_TUNER_BASE_INSTALL") == "1":
        pytest.skip("the base install has no browser (the full suite runs this test)")
    pytest.fail("chromium is missing: `apt-get install -y chromium` (.ci/run installs it)")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("TUI_TUNER_BASE_INSTALL") == "1":
            pytest.skip("the base install has no playwright")
        pytest.fail("playwright is missing: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=executable, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 800})
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[srv.Served]:
    work = tmp_path / "work"
    work.mkdir()
    server = srv.start(work)
    yield server
    if server.process.poll() is None:
        server.kill()


def _expose_terminal(route: Any) -> None:
    response = route.fetch()
    script = response.text()
    assert OPEN_MARK in script, "textual-serve's textual.js changed: update OPEN_MARK"
    route.fulfill(response=response, body=script.replace(OPEN_MARK, OPEN_MARK + ",window.__tuiTerminal=this.terminal"))


def _wait(page: Any, predicate: Callable[[str], bool], what: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = page.evaluate(SCREEN_TEXT_JS) or ""
        if predicate(text):
            return text
        time.sleep(0.1)
    raise AssertionError(f"the browser never showed {what}; the screen was:\n{text}")


def _click_text(page: Any, needle: str) -> None:
    """Click the middle of the first cell run showing `needle` (the terminal is a grid of equal cells)."""
    rows = (page.evaluate(SCREEN_TEXT_JS) or "").split("\n")
    row = next(i for i, line in enumerate(rows) if needle in line)
    column = rows[row].index(needle)
    cols, lines = page.evaluate("() => [window.__tuiTerminal.cols, window.__tuiTerminal.rows]")
    box = page.locator(".xterm-screen").bounding_box()
    cell_w, cell_h = box["width"] / cols, box["height"] / lines
    page.mouse.click(box["x"] + (column + len(needle) / 2) * cell_w, box["y"] + (row + 0.5) * cell_h)


def _field(screen: str, label: str) -> str:
    """The value shown in the input box under `label` (its text row is two rows below the label)."""
    rows = screen.split("\n")
    at = next((i for i, row in enumerate(rows) if row.lstrip().startswith(label)), None)
    if at is None or at + 2 >= len(rows):
        return ""
    # A field's edges: ▊ … ▎ unfocused, ┃ … ┃ (a heavy border) when it has the focus.
    match = re.match(r"\s*[▊┃](.*?)[▎┃]", rows[at + 2])
    return match.group(1).strip() if match else ""


def _keep_screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot))
    artifacts = os.environ.get("TUI_TUNER_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy2(shot, Path(artifacts) / name)
    return shot


@pytest.mark.parametrize(("base_install", "outcome"), [("1", pytest.skip.Exception), ("", pytest.fail.Exception)])
def test_a_missing_browser_fails_except_in_the_base_install(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base_install: str, outcome: type[BaseException]) -> None:
    monkeypatch.setenv("TUI_TUNER_BASE_INSTALL", base_install)
    with pytest.raises(outcome):
        _chromium(which=lambda name: None, debian=tmp_path / "no-chromium")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_calculator_works_in_a_browser_and_nothing_outlives_the_server(
        browser: Any, served: srv.Served, tmp_path: Path) -> None:
    page = browser.pages[0] if browser.pages else browser.new_page()

    # A wrong token is refused, in the browser too: no page, no app.
    wrong = page.goto(f"{served.origin}/{'x' * len(served.token)}/")
    assert wrong is not None and wrong.status == 404
    assert page.goto(f"{served.origin}/").status == 404
    assert served.apps() == []

    page.route("**/static/js/textual.js", _expose_terminal)
    loaded = page.goto(served.url)
    assert loaded is not None and loaded.status == 200
    page.wait_for_selector("body.-first-byte", timeout=60_000)  # the page's own "the app is drawing" mark
    screen = _wait(page, lambda t: "1 Calculator" in t and "Peak" in t and "2,048 tokens" in t, "the calculator")
    assert "Gemma 3 12B" in screen
    apps = served.wait_for_apps(1)

    # Keys go to the app: F3 opens the job monitor (F-keys work from any field), `1` comes back to the
    # calculator (digits work where no text field has the focus, as in the monitor's table).
    page.focus(".xterm-helper-textarea")
    page.keyboard.press("F3")
    _wait(page, lambda t: "JOB ID" in t and "Peak" not in t, "the job monitor")
    page.keyboard.press("1")
    _wait(page, lambda t: "Peak" in t and "JOB ID" not in t, "the calculator again")

    # Type into a field: max length 2048 -> 4096; the estimate follows.
    # One key at a time, each awaited on screen: keys synthesised faster than xterm.js's own input handling
    # can arrive out of order (a person's typing does not).
    _click_text(page, "2048")
    page.keyboard.press("Control+e")
    _wait(page, lambda t: _field(t, "Max length") == "2048", "the max length field")
    page.keyboard.press("Control+u")
    _wait(page, lambda t: _field(t, "Max length") == "padded sequence length", "the emptied field")
    for typed in ("4", "40", "409", "4096"):
        page.keyboard.press(typed[-1])
        _wait(page, lambda t, typed=typed: _field(t, "Max length") == typed, f"{typed} in the field")
    screen = _wait(page, lambda t: "4,096 tokens" in t, "the new max length in the estimate")
    peak = next(line for line in screen.splitlines() if "Peak " in line)
    assert "Peak 17.3 GB" not in peak  # twice the tokens: a larger peak than the default's
    assert_no_canary(screen)

    shot = _keep_screenshot(page, tmp_path, "serve-calculator.png")
    assert shot.stat().st_size > 10_000  # a rendered screen, not a blank page

    # Ctrl-C at the server's terminal, with the tab still open: the server and its app end.
    assert served.stop(signal.SIGINT) == 0
    assert srv.wait_gone(apps, 15) == []
    page.wait_for_selector("body.-closed", timeout=15_000)  # the page says "Session ended."
    assert_no_canary(served.read_rest())
