"""`compare`: runs side by side from MLflow, as a table, JSON and one PNG of eval-loss curves.

The runs are logged into an MLflow store the test owns (MLFLOW_TRACKING_URI), as the fine-tune step logs
them; the workspace is the emulator.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.emulator.harness import Emulator
from tests.e2e.test_runner_e2e import SPEC, run, workspace  # noqa: F401 - the fixture


@pytest.fixture
def logged(workspace: tuple[Path, Emulator], tmp_path: Path,  # noqa: F811 - the fixture
           monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs 1 and 2 of the example experiment, logged with different learning rates and eval-loss curves."""
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(store)
    experiment = client.create_experiment("phi4-ultrachat")
    for job, rate, evals in (("phi4-ultrachat-run1", "5e-06", [2.0, 1.6, 1.5]),
                             ("phi4-ultrachat-run2", "2e-05", [2.0, 1.4, 1.45])):
        logged_run = client.create_run(experiment, tags={"azureml.job": job})
        run_id = logged_run.info.run_id
        for name, value in (("learning_rate", rate), ("num_train_epochs", "3"), ("apply_lora", "true")):
            client.log_param(run_id, name, value)
        for step, value in enumerate(evals):
            client.log_metric(run_id, "eval_loss", value, step=step * 10)
            client.log_metric(run_id, "train_loss", value + 0.1, step=step * 10)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    return workspace[0]


def test_compare_prints_what_differs_and_the_losses(logged: Path) -> None:
    result = run("compare", "--runs", "1,2")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "run                  learning_rate  final train_loss  final eval_loss  best eval_loss @ step",
        "phi4-ultrachat-run1  5e-06          1.6000            1.5000           1.5000 @ 20",
        "phi4-ultrachat-run2  2e-05          1.5500            1.4500           1.4000 @ 10",
        "eval-loss curves: metrics/compare-phi4-ultrachat-run1.png",
    ]
    assert (logged / "metrics" / "compare-phi4-ultrachat-run1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_as_json(logged: Path) -> None:
    result = run("compare", "--runs", "1,2", "--format", "json")
    data = json.loads(result.stdout)
    assert data["differing_parameters"] == ["learning_rate"]
    assert [(r["run"], r["parameters"], r["best_eval_loss"], r["best_eval_step"]) for r in data["runs"]] == [
        ("phi4-ultrachat-run1", {"learning_rate": "5e-06"}, 1.5, 20),
        ("phi4-ultrachat-run2", {"learning_rate": "2e-05"}, 1.4, 10)]


@pytest.mark.parametrize("runs, message", [("x,2", "--runs 'x,2': give run numbers such as 1,2,3"),
                                           ("0", "--runs '0': give run numbers such as 1,2,3")])
def test_compare_refuses_bad_run_numbers(logged: Path, runs: str, message: str) -> None:
    result = run("compare", "--runs", runs)
    assert result.exit_code == 2 and result.stderr == f"error: {message}\n"


def test_compare_names_a_run_that_never_logged(logged: Path) -> None:
    result = run("compare", "--runs", "1,7")
    assert result.exit_code == 2
    assert result.stderr == ("error: no run with loss metrics for job phi4-ultrachat-run7 in experiment "
                             "'phi4-ultrachat'\n")


def test_compare_takes_several_specs(logged: Path) -> None:
    import os

    from click.testing import CliRunner
    from mlflow.tracking import MlflowClient

    from generator.cli import main
    from tests.emulator.harness import EmulatorCredential

    runner = CliRunner()
    assert runner.invoke(main, ["new", "other", "--from", SPEC]).exit_code == 0
    spec = logged / "specs" / "other.yaml"
    spec.write_text(spec.read_text().replace("run: 1 ", "run: 2 "))
    assert runner.invoke(main, ["render"]).exit_code == 0
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    other = client.create_run(client.create_experiment("other"), tags={"azureml.job": "other-run2"}).info.run_id
    client.log_param(other, "learning_rate", "5e-06")
    client.log_param(other, "num_train_epochs", "1")
    client.log_metric(other, "eval_loss", 1.7, step=0)
    result = runner.invoke(main, ["compare", SPEC, "specs/other.yaml"], obj={"credential": EmulatorCredential()},
                           catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:3] == [
        "run                  apply_lora  num_train_epochs  final train_loss  final eval_loss  best eval_loss @ step",
        "phi4-ultrachat-run1  true        3                 1.6000            1.5000           1.5000 @ 20",
        "other-run2           -           1                                   1.7000           1.7000 @ 0",
    ]
