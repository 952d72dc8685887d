"""The serverless route's runner on the local workspace, for real but cheaply: `apply --target local` of
specs/phi4-ultrachat-serverless.yaml runs its FineTuning job (the local LoRA fine-tune of the tiny random test
double, `local start --model Phi-4=<tiny>`), serves the registered model from a serverless endpoint and sends the
smoke test; `invoke` answers through /v1/chat/completions, `metrics` reads what the job logged to the local MLflow
store, `destroy` deletes the endpoint. The endpoint's key appears in no output and in no file of the project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import REPO
from tests.local.projects import sample_slice, use_local_workspace

torch = pytest.importorskip("torch", reason="the local extra (requirements-local.txt) is part of make test")
import mlflow  # noqa: E402,F401 - imported before the tokenizers' libraries (tests/local/test_local_evaluation.py)

NAME = "phi4-ultrachat-serverless"
SPEC = f"specs/{NAME}.yaml"
JOB, MODEL, ENDPOINT = f"{NAME}-run1", "Phi-4-ultrachat-serverless", "ultrachat-serverless"


def _run(*args: str) -> Result:
    from generator.cli import main

    return CliRunner().invoke(main, [*args, SPEC, "--target", "local"], catch_exceptions=False)


def test_apply_invoke_metrics_and_destroy_of_the_serverless_route_on_the_local_workspace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.cli.demo import run_step
    from generator.local.daemon import start_local, stop
    from generator.runner.connection import workspace_client, workspace_from_config
    from tests.support.tinymodel import ensure_foundation_model

    (tmp_path / "specs").mkdir()
    shutil.copy(REPO / SPEC, tmp_path / "specs")
    data = tmp_path / "data" / "ultrachat_200k"
    sample_slice(data, (("train_sft", 6), ("test_sft", 3)))
    tiny = ensure_foundation_model(tmp_path / "tiny", sorted(data.glob("*.jsonl")))
    state = use_local_workspace(monkeypatch, tmp_path, ".local-workspace-serverless")
    try:
        for args in (["local", "start", "--model", f"Phi-4={tiny}"], ["render", SPEC]):
            run_step(args)
        applied = _run("apply", "--yes")
        out = applied.stdout
        assert applied.exit_code == 0, out + applied.stderr
        assert "the route's regions do not apply the local workspace" in out
        assert f"[finetuning-job] {JOB}: Completed" in out and f"registered model {MODEL}:1" in out
        assert "[smoke-test] answer: " in out
        assert f"serverless endpoint {ENDPOINT} ({MODEL}:1), by the hour while it exists" in out
        invoked = _run("invoke")
        assert invoked.exit_code == 0 and invoked.stdout.strip(), invoked.stderr
        reviewed = _run("metrics")
        assert reviewed.exit_code == 0, reviewed.stderr
        assert f"of job {JOB}" in reviewed.stdout and "train_loss" in reviewed.stdout
        status = _run("status")
        assert f"serves {MODEL}:1" in status.stdout and f"version 1 (registered by {JOB})" in status.stdout
        config, credential, _, _ = start_local(tmp_path)
        ml = workspace_client(credential, workspace_from_config(config))
        key = ml.serverless_endpoints.get_keys(ENDPOINT).primary_key
        for result in (applied, invoked, reviewed, status):
            assert key not in result.stdout + result.stderr
        written = [p for p in tmp_path.rglob("*") if p.is_file() and state not in p.parents]
        assert not [p for p in written if key.encode() in p.read_bytes()]
        gone = _run("destroy", "--yes")
        assert gone.exit_code == 0, gone.stderr
        assert list(ml.serverless_endpoints.list()) == []
    finally:
        stop(state)
