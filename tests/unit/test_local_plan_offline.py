"""plan --offline on the local target says which model stands in and every value the local fine-tune trains with,
and where each value comes from."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import REPO


def test_offline_local_plan_names_the_stand_in_and_the_values_it_trains_with(tmp_path: Path, cli) -> None:
    (tmp_path / "specs").mkdir()
    shutil.copy(REPO / "specs" / "local-demo.yaml", tmp_path / "specs" / "local-demo.yaml")
    assert cli("render", root=tmp_path).exit_code == 0
    result = cli("plan", "specs/local-demo.yaml", "--target", "local", "--offline", root=tmp_path)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("Phi-4 is stood in for by SmolLM2-135M-Instruct on this machine")
    assert lines[2] == ("fine-tuned here with the spec's num_train_epochs=1, per_device_train_batch_size=2, "
                        "gradient_accumulation_steps=2, learning_rate=0.0005, lr_scheduler_type=cosine, "
                        "max_seq_length=128, apply_lora=true, lora_r=8, lora_alpha=16, lora_dropout=0.05, seed=42; "
                        "the component's defaults max_steps=-1, warmup_steps=0")
    azure = cli("plan", "specs/local-demo.yaml", "--offline", root=tmp_path)
    assert "stood in" not in azure.stdout and "fine-tuned here" not in azure.stdout
