"""A sweep applied with the real MLClient against the workspace emulator: points submitted at most
max_concurrent at a time, the best by select registered and deployed, and an interrupted sweep resumed.

The points' metrics are logged into an MLflow store the test owns (MLFLOW_TRACKING_URI), as the fine-tune
step logs them; the emulator's jobs run until the test opens their gates.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from generator.cli import main
from tests.emulator.harness import Emulator
from tests.conftest import TESTS
from tests.e2e.test_runner_e2e import apply_interrupted_while_waiting, run, workspace  # noqa: F401 - the fixture

POINTS = ["learning_rate1e-05-num_train_epochs1", "learning_rate1e-05-num_train_epochs3",
          "learning_rate5e-05-num_train_epochs1", "learning_rate5e-05-num_train_epochs3"]
JOBS = [f"phi4-ultrachat-run1-{p}" for p in POINTS]
FINAL_EVAL = [1.9, 1.6, 1.4, 1.45]  # the third point ends lowest


@pytest.fixture
def sweep(workspace: tuple[Path, Emulator], tmp_path: Path,  # noqa: F811 - the fixture
          monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Emulator]]:
    """The example project as a 2 x 2 sweep (max_concurrent 2), its points' runs logged, every job gated."""
    from mlflow.tracking import MlflowClient

    project, emulator = workspace
    shutil.copy(TESTS / "golden_sweep" / "spec.yaml", project / "specs" / "phi4-ultrachat.yaml")
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(store)
    experiment = client.create_experiment("phi4-ultrachat")
    for job, final in zip(JOBS, FINAL_EVAL):
        run_id = client.create_run(experiment, tags={"azureml.job": job}).info.run_id
        for step, value in enumerate([2.0, (2.0 + final) / 2, final]):
            client.log_metric(run_id, "eval_loss", value, step=step * 10)
            client.log_metric(run_id, "train_loss", value + 0.1, step=step * 10)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    for job in JOBS:
        emulator.gate("job", job)
    yield project, emulator
    for job in JOBS:
        emulator.gate("job", job).set()


def _open_gates_one_submission_at_a_time(emulator: Emulator, first: int = 0) -> None:
    """Open a gate only once the next point has been submitted: a runner that submitted more than two at
    once would show three submissions before any job finished."""
    def opener() -> None:
        for index in range(first, len(JOBS)):
            emulator.wait_for_request("PUT", "/jobs/", min(index + 2, len(JOBS)))
            emulator.gate("job", JOBS[index]).set()

    threading.Thread(target=opener, daemon=True).start()


def _running_at_each_submission(out: str, already: int = 0) -> list[int]:
    """From apply's output: how many points were running when each point was submitted (`already` running
    when apply started)."""
    running, counts = already, []
    for line in out.splitlines():
        if "] submitted phi4-ultrachat-run1-" in line:
            counts.append(running)
            running += 1
        elif any(f"] {job}: " in line and line.split(": ", 1)[1].split(" ")[0] in ("Completed", "Failed")
                 for job in JOBS):
            running -= 1
    return counts


def test_a_sweep_runs_two_at_a_time_then_registers_and_deploys_the_best(sweep: tuple[Path, Emulator]) -> None:
    project, emulator = sweep
    plan = run("plan")
    assert plan.exit_code == 0, plan.stderr
    assert "select        phi4-ultrachat-run1" in plan.stdout
    assert "          pick the point with the lowest eval_loss of 4, once every point has finished" in plan.stdout
    assert "          register Phi-4-ultrachat-200k:1 from the point the sweep selects" in plan.stdout
    _open_gates_one_submission_at_a_time(emulator)
    result = run("apply")
    assert result.exit_code == 0, result.stdout + result.stderr
    running = _running_at_each_submission(result.stdout)
    assert len(running) == 4 and max(running) <= 1  # never a third job beside two running ones
    assert emulator.count("PUT", "/jobs/") == 4
    assert f"[select] selected {JOBS[2]}: eval_loss 1.4000 (lowest of 4; next 1.4500)" in result.stdout
    model = emulator.resources[emulator.workspace_path.lower() + "/models/phi-4-ultrachat-200k/versions/1"]
    assert model["properties"]["modelUri"] == f"azureml://jobs/{JOBS[2]}/outputs/trained_model"
    assert model["properties"]["tags"]["sweep_point"] == "learning_rate=5e-05, num_train_epochs=1"
    assert "[smoke-test] answer:" in result.stdout
    again = run("apply")
    assert again.exit_code == 0, again.stdout + again.stderr
    assert emulator.count("PUT", "/jobs/") == 4
    assert f"[select] unchanged: phi4-ultrachat-run1 ({JOBS[2]} was selected and registered)" in again.stdout
    assert f"[model] unchanged: Phi-4-ultrachat-200k (Phi-4-ultrachat-200k:1 is registered from {JOBS[2]})" \
        in again.stdout


