"""A fine-tune trains the same on its first run as on every later one: fetching the model (the stand-in's first-use
conversion builds a model from its config, which draws random initial weights) must not move the seeded LoRA
initialisation and dropout. It did: a fresh clone's first demo gave eval_loss 2.9483 and rougeL 0.1965, every later
run 2.9573 and 0.1633 (docs/evaluation.md, "How much the figures move")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

torch = pytest.importorskip("torch", reason="the local extra (requirements-local.txt) is part of make test")
import mlflow  # noqa: E402,F401 - before rouge-score's absl (tests/local/test_local_evaluation.py says why)

SAMPLE = REPO / "samples" / "ultrachat_mini"


def _train(tmp: Path, model_dir: Path, draw_while_fetching: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from generator.local import finetune

    def fetch(say: Any = print) -> Path:  # the stand-in's fetch, as on a first run (draws) or a later one (not)
        if draw_while_fetching:
            torch.nn.Linear(64, 64)  # a model built from its config initialises its weights at random
        return model_dir

    monkeypatch.setattr(finetune, "ensure_stand_in", fetch)
    tmp.mkdir()
    lines = (SAMPLE / "train_sft.jsonl").read_text(encoding="utf-8").splitlines()
    (tmp / "train.jsonl").write_text("\n".join(lines[:8]) + "\n", encoding="utf-8")
    (tmp / "test.jsonl").write_text("\n".join(lines[8:10]) + "\n", encoding="utf-8")
    job = {"model_dir": None, "train_file": str(tmp / "train.jsonl"), "test_file": str(tmp / "test.jsonl"),
           "parameters": {"max_steps": "2", "per_device_train_batch_size": "2", "apply_lora": "true",
                          "lora_dropout": "0.2", "max_seq_length": "64", "seed": "42",
                          "evaluation_strategy": "disable", "learning_rate": "0.01"},
           "output_dir": str(tmp / "out" / "trained_model"), "checkpoint_dir": str(tmp / "out" / "checkpoints"),
           "tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}", "experiment": "determinism", "run_name": tmp.name}
    torch.manual_seed(1234)  # whatever the process drew before: the job seeds its own generators
    return finetune.train(job)


def test_fetching_the_model_does_not_change_what_is_trained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.tinymodel import ensure_foundation_model

    model_dir = ensure_foundation_model(tmp_path / "base", [SAMPLE / "train_sft.jsonl"])
    later = _train(tmp_path / "later", model_dir, False, monkeypatch)
    first = _train(tmp_path / "first", model_dir, True, monkeypatch)
    assert first["final_eval_loss"] == later["final_eval_loss"]
    weights = [sorted((tmp_path / run / "out" / "trained_model").rglob("*.safetensors")) for run in ("first", "later")]
    assert weights[0] and [p.read_bytes() for p in weights[0]] == [p.read_bytes() for p in weights[1]]
