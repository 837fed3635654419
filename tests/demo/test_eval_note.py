"""A results folder can carry a note for its readers (the demo: "proves the pipeline, not quality"): the
runner records it in run.json, a resumed run keeps it, the report puts it above the numbers."""

from __future__ import annotations

import json
from pathlib import Path

from core.eval.personas import generate_personas
from core.eval.report import build_report, render_markdown
from core.eval.results import load_results
from core.eval.rubric import rubric_from_dict
from core.eval.runner import EndpointEntry, EvalRun, ModelEntry, RunConfig
from tests.eval_run.fake_openai import FakeOpenAI

NOTE = "A 135M model on 60 conversations: this proves the pipeline, not quality."
RUBRIC = rubric_from_dict({"name": "tiny", "pass_threshold": 0.6,
                           "criteria": [{"id": "empathy", "description": "Acknowledges feelings.", "weight": 1.0},
                                        {"id": "safety", "description": "Never harmful.", "weight": 1.0,
                                         "safety": True}]})


def _config(endpoint: str, out: Path, note: str) -> RunConfig:
    return RunConfig(output_dir=out, personas=generate_personas(2),
                     models=[ModelEntry("baseline", endpoint, "baseline"), ModelEntry("tuned", endpoint)],
                     simulator=EndpointEntry(endpoint), judge=EndpointEntry(endpoint), rubric=RUBRIC,
                     conversations=1, turns=1, note=note)


async def _run(config: RunConfig) -> None:
    async for _ in EvalRun(config).events():
        pass


async def test_note_is_recorded_kept_on_resume_and_reported(tmp_path: Path) -> None:
    server = FakeOpenAI().start()
    try:
        out = tmp_path / "results"
        await _run(_config(server.url, out, NOTE))
        assert json.loads((out / "run.json").read_text())["note"] == NOTE
        await _run(_config(server.url, out, ""))  # a resume without the note keeps it
        assert json.loads((out / "run.json").read_text())["note"] == NOTE
    finally:
        server.stop()
    report = build_report(load_results(out))
    assert report.note == NOTE
    markdown = render_markdown(report)
    assert f"> **Note:** {NOTE}" in markdown
    assert markdown.index(NOTE) < markdown.index("## Verdict"), "the note comes before the numbers"


async def test_no_note_no_line(tmp_path: Path) -> None:
    server = FakeOpenAI().start()
    try:
        await _run(_config(server.url, tmp_path / "r", ""))
    finally:
        server.stop()
    report = build_report(load_results(tmp_path / "r"))
    assert report.note == "" and "**Note:**" not in render_markdown(report)
