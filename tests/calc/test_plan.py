"""Form fields → estimate (shared by the screen and the CLI)."""

from __future__ import annotations

import pytest

from core.calc.plan import DEFAULT_FIELDS, FormErrors, calculate, cli_command, parse_fields


def test_defaults_compute() -> None:
    result = calculate(DEFAULT_FIELDS)
    assert result.best is not None and result.estimate.total_bytes > 0
    assert result.plan.tokens_per_example == 2048


def test_all_bad_fields_reported_at_once() -> None:
    with pytest.raises(FormErrors) as info:
        parse_fields({**DEFAULT_FIELDS, "max_length": "-5", "batch_size": "two", "epochs": "0",
                      "model": "no such model"})
    errors = info.value.errors
    assert set(errors) == {"max_length", "batch_size", "epochs", "model"}
    assert errors["max_length"] == "must be positive (got -5)"
    assert all("\n" not in m for m in errors.values())


def test_estimator_errors_map_to_their_field() -> None:
    with pytest.raises(FormErrors) as info:
        parse_fields({**DEFAULT_FIELDS, "lora_targets": "q_proj,bogus"})
    assert list(info.value.errors) == ["lora_targets"]
    with pytest.raises(FormErrors) as opt:
        parse_fields({**DEFAULT_FIELDS, "optimizer": "lamb"})
    assert list(opt.value.errors) == ["optimizer"]


def test_mfu_as_percent_or_fraction() -> None:
    assert parse_fields({**DEFAULT_FIELDS, "mfu": "12"})[1].mfu == pytest.approx(0.12)
    assert parse_fields({**DEFAULT_FIELDS, "mfu": "0.3"})[1].mfu == pytest.approx(0.3)
    assert parse_fields({**DEFAULT_FIELDS, "mfu": "20%"})[1].mfu == pytest.approx(0.2)


def test_cli_command_round_trip() -> None:
    from tui_tuner.cli import build_parser
    from tui_tuner.commands.calc import form_fields

    fields = {**DEFAULT_FIELDS, "max_length": "16384", "gradient_checkpointing": False, "mfu": "15"}
    line = cli_command(fields)
    args = build_parser().parse_args(line.split()[1:])
    assert parse_fields(form_fields(args))[0] == parse_fields(fields)[0]


def test_old_bitsandbytes_only_for_qlora_and_round_trips() -> None:
    from tui_tuner.cli import build_parser
    from tui_tuner.commands.calc import form_fields

    old = {**DEFAULT_FIELDS, "method": "qlora", "old_bitsandbytes": True}
    assert parse_fields(old)[0].bnb_keeps_inputs
    assert not parse_fields({**old, "method": "lora"})[0].bnb_keeps_inputs  # no 4-bit matmuls to keep inputs of
    line = cli_command(old)
    assert line.endswith("--old-bitsandbytes") or " --old-bitsandbytes " in line
    assert "--old-bitsandbytes" not in cli_command({**old, "method": "lora"})
    args = build_parser().parse_args(line.split()[1:])
    assert parse_fields(form_fields(args))[0] == parse_fields(old)[0]


def test_new_inputs_round_trip_through_the_cli_line() -> None:
    from tui_tuner.cli import build_parser
    from tui_tuner.commands.calc import form_fields

    fields = {**DEFAULT_FIELDS, "model": "llama-3.1-8b", "method": "lora", "quant": "gptq-int4",
              "attention": "flash-attention-2", "adapter_dtype": "bf16", "optimizer_in_backward": True,
              "grad_accum": "1", "activation_offloading": True, "loss_impl": "liger", "strategy": "fsdp-hybrid",
              "gpus": "4", "shard_size": "2"}
    line = cli_command(fields)
    args = build_parser().parse_args(line.split()[1:])
    assert parse_fields(form_fields(args))[0] == parse_fields(fields)[0]
    result = calculate(form_fields(args))
    assert result.estimate.parallel.world_size == 4 and result.estimate.parallel.shards == 2
