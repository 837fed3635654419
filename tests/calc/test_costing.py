"""Run time and cost: the guide's cost table is the sanity check."""

from __future__ import annotations

import pytest

from core.calc import estimate_training
from core.calc.guide import guide_training_inputs
from core.costing import RunPlan, recommended, run_cost, run_costs, steps_for
from core.errors import TunerError


def test_steps_formula_from_the_guide() -> None:
    assert steps_for(1294, 3, batch_size=1, gradient_accumulation=8) == 486


def test_guide_cost_table_a100_row() -> None:
    # Guide: A100, 1K examples × 3 epochs, 3-4 hours (at ~$4/h then; $2.50/h in today's table).
    est = estimate_training(guide_training_inputs("gemma-3-12b", 16384))
    run = run_cost(est, RunPlan(examples=1000, epochs=3, tokens_per_example=2048), "a100-large")
    assert 3.0 <= run.hours <= 4.0
    assert run.cost == pytest.approx(run.flavor.cost(run.seconds))
    assert 7.5 <= run.cost <= 10.0
    assert run.hours * 4.0 == pytest.approx(13.5, abs=2.5)  # at the guide's price: its $12-16


def test_guide_cost_table_a10g_row() -> None:
    # Guide: A10G, 1K examples × 3 epochs, 2-3 hours, ~$4-5.
    est = estimate_training(guide_training_inputs("llama-3.1-8b", 1024))
    run = run_cost(est, RunPlan(examples=1000, epochs=3, tokens_per_example=1024), "a10g-large")
    assert run.fits and 2.0 <= run.hours <= 3.0 and 4.0 <= run.cost <= 5.0


def test_costs_scale_linearly_and_throughput_override() -> None:
    est = estimate_training(guide_training_inputs("qwen3-4b", 2048))
    one = run_cost(est, RunPlan(examples=1000, epochs=1, startup_seconds=0), "a100-large")
    two = run_cost(est, RunPlan(examples=2000, epochs=1, startup_seconds=0), "a100-large")
    assert two.seconds == pytest.approx(2 * one.seconds)
    fixed = run_cost(est, RunPlan(examples=1000, epochs=1, tokens_per_example=1000, tokens_per_second=1000,
                                  startup_seconds=0), "a100-large")
    assert fixed.seconds == pytest.approx(1000)


def test_recommendation_is_cheapest_hourly_fit() -> None:
    est = estimate_training(guide_training_inputs("gemma-3-12b", 16384))
    rows = run_costs(est, RunPlan())
    best = recommended(rows)
    assert best is not None and best.flavor.name == "a100-large"
    assert all(r.flavor.price_per_hour >= best.flavor.price_per_hour for r in rows if r.fits)


@pytest.mark.parametrize("plan", [RunPlan(examples=0), RunPlan(epochs=0), RunPlan(mfu=2.0),
                                  RunPlan(tokens_per_example=-1)])
def test_bad_plans(plan: RunPlan) -> None:
    with pytest.raises(TunerError):
        plan.validated()
