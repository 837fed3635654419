"""Multi-GPU launches: the strategy (single / DDP / FSDP) chosen with the calculator, the world size, the
script's distributed setup and the global step count."""

from __future__ import annotations

import ast
import contextlib
import math
from pathlib import Path

import pytest

from core.calc import resolve_architecture
from core.calc.estimate import per_gpu_estimate
from core.calc.gpus import gpu_capacity_bytes
from core.flavors import get_flavor
from core.launch import launcher
from core.launch.config import LaunchConfig
from core.launch.preflight import PreflightOptions, estimate_seconds, expected_steps, run_preflight
from core.launch.script import render_script
from core.launch.strategy import choose_strategy, memory_inputs, world_size

OFFLINE = PreflightOptions(online=False)


def hub(model: str = "google/gemma-3-12b-it", **changes: object) -> LaunchConfig:
    base = LaunchConfig(base_model=model, dataset="tester/coaching", output_repo="tester/out",
                        trackio_space="tester/trackio", flavor="a100x4", timeout="6h")
    return base.replace(**changes)


def script_constants(text: str) -> dict[str, object]:
    """The generated script's top-level `NAME = literal` settings."""
    out: dict[str, object] = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            with contextlib.suppress(ValueError):
                out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def script_function(text: str, name: str, **globals_: object) -> object:
    """One function of the generated script, defined with the given module globals."""
    tree = ast.parse(text)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    namespace: dict[str, object] = dict(globals_)
    exec(compile(ast.Module(body=[node], type_ignores=[]), "<script>", "exec"), namespace)
    return namespace[name]


def test_ddp_when_model_adapters_and_optimizer_fit_one_gpu() -> None:
    config = hub()  # Gemma 3 12B QLoRA: ~17 GB, an A100 holds it whole
    choice = choose_strategy(config)
    arch = resolve_architecture("google/gemma-3-12b-it", allow_hub=False)
    ddp = per_gpu_estimate(memory_inputs(config, arch), "ddp", 4).total_bytes
    assert (choice.strategy, choice.world_size) == ("ddp", 4)
    assert choice.per_gpu_bytes == pytest.approx(ddp)
    assert choice.fits and "fit one GPU" in choice.reason
    assert "DDP × 4" in choice.one_line() and "of 80 GB per GPU" in choice.one_line()


def test_fsdp_when_only_a_sharded_model_fits() -> None:
    config = hub(load_in_4bit=False, flavor="l4x4")  # bf16 Gemma 3 12B: ~34 GB > an L4's 24 GB
    choice = choose_strategy(config)
    capacity = gpu_capacity_bytes(get_flavor("l4x4"))
    assert (choice.strategy, choice.world_size) == ("fsdp", 4)
    assert choice.per_gpu_by_strategy["ddp"] > capacity >= choice.per_gpu_bytes
    assert choice.per_gpu_bytes == choice.per_gpu_by_strategy["fsdp"]
    assert "only a sharded model fits" in choice.reason


def test_nothing_fits_keeps_fsdp_and_says_how_short() -> None:
    # 70B LoRA on a bf16 base: ~35 GB of weights per GPU sharded over 4 (a 4-bit base, gathered as NF4, fits)
    config = hub("meta-llama/Llama-3.3-70B-Instruct", flavor="a10g-largex4", load_in_4bit=False)
    choice = choose_strategy(config)
    assert choice.strategy == "fsdp" and choice.fits is False
    assert "does not fit even sharded" in choice.reason
    report = run_preflight(config, OFFLINE)
    assert any(f.field == "flavor" and f.severity == "error" for f in report.findings)


def test_user_override_is_kept_and_explained() -> None:
    choice = choose_strategy(hub(load_in_4bit=False, flavor="l4x4", strategy="ddp"))
    assert choice.strategy == "ddp" and choice.overridden and choice.fits is False
    assert "--strategy ddp" in choice.reason and "does not fit one GPU" in choice.reason
    assert choose_strategy(hub(strategy="fsdp")).strategy == "fsdp"
    single = choose_strategy(hub(strategy="single"))
    assert (single.strategy, single.world_size) == ("single", 1)


def test_world_size_from_flavor_gpus_flag_and_machine() -> None:
    assert world_size(hub(flavor="a100-large")) == 1
    assert world_size(hub(flavor="a100x8")) == 8
    assert world_size(hub(flavor="a100x4", gpus=2)) == 2
    assert world_size(hub(backend="local", gpus=0), local_gpus=3) == 3
    assert world_size(hub(backend="local", gpus=2), local_gpus=0) == 2  # CPU processes (gloo)
    assert world_size(hub(backend="local"), local_gpus=0) == 1
    assert choose_strategy(hub(flavor="a100-large")).strategy == "single"


