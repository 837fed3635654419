"""A tab pane whose widgets are built on its first activation, not when the Evaluate area opens.

The viewer has five tabs and seven tables; building the four hidden ones up front cost most of the area's
first visit. The tab strip (and its keys) exists at once; a pane's content is composed the first time it is
shown (`build`). Until then `show(...)` only keeps the data, which the pane renders once built.
"""

from __future__ import annotations

import asyncio

from textual.app import ComposeResult
from textual.widgets import TabPane


class LazyPane(TabPane):
    """Subclasses implement `compose_content` (the pane's widgets) and `render_content` (fill them from the
    data kept by their `show`)."""

    def __init__(self, title: str, *, id: str, built: bool = False) -> None:
        """built: compose the content with the pane (the tab shown first)."""
        super().__init__(title, id=id)
        self._compose_content = built
        self._ready = built
        self._build_task: asyncio.Task[None] | None = None

    @property
    def built(self) -> bool:
        """The content is mounted and can be queried."""
        return self._ready

    def compose(self) -> ComposeResult:
        if self._compose_content:
            yield from self.compose_content()

    def compose_content(self) -> ComposeResult:  # pragma: no cover - overridden by every pane
        raise NotImplementedError

    def render_content(self) -> None:
        """Fill the built widgets from the kept data (nothing to do before any data)."""

    async def build(self) -> None:
        """Compose and mount the content once (concurrent callers wait for the same build), then render."""
        if self._ready:
            return
        if self._build_task is None:
            self._compose_content = True
            self._build_task = asyncio.ensure_future(self._build())
        await self._build_task

    async def _build(self) -> None:
        await self.recompose()
        if self.is_attached:
            self._ready = True
            self.render_content()
