"""`metrics` and `compare` on the Azure target with the real clients: azure-ai-ml reads the workspace's mlFlowTrackingUri,
azureml-mlflow resolves the cloud from ARM cloud metadata, gets a token from a managed identity, and reads
the runs over MLflow's REST API, all served by the workspace emulator.

It runs as a subprocess because azureml-mlflow reads ARM_CLOUD_METADATA_URL once, when it is imported. The
runs are laid out as Azure lays out a pipeline job's: the job's own run, a child run per step, the fine-tune
step's metrics on its run, each tagged with the pipeline job as mlflow.rootRunId (the tag Azure's fine-tuning
notebooks search by, Azure/azureml-examples sdk/python/foundation-models/system/finetune/.../*.ipynb).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.emulator.harness import Emulator
from tests.e2e.test_runner_e2e import SPEC, workspace  # noqa: F401 - the fixture

pytest.importorskip("azureml.mlflow", reason="the azure extra (requirements-azure.txt) is part of make test")
JOB = "phi4-ultrachat-run1"


def _log_pipeline_runs(store: str) -> None:
    """The pipeline job's run, its steps' child runs, and the fine-tune step's losses."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    experiment = client.create_experiment("phi4-ultrachat")
    root = client.create_run(experiment, run_name=JOB).info.run_id
    tags = {"mlflow.rootRunId": JOB, "mlflow.parentRunId": root}
    client.create_run(experiment, run_name="model_import", tags=tags)
    finetune = client.create_run(experiment, run_name="finetune", tags=tags).info.run_id
    client.log_param(finetune, "learning_rate", "5e-06")
    for step, (train, evaluation) in enumerate([(2.1, 2.0), (1.7, 1.6), (1.5, 1.45)]):
        client.log_metric(finetune, "train_loss", train, step=step * 10)
        client.log_metric(finetune, "eval_loss", evaluation, step=step * 10)


def test_metrics_and_compare_read_the_fine_tune_step_of_an_azure_pipeline_through_azureml_mlflow(
        workspace: tuple[Path, Emulator], tmp_path: Path) -> None:
    project, emulator = workspace
    emulator.mlflow_store = f"sqlite:///{tmp_path / 'azure-runs.db'}"
    _log_pipeline_runs(emulator.mlflow_store)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AZURE_", "AZUREML_"))}
    env.update(ARM_CLOUD_METADATA_URL=f"{emulator.base_url}/metadata/endpoints",
               IDENTITY_ENDPOINT=f"{emulator.base_url}/msi/token", IDENTITY_HEADER="emulated")
    result = subprocess.run([sys.executable, "-m", "generator", "metrics", SPEC, "--png", str(tmp_path / "loss.png")],
                            cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"run finetune (") and lines[0].endswith(f") of job {JOB}")
    assert lines[1].split() == ["metric", "first", "last", "min", "points"]
    assert lines[2].split() == ["train_loss", "2.1000", "1.5000", "1.5000", "3"]
    assert lines[3].split() == ["eval_loss", "2.0000", "1.4500", "1.4500", "3"]
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert emulator.count("GET", "/metadata/endpoints") >= 1 and emulator.count("GET", "/msi/token") >= 1
    assert emulator.count("POST", "/mlflow/v2.0/subscriptions/") >= 1  # the runs search, over azureml-mlflow
    compared = subprocess.run([sys.executable, "-m", "generator", "compare", SPEC, "--format", "json", "--png",
                               str(tmp_path / "compare.png")], cwd=project, env=env, capture_output=True, text=True,
                              timeout=120)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    run = json.loads(compared.stdout)["runs"][0]
    assert (run["run"], run["final_eval_loss"], run["best_eval_loss"], run["best_eval_step"]) == (JOB, 1.45, 1.45, 20)
