"""The Line-API log view: bounded, follows the tail, holds still while the user reads further up."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui_tuner.screens.jobs.log_view import LogView


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


async def test_filter_shows_matching_lines_and_keeps_up_with_new_ones() -> None:
    app = ViewApp()
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(LogView)
        view.append([f"step {i}" if i % 10 else f"eval loss {i}" for i in range(400)])
        view.set_filter("EVAL")
        await pilot.pause()
        assert view.shown_count == 40 and "filter 'eval': 40 of" in str(view.border_subtitle)
        view.append(["eval loss new", "step x"])
        view.append([f"noise {i}" for i in range(300)])  # pushes the oldest matches out of the ring
        await pilot.pause()
        shown = ["".join(s.text for s in view.render_line(y)).rstrip() for y in range(view.size.height)]
        assert shown[-1] == "eval loss new" and all(line.startswith("eval loss") for line in shown if line)
        assert view.shown_count == sum(1 for line in view.buffer.lines if "eval" in line)
        view.set_filter("")
        await pilot.pause()
        assert view.shown_count == 500
