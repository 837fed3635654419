"""The app shell in a real terminal: first paint, switching areas, first visits, keystroke-to-repaint.

Run: .venv/bin/python benchmarks/app_shell.py [--runs N] [--size 80x24]  (writes docs/benchmarks/app_shell.md)

Each app runs as a child process in a pseudo-terminal of the given size with Textual's ordinary Linux
driver, exactly as over SSH. The harness answers Textual's synchronized-output query (DECRQM 2026), so
every frame arrives between `ESC[?2026h` and `ESC[?2026l`: a frame's end is a precise "painted" moment.

- First paint: spawn → end of the frame that completes the app's frame (title, area bar, the
  footer's `?`), against a bare Textual app (Header + Footer) spawned the same way, the two
  alternated run by run; the ratio of the medians is the figure (the machine is shared, so absolute
  times swing). The app paints its frame first, then builds the start area: "calculator ready" is
  when the calculator's own keys are in the footer, reported beside it.
- First visit / switch back: F1-F5 → end of the frame that shows the area's own text.
- Keystroke-to-repaint: one character typed into Launch's first field → end of the frame showing it,
  typed at ~7 keys/s with pauses, so the form's debounced preview refreshes interleave with typing.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "benchmarks" / "app_shell.md"

SYNC_START, SYNC_END = b"\x1b[?2026h", b"\x1b[?2026l"
DECRQM_SYNC = b"\x1b[?2026$p"
DECRQM_REPLY = b"\x1b[?2026;2$y"
"""'Supported, currently reset': Textual then wraps every frame in synchronized-output markers."""
_ESCAPES = re.compile(rb"\x1b\[[0-9;?<>=$]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]")

BARE_APP = """
from textual.app import App
from textual.widgets import Footer, Header

class Bare(App):
    TITLE = "bare"
    def compose(self):
        yield Header()
        yield Footer()

