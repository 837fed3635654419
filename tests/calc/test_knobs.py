"""Knobs that public memory tables vary and the calculator used to refuse or ignore: torch.compile, torchtune's
chunked-output loss, torchao low-bit AdamW and the other HF `optim` names, DoRA, FSDP CPU offload. Each one
changes the breakdown terms INPUT_TERMS names for it."""

from __future__ import annotations

import json

import pytest

from core.calc import MemoryInputs, ModelArchitecture, estimate_training, per_gpu_estimate
from core.calc import constants as C
from core.calc.formats import INPUT_TERMS, optimizer_bytes
from core.calc.plan import DEFAULT_FIELDS, calculate, cli_command, parse_fields
from core.errors import TunerError
from tui_tuner.cli import main

FULL = dict(method="full", max_length=4096, batch_size=2, gradient_accumulation=1, optimizer="adamw_torch_fused",
            gradient_checkpointing=False, dtype="bf16", loss_impl="fp32-logits")


def train(arch: ModelArchitecture, **kw: object):
    return estimate_training(MemoryInputs(arch=arch, **{**FULL, **kw}))  # type: ignore[arg-type]


def test_compile_drops_the_recomputed_pointwise_outputs(llama3b: ModelArchitecture) -> None:
    eager, compiled = train(llama3b), train(llama3b, compiled=True)
    p, h, inter = 2, llama3b.hidden_size, llama3b.intermediate_size
    # two RMSNorm outputs, act(gate) and act(gate)·up per token and layer, recomputed in backward
    dropped = (2 * p * h + 2 * p * inter) * C.ACTIVATION_SCALE * 2 * 4096 * llama3b.num_layers
    assert eager.term("activations").bytes - compiled.term("activations").bytes == pytest.approx(dropped)
    for key in ("weights", "optimizer", "cross_entropy"):
        assert eager.term(key).bytes == compiled.term(key).bytes  # type: ignore[union-attr]
    assert set(INPUT_TERMS["compile"]) == {"activations", "recompute"}
    # LoRA without dropout: the wrapped modules' shared norm output is recomputed too
    lora = dict(method="lora", lora_targets=("q_proj", "v_proj"), lora_dropout=0.0)
    assert train(llama3b, **lora, compiled=True).term("activations").bytes < \
        train(llama3b, **lora).term("activations").bytes  # type: ignore[union-attr]


def test_torchtune_chunked_output_loss_keeps_every_chunks_logits(llama3b: ModelArchitecture) -> None:
    tokens, vocab = 2 * 4096, llama3b.vocab_size
    chunk = tokens // C.TORCHTUNE_OUTPUT_CHUNKS
    compiled = train(llama3b, loss_impl="chunked-outputs", compiled=True).term("cross_entropy")
    eager = train(llama3b, loss_impl="torchtune").term("cross_entropy")  # alias
    assert compiled.bytes == pytest.approx((2 * tokens + C.CE_PEAK_BYTES["hf"] * chunk) * vocab)
    assert eager.bytes == pytest.approx((6 * tokens + C.CE_PEAK_BYTES["hf"] * chunk) * vocab)
    # TRL's fused head never builds the whole logits: far less than torchtune's chunks
    assert train(llama3b, loss_impl="chunked").term("cross_entropy").bytes < compiled.bytes  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "per_param"), [
    ("adamw_torch_8bit", 2 * (1 + 4 / 256)), ("torchao_adamw_8bit", 2 * (1 + 4 / 256)),
    ("adamw_torch_4bit", 2 * (0.5 + 4 / 128)), ("lion_32bit", 4.0), ("lion_8bit", 1 + 4 / 256),
    ("paged_lion_8bit", 1 + 4 / 256), ("adagrad", 2.0), ("rmsprop", 2.0), ("sgd_momentum", 2.0), ("sgd", 0.0),
])
def test_optimizer_names_from_hf_and_torchao(llama3b: ModelArchitecture, name: str, per_param: float) -> None:
    assert optimizer_bytes(name, 2.0)[0] == pytest.approx(per_param)
    est = train(llama3b, optimizer=name, gradient_checkpointing=True)
    # paged states live in unified memory, outside the counted peak
    on_gpu = 0.0 if name.startswith("paged_") else per_param * llama3b.total_params
    assert est.term("optimizer").bytes == pytest.approx(on_gpu)  # type: ignore[union-attr]
    assert est.inputs.optimizer in {name, "adamw_torch_8bit"}
    with pytest.raises(TunerError, match="unknown optimizer"):
        train(llama3b, optimizer="adamw_9bit")


