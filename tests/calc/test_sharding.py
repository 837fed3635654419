"""Per-GPU memory over N GPUs (DDP, FSDP full / hybrid shard, DeepSpeed ZeRO-2/3 ± CPU offload, device_map),
and the flavor fit, cheapest flavor and cost over the multi-GPU HF Jobs flavors (issue 12)."""

from __future__ import annotations

import pytest

from core.calc import MemoryInputs, ModelArchitecture, per_gpu_estimate, resolve_architecture
from core.calc.sharding import ZERO_CPU_BUFFER
from core.costing import RunPlan, flavor_estimates, recommended, run_costs_by_flavor
from core.errors import TunerError
from core.flavors import get_flavor


def full(arch: ModelArchitecture, **kw: object) -> MemoryInputs:
    base = dict(method="full", max_length=1024, batch_size=1, gradient_accumulation=4, optimizer="adamw_torch",
                gradient_checkpointing=True, dtype="bf16", loss_impl="chunked")
    base.update(kw)
    return MemoryInputs(arch=arch, **base)  # type: ignore[arg-type]


def states(est) -> float:
    return sum(est.term(k).bytes for k in ("weights", "gradients", "optimizer"))


def test_ddp_replicates_everything(llama3b: ModelArchitecture) -> None:
    one, ddp = per_gpu_estimate(full(llama3b), "single", 1), per_gpu_estimate(full(llama3b), "ddp", 4)
    assert states(ddp) == states(one)
    assert not any(t.sharded for t in ddp.terms)
    assert ddp.term("comm_buffers") is not None and ddp.world_size == 4


def test_fsdp_divides_weights_gradients_and_optimizer(llama3b: ModelArchitecture) -> None:
    one, fsdp = per_gpu_estimate(full(llama3b), "single", 1), per_gpu_estimate(full(llama3b), "fsdp", 4)
    for key in ("weights", "gradients", "optimizer"):
        assert fsdp.term(key).bytes == pytest.approx(one.term(key).bytes / 4)
        assert fsdp.term(key).sharded
    assert fsdp.term("activations").bytes == one.term("activations").bytes  # each GPU runs its own batch
    assert not fsdp.term("activations").sharded
    # gathered + prefetched + grads of the largest unit: Llama-3.2-3B's 394M-param (tied) embedding, not a layer
    unit = max(llama3b.layer_params, llama3b.embedding_params)
    assert unit == llama3b.embedding_params
    assert fsdp.term("comm_buffers").bytes == 3 * unit * 2
    hybrid = per_gpu_estimate(full(llama3b), "fsdp-hybrid", 4, shard_size=2)
    assert hybrid.term("weights").bytes == pytest.approx(one.term("weights").bytes / 2)
    with pytest.raises(TunerError, match="must divide"):
        per_gpu_estimate(full(llama3b), "fsdp-hybrid", 4, shard_size=3)


def test_zero_matches_deepspeeds_own_estimator(llama3b: ModelArchitecture) -> None:
    P, N = llama3b.total_params, 8
    largest = llama3b.layer_params
    z2 = per_gpu_estimate(full(llama3b), "zero2", N)
    assert states(z2) == pytest.approx(4 * P + 16 * P / N)                 # estimate_zero2: 4P + 16P/N
    z2o = per_gpu_estimate(full(llama3b), "zero2-offload", N)
    assert states(z2o) == pytest.approx(2 * P)                             # offload: 2P on the GPU
    assert z2o.cpu_bytes == pytest.approx(P * max(4 * N, 16) * ZERO_CPU_BUFFER)
    z3 = per_gpu_estimate(full(llama3b), "zero3", N)
    assert states(z3) + z3.term("comm_buffers").bytes == pytest.approx(18 * P / N + 4 * largest)
    z3o = per_gpu_estimate(full(llama3b), "zero3-offload", N)
    assert states(z3o) == 0 and z3o.term("comm_buffers").bytes == 4 * largest
    assert z3o.cpu_bytes == pytest.approx(P * max(4 * N, 18) * ZERO_CPU_BUFFER)
    totals = [e.total_bytes for e in (per_gpu_estimate(full(llama3b), "ddp", N), z2, z3, z3o)]
    assert totals == sorted(totals, reverse=True)


def test_lora_under_zero3_shards_the_frozen_base(llama3b: ModelArchitecture) -> None:
    lora = MemoryInputs(arch=llama3b, method="lora", lora_targets=("q_proj", "v_proj"), max_length=1024)
    one, z3 = per_gpu_estimate(lora, "single", 1), per_gpu_estimate(lora, "zero3", 4)
    assert z3.term("weights").bytes == pytest.approx(one.term("weights").bytes / 4)
    assert z3.term("adapters").bytes == one.term("adapters").bytes   # replicated, tiny


def test_device_map_splits_layers_but_not_the_loss(llama3b: ModelArchitecture) -> None:
    one = per_gpu_estimate(full(llama3b, gradient_checkpointing=False), "single", 1)
    split = per_gpu_estimate(full(llama3b, gradient_checkpointing=False), "device-map", 4)
    assert split.term("weights").bytes == pytest.approx(one.term("weights").bytes / 4)
    assert split.term("activations").bytes == pytest.approx(one.term("activations").bytes / 4)
    assert split.term("cross_entropy").bytes == one.term("cross_entropy").bytes


def test_multi_gpu_flavors_fit_what_no_single_gpu_can() -> None:
    arch = resolve_architecture("llama-3.3-70b")
    inputs = full(arch, max_length=2048, gradient_accumulation=1)
    single = per_gpu_estimate(inputs)
    assert single.cheapest_flavor is None                      # 70B full fine-tune: no single GPU
    pairs = dict((fl.name, est) for fl, est in flavor_estimates(inputs))
    h200x8 = pairs["h200x8"]
    assert h200x8.fits("h200x8") and h200x8.parallel.strategy in {"zero3", "fsdp", "zero3-offload"}
    rows = run_costs_by_flavor(inputs, RunPlan(examples=100, epochs=1, tokens_per_example=1024))
    best = recommended(rows)
    assert best is not None and best.flavor.gpu_count > 1 and best.strategy != "single"
    # A named strategy is used on every multi-GPU flavor; it cannot fit a flavor with too few GPUs.
    fsdp8 = per_gpu_estimate(inputs, "fsdp", 8)
    assert not fsdp8.fits("h200x4") and fsdp8.fits_memory(get_flavor("h200x8")) == fsdp8.fits("h200x8")


def test_data_parallel_runs_are_faster_and_priced_per_flavor(llama3b: ModelArchitecture) -> None:
    inputs = full(llama3b)
    plan = RunPlan(examples=2000, epochs=1, tokens_per_example=1024)
    rows = {r.flavor.name: r for r in run_costs_by_flavor(inputs, plan)}
    one, four = rows["a100-large"], rows["a100x4"]
    assert four.strategy in {"ddp", "zero2", "fsdp"} and four.fits
    compute = plan.startup_seconds
    assert four.seconds - compute < (one.seconds - compute) / 3   # 4 GPUs × the strategy's scaling efficiency
    assert four.steps == -(-2000 // (1 * 4 * 4))                   # global batch = batch × accumulation × GPUs


def test_bad_strategy_and_gpu_count(llama3b: ModelArchitecture) -> None:
    with pytest.raises(TunerError, match="unknown strategy") as info:
        per_gpu_estimate(full(llama3b), "zero4", 2)
    assert info.value.field == "strategy"
    with pytest.raises(TunerError) as gpus:
        per_gpu_estimate(full(llama3b), "ddp", 0)
    assert gpus.value.field == "gpus"
