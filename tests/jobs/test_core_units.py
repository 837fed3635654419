"""Unit tests of the monitor's pure logic: steps formula, timestamps, rows, diagnosis, progress, completion."""

from __future__ import annotations

import pytest

from core.jobs.completion import check_completion, needs_check, step_of_title
from core.jobs.diagnosis import Diagnoser, diagnose_command, diagnose_log, diagnose_status
from core.jobs.jobs_source import is_client_failure, parse_retry_after, row_from_json
from core.jobs.model import JobRow, expected_steps, format_duration, parse_hub_time
from core.jobs.progress import ProgressTracker


def test_expected_steps_is_the_guides_formula() -> None:
    assert expected_steps(1294, 8, 3) == 486  # the guide's worked example
    assert expected_steps(1000, 8, 1) == 125
    assert expected_steps(1001, 8, 2) == 252  # a partial last batch is a step
    assert expected_steps(None, 8, 3) is None
    assert expected_steps(100, 0, 3) is None


def test_hub_timestamps_with_nine_fraction_digits() -> None:
    assert parse_hub_time("2025-07-22T16:06:25.079Z") == pytest.approx(1753200385.079)
    assert parse_hub_time("2025-07-22T16:06:25.079123456Z") == pytest.approx(1753200385.079123)
    assert parse_hub_time("2025-07-22T16:06:25Z") == pytest.approx(1753200385.0)
    assert parse_hub_time("garbage") is None
    assert parse_hub_time(None) is None


def test_row_from_jobinfo_json_and_cost() -> None:
    row = row_from_json({
        "id": "6800000000000000000000aa", "createdAt": "2026-01-01T00:00:00.000Z",
        "startedAt": "2026-01-01T00:01:00.000Z", "flavor": "a10g-large", "labels": {"name": "sft"},
        "status": {"stage": "UPDATING", "message": None}, "owner": {"id": "u", "name": "alice", "type": "user"},
        "command": ["uv", "run", "train.py"], "arguments": [], "durations": {"runningSecs": 3600},
    }, endpoint="http://hub")
    assert (row.stage, row.name, row.namespace, row.command) == ("UPDATING", "sft", "alice", "uv run train.py")
    assert not row.is_terminal  # unknown stage strings are live, not errors
    assert row.url == "http://hub/jobs/alice/6800000000000000000000aa"
    assert row.duration() == 3600
    assert row.cost() == pytest.approx(1.50)  # a10g-large $1.50/h for one hour
    # The old shape the guide's fallback snippet reads.
    old = row_from_json({"metadata": {"jobId": "abc"}, "status": "RUNNING"}, namespace="bob")
    assert (old.id, old.stage, old.namespace) == ("abc", "RUNNING", "bob")


def test_local_row_duration_and_no_cost() -> None:
    row = JobRow(id="local-1", backend="local", name="x", stage="RUNNING", created_at=100.0)
    assert row.duration(now=190.0) == 90.0
    assert row.cost(now=190.0) is None
    assert format_duration(90) == "1m30s" and format_duration(7260) == "2h01m" and format_duration(None) == "-"


def test_client_failures_vs_server_answers() -> None:
    class Resp:
        status_code = 403

    class HttpErr(Exception):
        response = Resp()

    assert is_client_failure(OSError(25, "Inappropriate ioctl for device"))
    assert is_client_failure(TypeError("list_jobs() got an unexpected keyword argument 'namespace'"))
    assert is_client_failure(KeyError("owner"))
    assert not is_client_failure(HttpErr("403"))
    assert parse_retry_after("3") == 3.0 and parse_retry_after(None) is None


TRACEBACK_OOM = """Traceback (most recent call last):
  File "/app/train.py", line 80, in <module>
    trainer.train()
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 22.19 GiB"""

TRACEBACK_LOGIN = """Traceback (most recent call last):
  File "/app/train.py", line 12, in <module>
    login(token=os.environ["HF_TOKEN"])
  File "<frozen os>", line 679, in __getitem__
KeyError: 'HF_TOKEN'"""