def test_dora_adds_magnitudes_and_kept_outputs(llama3b: ModelArchitecture) -> None:
    kw = dict(method="lora", lora_targets=("q_proj", "v_proj"), lora_dropout=0.0, lora_r=32, max_length=768,
              batch_size=4, gradient_checkpointing=False, adapter_dtype="fp32")
    lora, dora = train(llama3b, **kw), train(llama3b, **kw, dora=True)
    out = llama3b.num_layers * (llama3b.q_width + llama3b.kv_width)  # d_out of q_proj and v_proj, every layer
    assert dora.term("adapters").bytes - lora.term("adapters").bytes == pytest.approx(out * 4)  # type: ignore[union-attr]
    kept = (2 + 4) * out * 4 * 768 * C.ACTIVATION_SCALE
    assert dora.term("activations").bytes - lora.term("activations").bytes == pytest.approx(kept)  # type: ignore[union-attr]
    assert "DoRA" in dora.term("adapters").note  # type: ignore[union-attr]
    with pytest.raises(TunerError, match="DoRA is an adapter method") as info:
        train(llama3b, dora=True)
    assert info.value.field == "dora"


def test_fsdp_cpu_offload_keeps_model_states_in_host_ram(llama3b: ModelArchitecture) -> None:
    inputs = MemoryInputs(arch=llama3b, **{**FULL, "gradient_checkpointing": True})  # type: ignore[arg-type]
    fsdp, offload = per_gpu_estimate(inputs, "fsdp", 8), per_gpu_estimate(inputs, "fsdp-cpu-offload", 8)
    for key in ("weights", "optimizer"):
        assert offload.term(key).bytes == 0 and fsdp.term(key).bytes > 0  # type: ignore[union-attr]
    # only the LM head's gradient shard, produced on the GPU at the loss, before it moves to host RAM
    assert offload.term("gradients").bytes == pytest.approx(llama3b.embedding_params * 2 / 8)  # type: ignore[union-attr]
    one = estimate_training(inputs)
    states = sum(one.term(k).bytes for k in ("weights", "optimizer"))  # type: ignore[union-attr]
    assert offload.cpu_bytes == pytest.approx(states + llama3b.total_params * 2)
    assert offload.term("comm_buffers").bytes == fsdp.term("comm_buffers").bytes  # type: ignore[union-attr]
    assert offload.total_bytes < fsdp.total_bytes


def test_quantised_frozen_base_is_gathered_in_its_format(llama3b: ModelArchitecture) -> None:
    from core.calc.formats import WEIGHT_FORMATS

    kw = dict(method="qlora", lora_targets=("all-linear",), gradient_checkpointing=True)
    inputs = MemoryInputs(arch=llama3b, **{**FULL, **kw})  # type: ignore[arg-type]
    comm = per_gpu_estimate(inputs, "fsdp", 8).term("comm_buffers")
    unit = max(llama3b.layer_params, llama3b.embedding_params)
    # current + prefetched unit in NF4+DQ; a frozen base has no full-size gradients to reduce-scatter
    assert comm.bytes == pytest.approx(2 * unit * WEIGHT_FORMATS["nf4-dq"])  # type: ignore[union-attr]
    adapters = per_gpu_estimate(inputs, "fsdp", 8).term("adapters")
    assert adapters.sharded and adapters.bytes == pytest.approx(estimate_training(inputs).term("adapters").bytes / 8)  # type: ignore[union-attr]


