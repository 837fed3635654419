"""The calculator form carries the knobs added for the public tables: torch.compile and DoRA switches, the
GaLore rank field, and the new optimizer / loss / strategy choices; each changes the estimate on screen and
the copied CLI line."""

from __future__ import annotations

from textual.widgets import Input, Select, Switch

from core.calc.plan import cli_command
from tests.calc.test_screen import SIZE, _host, settle, type_into


async def test_compile_dora_and_galore_from_the_form() -> None:
    app = _host()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#model-pick", Select).value = "llama-3.2-3b"
        screen.query_one("#method", Select).value = "lora"
        await type_into(pilot, "max_length", "4096")
        await settle(pilot)
        eager = screen.result.estimate
        screen.query_one("#compile", Switch).value = True
        await settle(pilot)
        compiled = screen.result.estimate
        assert compiled.inputs.compiled and compiled.term("recompute").bytes < eager.term("recompute").bytes
        screen.query_one("#dora", Switch).value = True
        await settle(pilot)
        dora = screen.result.estimate
        assert dora.inputs.dora and dora.term("adapters").bytes > compiled.term("adapters").bytes
        line = cli_command(screen.fields())
        assert "--compile" in line and "--dora" in line
        # DoRA is an adapter option: hidden for a full fine-tune, and not applied there
        screen.query_one("#method", Select).value = "full"
        screen.query_one("#optimizer", Select).value = "galore_adamw"
        await settle(pilot)
        assert screen.query_one("#dora", Switch).parent.has_class("-hidden")
        full = screen.result.estimate
        assert not full.inputs.dora and "GaLore r=128" in full.term("optimizer").note
        await type_into(pilot, "galore_rank", "32")
        await settle(pilot)
        assert "GaLore r=32" in screen.result.estimate.term("optimizer").note
        assert "--galore-rank 32" in cli_command(screen.fields())
        screen.query_one("#loss_impl", Select).value = "chunked-outputs"
        screen.query_one("#strategy", Select).value = "fsdp-offload"
        screen.query_one("#optimizer", Select).value = "adamw_torch_8bit"
        await settle(pilot)
        est = screen.result.estimate
        assert est.inputs.loss_impl == "chunked-outputs" and est.inputs.optimizer == "adamw_torch_8bit"


async def test_adapter_choice_and_virtual_tokens_from_the_form() -> None:
    app = _host()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#model-pick", Select).value = "llama-3.2-3b"
        screen.query_one("#method", Select).value = "lora"
        await settle(pilot)
        screen.query_one("#peft_method", Select).value = "prompt-tuning"
        await type_into(pilot, "virtual_tokens", "200")
        await settle(pilot)
        est = screen.result.estimate
        assert est.inputs.peft_method == "prompt-tuning" and est.inputs.virtual_tokens == 200
        assert "--peft-method prompt-tuning --virtual-tokens 200" in cli_command(screen.fields())
        # DoRA belongs to LoRA: the error shows under the adapter choice and the last good result stays
        screen.query_one("#dora", Switch).value = True
        await settle(pilot)
        assert "DoRA is a LoRA variant" in str(screen.query_one("#peft_method-error").render())
        assert screen.result.estimate.inputs.peft_method == "prompt-tuning"
        screen.query_one("#dora", Switch).value = False
        # a full fine-tune has no adapter to choose; inference neither
        screen.query_one("#method", Select).value = "full"
        await settle(pilot)
        assert screen.query_one("#peft_method", Select).has_class("-hidden")
        screen.query_one("#method", Select).value = "lora"
        screen.query_one("#mode", Select).value = "inference"
        await settle(pilot)
        assert screen.query_one("#adapter-fields").has_class("-hidden")


async def test_prefix_tuning_projection_and_unsloth_from_the_form() -> None:
    app = _host()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#model-pick", Select).value = "llama-3.2-3b"
        screen.query_one("#method", Select).value = "lora"
        screen.query_one("#gradient_checkpointing", Switch).value = False
        await settle(pilot)
        screen.query_one("#peft_method", Select).value = "prefix-tuning"
        await type_into(pilot, "virtual_tokens", "200")
        await settle(pilot)
        est = screen.result.estimate
        assert est.inputs.peft_method == "prefix-tuning" and est.inputs.virtual_tokens == 200
        assert "prefix tuning: 200 virtual tokens" in est.term("adapters").note
        assert "prefix K,V" in est.term("activations").note
        assert "--peft-method prefix-tuning --virtual-tokens 200" in cli_command(screen.fields())
        plain = est
        await type_into(pilot, "prefix_projection", "512")
        await settle(pilot)
        projected = screen.result.estimate
        assert projected.inputs.prefix_projection == 512
        assert projected.term("adapters").bytes > plain.term("adapters").bytes
        assert "--prefix-projection 512" in cli_command(screen.fields())
        # Unsloth's kernels apply to LoRA: on with all MLP targets and no dropout
        screen.query_one("#prefix_projection", Input).value = ""
        screen.query_one("#peft_method", Select).value = "lora"
        await type_into(pilot, "lora_targets", "all-linear")
        await type_into(pilot, "lora_dropout", "0")
        await settle(pilot)
        before = screen.result.estimate
        screen.query_one("#unsloth", Switch).value = True
        await settle(pilot)
        after = screen.result.estimate
        assert after.inputs.unsloth and after.total_bytes < before.total_bytes
        assert "--unsloth" in cli_command(screen.fields())
        screen.query_one("#method", Select).value = "full"
        await settle(pilot)
        assert screen.query_one("#unsloth", Switch).parent.has_class("-hidden")