TRACEBACK_LOGIN_OTHER_KEY = """  File "/app/train.py", line 12, in <module>
    login(token=cfg["token"])
KeyError: 'token'"""


@pytest.mark.parametrize(("log", "rule", "fix_words"), [
    (TRACEBACK_OOM, "cuda-oom", ["larger GPU", "max_length", "a100-large"]),
    ("requests.exceptions.HTTPError: 403 Client Error: Forbidden for url: https://huggingface.co/api/models/google/gemma-3-12b-it",
     "forbidden-403", ["license", "token"]),
    ("huggingface_hub.errors.GatedRepoError: 403 Client Error. Cannot access gated repo for url", "forbidden-403",
     ["license"]),
    ("TypeError: SFTTrainer.__init__() got an unexpected keyword argument 'model_init_kwargs'",
     "unexpected-argument", ["SFTConfig"]),
    (TRACEBACK_LOGIN, "login-keyerror", ["Remove the login() call"]),
    (TRACEBACK_LOGIN_OTHER_KEY, "login-keyerror", ["login()"]),
    ("ModuleNotFoundError: No module named 'trackio'", "missing-module", ['"trackio"', "PEP 723"]),
    ("ModuleNotFoundError: No module named 'yaml'", "missing-module", ['"pyyaml"']),
    ("train.py: error: unrecognized arguments: --flavor a100-large", "flags-ignored", ["BEFORE the script"]),
])
def test_troubleshooting_rules(log: str, rule: str, fix_words: list[str]) -> None:
    found = diagnose_log(log.splitlines(), flavor="a10g-large")
    assert [d.rule for d in found] == [rule]
    for word in fix_words:
        assert word in found[0].fix
    assert found[0].line_index is not None


def test_no_false_positives_on_a_healthy_training_log() -> None:
    healthy = [
        "Loading checkpoint shards: 100%|██████████| 2/2 [00:03<00:00,  1.60s/it]",
        "{'loss': 2.1345, 'grad_norm': 1.2, 'learning_rate': 0.0002, 'epoch': 0.06}",
        " 45%|████▌     | 219/486 [12:34<15:20,  3.45s/it]",
        "KeyError handling is fine in user code that prints this word",  # not a KeyError line
        "Error rate on eval: 0.1",
        "Pushing to Hub...",
    ]
    assert diagnose_log(healthy) == []


def test_keyerror_outside_login_is_not_blamed_on_login() -> None:
    log = ['  File "/app/data.py", line 3, in row', '    return example["text"]', "KeyError: 'text'"]
    assert diagnose_log(log) == []


def test_rule_fires_once_and_streaming_keeps_context() -> None:
    diag = Diagnoser()
    lines = TRACEBACK_LOGIN.splitlines()
    assert diag.feed(enumerate(lines[:3])) == []
    new = diag.feed([(3, lines[3]), (4, lines[4]), (5, lines[4])])
    assert [d.rule for d in new] == ["login-keyerror"] and new[0].line_index == 4
    assert len(diag.found) == 1


def test_command_and_status_rules() -> None:
    assert [d.rule for d in diagnose_command("hf jobs uv run train.py --flavor a100-large --timeout 6h")] == [
        "flags-ignored"]
    assert diagnose_command("hf jobs uv run --flavor a100-large --secrets HF_TOKEN -- train.py --epochs 3") == []
    assert [d.rule for d in diagnose_status("ERROR", "Job timeout")] == ["timeout"]
    assert diagnose_status("COMPLETED", None) == []


def test_progress_from_tqdm_with_timestamps() -> None:
    tracker = ProgressTracker(expected_steps=486, epochs=3)
    assert tracker.summary() == "step -/486"
    tracker.feed_line("Map: 100%|██████████| 1294/1294 [00:00<00:00, 9000.00 examples/s]", 0.0)
    assert tracker.step is None  # a data bar, not training
    tracker.feed_line("  1%|          | 5/486 [00:10<16:00,  2.00s/it]", 1000.0)
    tracker.feed_line(" 10%|█         | 50/486 [01:40<14:32,  2.00s/it]", 1090.0)
    assert tracker.step == 50
    assert tracker.seconds_per_step() == pytest.approx(2.0)
    assert tracker.eta_seconds() == pytest.approx(436 * 2.0)
    assert tracker.summary() == "step 50/486 (10%) · ETA 14m"


