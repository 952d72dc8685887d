"""Sweep points from the spec: names from values, the queueing note, and the model's learning-rate range."""

from __future__ import annotations

import shutil
from pathlib import Path

from generator.catalog import ModelFacts
from generator.source import read_located
from generator.sweep_points import check_sweep, points, queueing, value_slug
from tests.conftest import TESTS


def _data(max_instances: int, max_concurrent: int, nodes: list[int] | None = None) -> dict:
    swept = {"learning_rate": [1.0e-5, 5.0e-5]}
    if nodes:
        swept["num_nodes_finetune"] = nodes
    return {"compute": {"name": "gpu-cluster", "max_instances": max_instances}, "finetune": {"parameters": {}},
            "sweep": {"parameters": swept, "max_concurrent": max_concurrent,
                      "select": {"metric": "eval_loss", "goal": "minimize"}}}


def test_values_become_readable_name_parts() -> None:
    assert [value_slug(v) for v in (5.0e-5, 0.05, 3, True, "cosine", 1e20, "a b")] == [
        "5e-05", "0p05", "3", "true", "cosine", "1e20", "a-b"]
    grid = points(_data(2, 2, [1, 2]))
    assert [p.slug for p in grid] == [f"learning_rate{rate}-num_nodes_finetune{nodes}"
                                      for rate in ("1e-05", "5e-05") for nodes in (1, 2)]


def test_plan_notes_when_points_would_queue_for_nodes() -> None:
    assert queueing(_data(max_instances=2, max_concurrent=2)) is None
    assert queueing(_data(max_instances=1, max_concurrent=2)) == (
        "sweep: 2 points at a time need 2 node(s) of compute gpu-cluster, which has max_instances 1: points will "
        "queue behind each other (raise compute.max_instances or lower sweep.max_concurrent)")
    assert "need 4 node(s)" in queueing(_data(max_instances=3, max_concurrent=2, nodes=[1, 2]))


def test_each_swept_learning_rate_is_held_against_the_models_range(tmp_path: Path) -> None:
    from generator.component import load_interface

    spec = tmp_path / "spec.yaml"
    shutil.copy(TESTS / "golden_sweep" / "spec.yaml", spec)
    located = read_located(spec, "specs/spec.yaml")
    facts = ModelFacts(registry="azureml", name="Phi-3.5-mini-instruct", version="1",
                       model_specific_defaults={"learning_rate_min": "2e-6", "learning_rate_max": "2e-5"})
    data = {**located.data, "finetune": {**located.data["finetune"], "parameters": {}}}
    data["sweep"]["max_concurrent"] = 2
    problems = check_sweep(data, located, load_interface("chat_completion_pipeline", "0.0.82"), facts)
    assert [str(p) for p in problems] == [
        "specs/spec.yaml:85:29: sweep.parameters.learning_rate[1]: warning: learning_rate 5e-05 is outside "
        "Phi-3.5-mini-instruct's recommended range 2e-6..2e-5 (model_specific_defaults learning_rate_min/max)"]


def test_a_sweep_selecting_by_eval_loss_without_evaluation_is_refused(tmp_path: Path) -> None:
    from generator.component import load_interface

    spec = tmp_path / "spec.yaml"
    shutil.copy(TESTS / "golden_sweep" / "spec.yaml", spec)
    located = read_located(spec, "specs/spec.yaml")
    interface = load_interface("chat_completion_pipeline", "0.0.82")
    for base, swept in (({"evaluation_strategy": "disable"}, {}),
                        ({}, {"evaluation_strategy": ["epoch", "disable"]})):
        data = {**located.data, "finetune": {**located.data["finetune"], "parameters": base}}
        data["sweep"] = {**data["sweep"], "max_concurrent": 2,
                         "parameters": {**data["sweep"]["parameters"], **swept}}
        problems = [p for p in check_sweep(data, located, interface, None) if p.severity == "error"]
        assert [p.message for p in problems] == [
            "evaluation_strategy disable logs no eval_loss, and sweep.select.metric is eval_loss: evaluate (epoch or "
            "steps), or select by train_loss"], problems
        data["sweep"]["select"] = {"metric": "train_loss", "goal": "minimize"}
        assert not [p for p in check_sweep(data, located, interface, None) if p.severity == "error"]
        data["sweep"]["select"] = {"metric": "eval_loss", "goal": "minimize"}
