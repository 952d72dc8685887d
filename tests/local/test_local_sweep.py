"""A two-point sweep on the local target, for real: both points train side by side on this CPU, the one
with the lower eval_loss is registered and deployed, compare reads both, and a re-apply submits nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO

torch = pytest.importorskip("torch", reason="the local extra (requirements-local.txt) is part of make test")
SPEC = "specs/local-sweep.yaml"
JOBS = ["phi4-ultrachat-sweep-demo-run1-learning_rate0p002", "phi4-ultrachat-sweep-demo-run1-learning_rate0p0002"]


def test_a_local_sweep_trains_both_points_and_deploys_the_best(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    from generator.local.daemon import stop
    from generator.cli.demo import run_step
    from generator.local.daemon import LOCAL_STATE_ENV
    from tests.support.tinymodel import ensure_foundation_model

    for folder in ("specs", "samples"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    # the tiny random test double stands in for Phi-4 (`local start --model`): two points train in seconds
    tiny = ensure_foundation_model(tmp_path / "tiny", sorted((tmp_path / "samples" / "ultrachat_mini").glob("*.jsonl")))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")  # the local target sets it; restored after the test
    monkeypatch.setenv(LOCAL_STATE_ENV, ".local-workspace-sweep")
    try:
        for args in (["local", "start", "--model", f"Phi-4={tiny}"], ["data", "prepare", SPEC], ["render", SPEC],
                     ["apply", SPEC, "--target", "local", "--yes"]):
            run_step(args)
        applied = capfd.readouterr().out
        run_step(["compare", SPEC, "--target", "local", "--format", "json"])
        compared = json.loads(capfd.readouterr().out.split("\n", 1)[1])  # after the echoed command
        run_step(["apply", SPEC, "--target", "local", "--yes"])
        again = capfd.readouterr().out
    finally:
        stop(tmp_path / ".local-workspace-sweep")
    for job in JOBS:
        assert f"{job}: Completed" in applied
        assert f"] submitted {job}" in applied
    rows = {row["run"]: row for row in compared["runs"]}
    assert compared["differing_parameters"] == ["learning_rate"]
    best = min(JOBS, key=lambda job: rows[job]["final_eval_loss"])
    assert f"[select] selected {best}: eval_loss {rows[best]['final_eval_loss']:.4f} (lowest of 2; next " in applied
    assert '[smoke-test] answer: {"output": ' in applied
    assert "] submitted" not in again and f"({best} was selected and registered)" in again
    saved = json.loads((tmp_path / ".local-workspace-sweep" / "resources.json").read_text())["resources"]
    model = next(body for key, body in saved.items() if "/models/phi-4-ultrachat-sweep-demo/versions/1" in key)
    assert model["properties"]["modelUri"] == f"azureml://jobs/{best}/outputs/trained_model"
