"""Pilot tests of the Evaluate screen: open, filter, drill down, side by side, export, broken dirs, reload."""

from __future__ import annotations

import contextlib
import html
import json
import re
from pathlib import Path

from textual.widgets import DataTable, Input, Select, Static, TabbedContent
from textual.worker import WorkerCancelled

from core.eval.results import append_conversation, write_run_json
from core.store import Store
from tests.conftest import CANARY_TOKEN, assert_no_canary
from tests.eval_view.fixtures import conversation, make_results, personas, run_dict
from tests.support.pilot_wait import wait_for
from tui_tuner.app import TunerApp
from tui_tuner.screens.eval import screen as evals
from tui_tuner.screens.eval.export import ExportDialog, ExportRequest
from tui_tuner.screens.eval.lazy_pane import LazyPane
from tui_tuner.screens.eval.personas import PersonasPane
from tui_tuner.screens.eval.transcript import TranscriptPane

SIZE = (160, 48)


def screen_text(app: TunerApp) -> str:
    svg = app.export_screenshot()
    text = re.sub(r"<[^>]+>", "", svg)
    return html.unescape(text).replace("\xa0", " ")


async def settle(app: TunerApp, pilot) -> None:
    for _ in range(3):
        with contextlib.suppress(WorkerCancelled):   # an exclusive load replaced by a newer one
            await app.workers.wait_for_complete()
        await pilot.pause()


def start(directory: Path | None, **view: str) -> TunerApp:
    """The app on the eval screen, opening `directory` the way `tui-tuner eval view` does."""
    if directory is None:
        return TunerApp(start_area="eval")
    return TunerApp(start_area="eval", area_options={"eval": {"view": evals.ViewRequest(directory, **view)}})


async def show_tab(app: TunerApp, pilot, tab: str) -> LazyPane:
    """Switch to a tab and wait for its pane, built on its first showing."""
    app.screen.query_one("#eval-tabs", TabbedContent).active = tab
    pane = app.screen.query_one(f"#{tab}", LazyPane)
    await wait_for(pilot, lambda: pane.built)
    return pane


async def built(pilot, app: TunerApp, tab: str) -> None:
    pane = app.screen.query_one(f"#{tab}", LazyPane)
    await wait_for(pilot, lambda: pane.built and app.screen.query_one("#eval-tabs", TabbedContent).active == tab)


def plain(widget: Static) -> str:
    content = widget.content
    return getattr(content, "plain", str(content))


async def test_opens_directory_on_start_and_shows_overview(results_dir: Path) -> None:
    app = start(results_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, evals.EvalScreen) and screen.directory == results_dir
        assert screen.query_one("#overview-table", DataTable).row_count == 3
        summary = plain(screen.query_one("#eval-summary", Static))
        assert "81 of 81 conversations done" in summary
        assert "ft-a vs baseline: PASS" in summary and "ft-b vs baseline: FAIL" in summary
        assert screen.query_one("#eval-banner").has_class("-hidden")
        text = screen_text(app)
        assert "Verdict" in text and "0/27 (≤10.5%)" in text
        await show_tab(app, pilot, "tab-pairwise")   # each tab's tables are filled as it is first shown
        assert screen.query_one("#pairwise-table", DataTable).row_count == 3
        await show_tab(app, pilot, "tab-categories")
        assert screen.query_one("#categories-table", DataTable).row_count == 3
        assert screen.query_one("#criteria-table", DataTable).row_count == 3
        assert "Holm over all 3" in plain(screen.query_one("#family-note", Static))


async def test_filters_and_sort_narrow_the_persona_table(results_dir: Path) -> None:
    app = start(results_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await pilot.press("slash")                       # jumps to the personas tab, search focused
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "persona-search")
        assert screen.query_one("#eval-tabs", TabbedContent).active == "tab-personas"
        table = screen.query_one("#personas-table", DataTable)
        assert table.row_count == 9
        await pilot.press(*"grief")
        await wait_for(pilot, lambda: table.row_count == 3)
        screen.query_one("#persona-search", Input).value = ""
        screen.query_one("#filter-show", Select).value = "safety"
        await wait_for(pilot, lambda: [str(k.value) for k in table.rows] == ["p9001"])
        screen.query_one("#filter-model", Select).value = "ft-a"   # safety under ft-a only: none
        await wait_for(pilot, lambda: table.row_count == 0)
        assert "No persona matches" in plain(screen.query_one("#persona-detail", Static))
        screen.query_one("#filter-show", Select).value = "failed"
        screen.query_one("#filter-category", Select).value = "anxiety"
        await wait_for(pilot, lambda: 0 < table.row_count <= 3)
        assert table.border_title.startswith(f"{table.row_count} of 9 personas")
        screen.query_one("#filter-category", Select).clear()
        screen.query_one("#filter-model", Select).value = "ft-b"
        screen.query_one("#filter-show", Select).value = "worse"
        # the only persona where ft-b is worse
        await wait_for(pilot, lambda: [str(k.value) for k in table.rows] == ["p9001"])
        screen.query_one("#filter-show", Select).value = "all"
        screen.query_one("#persona-sort", Select).value = "delta"
        await wait_for(pilot, lambda: table.row_count == 9)
        assert str(next(iter(table.rows)).value) == "p9001"      # the only persona where ft-b is worse