def test_an_interrupted_sweep_resumes_without_submitting_a_point_twice(sweep: tuple[Path, Emulator],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.runner.steps import job as reconcile

    project, emulator = sweep
    real_wait = reconcile.wait_for_job
    # Ctrl-C once both slots are taken
    first = apply_interrupted_while_waiting(monkeypatch, lambda: emulator.wait_for_request("PUT", "/jobs/", 2))
    assert first.exit_code == 130, first.stdout + first.stderr
    assert emulator.count("PUT", "/jobs/") == 2
    monkeypatch.setattr(reconcile, "wait_for_job", real_wait)
    status = run("status")
    assert [line.split()[2] for line in status.stdout.splitlines() if line.startswith("pipeline-job-")] == [
        "Running", "Running", "absent", "absent"]
    _open_gates_one_submission_at_a_time(emulator)
    second = run("apply")
    assert second.exit_code == 0, second.stdout + second.stderr
    for job in JOBS[:2]:  # attached to, or found finished if its gate opened before the plan read it
        assert f"attach: job {job} is Running" in second.stdout or f"(job {job} completed" in second.stdout
    assert second.stdout.count("] submitted phi4-ultrachat-run1-") == 2
    assert emulator.count("PUT", "/jobs/") == 4
    attached = sum(f"attach: job {job} is Running" in second.stdout for job in JOBS[:2])
    assert max(_running_at_each_submission(second.stdout, already=attached)) <= 1
    assert f"[select] selected {JOBS[2]}" in second.stdout


def test_a_changed_sweep_never_replaces_the_registered_model(sweep: tuple[Path, Emulator]) -> None:
    project, emulator = sweep
    for job in JOBS:
        emulator.gate("job", job).set()
    assert run("apply").exit_code == 0
    spec = project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("num_train_epochs: [1, 3]", "num_train_epochs: [1, 3, 5]")
                    .replace("max_instances: 2", "max_instances: 1"))
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    plan = run("plan")
    assert plan.exit_code == 0, plan.stdout + plan.stderr
    assert plan.stdout.count("create    pipeline-job-") == 2  # only the two new points
    assert "run       select        phi4-ultrachat-run1" in plan.stdout  # judged again once the new points end
    assert ("note: sweep: 2 points at a time need 2 node(s) of compute gpu-cluster-big, which has max_instances 1: "
            "points will queue behind each other") in plan.stdout
    # the two new points run, and the first of them ends lowest of all
    from mlflow.tracking import MlflowClient

    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("phi4-ultrachat").experiment_id
    for job, final in ((f"phi4-ultrachat-run1-{p}num_train_epochs5", v) for p, v in
                       (("learning_rate1e-05-", 1.2), ("learning_rate5e-05-", 1.3))):
        run_id = client.create_run(experiment, tags={"azureml.job": job}).info.run_id
        client.log_metric(run_id, "eval_loss", final, step=0)
        client.log_metric(run_id, "train_loss", final, step=0)
    result = run("apply")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "[select] selected phi4-ultrachat-run1-learning_rate1e-05-num_train_epochs5: eval_loss 1.2000" \
        in result.stdout
    assert (f"Phi-4-ultrachat-200k:1 was registered from {JOBS[2]}, but the sweep now selects "
            "phi4-ultrachat-run1-learning_rate1e-05-num_train_epochs5 (a model version is immutable): bump "
            "experiment.run") in result.stderr


def test_compare_and_metrics_read_a_sweeps_points(sweep: tuple[Path, Emulator]) -> None:
    project, emulator = sweep
    early = run("metrics")
    assert early.exit_code == 2
    assert "is a sweep of 4 points and none is registered yet: `compare specs/phi4-ultrachat.yaml`" in early.stderr
    result = run("compare")
    assert result.exit_code == 0, result.stderr
    # an earlier test's interrupted apply may still be finishing its steps in this process: its [step] lines land here
    lines = [line for line in result.stdout.splitlines() if not line.startswith("[")]
    assert [line.split()[0] for line in lines[1:5]] == JOBS
    assert [line.split()[-3] for line in lines[1:5]] == [f"{v:.4f}" for v in FINAL_EVAL]
    for job in JOBS:
        emulator.gate("job", job).set()
    assert run("apply").exit_code == 0
    review = run("metrics")
    assert review.exit_code == 0, review.stderr
    assert f"of job {JOBS[2]}" in review.stdout.splitlines()[0]


def test_plan_refuses_when_the_registered_point_left_the_sweep(sweep: tuple[Path, Emulator]) -> None:
    project, emulator = sweep
    for job in JOBS:
        emulator.gate("job", job).set()
    assert run("apply").exit_code == 0  # registers JOBS[2] (learning_rate 5e-05, 1 epoch)
    spec = project / "specs" / "phi4-ultrachat.yaml"
    text = spec.read_text()
    assert "learning_rate: [1.0e-5, 5.0e-5]" in text
    spec.write_text(text.replace("learning_rate: [1.0e-5, 5.0e-5]", "learning_rate: [1.0e-5]"))
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    plan = run("plan", "--detailed-exitcode")
    assert plan.exit_code == 1, plan.stdout + plan.stderr
    assert "refuse    select" in plan.stdout
    assert f"Phi-4-ultrachat-200k:1 was registered from {JOBS[2]}, which is no longer a point of the sweep" \
        in plan.stdout
    puts = emulator.count("PUT")
    applied = run("apply")
    assert applied.exit_code == 1 and emulator.count("PUT") == puts  # refused before anything was created
