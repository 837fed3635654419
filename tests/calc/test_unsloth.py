"""`--unsloth`: Unsloth's LoRA / QLoRA path in terms the calculator already has (offloaded gradient checkpointing,
Cut Cross-Entropy) plus its fused LoRA MLP, which keeps X, gate and up only; scored on Unsloth's published
context-length capacities."""

from __future__ import annotations

import json

import pytest
from benchmarks.calc_devset import mapped_rows

from core.calc import MemoryInputs, ModelArchitecture, estimate_training
from core.calc import constants as C
from core.calc.plan import DEFAULT_FIELDS, cli_command, parse_fields
from core.errors import TunerError
from tui_tuner.cli import main

QLORA = dict(method="qlora", max_length=4096, batch_size=1, gradient_accumulation=1, lora_r=32,
             lora_targets=("all-linear",), optimizer="adamw_8bit", dtype="bf16", lora_dropout=0.0)


def train(arch: ModelArchitecture, **kw: object):
    return estimate_training(MemoryInputs(arch=arch, **{**QLORA, **kw}))  # type: ignore[arg-type]


def test_unsloth_sets_offloaded_checkpointing_cce_and_its_mlp_kernel(llama3b: ModelArchitecture) -> None:
    plain = train(llama3b, gradient_checkpointing=True, activation_offloading=True, loss_impl="cce")
    unsloth = train(llama3b, gradient_checkpointing=False, loss_impl="hf", unsloth=True)
    inputs = unsloth.inputs
    assert inputs.gradient_checkpointing and inputs.activation_offloading and inputs.loss_impl == "cce"
    # LoRA_MLP saves X, e (gate) and g (up): act(gate) and down_proj's input act(gate)·up are not kept
    dropped = 2 * 2 * llama3b.intermediate_size * C.ACTIVATION_SCALE * 4096 * (1 + C.RECOMPUTE_GRAD_FRACTION)
    assert plain.term("recompute").bytes - unsloth.term("recompute").bytes == pytest.approx(dropped)  # type: ignore[union-attr]
    assert unsloth.term("activations").bytes == plain.term("activations").bytes  # type: ignore[union-attr]
    for key, words in (("activations", "Unsloth's offloaded gradient checkpointing"),
                       ("recompute", "Unsloth's fused LoRA MLP"), ("cross_entropy", "(Unsloth)")):
        assert words in unsloth.term(key).note  # type: ignore[union-attr]


def test_the_mlp_kernel_needs_dropout_0_and_lora_on_the_whole_mlp(llama3b: ModelArchitecture) -> None:
    for kw in (dict(lora_dropout=0.05), dict(lora_targets=("q_proj", "v_proj"))):
        plain = train(llama3b, gradient_checkpointing=True, activation_offloading=True, loss_impl="cce", **kw)
        unsloth = train(llama3b, unsloth=True, **kw)
        assert unsloth.term("recompute").bytes == plain.term("recompute").bytes  # type: ignore[union-attr]
        assert any("fused LoRA MLP kernel is not applied" in n for n in unsloth.notes)
    for kw in (dict(method="full", optimizer="adamw_torch"), dict(peft_method="ia3", lora_targets=("k_proj",)),
               dict(dora=True)):
        with pytest.raises(TunerError, match="Unsloth") as info:
            train(llama3b, unsloth=True, **kw)
        assert info.value.field == "unsloth"


def test_unsloth_capacity_rows_are_scored() -> None:
    mapped, _ = mapped_rows()
    rows = [m for m in mapped if m.row_id.startswith("unsloth-")]
    assert len(rows) == 9 and all(m.group == "capacity" and "--unsloth" in m.assumption for m in rows)
    errs = {m.row_id: (m.predict() - m.measured_bytes) / m.measured_bytes for m in rows}
    assert max(abs(e) for e in errs.values()) <= 0.10, errs
    assert next(m for m in rows if m.row_id == "unsloth-L33-70B-48GB").measured_bytes == 48 * 2**30


def test_unsloth_in_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from tui_tuner.cli import build_parser
    from tui_tuner.commands.calc import form_fields

    code = main(["calc", "-m", "llama-3.1-8b", "--method", "qlora", "--lora-targets", "all-linear",
                 "--lora-dropout", "0", "--unsloth", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    inputs = json.loads(out)["estimate"]["inputs"]
    assert inputs["unsloth"] and inputs["loss_impl"] == "cce" and inputs["activation_offloading"]
    fields = {**DEFAULT_FIELDS, "model": "llama-3.1-8b", "method": "qlora", "unsloth": True}
    line = cli_command(fields)
    assert "--unsloth" in line
    assert parse_fields(form_fields(build_parser().parse_args(line.split()[1:])))[0] == parse_fields(fields)[0]
    code = main(["calc", "-m", "llama-3.1-8b", "--method", "full", "--unsloth"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "Unsloth" in err
