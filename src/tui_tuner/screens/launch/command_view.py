"""The command a launch runs, as the user copies it: shell lines that fit the panel.

A command soft-wrapped by the terminal is copied with line breaks in the middle of it, so a paste would run
half a command. Here it is broken between arguments with ` \\` continuations (`Command.shell_lines`) to the
panel's width, whatever that width is now: pasted as shown, it runs whole.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual.geometry import Size
from textual.widgets import Static

from core.launch.command import Command
from core.redact import redact


class CommandView(Static):
    """`show(command)`, or `show_error(text)` when there is no command to show (a Static's text)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.command: Command | None = None

    def show(self, command: Command) -> None:
        self.command = command
        self.refresh(layout=True)

    def show_error(self, message: Text) -> None:
        self.command = None
        self.update(message)

    def lines(self, width: int | None = None) -> list[str]:
        """The shell lines at `width` columns (default: the panel's); empty without a command."""
        if self.command is None:
            return []
        return [redact(line) for line in self.command.shell_lines(width or self.content_size.width)]

    def render(self) -> RenderResult:
        if self.command is None:
            return super().render()
        return Text("\n".join(self.lines()), no_wrap=True, overflow="ellipsis")

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        # As many rows as the lines at the width being laid out (the rendered text breaks at the same one).
        if self.command is None:
            return super().get_content_height(container, viewport, width)
        return len(self.lines(width))