Bare().run()
"""

AREAS = {
    # mode: (F-key as the terminal sends it, text only that area's screen shows: a footer key or the body)
    "calc": (b"\x1bOP", "r Recompute"),
    "launch": (b"\x1bOQ", "^l Launch"),
    "jobs": (b"\x1bOR", "/ Filter"),
    "convert": (b"\x1bOS", "^s Start"),
    "eval": (b"\x1b[15~", "No results open"),
}
TYPED = "abcdefghijklmnopqrstuvwxyz"
"""Distinct characters, so a frame that shows the newest one can only come after its key."""


def plain(frame: bytes) -> str:
    return _ESCAPES.sub(b"", frame).decode("utf-8", "replace")


def _controlling_terminal() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@dataclass
class Terminal:
    """A child process on a pseudo-terminal; frames are collected with the time their last byte arrived."""

    argv: list[str]
    env: dict[str, str]
    size: tuple[int, int]
    started: float = 0.0
    frames: list[tuple[float, str]] = field(default_factory=list)
    _pending: bytes = b""

    def __enter__(self) -> Terminal:
        master, slave = os.openpty()
        columns, rows = self.size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.started = time.perf_counter()
        # The pty becomes the child's controlling terminal (as sshd does), so closing it hangs up.
        self.proc = subprocess.Popen(self.argv, stdin=slave, stdout=slave, stderr=slave, env=self.env,
                                     close_fds=True, preexec_fn=_controlling_terminal)
        os.close(slave)
        self.fd = master
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            os.write(self.fd, b"\x11")  # ctrl+q
            deadline = time.monotonic() + 3
            while self.proc.poll() is None and time.monotonic() < deadline:
                self._read(0.05)
        except OSError:
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        os.close(self.fd)

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return
        try:
            data = os.read(self.fd, 1 << 16)
        except OSError:
            return
        now = time.perf_counter()
        if DECRQM_SYNC in data:
            os.write(self.fd, DECRQM_REPLY)
        self._pending += data
        while (end := self._pending.find(SYNC_END)) >= 0:
            chunk, self._pending = self._pending[:end], self._pending[end + len(SYNC_END):]
            start = chunk.rfind(SYNC_START)
            self.frames.append((now, plain(chunk[start + len(SYNC_START):] if start >= 0 else chunk)))

    def wait_painted(self, *markers: str, since: int = 0, timeout: float = 30.0) -> float:
        """Time (perf_counter) when the frames from index `since` on have shown every marker: a frame
        repaints only what changed, so the markers may arrive in different frames."""
        return self.wait_frame(lambda seen: all(m in seen for m in markers), since, timeout)

    def wait_frame(self, predicate: Callable[[str], bool], since: int = 0, timeout: float = 30.0) -> float:
        """Time (perf_counter) when the text of the frames from index `since` on first satisfies predicate."""
        deadline = time.perf_counter() + timeout
        while True:
            seen = ""
            for when, text in self.frames[since:]:
                seen += text
                if predicate(seen):
                    return when
            if time.perf_counter() > deadline or self.proc.poll() is not None:
                tail = self.frames[-1][1][-400:] if self.frames else "(no frame)"
                raise RuntimeError(f"{self.argv[-1]}: no matching frame; last frame ends {tail!r}")
            self._read(0.02)

    def settle(self, quiet_s: float = 0.4, at_most_s: float = 3.0) -> None:
        """Read until no frame arrived for quiet_s (timers and workers of the last action are done), or
        at_most_s passed (an animation repaints forever)."""
        last = len(self.frames)
        quiet_since = give_up = time.perf_counter()
        while time.perf_counter() - quiet_since < quiet_s and time.perf_counter() - give_up < at_most_s:
            self._read(0.02)
            if len(self.frames) != last:
                last, quiet_since = len(self.frames), time.perf_counter()

    def press(self, data: bytes) -> tuple[int, float]:
        mark = len(self.frames)
        sent = time.perf_counter()
        os.write(self.fd, data)
        return mark, sent


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEXTUAL", "HF_TOKEN"))}
    env.update(TERM="xterm-256color", COLORTERM="truecolor", TUI_TUNER_HOME=str(home),
               HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT / "src"))
    return env


def first_paint_bare(env: dict[str, str], size: tuple[int, int]) -> float:
    with Terminal([sys.executable, "-c", BARE_APP], env, size) as term:
        return term.wait_painted("bare", "palette") - term.started


def first_paint_app(env: dict[str, str], size: tuple[int, int]) -> tuple[float, float]:
    """(the frame: title, area bar and footer's `?`; the start area ready: its own footer keys)."""
    with Terminal([sys.executable, "-m", "tui_tuner"], env, size) as term:
        frame = term.wait_painted("tui-tuner", "1 Calculator", "? Help") - term.started
        return frame, term.wait_painted(AREAS["calc"][1]) - term.started


def session(env: dict[str, str], size: tuple[int, int], rounds: int) -> dict[str, list[float]]:
    """One app session: first visits to every area, then switches between visited ones, then typing."""
    out: dict[str, list[float]] = {"first_visit": [], "switch": [], "keystroke": []}
    out.update({f"first visit: {mode}": [] for mode in AREAS if mode != "calc"})
    with Terminal([sys.executable, "-m", "tui_tuner"], env, size) as term:
        term.wait_painted(AREAS["calc"][1])
        term.settle()
        order = ["launch", "jobs", "convert", "eval"]
        for mode in order:
            key, marker = AREAS[mode]
            mark, sent = term.press(key)
            out["first_visit"].append(term.wait_painted(marker, since=mark) - sent)
            out[f"first visit: {mode}"].append(out["first_visit"][-1])
            term.settle()
        for _ in range(rounds):
            for mode in ["calc", *order]:
                key, marker = AREAS[mode]
                mark, sent = term.press(key)
                out["switch"].append(term.wait_painted(marker, since=mark) - sent)
                term.settle(0.25)
        key, marker = AREAS["launch"]
        mark, _ = term.press(key)
        term.wait_painted(marker, since=mark)
        term.settle()
        for i, char in enumerate(TYPED):
            mark, sent = term.press(char.encode())
            out["keystroke"].append(term.wait_painted(char, since=mark) - sent)
            time.sleep(0.6 if i % 5 == 4 else 0.14)
    return out


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    # A SIGTERM (e.g. `timeout`) unwinds like an exception, so every child terminal is closed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="first-paint pairs (alternated)")
    parser.add_argument("--sessions", type=int, default=3, help="app sessions for switching and typing")
    parser.add_argument("--size", default="80x24")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    size = tuple(int(n) for n in args.size.split("x"))
    assert len(size) == 2
    load_before = os.getloadavg()[0]  # the machine is shared: the figures are read with the load beside them
    with tempfile.TemporaryDirectory() as tmp:
        env = base_env(Path(tmp))
        first_paint_app(env, size)  # warm the file cache and the store once, not measured
        bare: list[float] = []
        app: list[float] = []
        ready: list[float] = []
        for run in range(args.runs):
            for first in ((True, False) if run % 2 == 0 else (False, True)):
                if first:
                    bare.append(first_paint_bare(env, size))  # type: ignore[arg-type]
                else:
                    frame, area = first_paint_app(env, size)  # type: ignore[arg-type]
                    app.append(frame)
                    ready.append(area)
        timings: dict[str, list[float]] = {}
        for _ in range(args.sessions):
            for key, values in session(env, size, rounds=2).items():  # type: ignore[arg-type]
                timings.setdefault(key, []).extend(values)
    ratio = statistics.median(app) / statistics.median(bare)
    ready_ratio = statistics.median(ready) / statistics.median(bare)
    rows = [
        ("first paint (header, area bar, footer), app / bare Textual (Header+Footer)", "≤ 1.5×",
         f"{ratio:.2f}× ({statistics.median(app) * 1000:.0f} / {statistics.median(bare) * 1000:.0f} ms median)",
         ratio <= 1.5),
        ("calculator ready (its form, results and keys), app / bare Textual", "–",
         f"{ready_ratio:.2f}× ({statistics.median(ready) * 1000:.0f} ms median)", None),
        ("first visit of an area, p90", "≤ 400 ms", f"{p(timings['first_visit'], 0.9) * 1000:.0f} ms",
         p(timings["first_visit"], 0.9) <= 0.4),
        ("switch to a visited area, p90", "≤ 100 ms", f"{p(timings['switch'], 0.9) * 1000:.0f} ms",
         p(timings["switch"], 0.9) <= 0.1),
        ("keystroke → repaint in the Launch form, p90", "≤ 50 ms", f"{p(timings['keystroke'], 0.9) * 1000:.0f} ms",
         p(timings["keystroke"], 0.9) <= 0.05),
    ]
    lines = [
        "# App shell: start-up, areas, typing",
        "",
        f"`benchmarks/app_shell.py --runs {args.runs} --sessions {args.sessions} --size {args.size}`; "
        "real pseudo-terminal, Textual's Linux driver, frames timed by their synchronized-output end marker.",
        "",
        "| what | target | measured | met |",
        "|---|---|---|---|",
        *[f"| {what} | {target} | {value} | {'–' if ok is None else 'yes' if ok else 'no'} |"
          for what, target, value, ok in rows],
        "",
        "All samples (ms):",
        "",
        f"- first paint, bare: {', '.join(f'{v * 1000:.0f}' for v in bare)}",
        f"- first paint, app: {', '.join(f'{v * 1000:.0f}' for v in app)}",
        f"- calculator ready: {', '.join(f'{v * 1000:.0f}' for v in ready)}",
        *[f"- {key}: median {statistics.median(v) * 1000:.0f}, p90 {p(v, 0.9) * 1000:.0f}, max {max(v) * 1000:.0f} "
          f"(n={len(v)})" for key, v in timings.items()],
        "",
        f"Machine: {os.cpu_count()} CPUs, shared (1-minute load average {load_before:.2f} before the run, "
        f"{os.getloadavg()[0]:.2f} after); Python {sys.version.split()[0]}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        OUT.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