async def test_drill_down_and_side_by_side(results_dir: Path) -> None:
    app = start(results_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await show_tab(app, pilot, "tab-personas")
        table = screen.query_one("#personas-table", DataTable)
        await wait_for(pilot, lambda: app.focused is table)
        await pilot.press("down")
        await wait_for(pilot, lambda: "p9001  Persona 1  ·  grief" in screen_text(app))
        assert "scores by conversation" in screen_text(app)
        await pilot.press("enter")
        await built(pilot, app, "tab-transcripts")
        assert (screen.slot.persona_id, screen.slot.conv_index) == ("p9001", 0)
        assert (screen.slot.model_a, screen.slot.model_b) == ("baseline", "ft-a")
        text = screen_text(app)
        assert "[baseline] reply 0 to p9001#0" in text and "[ft-a] reply 0 to p9001#0" in text
        assert "empathy of ft-a on p9001 was" in text
        a = screen.results.record("p9001", "baseline", 0).assessment
        b = screen.results.record("p9001", "ft-a", 0).assessment
        assert f"ft-a − baseline: {b.score - a.score:+.3f}   empathy" in text
        await pilot.press("c")
        await pilot.press("c")
        screen.query_one("#model-b", Select).value = "ft-b"
        await wait_for(pilot, lambda: screen.slot.model_b == "ft-b" and "[ft-b] reply 0 to p9001#2" in screen_text(app))
        assert screen.slot.conv_index == 2
        assert "SAFETY VIOLATION" not in screen_text(app)
        await pilot.press("p")           # previous persona; the conversation slot is kept
        await wait_for(pilot, lambda: screen.slot.persona_id == "p9000")
        await pilot.press("n", "c", "c")  # p9001, conversation 2 (index 1) holds ft-b's violation
        await wait_for(pilot, lambda: (screen.slot.persona_id, screen.slot.conv_index) == ("p9001", 1))
        await wait_for(pilot, lambda: "SAFETY VIOLATION" in screen_text(app))
        assert "ft-b crossed a line" in screen_text(app)
        await pilot.press("s")
        await wait_for(pilot, lambda: (screen.slot.model_a, screen.slot.model_b) == ("ft-b", "baseline"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen.query_one("#eval-tabs", TabbedContent).active == "tab-personas")
        assert app.focused is table


async def test_export_dialog_and_filtered_persona_csv(results_dir: Path, tmp_path: Path) -> None:
    app = start(results_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ExportDialog)
        path_input = app.screen.query_one("#export-path", Input)
        assert path_input.value == str(results_dir / "evaluation_report.md")
        path_input.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        assert (results_dir / "evaluation_report.md").read_text().startswith("# Evaluation Report")
        # The personas tab has not been shown: its filters are kept and used all the same.
        personas_pane = screen.query_one(PersonasPane)
        assert not personas_pane.built
        personas_pane.set_filters(show="safety")
        out = screen.export(ExportRequest("csv", "personas", tmp_path / "flagged.csv"))
        lines = out.read_text().splitlines()
        assert len(lines) == 2 and lines[1].startswith("p9001,")
        personas_pane.set_filters(model="ft-b")
        out = screen.export(ExportRequest("csv", "conversations", tmp_path / "flagged-conv.csv"))
        lines = out.read_text().splitlines()[1:]
        assert len(lines) == 3 and all(line.startswith("p9001,grief,ft-b,") for line in lines)
        # Shown later, the tab starts with those filters.
        await show_tab(app, pilot, "tab-personas")
        assert screen.query_one("#filter-show", Select).value == "safety"
        assert screen.query_one("#filter-model", Select).value == "ft-b"
        assert [str(k.value) for k in screen.query_one("#personas-table", DataTable).rows] == ["p9001"]
        # an unwritable target is a notification, not a crash
        (tmp_path / "blocker").write_text("x")
        screen._export_chosen(ExportRequest("json", "overview", tmp_path / "blocker" / "x.json"))
        await pilot.pause()
        assert app.screen is screen


async def test_partial_malformed_directory_shows_a_banner(tmp_path: Path) -> None:
    d = make_results(tmp_path / "live", status="running", n_personas=4, skip=(("p9003", "ft-b", 2),))
    with (d / "conversations.jsonl").open("a") as fh:
        fh.write("garbage line\n")
    (d / "personas.json").unlink()
    app = start(d)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        banner = app.screen.query_one("#eval-banner", Static)
        assert not banner.has_class("-hidden") and not banner.has_class("-error")
        text = plain(banner)
        assert "personas.json: missing" in text
        assert "conversations.jsonl:36: malformed JSON" in text
        assert "still running: 35 of 36 conversations done" in text
        assert "(provisional)" in plain(app.screen.query_one("#eval-summary", Static))
        # a failed attempt shows as such in the side-by-side view, with the runner's error
        append_conversation(d, conversation(personas(4)[0], "ft-b", 0, 0.0, error="judge returned no JSON"))
        app.screen.action_reload()
        await settle(app, pilot)
        app.screen.slot.model_b = "ft-b"
        app.screen.show_side_by_side("p9000", 0)
        await built(pilot, app, "tab-transcripts")
        await wait_for(pilot, lambda: "FAILED ATTEMPT: judge returned no JSON" in screen_text(app))
        assert "1 failed attempt(s) not yet retried" in plain(app.screen.query_one("#eval-banner", Static))


async def test_bad_paths_keep_the_screen_up(tmp_path: Path) -> None:
    app = start(None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert "No results open" in plain(screen.query_one("#eval-summary", Static))
        await pilot.press("o")
        await pilot.press(*str(tmp_path / "nope"), "enter")
        await settle(app, pilot)
        banner = screen.query_one("#eval-banner", Static)
        assert banner.has_class("-error") and "no such results directory" in plain(banner)
        (tmp_path / "empty").mkdir()
        screen.open_directory(tmp_path / "empty")
        await settle(app, pilot)
        assert "not an evaluation results directory" in plain(banner)
        only_run = tmp_path / "only-run"
        only_run.mkdir()
        (only_run / "run.json").write_text("{broken")
        screen.open_directory(only_run)
        await settle(app, pilot)
        assert "run.json:1: malformed JSON" in plain(banner) and banner.has_class("-error")
        assert screen.query_one("#overview-table", DataTable).row_count == 0
        # a slow earlier load must not overwrite a later one: only the latest request is shown
        good = make_results(tmp_path / "good", models=("baseline", "ft"), n_personas=3)
        screen.open_directory(tmp_path / "nope")
        screen.open_directory(good)
        await settle(app, pilot)
        assert screen.directory == good and not banner.has_class("-error")
        assert screen.query_one("#overview-table", DataTable).row_count == 2
        for key in ("1", "2", "3", "4", "5"):   # area keys must not break anything either
            await pilot.press(key)


async def test_live_reload_when_the_runner_appends(tmp_path: Path) -> None:
    d = make_results(tmp_path / "live", models=("baseline", "ft"), n_personas=3, status="running",
                     skip=(("p9002", "ft", 2),))
    app = start(d)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert "17 of 18" in plain(screen.query_one("#eval-summary", Static))
        signature = screen._signature
        screen._check_for_changes()             # nothing changed: same files, no reload
        assert screen._signature == signature
        append_conversation(d, conversation(personas(3)[2], "ft", 2, 0.8))
        screen._check_for_changes()
        await settle(app, pilot)
        assert "18 of 18" in plain(screen.query_one("#eval-summary", Static))
        write_run_json(d, run_dict(["baseline", "ft"], status="finished"))
        screen._check_for_changes()
        await settle(app, pilot)
        assert screen.report.status == "finished" and screen.report.complete
        assert any(n.message.startswith("evaluation finished: ft ") for n in app._notifications)


async def test_recent_runs_come_from_the_store_and_no_token_is_shown(tmp_path: Path) -> None:
    d = make_results(tmp_path / "stored", models=("baseline", "ft"), n_personas=3)
    record = conversation(personas(3)[0], "ft", 0, 0.8)
    record["messages"][2]["content"] = f"leaked {CANARY_TOKEN}"
    append_conversation(d, record)
    with Store().connect() as conn:
        conn.execute("INSERT INTO eval_runs (id, status, created_at, updated_at, results_dir) "
                     "VALUES ('e1', 'finished', 0, 0, ?)", (str(d),))
    app = start(None)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()  # the recent list is read off the event loop
        await pilot.pause()
        recent = app.screen.query_one("#eval-recent", Select)
        assert not recent.disabled
        recent.value = str(d)
        await settle(app, pilot)
        assert app.screen.directory == d
        app.screen.show_side_by_side("p9000", 0)
        app.screen.action_swap_models()
        await built(pilot, app, "tab-transcripts")
        pane = app.screen.query_one("#pane-a", TranscriptPane)
        await wait_for(pilot, lambda: pane.border_title == "ft")
        text = screen_text(app)
        assert "leaked ***" in text
        assert_no_canary(text)


async def test_view_request_opens_straight_into_a_filtered_view(results_dir: Path) -> None:
    app = start(results_dir, tab="personas", model="ft-b", show="worse")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await built(pilot, app, "tab-personas")
        assert [str(k.value) for k in screen.query_one("#personas-table", DataTable).rows] == ["p9001"]
    app = start(results_dir, persona="p9004", model="ft-a", tab="side-by-side")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await built(pilot, app, "tab-transcripts")
        assert (screen.slot.persona_id, screen.slot.model_b) == ("p9004", "ft-a")
        assert "[ft-a] reply 0 to p9004#0" in screen_text(app)
    app = start(results_dir, model="nobody", persona="p0")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.screen.report is not None     # unknown names are warnings, the results still open


async def test_enter_on_a_summary_row_opens_the_personas_behind_it(results_dir: Path) -> None:
    app = start(results_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        tabs = screen.query_one("#eval-tabs", TabbedContent)
        await show_tab(app, pilot, "tab-pairwise")
        await wait_for(pilot, lambda: app.focused is screen.query_one("#pairwise-table", DataTable))
        await pilot.press("down", "enter")                  # ft-b − baseline
        await built(pilot, app, "tab-personas")
        table = screen.query_one("#personas-table", DataTable)
        await wait_for(pilot, lambda: app.focused is table)
        assert screen.query_one("#filter-model", Select).value == "ft-b"
        assert str(next(iter(table.rows)).value) == "p9001"   # worst Δ first
        assert (screen.slot.model_a, screen.slot.model_b) == ("baseline", "ft-b")
        await show_tab(app, pilot, "tab-categories")
        await wait_for(pilot, lambda: app.focused is screen.query_one("#categories-table", DataTable))
        await pilot.press("enter")                           # anxiety
        await wait_for(pilot, lambda: tabs.active == "tab-personas" and table.row_count == 3)


async def test_forest_plot_follows_the_highlighted_comparison(results_dir: Path) -> None:
    from tui_tuner.screens.eval.forest import ForestPlot, persona_differences

    app = start(results_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await show_tab(app, pilot, "tab-pairwise")
        forest = screen.query_one("#forest", ForestPlot)
        assert plain(forest).startswith("ft-a − baseline: per-persona Δ")
        await wait_for(pilot, lambda: app.focused is screen.query_one("#pairwise-table", DataTable))
        await pilot.press("down")
        await wait_for(pilot, lambda: plain(forest).startswith("ft-b − baseline"))
        text = plain(forest)
        assert "▲ +0.10 (threshold)" in text
        diffs = persona_differences(screen.report, "ft-b", "baseline")
        assert diffs[0][0] == "p9001" and diffs[0][1] < 0 and [d for _, d in diffs] == sorted(d for _, d in diffs)
        lines = text.splitlines()
        assert lines[1].startswith("p9001") and lines[1].rstrip().endswith("-0.013")
        assert "95% CI [+0.036, +0.085]" in text


async def test_names_with_markup_characters_are_shown_verbatim(tmp_path: Path) -> None:
    d = make_results(tmp_path / "odd", models=("baseline", "ft[v2]"), n_personas=2)
    people = json.loads((d / "personas.json").read_text())
    people[0]["name"] = "[bold]Ann[/"
    people[0]["category"] = "[red"
    (d / "personas.json").write_text(json.dumps(people))
    app = start(d)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        screen.show_side_by_side("p9000", 0)
        await built(pilot, app, "tab-transcripts")
        await wait_for(pilot, lambda: "p9000 · [bold]Ann[/ · [red" in screen_text(app))
        assert "B: ft[v2]" in screen_text(app)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportDialog))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await show_tab(app, pilot, "tab-personas")
        await wait_for(pilot, lambda: "[bold]Ann[/" in screen_text(app))


async def test_export_dialog_targets_follow_the_output_file_rules(results_dir: Path, tmp_path: Path) -> None:
    real = tmp_path / "kept" / "report.md"
    real.parent.mkdir()
    link = tmp_path / "report.md"
    link.symlink_to(real)
    app = start(results_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        screen._export_chosen(ExportRequest("md", "overview", Path("-")))       # no stdout inside the TUI
        screen._export_chosen(ExportRequest("csv", "overview", tmp_path))       # a folder
        screen._export_chosen(ExportRequest("md", "overview", link))
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("export failed: '-' (standard output) cannot be used" in m for m in messages)
        assert any(m.startswith(f"export failed: {tmp_path}: is a directory") for m in messages)
        assert f"wrote {link}" in messages
        assert link.is_symlink() and real.read_text().startswith("# Evaluation Report")
        assert isinstance(app.screen, evals.EvalScreen)                           # still up