def test_progress_uses_bar_rate_when_timestamps_say_nothing() -> None:
    tracker = ProgressTracker(expected_steps=100)
    tracker.feed_line(" 20%|██        | 20/100 [00:40<02:40,  2.00it/s]", None)
    assert tracker.seconds_per_step() == pytest.approx(0.5)
    assert tracker.eta_seconds() == pytest.approx(40.0)


def test_progress_and_curves_from_trainer_log_dicts() -> None:
    tracker = ProgressTracker(expected_steps=486, epochs=3)
    tracker.feed_line("{'loss': 2.5, 'grad_norm': 1.0, 'learning_rate': 0.0002, 'epoch': 0.5}", 10.0)
    tracker.feed_line("{'eval_loss': 1.9, 'eval_runtime': 3.2, 'epoch': 1.0}", 20.0)
    assert tracker.step == 162
    names = {(p.name, p.step) for p in tracker.points}
    assert ("train/loss", 81.0) in names and ("eval/loss", 162.0) in names


def _row(stage: str, message: str | None = None, **extra: object) -> JobRow:
    return JobRow(id="j", backend="hf-jobs", name="n", stage=stage, message=message, extra=dict(extra))


def test_completion_detection() -> None:
    failed = _row("ERROR", "Job timeout", output_repo="alice/adapter", num_examples=1294, effective_batch=8, epochs=3)
    assert needs_check(failed)
    assert not needs_check(_row("COMPLETED", output_repo="a/b", expected_steps=10))
    assert not needs_check(_row("ERROR"))
    assert step_of_title("Training in progress, step 486") == 486
    ok = check_completion(failed, ["Training in progress, step 486", "Training in progress, step 400", "initial commit"])
    assert ok.usable and ok.last_step == 486
    assert "adapter usable" in ok.banner and "hf download alice/adapter --local-dir ./adapter" in ok.banner
    partial = check_completion(failed, ["Training in progress, step 400"])
    assert not partial.usable and "did not finish" in partial.reason
    assert not check_completion(failed, ["initial commit"]).usable


def test_progress_from_a_real_local_trainer_line_with_carriage_returns() -> None:
    # Verbatim shape of a local SFT run's log (tqdm redraws with \r; the Trainer prints its dict over the bar).
    line = ("\r 25%|██▌       | 1/4 [00:25<01:15, 25.01s/it]\r                                             \r"
            "{'loss': '3.65', 'grad_norm': '2.823', 'learning_rate': '0', 'entropy': '2.769', 'epoch': '0.125'}")
    tracker = ProgressTracker(expected_steps=4, epochs=3)
    assert tracker.feed_line(line, None)
    assert (tracker.step, tracker.total) == (1, 4)
    assert tracker.seconds_per_step() == pytest.approx(25.01)
    assert [(p.name, p.step, p.value) for p in tracker.points if p.name == "train/loss"] == [("train/loss", 1, 3.65)]
    assert tracker.summary() == "step 1/4 (25%) · ETA 1m15s"


def test_loss_rules() -> None:
    from core.jobs.diagnosis import diagnose_loss

    falling = [(s, 3.0 - s / 100) for s in range(0, 200, 10)]
    flat = [(s, 2.0 + (0.01 if s % 20 else -0.01)) for s in range(0, 200, 10)]
    assert diagnose_loss(falling, expected_steps=486) == []
    assert [d.rule for d in diagnose_loss(flat, expected_steps=486)] == ["loss-flat"]
    assert diagnose_loss(flat[:5], expected_steps=486) == []  # too early to tell
    assert diagnose_loss(flat, expected_steps=5000) == []  # under a fifth of the run
    assert [d.rule for d in diagnose_loss([(1, 2.0), (2, float("nan"))])] == ["loss-nan"]
