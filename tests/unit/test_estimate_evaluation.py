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
