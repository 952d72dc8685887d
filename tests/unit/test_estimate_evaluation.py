"""The estimate counts the pipeline's per-epoch evaluation (chat_completion_pipeline 0.0.82 evaluation_strategy
default: epoch) as forward-only FLOPs: 2 x parameters x evaluation tokens (issue 19)."""

from __future__ import annotations

import pytest

from generator.component import load_interface
from generator.estimate import MFU_HIGH, MFU_LOW, training_hours


def test_evaluation_adds_forward_only_flops() -> None:
    without = training_hours(10_000_000, 14e9, True, 312, 1)
    with_eval = training_hours(10_000_000, 14e9, True, 312, 1, eval_tokens=1_500_000)
    added = 2 * 14e9 * 1_500_000
    assert with_eval.low - without.low == pytest.approx(added / (312e12 * MFU_HIGH) / 3600)
    assert with_eval.high - without.high == pytest.approx(added / (312e12 * MFU_LOW) / 3600)
    assert "2 x parameters x 1,500,000 evaluation tokens (forward only)" in with_eval.assumptions


def test_the_pinned_component_evaluates_every_epoch_by_default() -> None:
    assert load_interface("chat_completion_pipeline", "0.0.82").default("evaluation_strategy") == "epoch"


def _spec_with_evaluation(evaluation: dict) -> object:
    """The committed example spec with an evaluation: section of its own (no file needed: only data is read)."""
    from dataclasses import replace

    from generator.spec import load_specs
    from tests.conftest import REPO

    spec = load_specs(REPO, [REPO / "specs" / "phi4-ultrachat.yaml"], check_data=False)[0][0]
    return replace(spec, data={**spec.data, "evaluation": evaluation})


def test_the_evaluation_jobs_are_estimated_at_their_memory_bound_floor_where_bandwidth_is_on_file() -> None:
    from generator.estimate import EVAL_FIXED_HOURS, evaluation_estimate

    figures = evaluation_estimate(_spec_with_evaluation(
        {"max_samples": 200, "generation": {"max_new_tokens": 256}, "instance_type": "Standard_ND96amsr_A100_v4"}))
    tokens = 2 * 200 * 256
    floor = tokens * 2 * 14e9 / (2039e9 * 8) / 3600  # 8 A100 80GB SXM at 2,039 GB/s (catalog/gpus.yml)
    compute_high = 2 * 14e9 * tokens / (312e12 * 8 * MFU_LOW) / 3600
    assert figures.tokens == tokens and figures.size == "Standard_ND96amsr_A100_v4"
    assert figures.hours.low == pytest.approx(floor + 2 * EVAL_FIXED_HOURS[0])
    assert figures.hours.high == pytest.approx(max(floor, compute_high) + 2 * EVAL_FIXED_HOURS[1])
    assert "at least 2.9 min reading 2 bytes x 14B parameters per token at 2039 GB/s x 8 GPU(s)" in \
        figures.hours.assumptions


def test_the_example_evaluation_takes_tens_of_minutes_never_zero() -> None:
    """Issue 30: 102,400 tokens of a 14B model at 1,935 GB/s (A100 80GB PCIe) is 24.7 min of decoding at least."""
    from generator.estimate import evaluation_estimate

    figures = evaluation_estimate(_spec_with_evaluation({"max_samples": 200, "generation": {"max_new_tokens": 256}}))
    assert figures.size == "Standard_NC24ads_A100_v4"  # the training compute, as the job runs there
    floor_minutes = 102_400 * 2 * 14e9 / 1935e9 / 60
    assert floor_minutes == pytest.approx(24.7, abs=0.05)
    assert figures.hours.low * 60 == pytest.approx(floor_minutes + 12)  # plus 2 jobs x 0.1 h of start-up
    assert figures.hours.high * 60 == pytest.approx(floor_minutes + 60)


def test_without_a_bandwidth_on_file_the_evaluation_cannot_be_estimated() -> None:
    from generator.estimate import evaluation_estimate

    figures = evaluation_estimate(_spec_with_evaluation(
        {"max_samples": 10, "generation": {"max_new_tokens": 8}, "instance_type": "Standard_NC4as_T4_v3"}))
    assert figures.hours is None
    assert figures.missing == ("no memory bandwidth on file for T4 16GB (generator/catalog/gpus.yml), so decoding's "
                               "floor cannot be computed")


def test_a_spec_without_evaluation_has_no_evaluation_estimate() -> None:
    from dataclasses import replace

    from generator.estimate import evaluation_estimate

    spec = _spec_with_evaluation({})
    assert evaluation_estimate(replace(spec, data={k: v for k, v in spec.data.items() if k != "evaluation"})) is None
