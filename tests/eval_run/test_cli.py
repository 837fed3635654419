from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import assert_no_canary
from tui_tuner.cli import main
from tui_tuner.commands.eval_run import register_run_commands

ROOT = Path(__file__).resolve().parents[2]


def own_parser() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true")
    parser = argparse.ArgumentParser(prog="t")
    register_run_commands(parser.add_subparsers(dest="cmd"), parent)
    return parser


def test_register_run_commands_on_any_parser(tmp_path: Path) -> None:
    args = own_parser().parse_args(["run", "--personas", "p.json", "--output-dir", "o", "--port", "baseline=8080",
                                    "--model", "ft=http://h:1/v1", "--simulator", "8090", "--judge", "8090"])
    assert args.port == ["baseline=8080"] and args.model == ["ft=http://h:1/v1"] and callable(args.func)
    args = own_parser().parse_args(["personas", "--count", "3", "--out", str(tmp_path / "p.json")])
    assert args.func(args) == 0 and len(json.loads((tmp_path / "p.json").read_text())) == 3


def test_personas_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "personas.json"
    assert main(["eval", "personas", "--count", "12", "--out", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["count"] == 12 and info["seeds"][0] == 9000 and len(info["categories"]) == 10
    assert [p["seed"] for p in json.loads(out.read_text())] == list(range(9000, 9012))
    assert main(["eval", "personas", "--count", "2", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["eval", "personas", "--count", "2", "--seed-start", "42", "--out", str(out), "--force"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: seed-start: seed start 42 overlaps") and err.count("\n") == 1
    assert main(["eval", "personas", "--list-categories"]) == 0
    assert "crisis-risk" in capsys.readouterr().out


def test_rubric_init_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.toml"
    assert main(["eval", "rubric", "init", str(path)]) == 0
    assert main(["eval", "rubric", "check", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out[out.index("{"):])
    assert data["rubric"]["name"] == "coaching-quality" and "safety" in data["schema"]["properties"]
    path.write_text(path.read_text().replace("weight = 1.5", "weight = -1"))
    assert main(["eval", "rubric", "check", str(path)]) == 2
    assert "weight must be a positive number" in capsys.readouterr().err


def _run_args(url: str, tmp_path: Path, rubric: Path, *extra: str) -> list[str]:
    personas = tmp_path / "personas.json"
    if not personas.exists():
        assert main(["eval", "personas", "--count", "2", "--out", str(personas)]) == 0
    return ["eval", "run", "--personas", str(personas), "--output-dir", str(tmp_path / "results"),
            "--model", f"baseline={url}", "--model", f"coach={url}", "--system-prompt", "coach=Be a coach.",
            "--simulator", url, "--judge", url, "--rubric", str(rubric), "--conversations", "1", "--turns", "2",
            *extra]


def test_run_command_json_events(fake_server, tmp_path: Path, small_rubric_file: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    args = _run_args(fake_server.url, tmp_path, small_rubric_file, "--json",
                     "--extra-body", '{"chat_template_kwargs": {"enable_thinking": false}}')
    capsys.readouterr()
    assert main(args) == 0
    assert fake_server.requests and all(
        r.body["chat_template_kwargs"] == {"enable_thinking": False} for r in fake_server.requests)
    out = capsys.readouterr().out
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["kind"] == "run_started" and events[0]["total"] == 4
    assert events[-1]["kind"] == "run_finished" and events[-1]["status"] == "finished" and events[-1]["done"] == 4
    run = json.loads((tmp_path / "results" / "run.json").read_text())
    assert run["models"][1]["system_prompt"] == "Be a coach." and run["models"][0]["system_prompt"] == ""
    coach = [r for r in (tmp_path / "results" / "conversations.jsonl").read_text().splitlines() if '"coach"' in r]
    assert json.loads(coach[0])["messages"][0] == {"role": "system", "content": "Be a coach."}
    assert_no_canary(out)


def test_run_command_human_output_and_resume(fake_server, tmp_path: Path, small_rubric_file: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    args = _run_args(fake_server.url, tmp_path, small_rubric_file)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "4 conversations, 0 already done, 4 to run" in out and "finished: 4/4" in out
    assert "baseline (baseline)" in out and "tui-tuner eval report" in out
    assert main(args) == 0
    assert "4 already done, 0 to run" in capsys.readouterr().out


@pytest.mark.parametrize(("extra", "message"), [
    (["--port", "x=notaport"], "not a port number"),
    (["--baseline", "nobody"], "baseline: 'nobody' is not one of the models"),
    (["--system-prompt", "ghost=hi"], "'ghost' is not one of the models"),
    (["--model", "broken"], "expected NAME=VALUE"),
    (["--system-prompt", "coach=@/nonexistent/prompt.txt"], "cannot read the system prompt"),
    (["--extra-body", "{nope"], "extra-body: not valid JSON"),
    (["--extra-body", "[1]"], "extra-body: must be a JSON object"),
])
def test_run_command_input_errors(fake_server, tmp_path: Path, small_rubric_file: Path, extra: list[str],
                                  message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_run_args(fake_server.url, tmp_path, small_rubric_file, *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error:") and err.count("\n") == 1


def test_run_command_requires_simulator_and_judge(tmp_path: Path, small_rubric_file: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    args = _run_args("http://127.0.0.1:1/v1", tmp_path, small_rubric_file)
    i = args.index("--simulator")
    del args[i:i + 2]
    assert main(args) == 2
    assert "simulator: an endpoint is required" in capsys.readouterr().err


def test_dead_endpoint_from_the_cli(tmp_path: Path, small_rubric_file: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from core.eval.server import free_port

    assert main(_run_args(f"127.0.0.1:{free_port()}", tmp_path, small_rubric_file)) == 2
    err = capsys.readouterr().err
    assert "cannot reach" in err and err.count("\n") == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_interrupts_cleanly_and_resume_finishes(fake_server, tmp_path: Path, small_rubric_file: Path,
                                                       sig: signal.Signals) -> None:
    fake_server.delay_s = 0.05
    args = _run_args(fake_server.url, tmp_path, small_rubric_file, "--max-parallel", "1", "--conversations", "3")
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from tui_tuner.cli import main; sys.exit(main())",
                             *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = tmp_path / "results" / "conversations.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not results.exists() or len(results.read_text().splitlines()) < 2):
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert_no_canary(out, err)
    assert proc.returncode == 128 + sig, err  # the shell's convention: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP
    if sig != signal.SIGHUP:  # after SIGHUP the terminal is gone: nothing is written to it
        assert "interrupted:" in err and "run the same command again" in err and "--resume" in err
    run = json.loads((tmp_path / "results" / "run.json").read_text())
    assert run["status"] == "interrupted"
    saved = [json.loads(line) for line in results.read_text().splitlines()]
    assert 2 <= len(saved) < 12 and all(r["assessment"] for r in saved)
    assert main(args) == 0
    final = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(final) == 12 and final[: len(saved)] == saved
    assert json.loads((tmp_path / "results" / "run.json").read_text())["status"] == "finished"


def test_resume_finishes_a_run_with_the_settings_it_recorded(fake_server, tmp_path: Path, small_rubric_file: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from tests.eval_run.fake_openai import FakeOpenAI

    assert main(_run_args(fake_server.url, tmp_path, small_rubric_file, "--extra-body", '{"top_k": 5}')) == 0
    results = tmp_path / "results"
    lines = (results / "conversations.jsonl").read_text().splitlines()
    # As if the run had been stopped after the baseline's two conversations. Which conversations finish
    # first depends on the servers' timing, so pick them by model: the coach's must be left to redo.
    kept = [line for line in lines if json.loads(line)["model"] == "baseline"]
    assert len(kept) == 2
    (results / "conversations.jsonl").write_text("\n".join(kept) + "\n")
    run = json.loads((results / "run.json").read_text())
    (results / "run.json").write_text(json.dumps({**run, "status": "interrupted"}))
    capsys.readouterr()
    # The servers came back on another port: --model / --simulator / --judge move them, nothing else may change.
    moved = FakeOpenAI().start()
    try:
        assert main(["eval", "run", "--resume", str(results), "--turns", "3"]) == 2
        assert "--turns: a resumed run keeps the settings it recorded" in capsys.readouterr().err
        assert main(["eval", "run", "--resume", str(results), "--model", f"ghost={moved.url}"]) == 2
        assert "model: ghost: not a model of this run" in capsys.readouterr().err
        assert main(["eval", "run", "--resume", str(results), "--port", "coach=notaport"]) == 2
        assert "port: coach=notaport: not a port number" in capsys.readouterr().err
        assert main(["eval", "run", "--resume", str(results), "--model", f"baseline={moved.url}",
                     "--model", f"coach={moved.url}", "--simulator", moved.url, "--judge", moved.url]) == 0
    finally:
        moved.stop()
    out = capsys.readouterr().out
    assert "2 already done, 2 to run" in out and "finished: 4/4" in out
    coach = [r for r in moved.requests if r.role == "model" and "Be a coach." in json.dumps(r.body)]
    assert coach and all(r.body.get("top_k") == 5 for r in moved.requests)   # recorded extra body kept
    assert all(len([m for m in r.body["messages"] if m["role"] == "assistant"]) < 2 for r in coach)  # 2 turns
    assert json.loads((results / "run.json").read_text())["status"] == "finished"


def test_resume_of_a_directory_without_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "run", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "run.json: no such file; nothing to resume" in err and err.count("\n") == 1
    assert main(["eval", "run", "--simulator", "8090"]) == 2
    assert "--personas is required" in capsys.readouterr().err