def test_cli_and_form_carry_the_new_knobs(capsys: pytest.CaptureFixture[str]) -> None:
    from tui_tuner.commands.calc import form_fields

    code = main(["calc", "-m", "llama-3.2-3b", "--method", "lora", "--dora", "--compile", "--optimizer",
                 "adamw_torch_8bit", "--loss", "chunked-outputs", "--strategy", "fsdp-offload", "--gpus", "4",
                 "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    inputs = data["estimate"]["inputs"]
    assert inputs["compile"] and inputs["dora"] and inputs["optimizer"] == "adamw_torch_8bit"
    assert inputs["loss_impl"] == "chunked-outputs" and data["estimate"]["parallel"]["strategy"] == "fsdp-offload"
    assert data["input_terms"]["compile"] == ["activations", "recompute"]
    fields = {**DEFAULT_FIELDS, "model": "llama-3.2-3b", "method": "lora", "dora": True, "compile": True,
              "optimizer": "lion_8bit", "strategy": "fsdp-offload", "gpus": "4"}
    line = cli_command(fields)
    assert "--dora" in line and "--compile" in line
    from tui_tuner.cli import build_parser

    args = build_parser().parse_args(line.split()[1:])
    assert parse_fields(form_fields(args))[0] == parse_fields(fields)[0]
    assert calculate(form_fields(args)).inputs.dora


def test_galore_keeps_states_on_the_projected_gradients(llama3b: ModelArchitecture) -> None:
    adamw = train(llama3b, optimizer="adamw_torch", gradient_checkpointing=True)
    galore = train(llama3b, optimizer="galore_adamw", galore_rank=128, gradient_checkpointing=True)
    linears = [(lin.d_out, lin.d_in) for lin in llama3b.linears]
    projected = llama3b.num_layers * sum(max(m, n) * 128 for m, n in linears)
    projector = llama3b.num_layers * sum(min(m, n) * 128 for m, n in linears)
    rest = llama3b.total_params - llama3b.num_layers * sum(m * n for m, n in linears)
    assert galore.term("optimizer").bytes == pytest.approx((projected + rest) * 4 + projector * 2)  # type: ignore[union-attr]
    assert galore.term("optimizer").bytes < adamw.term("optimizer").bytes / 3  # type: ignore[union-attr]
    assert galore.term("step_temp") is not None and "SVD" in galore.term("step_temp").note  # type: ignore[union-attr]
    # a higher rank keeps more; the 8-bit inner optimizer less
    assert train(llama3b, optimizer="galore_adamw", galore_rank=512).term("optimizer").bytes > \
        galore.term("optimizer").bytes > train(llama3b, optimizer="galore_adamw_8bit").term("optimizer").bytes  # type: ignore[union-attr]
    # layer-wise: each parameter is stepped in backward (one gradient alive), so no accumulation
    short = dict(max_length=256, gradient_checkpointing=True)
    layerwise, stepped = train(llama3b, optimizer="galore_adamw_layerwise", **short), \
        train(llama3b, optimizer="galore_adamw", **short)
    assert stepped.peak_phase == "optimizer step" and layerwise.peak_phase != "optimizer step"
    assert "optimizer in backward" in layerwise.term("gradients").note  # type: ignore[union-attr]
    assert layerwise.term("gradients").bytes < stepped.term("gradients").bytes  # type: ignore[union-attr]
    with pytest.raises(TunerError, match="layer-wise GaLore"):
        train(llama3b, optimizer="galore_adamw_layerwise", gradient_accumulation=4)
    with pytest.raises(TunerError, match="GaLore projects full-parameter gradients"):
        train(llama3b, optimizer="galore_adamw", method="lora")


def test_galore_rank_in_the_cli_and_the_form(capsys: pytest.CaptureFixture[str]) -> None:
    from tui_tuner.cli import build_parser
    from tui_tuner.commands.calc import form_fields

    code = main(["calc", "-m", "llama-3.2-1b", "--method", "full", "--optimizer", "galore_adamw_8bit",
                 "--galore-rank", "256", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert data["estimate"]["inputs"]["galore_rank"] == 256 and "r=256" in data["estimate"]["terms"][2]["note"]
    fields = {**DEFAULT_FIELDS, "model": "llama-3.2-1b", "method": "full", "optimizer": "galore_adamw",
              "galore_rank": "64"}
    line = cli_command(fields)
    assert "--galore-rank 64" in line
    assert parse_fields(form_fields(build_parser().parse_args(line.split()[1:])))[0] == parse_fields(fields)[0]
    code = main(["calc", "-m", "llama-3.2-1b", "--method", "full", "--optimizer", "galore_adamw",
                 "--galore-rank", "0"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "galore_rank" in err


def test_torchtune_qlora_quantises_only_the_lora_targets(llama3b: ModelArchitecture) -> None:
    from core.calc.formats import WEIGHT_FORMATS

    kw = dict(method="qlora", lora_targets=("q_proj", "v_proj"), gradient_checkpointing=True)
    every = train(llama3b, **kw)
    scoped = train(llama3b, **kw, quant_scope="lora-targets")
    plain = llama3b.num_layers * sum(lin.weight_params for lin in llama3b.linears if lin.name not in
                                     every.inputs.lora_targets)
    assert scoped.term("weights").bytes - every.term("weights").bytes == \
        pytest.approx(plain * (2 - WEIGHT_FORMATS["nf4-dq"]))  # type: ignore[union-attr]
    assert "only the LoRA targets quantised" in scoped.term("weights").note  # type: ignore[union-attr]
    # the dequant buffers follow the largest *quantised* matrix (q_proj here, not the MLP)
    assert scoped.term("dequant").bytes < every.term("dequant").bytes  # type: ignore[union-attr]
    with pytest.raises(TunerError, match="needs an adapter method on a quantised base") as info:
        train(llama3b, method="lora", quant_scope="lora-targets")
    assert info.value.field == "quant_scope"


def test_quantize_lora_targets_only_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["calc", "-m", "llama-3.1-8b", "--method", "qlora", "--lora-targets", "q_proj,v_proj",
                 "--quantize-lora-targets-only", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["estimate"]["inputs"]["quant_scope"] == "lora-targets"
    fields = {**DEFAULT_FIELDS, "model": "llama-3.1-8b", "quantize_lora_targets_only": True}
    assert "--quantize-lora-targets-only" in cli_command(fields)
    code = main(["calc", "-m", "llama-3.1-8b", "--method", "lora", "--quantize-lora-targets-only"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "quantised base" in err


@pytest.mark.parametrize(("peft", "extra", "trainable"), [
    # PEFT's own trainable counts for Llama-3.2-3B (the dev set's method-comparison rows)
    ("lora-fa", dict(lora_r=32, lora_targets=("q_proj", "v_proj")), 3_670_016),
    ("ia3", dict(lora_targets=("k_proj", "v_proj", "down_proj")), 286_720),
    ("ln-tuning", {}, 175_104),
    ("prompt-tuning", dict(virtual_tokens=200), 614_400),
])
def test_other_peft_methods_count_like_peft(llama3b: ModelArchitecture, peft: str, extra: dict[str, object],
                                            trainable: int) -> None:
    kw = dict(method="lora", lora_dropout=0.0, max_length=768, batch_size=4, adapter_dtype="fp32")
    est = train(llama3b, **kw, peft_method=peft, **extra)
    assert est.term("adapters").bytes == pytest.approx(trainable * 4)  # type: ignore[union-attr]
    assert est.inputs.peft_method == peft


def test_other_peft_methods_keep_what_their_gradients_need(llama3b: ModelArchitecture) -> None:
    kw = dict(method="lora", lora_dropout=0.0, max_length=768, batch_size=4, gradient_checkpointing=False)
    tokens, layers, p = 4 * 768, llama3b.num_layers, 2
    scale = C.ACTIVATION_SCALE
    bare = train(llama3b, **kw, peft_method="prompt-tuning", virtual_tokens=1)  # ~ a frozen layer's own set
    base_per_token = bare.term("activations").bytes / (4 * 769)  # type: ignore[union-attr]
    # IA3: k and v keep their outputs, down_proj its (MLP-wide) input
    ia3 = train(llama3b, **kw, peft_method="ia3", lora_targets=("k_proj", "v_proj", "down_proj"))
    kept = p * (2 * llama3b.kv_width + llama3b.intermediate_size) * scale * layers
    assert ia3.term("activations").bytes == pytest.approx(base_per_token * tokens + kept * tokens)  # type: ignore[union-attr]
    # LayerNorm tuning: each norm keeps its normalised input
    ln = train(llama3b, **kw, peft_method="ln-tuning")
    assert ln.term("activations").bytes == pytest.approx(  # type: ignore[union-attr]
        base_per_token * tokens + 2 * p * llama3b.hidden_size * scale * layers * tokens)
    # prompt tuning: every sequence is virtual_tokens longer (activations and logits)
    prompt = train(llama3b, **kw, peft_method="prompt-tuning", virtual_tokens=200)
    assert prompt.term("logits").bytes == pytest.approx(4 * llama3b.vocab_size * 4 * (768 + 200))  # type: ignore[union-attr]
    with pytest.raises(TunerError, match="DoRA is a LoRA variant"):
        train(llama3b, **kw, peft_method="ia3", lora_targets=("k_proj",), dora=True)
    with pytest.raises(TunerError, match="unknown PEFT method") as info:
        train(llama3b, **kw, peft_method="vera")
    assert info.value.field == "peft_method"


def test_peft_method_in_the_cli_and_the_form(capsys: pytest.CaptureFixture[str]) -> None:
    from tui_tuner.cli import build_parser
    from tui_tuner.commands.calc import form_fields

    code = main(["calc", "-m", "llama-3.2-3b", "--method", "lora", "--peft-method", "prompt-tuning",
                 "--virtual-tokens", "200", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    inputs = json.loads(out)["estimate"]["inputs"]
    assert inputs["peft_method"] == "prompt-tuning" and inputs["virtual_tokens"] == 200
    fields = {**DEFAULT_FIELDS, "model": "llama-3.2-3b", "method": "qlora", "peft_method": "ia3",
              "lora_targets": "k_proj,v_proj,down_proj"}
    line = cli_command(fields)
    assert "--peft-method ia3" in line
    assert parse_fields(form_fields(build_parser().parse_args(line.split()[1:])))[0] == parse_fields(fields)[0]
    code = main(["calc", "-m", "llama-3.2-3b", "--method", "lora", "--peft-method", "vera"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "unknown PEFT method" in err


@pytest.mark.parametrize("projection", [0, 48])
@pytest.mark.parametrize(("model_type", "extra"), [
    ("llama", dict(num_key_value_heads=2)),  # GQA: token_dim = head_dim × KV heads (16 × 2), not h 64
    ("qwen3", dict(num_key_value_heads=2, head_dim=32)),  # head_dim set apart from h / heads
    ("llama", dict(num_key_value_heads=4)),  # multi-head attention: token_dim = h
])
def test_prefix_tuning_counts_like_peft(model_type: str, extra: dict[str, int], projection: int) -> None:
    pytest.importorskip("peft")
    import torch
    import transformers
    from peft import PrefixTuningConfig, get_peft_model

    config = dict(model_type=model_type, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                  num_attention_heads=4, vocab_size=100, **extra)
    arch = ModelArchitecture.from_config(config, name="tiny")
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(**config))
    peft_config = PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=7, prefix_projection=bool(projection),
                                     encoder_hidden_size=projection or None)
    counted = sum(p.numel() for p in get_peft_model(model, peft_config).parameters() if p.requires_grad)
    est = train(arch, method="lora", max_length=32, peft_method="prefix-tuning", virtual_tokens=7,
                prefix_projection=projection, adapter_dtype="fp32")
    assert est.term("adapters").bytes == counted * 4  # type: ignore[union-attr]
    assert est.term("gradients").bytes == counted * 4  # type: ignore[union-attr]


def test_prefix_tuning_keeps_the_prefix_keys_and_values_in_every_layer(llama3b: ModelArchitecture) -> None:
    kw = dict(method="lora", lora_dropout=0.0, max_length=768, batch_size=4, gradient_checkpointing=False,
              adapter_dtype="fp32", optimizer="adamw_torch")
    frozen = train(llama3b, **kw, peft_method="prompt-tuning", virtual_tokens=1)  # a frozen layer's own set
    prefix = train(llama3b, **kw, peft_method="prefix-tuning", virtual_tokens=200)
    # PEFT's count for the dev set's Llama-3.2-3B row: 200 × 28 layers × 2 × 1,024 (8 KV heads × 128)
    assert prefix.term("adapters").bytes == 11_468_800 * 4  # type: ignore[union-attr]
    assert prefix.term("optimizer").bytes == pytest.approx(11_468_800 * 8)  # type: ignore[union-attr]
    # the sequence is not longer (the prefix is keys and values, not tokens): logits as without an adapter
    assert prefix.term("logits").bytes == pytest.approx(4 * llama3b.vocab_size * 4 * 768)  # type: ignore[union-attr]
    per_token = frozen.term("activations").bytes / (4 * 769)  # type: ignore[union-attr]
    kv = 4 * 200 * 2 * llama3b.kv_width * 2 * llama3b.num_layers  # batch × V × (K, V) × width × bf16 × layers
    assert prefix.term("activations").bytes == pytest.approx(per_token * 4 * 768 + kv)  # type: ignore[union-attr]
    assert "prefix K,V" in prefix.term("activations").note  # type: ignore[union-attr]
    # checkpointed layers get no cache in transformers: the prefix is not attended, and the estimate says so
    ckpt = train(llama3b, **{**kw, "gradient_checkpointing": True}, peft_method="prefix-tuning", virtual_tokens=200)
    assert any("prefix is not attended" in n for n in ckpt.notes)
    assert "prefix K,V" not in ckpt.term("recompute").note  # type: ignore[union-attr]
    with pytest.raises(TunerError, match="part of prefix tuning") as info:
        train(llama3b, **kw, peft_method="prompt-tuning", prefix_projection=512)
    assert info.value.field == "prefix_projection"


def test_prefix_tuning_in_the_cli_and_the_form(capsys: pytest.CaptureFixture[str]) -> None:
    from tui_tuner.cli import build_parser
    from tui_tuner.commands.calc import form_fields

    code = main(["calc", "-m", "llama-3.2-3b", "--method", "lora", "--peft-method", "prefix-tuning",
                 "--virtual-tokens", "200", "--prefix-projection", "512", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    inputs = json.loads(out)["estimate"]["inputs"]
    assert (inputs["peft_method"], inputs["virtual_tokens"], inputs["prefix_projection"]) == ("prefix-tuning", 200, 512)
    fields = {**DEFAULT_FIELDS, "model": "llama-3.2-3b", "method": "lora", "peft_method": "prefix-tuning",
              "virtual_tokens": "30", "prefix_projection": "256"}
    line = cli_command(fields)
    assert "--peft-method prefix-tuning --virtual-tokens 30 --prefix-projection 256" in line
    assert parse_fields(form_fields(build_parser().parse_args(line.split()[1:])))[0] == parse_fields(fields)[0]
    code = main(["calc", "-m", "llama-3.2-3b", "--method", "lora", "--peft-method", "prefix-tuning",
                 "--prefix-projection", "wide"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "prefix_projection" in err
