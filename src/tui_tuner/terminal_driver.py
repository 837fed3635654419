"""Textual's Linux driver, made to notice a terminal that went away without a hangup signal.

When the terminal closes but no SIGHUP arrives (the pty is not the app's controlling terminal, the signal
is ignored, an SSH multiplexer or a web terminal drops the master side), reads from the input fd return
end-of-file (or fail with EIO) at once, forever. Textual's input thread treats an empty read as "nothing
typed" and selects again, so the app spun at a full core with nobody watching, and every child it had
started (a conversion, an evaluation, the demo's trainer) kept running. Writes to the gone terminal fail
with EIO, which killed Textual's writer thread with a traceback and could leave a full output queue that
blocks the app's exit.

This driver reads the input the same way, but on end-of-file or an OS error it asks the app to exit, as
SIGHUP does (`TunerApp.on_unmount` then ends every tracked child group through `core.process_tree`), and
its output swallows the errors of a terminal that is gone so that the exit itself cannot block or raise.
"""

from __future__ import annotations

import contextlib
import os
import selectors
from codecs import getincrementaldecoder
from typing import IO, TYPE_CHECKING, Any

from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

if TYPE_CHECKING:
    from textual.app import App


class _TerminalOutput:
    """The terminal's output stream; once a write fails (the terminal is gone) later writes are dropped."""

    def __init__(self, file: IO[str], on_lost: Any) -> None:
        self._file = file
        self._on_lost = on_lost
        self.lost = False

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                return self._file.write(text)
            except (OSError, ValueError):  # EIO/EPIPE from a closed terminal; ValueError: a closed file
                self._lose()
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._file.flush()
            except (OSError, ValueError):
                self._lose()

    def _lose(self) -> None:
        self.lost = True
        self._on_lost()

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return self._file.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class HangupAwareDriver(LinuxDriver):
    """LinuxDriver that exits the app when its terminal reaches end-of-file or fails, instead of spinning."""

    def __init__(self, app: App, *, debug: bool = False, mouse: bool = True,
                 size: tuple[int, int] | None = None) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        self._file = _TerminalOutput(self._file, self._terminal_lost)  # type: ignore[assignment]
        self.terminal_lost = False

    def _terminal_lost(self) -> None:
        """Called from the input or writer thread: quit once, from the app's own loop."""
        if self.terminal_lost:
            return
        self.terminal_lost = True
        self._file.lost = True  # type: ignore[attr-defined]  # nothing more to draw: nobody can see it
        with contextlib.suppress(RuntimeError):  # a closed loop: the app is gone anyway
            self._loop.call_soon_threadsafe(self._app.exit)

    def run_input_thread(self) -> None:
        """Textual's input loop (textual 8.2), with end-of-file and read errors ending the app."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode

        def read_ready(timeout: float, final: bool = False) -> bool:
            """Dispatch what is there to read; False once the terminal is gone."""
            ready = selector.select(timeout)
            for index, (_key, mask) in enumerate(ready):
                if not mask & selectors.EVENT_READ:
                    continue
                try:
                    data = os.read(self.fileno, 4096)
                except (BlockingIOError, InterruptedError):  # another reader of a shared, non-blocking tty won
                    continue
                except OSError:  # EIO: the terminal hung up; EBADF: stdin was closed under us
                    return False
                if not data:  # end-of-file: the master side of the pty (or a piped stdin) closed
                    return False
                for event in parser.feed(decode(data, final=final and index == len(ready) - 1)):
                    self.process_message(event)
            for event in parser.tick():
                self.process_message(event)
            return True

        try:
            while not self.exit_event.is_set():
                if not read_ready(0.1):
                    self._terminal_lost()
                    return
            selector.unregister(self.fileno)
        finally:
            selector.close()
            try:
                for _event in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass
