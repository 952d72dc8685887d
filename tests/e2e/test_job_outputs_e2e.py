"""A finished job's named outputs downloaded with the real MLClient (`jobs.download(name, output_name=…)`) from the
emulator: both evaluation jobs of an apply give their `predictions` and `ground_truth` as the test answered, and the
figures they logged are compute_metrics' of those very files; a job that has not finished is refused as the SDK
refuses it, and an output name the job does not have downloads nothing, without an error, as the SDK does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.e2e.test_runner_e2e import run, workspace  # noqa: F401 - the fixture
from tests.emulator.harness import Emulator, EmulatorCredential, evaluation_job_body, install_dns, start_emulator

BASE, TUNED = "phi4-ultrachat-run1-eval-base", "phi4-ultrachat-run1-eval-tuned"
TRUTHS = ["Drink water, sleep well and take short breaks.", "The capital of France is Paris.",
          "Work for 25 minutes with a timer, then take a 5 minute break.", "Tomatoes need sun and regular water."]
ANSWERS = {BASE: ["Sleep.", "It is a city in Europe.", "Use a timer.", "Water them."],
           TUNED: ["Drink water, sleep well and take breaks.", "The capital of France is Paris.",
                   "Work 25 minutes with a timer, then take a 5 minute break.", "Tomatoes need sun and water."]}
JOB = "evaluation-run1-eval-base"


def _client(config: dict[str, Any]) -> Any:
    from generator.runner.connection import workspace_from_config, workspace_client

    return workspace_client(EmulatorCredential(), workspace_from_config(config))


def _records(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_both_evaluation_jobs_give_their_answers_and_the_logged_figures_are_theirs(
        workspace: tuple[Path, Emulator], tmp_path: Path) -> None:  # noqa: F811 - the fixture
    from mlflow.tracking import MlflowClient

    from generator.textmetrics import compute_metrics

    project, emulator = workspace
    for job, answers in ANSWERS.items():
        emulator.behaviour.evaluation_answers[job] = (answers, TRUTHS)
    result = run("apply")
    ml = _client(json.loads((project / "config.json").read_text()))
    store = MlflowClient(emulator.mlflow_store)
    experiment = store.get_experiment_by_name("phi4-ultrachat").experiment_id
    asked = emulator.count("POST", "/rundata")  # apply's gate and parity read these outputs too
    for job, answers in ANSWERS.items():
        assert ml.jobs.get(job).status == "Completed", result.stdout + result.stderr
        folder = tmp_path / job
        for output in ("predictions", "ground_truth"):
            ml.jobs.download(job, output_name=output, download_path=folder)
        outputs = folder / "named-outputs"
        assert sorted(p.relative_to(outputs).as_posix() for p in outputs.rglob("*.jsonl")) == [
            "ground_truth/ground_truth.jsonl", "predictions/predictions.jsonl"]
        predictions = _records(outputs / "predictions" / "predictions.jsonl")
        truths = _records(outputs / "ground_truth" / "ground_truth.jsonl")
        assert predictions == [{"predictions": answer} for answer in answers]
        assert truths == [{"ground_truth": truth} for truth in TRUTHS]
        # the aggregate the job logged is compute_metrics' of the downloaded answers, for the metrics it asked for
        [step] = store.search_runs([experiment], filter_string=f"tags.mlflow.rootRunId = '{job}' and "
                                                               "attributes.run_name = 'compute_metrics'")
        names = ["rouge1", "rouge2", "rougeL", "rougeLsum", "bleu_1", "bleu_4"]  # the example's evaluation.metrics
        assert step.data.metrics == compute_metrics([p["predictions"] for p in predictions],
                                                    [t["ground_truth"] for t in truths], names)
    assert emulator.count("POST", "/rundata") == asked + 4


@pytest.fixture
def emulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Emulator, Any]]:
    """An emulator and a real MLClient on it, with an evaluation job held Running by its gate and answers to give."""
    import requests

    emulator, config = start_emulator(tmp_path / "tls")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "tls" / "ca.pem"))
    install_dns()
    emulator.behaviour.evaluation_answers[JOB] = (ANSWERS[BASE], TRUTHS)
    emulator.gate("job", JOB)
    token = EmulatorCredential().get_token("https://management.azure.com/.default").token
    answer = requests.put(f"{emulator.base_url}{emulator.workspace_path}/jobs/{JOB}",
                          json=evaluation_job_body(["rougeL"]),
                          headers={"Authorization": f"Bearer {token}"}, verify=str(tmp_path / "tls" / "ca.pem"))
    assert answer.status_code == 201
    yield emulator, _client(config)
    emulator.stop()


def test_a_job_that_has_not_finished_refuses_the_download(emulated: tuple[Emulator, Any], tmp_path: Path) -> None:
    from azure.ai.ml.exceptions import JobException

    emulator, ml = emulated
    refused = r"This job is in state JobStatus.RUNNING. Download is allowed only in states \[.Completed., .Failed."
    with pytest.raises(JobException, match=refused):
        ml.jobs.download(JOB, output_name="predictions", download_path=tmp_path / "early")
    assert not (tmp_path / "early").exists() and emulator.count("POST", "/rundata") == 0
    emulator.gate("job", JOB).set()
    ml.jobs.download(JOB, output_name="predictions", download_path=tmp_path / "later")
    assert _records(tmp_path / "later" / "named-outputs" / "predictions" / "predictions.jsonl") == [
        {"predictions": answer} for answer in ANSWERS[BASE]]


def test_an_output_the_job_does_not_have_downloads_nothing(emulated: tuple[Emulator, Any], tmp_path: Path) -> None:
    """The SDK probes the two known paths of an output it cannot resolve (azureml/<job>/<output>/ and
    dataset/<job>/<output>/) and, finding neither, downloads nothing without an error: so does a declared output
    without files (evaluation_result: the gated backend writes none)."""
    emulator, ml = emulated
    emulator.gate("job", JOB).set()
    for output in ("evaluation_results", "evaluation_result"):
        ml.jobs.download(JOB, output_name=output, download_path=tmp_path / output)
        assert not (tmp_path / output).exists()
        for known in ("azureml", "dataset"):
            assert emulator.count("HEAD", f"/azureml-blobstore/{known}/{JOB}/{output}/") == 1
    assert emulator.count("GET", f"/azureml-blobstore/azureml/{JOB}/") == 0  # no file was fetched