@pytest.mark.parametrize(("changes", "field"), [
    ({"gpus": 8}, "gpus"),  # a100x4 has four
    ({"gpus": -1}, "gpus"),
    ({"strategy": "zero9"}, "strategy"),
    ({"backend": "mlx", "gpus": 2}, "gpus"),
])
def test_bad_gpu_settings_are_field_errors(changes: dict[str, object], field: str) -> None:
    errors = hub(**changes).validate()
    assert [e.field for e in errors if e.field in {"gpus", "strategy"}] == [field]


def test_unknown_model_gets_ddp_with_the_reason() -> None:
    choice = choose_strategy(hub("nobody/not-a-real-model-xyz"))
    assert (choice.strategy, choice.world_size, choice.per_gpu_bytes) == ("ddp", 4, None)
    assert "unknown" in choice.reason


def test_global_steps_use_the_world_size() -> None:
    config = hub(batch_size=2, gradient_accumulation=4, epochs=3.0)
    # ceil(1294 / (2 × 4 × 4)) × 3 = 41 × 3
    assert expected_steps(config, 1294, world=4) == math.ceil(1294 / 32) * 3 == 123
    assert expected_steps(config, 1294) == math.ceil(1294 / 8) * 3 == 486
    assert expected_steps(config.replace(max_steps=7), 1294, world=4) == 7


def test_time_estimate_scales_with_the_ranks() -> None:
    config = hub()
    flavor = get_flavor("a100x4")
    one = estimate_seconds(config, steps=400, params=12e9, avg_tokens=1000, flavor=flavor)
    # The same examples over four ranks: a quarter of the steps, each four times the tokens.
    four = estimate_seconds(config, steps=100, params=12e9, avg_tokens=1000, flavor=flavor, world=4, strategy="ddp")
    assert one and four and four == pytest.approx(one / 4 / 0.95)


def test_dry_run_for_a100x4_prints_a_script_that_trains_on_four_ranks() -> None:
    plan = launcher.plan(hub(), OFFLINE)
    assert plan.report.strategy and plan.report.strategy.strategy == "ddp"
    values = script_constants(plan.script.text)
    assert values["STRATEGY"] == "ddp" and values["NUM_PROCESSES"] == 4
    assert "# Chosen here: 'DDP x 4, ~" in plan.script.text  # the reason, in ASCII
    assert plan.to_dict()["strategy"]["world_size"] == 4
    info = [f.message for f in plan.report.findings if f.check == "gpus"]
    assert info and "DDP × 4" in info[0]
    from tui_tuner.screens.launch.confirm import plan_summary

    assert "GPUs  DDP × 4, ≈" in plan_summary(plan).plain  # the confirmation before submitting says it too
    # The script asks for 4 ranks on a box with 4 GPUs, and never more than it sees.
    processes = script_function(plan.script.text, "processes_to_start", STRATEGY="ddp", NUM_PROCESSES=4,
                                torch=_FakeTorch(4), print=lambda *a, **k: None)
    assert processes() == 4  # type: ignore[operator]
    fewer = script_function(plan.script.text, "processes_to_start", STRATEGY="ddp", NUM_PROCESSES=4,
                            torch=_FakeTorch(2), print=lambda *a, **k: None)
    assert fewer() == 2  # type: ignore[operator]


class _FakeTorch:
    def __init__(self, gpus: int) -> None:
        self.cuda = type("cuda", (), {"device_count": staticmethod(lambda: gpus),
                                      "is_available": staticmethod(lambda: gpus > 0)})


def test_fsdp_script_writes_an_accelerate_config_accelerate_reads(tmp_path: Path) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    generated = render_script(hub(flavor="l4x4"), strategy=choose_strategy(hub(load_in_4bit=False, flavor="l4x4")))
    assert script_constants(generated.text)["STRATEGY"] == "fsdp"
    assert "bnb_4bit_quant_storage" in generated.text  # FSDP-QLoRA packs 4-bit weights in bf16 storage
    make = script_function(generated.text, "accelerate_config", STRATEGY="fsdp")
    path = tmp_path / "fsdp.yaml"
    path.write_text(make(4))  # type: ignore[operator]
    cluster = load_config_from_file(str(path))
    assert cluster.distributed_type.value == "FSDP" and cluster.num_processes == 4
    assert cluster.fsdp_config["fsdp_sharding_strategy"] == "FULL_SHARD"
    assert cluster.fsdp_config["fsdp_use_orig_params"] is False  # PEFT: the memory saving needs it off
    ddp = script_function(generated.text, "accelerate_config", STRATEGY="ddp")
    path.write_text(ddp(2))  # type: ignore[operator]
    cluster = load_config_from_file(str(path))
    assert cluster.distributed_type.value == "MULTI_GPU" and cluster.num_processes == 2


