"""The Line-API log view: bounded, follows the tail, holds still while the user reads further up."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui_tuner.widgets.log_view import LogView


class ViewApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogView(max_lines=500, id="log")


async def test_tail_follow_scroll_back_and_bounded_ring() -> None:
    app = ViewApp()
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(LogView)
        view.append([f"line {i}" for i in range(100)])
        await pilot.pause()
        assert view.following and view.scroll_y == view.max_scroll_y
        assert "line 99" in "".join(s.text for s in view.render_line(view.size.height - 1))

        view.focus()
        await pilot.press("pageup")
        await pilot.pause()
        assert not view.following
        top_before = int(view.scroll_y)
        first_visible = view.buffer.lines[top_before]
        view.append([f"more {i}" for i in range(50)])
        await pilot.pause()
        assert view.buffer.lines[int(view.scroll_y)] == first_visible  # the viewport did not move
        assert view.unseen == 50 and "50 new" in str(view.border_subtitle)

        view.append([f"flood {i}" for i in range(1000)])  # the ring drops the oldest lines
        await pilot.pause()
        assert len(view.buffer.lines) == 500 and view.buffer.total == 1150
        assert "last 500 of 1,150 lines" in str(view.border_subtitle)

        await pilot.press("end")
        await pilot.pause()
        assert view.following and view.unseen == 0 and view.scroll_y == view.max_scroll_y
        view.append(["\x1b[31mTraceback (most recent call last):\x1b[0m"])
        await pilot.pause()
        last = view.render_line(view.size.height - 1)
        assert "".join(s.text for s in last).startswith("Traceback")  # ANSI stripped
