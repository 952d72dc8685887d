"""Contract tests for the recorded interactions fixtured in round four: a pipeline job's GET while it runs and once it
has ended (what `jobs.get` reads, and what `jobs.stream` asks first).
Fixtures name their source; what the emulator knowingly answers otherwise is said in each test. `jobs.stream`'s
run-details polls, `online_endpoints.list` and `online_deployments.begin_delete` have no public recording (see
docs/runner.md), so they have no fixture here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from generator.emulator.workspace import Emulator
from tests.contract.test_recorded import _fixture, _url, emulator  # noqa: F401  (the fixture)

JOB = "test_680454434153"
# What the recorded job GET carries and the emulator does not: the service's own run properties (azureml.* and
# runSource/runType under properties.properties), keys the service fills with null, and systemData. Nothing here
# reads them.
KNOWN_MISSING = {"systemData", "identity", "componentId", "notificationSetting", "secretsConfiguration",
                 "sourceJobId"}


def _submit(emu: Emulator, http: requests.Session, fail: bool = False) -> tuple[str, Any]:
    """The recorded job's PUT (fixture pipeline_job_child_runs.json), held Running by a gate; its GET path."""
    put = _fixture("pipeline_job_child_runs.json")["entries"][0]
    if fail:
        emu.behaviour.failing_jobs.add(JOB)
    gate = emu.gate("job", JOB)
    assert http.put(_url(emu, put["path"]), json=put["request_body"]).status_code == put["status"] == 201
    return put["path"], gate


def _same_shape(ours: dict[str, Any], recorded: dict[str, Any], emu: Emulator) -> None:
    """The keys and values of a job GET that azure-ai-ml and the runner read, as recorded."""
    assert ours["name"] == recorded["name"] == JOB and ours["type"] == recorded["type"]
    assert ours["id"].endswith(f"/workspaces/{emu.workspace}/jobs/{JOB}")
    mine, theirs = ours["properties"], recorded["properties"]
    assert set(theirs) - set(mine) == KNOWN_MISSING - {"systemData"} and "systemData" not in ours
    for key in ("description", "tags", "displayName", "experimentName", "jobType", "settings", "isArchived"):
        assert mine[key] == theirs[key], key
    assert mine["computeId"].rsplit("/", 1)[-1] == theirs["computeId"].rsplit("/", 1)[-1] == "cpu-cluster"
    assert set(mine["jobs"]) == set(theirs["jobs"])
    for node, like in theirs["jobs"].items():
        assert mine["jobs"][node]["componentId"] == like["componentId"], node
    assert {name: (out["mode"], out["jobOutputType"]) for name, out in mine["outputs"].items()} == {
        name: (out["mode"], out["jobOutputType"]) for name, out in theirs["outputs"].items()}
    assert set(mine["services"]) == set(theirs["services"]) == {"Tracking", "Studio"}
    for kind, service in theirs["services"].items():
        assert set(mine["services"][kind]) == set(service), kind
        assert mine["services"][kind]["jobServiceType"] == service["jobServiceType"] == kind
    studio = theirs["services"]["Studio"]["endpoint"].replace("/resourcegroups/00000/workspaces/00000", (
        f"/resourcegroups/{emu.resource_group}/workspaces/{emu.workspace}"))
    assert mine["services"]["Studio"]["endpoint"] == studio.replace("00000000-0000-0000-0000-000000000000",
                                                                    emu.subscription)
    tracking = emu.workspace_body()["properties"]["mlFlowTrackingUri"]
    assert theirs["services"]["Tracking"]["endpoint"].endswith("/workspaces/00000?")
    assert mine["services"]["Tracking"]["endpoint"] == tracking + "?"


def test_a_running_pipeline_jobs_get_answers_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811,E501
    """The recorded GET after the PUT answers Running with the service's run properties (azureml.runsource
    azureml.PipelineRun, …) under properties.properties: the emulator keeps the submitted (empty) ones."""
    emu, http = emulator
    path, gate = _submit(emu, http)
    running = _fixture("pipeline_job_get.json")["entries"][0]
    answer = http.get(_url(emu, path), params=running["query"])
    assert answer.status_code == running["status"] == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    ours = answer.json()
    assert ours["properties"]["status"] == running["response_body"]["properties"]["status"] == "Running"
    _same_shape(ours, running["response_body"], emu)
    gate.set()


def test_an_ended_pipeline_jobs_get_carries_no_error_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811,E501
    """The recorded job ended Failed: its GET has the status and no error (azure-ai-ml reads the error from run
    history, as the runner's job_error does). The emulator's run details keep the error (their shape is not
    recorded)."""
    emu, http = emulator
    path, gate = _submit(emu, http, fail=True)
    failed = _fixture("pipeline_job_get.json")["entries"][1]
    gate.set()
    answer = http.get(_url(emu, path), params=failed["query"])
    assert answer.status_code == failed["status"] == 200
    ours, recorded = answer.json(), failed["response_body"]
    assert ours["properties"]["status"] == recorded["properties"]["status"] == "Failed"
    assert "error" not in recorded["properties"] and "error" not in ours["properties"]
    _same_shape(ours, recorded, emu)
    details = http.get(_url(emu, path.replace("/subscriptions/", "/history/v1.0/subscriptions/", 1).replace(
        "/jobs/", "/runs/") + "/details"))
    assert details.status_code == 200 and details.json()["status"] == "Failed"
    assert details.json()["error"]["error"]["code"] == "UserError"


@pytest.mark.parametrize("fail", [False, True])
def test_the_sdk_reads_the_recorded_job_get(emulator: tuple[Emulator, requests.Session],  # noqa: F811
                                            tmp_path: Path, monkeypatch: Any, fail: bool) -> None:
    """What the runner reads through `jobs.get`: the status, the Studio link (services.Studio.endpoint), the nodes;
    and, once the job failed, the error from run history (generator.runner.steps.job.job_error)."""
    from generator.emulator.connect import cloud_settings
    from generator.runner.connection import target_from_config, workspace_client
    from generator.runner.steps.common import job_status
    from tests.emulator.harness import EmulatorCredential

    emu, http = emulator
    _, gate = _submit(emu, http, fail=fail)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    ml = workspace_client(EmulatorCredential(), target_from_config(cloud_settings(emu)))
    entries = _fixture("pipeline_job_get.json")["entries"]
    job = ml.jobs.get(JOB)
    assert job_status(job) == entries[0]["response_body"]["properties"]["status"] == "Running"
    assert job.studio_url.startswith(f"https://ml.azure.com/runs/{JOB}?wsid=/subscriptions/")
    assert set(job.jobs) == set(entries[0]["response_body"]["properties"]["jobs"])
    gate.set()
    ended = ml.jobs.get(JOB)
    assert job_status(ended) == ("Failed" if fail else "Completed")
    if fail:
        error = ml.jobs._runs_operations.get_run_details(JOB).error.error
        assert (error.code, error.message) == ("UserError", "finetune step failed: CUDA out of memory")
