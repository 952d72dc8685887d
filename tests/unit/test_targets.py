"""The two targets answer the runner's questions: a job's named output read into one layout, what bills, the links."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from generator.errors import ExitCode
from generator.local.layout import Layout
from generator.local.local_target import LocalTarget
from generator.runner.azure_target import AzureTarget
from generator.runner.explain import NothingToRead


class SdkJobs:
    """azure-ai-ml's own JobOperations.download, on a job whose named outputs are given: only what it calls below the
    public method (get, the output's URI, the artifact download) is stood in for, so the folder it writes to is the
    installed SDK's."""

    def __init__(self, outputs: dict[str, dict[str, str]]):
        from azure.ai.ml.operations._job_operations import JobOperations

        self.outputs = outputs
        self.download = JobOperations.download.__get__(self)
        self._datastore_operations = None

    def get(self, name: str) -> Any:
        return SimpleNamespace(name=name, status="Completed", properties={}, tags={})

    def _get_named_output_uri(self, name: str, output_name: Any = None) -> dict[str, str]:
        return {output: f"azureml://datastores/workspaceblobstore/paths/{name}/{output}" for output in self.outputs
                if output == output_name}


@pytest.fixture
def sdk_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """The artifact download writes the output's files (as the datastore holds them) where the SDK asks."""
    def download(uri: str, destination: str, datastore_operation: Any) -> None:
        output = uri.rsplit("/", 1)[1]
        Path(destination).mkdir(parents=True)
        for name, text in FILES[output].items():
            (Path(destination) / name).write_text(text, encoding="utf-8")

    monkeypatch.setattr("azure.ai.ml.operations._job_operations.download_artifact_from_aml_uri", download)


FILES = {"predictions": {"predictions.jsonl": '{"predictions": "Paris"}\n'},
         "ground_truth": {"ground_truth.jsonl": '{"ground_truth": "Paris."}\n'}}


def test_azure_reads_a_named_output_where_jobs_download_writes_it(tmp_path: Path, sdk_download: None) -> None:
    ml = SimpleNamespace(jobs=SdkJobs(FILES))
    folder = AzureTarget().job_output(ml, "run1-eval-tuned", "predictions", tmp_path / "into")
    assert folder == tmp_path / "into" / "named-outputs" / "predictions"
    assert (folder / "predictions.jsonl").read_text(encoding="utf-8") == '{"predictions": "Paris"}\n'
    with pytest.raises(NothingToRead, match="job run1-eval-tuned has no output scores") as missing:
        AzureTarget().job_output(ml, "run1-eval-tuned", "scores", tmp_path / "again")
    assert missing.value.exit_code == ExitCode.INVALID


def test_the_local_target_reads_a_named_output_from_the_workspace_files_in_the_same_layout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZML_LOCAL_WORKSPACE", ".ws")
    layout = Layout((tmp_path / ".ws").resolve())
    for output, files in FILES.items():
        layout.job_output("run1-eval-base", output).mkdir(parents=True)
        for name, text in files.items():
            (layout.job_output("run1-eval-base", output) / name).write_text(text, encoding="utf-8")
    target = LocalTarget(tmp_path)
    folders = {output: target.job_output(None, "run1-eval-base", output, tmp_path / "into") for output in FILES}
    assert folders == {output: tmp_path / "into" / "named-outputs" / output for output in FILES}
    assert (folders["ground_truth"] / "ground_truth.jsonl").read_text(encoding="utf-8") == FILES["ground_truth"][
        "ground_truth.jsonl"]
    with pytest.raises(NothingToRead, match=r"job run1-eval-base has no output scores in the local workspace "
                                            r"\(\.ws/jobs/run1-eval-base/outputs/scores\)"):
        target.job_output(None, "run1-eval-base", "scores", tmp_path / "into")


def test_what_each_target_bills_and_where_a_person_reads_about_a_job(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZML_LOCAL_WORKSPACE", ".ws")
    local, azure = LocalTarget(tmp_path), AzureTarget()
    assert (azure.bills, local.bills) == (True, False)
    job = SimpleNamespace(name="run1", studio_url="https://ml.azure.com/runs/run1")
    assert azure.job_link(job) == "studio: https://ml.azure.com/runs/run1"
    assert local.job_link(job) == "log: .ws/jobs/run1/std_log.txt"
    assert local.deployment_log("ep", "blue") == str((tmp_path / ".ws" / "deployments" / "ep-blue" / "scoring.log"))
    assert azure.deployment_log("ep", "blue") == "az ml online-deployment get-logs --endpoint-name ep --name blue"
    assert local.queueing_note({"sweep": {"max_concurrent": 8}}) is None
    assert local.quota_scope(None) == "in the local workspace (its emulated quota)"
    with pytest.raises(NothingToRead, match="the local workspace is not running"):
        local.tracking_uri(None)