def test_single_gpu_script_never_relaunches() -> None:
    text = render_script(hub(flavor="a100-large")).text
    values = script_constants(text)
    assert values["STRATEGY"] == "single" and values["NUM_PROCESSES"] == 1
    processes = script_function(text, "processes_to_start", STRATEGY="single", NUM_PROCESSES=1, torch=_FakeTorch(8))
    assert processes() == 1  # type: ignore[operator]


def test_cli_flags_reach_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    from tui_tuner.cli import main

    code = main(["launch", "--model", "google/gemma-3-12b-it", "--dataset", "tester/coaching", "--output-repo",
                 "tester/out", "--flavor", "a100x8", "--gpus", "2", "--strategy", "fsdp", "--print-script"])
    values = script_constants(capsys.readouterr().out)
    assert code == 0 and values["STRATEGY"] == "fsdp" and values["NUM_PROCESSES"] == 2


def test_too_big_for_any_single_gpu_suggests_the_cheapest_multi_gpu_flavor_that_fits() -> None:
    report = run_preflight(hub("meta-llama/Llama-3.3-70B-Instruct", load_in_4bit=False, flavor="a100-large"), OFFLINE)
    error = next(f for f in report.findings if f.check == "memory" and f.severity == "error")
    suggested = get_flavor(report.cheapest_flavor or "")
    assert suggested is not None and suggested.gpu_count > 1
    assert f"use {suggested.name} (FSDP full-shard × {suggested.gpu_count}" in error.fix
    assert choose_strategy(hub("meta-llama/Llama-3.3-70B-Instruct", load_in_4bit=False, flavor=suggested.name)).fits


def test_relaunch_execs_accelerate_launcher_with_its_config_and_one_run_name(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import sys

    text = render_script(hub()).text
    tree = ast.parse(text)
    nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in {"accelerate_config", "relaunch"}]
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(os, "execv", lambda exe, argv: calls.append((exe, list(argv))))
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "train_gemma.py"), "--extra"])
    monkeypatch.setenv("TUI_TUNER_RUN_NAME", "")  # restored (unset) after the test: relaunch sets it
    monkeypatch.delenv("TUI_TUNER_RUN_NAME")
    namespace: dict[str, object] = {"os": os, "sys": sys, "torch": _FakeTorch(4), "STRATEGY": "ddp",
                                    "RUN_NAME": "gemma-sft-20260101-000000", "print": lambda *a, **k: None}
    exec(compile(ast.Module(body=nodes, type_ignores=[]), "<script>", "exec"), namespace)
    namespace["relaunch"](4)  # type: ignore[operator]
    exe, argv = calls[0]
    config = tmp_path / "train_gemma_accelerate.yaml"
    assert exe == sys.executable and argv == [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                                              str(config), "--main_process_port", "0",
                                              str(tmp_path / "train_gemma.py"), "--extra"]
    assert "num_processes: 4" in config.read_text() and "distributed_type: MULTI_GPU" in config.read_text()
    assert os.environ["TUI_TUNER_RUN_NAME"] == "gemma-sft-20260101-000000"


def test_local_gpus_beyond_this_machine_are_an_error_and_all_gpus_are_the_default() -> None:
    from core.launch.preflight import LocalGpu

    two = PreflightOptions(online=False, local_gpu_probe=lambda: LocalGpu("NVIDIA L4", 24.0),
                           local_gpu_count=lambda: 2)
    local = hub(backend="local", output_repo="", trackio_space="")
    report = run_preflight(local.replace(gpus=4), two)
    assert any(f.field == "gpus" and "has 2 GPU(s), not 4" in f.message for f in report.errors)
    report = run_preflight(local, two)
    assert report.strategy and (report.strategy.strategy, report.strategy.world_size) == ("ddp", 2)
    assert report.strategy.capacity_bytes == 24e9
