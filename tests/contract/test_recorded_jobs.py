"""Recorded answers about a pipeline job: a registry model input stored as sent, its child runs in run
history, and its GET while it runs and once it has ended (what `jobs.get` reads, and what `jobs.stream` asks
first). Fixtures name their source; what the emulator knowingly answers otherwise is said in each test.
`jobs.stream`'s run-details polls, `online_endpoints.list` and `online_deployments.begin_delete` have no public
recording (see docs/runner.md), so they have no fixture here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.contract.recorded import recording, url
from tests.emulator.harness import Emulator


JOB = "test_680454434153"
# What the recorded job GET carries and the emulator does not: the service's own run properties (azureml.* and
# runSource/runType under properties.properties), keys the service fills with null, and systemData. Nothing here
# reads them.
KNOWN_MISSING = {"systemData", "identity", "componentId", "notificationSetting", "secretsConfiguration",
                 "sourceJobId"}


def _submit(emu: Emulator, http: requests.Session, fail: bool = False) -> tuple[str, Any]:
    """The recorded job's PUT (fixture pipeline_job_child_runs.json), held Running by a gate; its GET path."""
    put = recording("pipeline_job_child_runs.json")["entries"][0]
    if fail:
        emu.behaviour.failing_jobs.add(JOB)
    gate = emu.gate("job", JOB)
    assert http.put(url(emu, put["path"]), json=put["request_body"]).status_code == put["status"] == 201
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


def test_a_running_pipeline_jobs_get_answers_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: E501
    """The recorded GET after the PUT answers Running with the service's run properties (azureml.runsource
    azureml.PipelineRun, …) under properties.properties: the emulator keeps the submitted (empty) ones."""
    emu, http = emulator
    path, gate = _submit(emu, http)
    running = recording("pipeline_job_get.json")["entries"][0]
    answer = http.get(url(emu, path), params=running["query"])
    assert answer.status_code == running["status"] == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    ours = answer.json()
    assert ours["properties"]["status"] == running["response_body"]["properties"]["status"] == "Running"
    _same_shape(ours, running["response_body"], emu)
    gate.set()


def test_an_ended_pipeline_jobs_get_carries_no_error_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: E501
    """The recorded job ended Failed: its GET has the status and no error (azure-ai-ml reads the error from run
    history, as the runner's job_error does). The emulator's run details keep the error (their shape is not
    recorded)."""
    emu, http = emulator
    path, gate = _submit(emu, http, fail=True)
    failed = recording("pipeline_job_get.json")["entries"][1]
    gate.set()
    answer = http.get(url(emu, path), params=failed["query"])
    assert answer.status_code == failed["status"] == 200
    ours, recorded = answer.json(), failed["response_body"]
    assert ours["properties"]["status"] == recorded["properties"]["status"] == "Failed"
    assert "error" not in recorded["properties"] and "error" not in ours["properties"]
    _same_shape(ours, recorded, emu)
    details = http.get(url(emu, path.replace("/subscriptions/", "/history/v1.0/subscriptions/", 1).replace(
        "/jobs/", "/runs/") + "/details"))
    assert details.status_code == 200 and details.json()["status"] == "Failed"
    assert details.json()["error"]["error"]["code"] == "UserError"


@pytest.mark.parametrize("fail", [False, True])
def test_the_sdk_reads_the_recorded_job_get(emulator: tuple[Emulator, requests.Session],
                                            tmp_path: Path, monkeypatch: Any, fail: bool) -> None:
    """What the runner reads through `jobs.get`: the status, the Studio link (services.Studio.endpoint), the nodes;
    and, once the job failed, the error from run history (generator.runner.steps.job.job_error)."""
    from generator.emulator.connect import cloud_settings
    from generator.runner.connection import workspace_from_config, workspace_client
    from generator.runner.steps.common import job_status
    from tests.emulator.harness import EmulatorCredential

    emu, http = emulator
    _, gate = _submit(emu, http, fail=fail)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    ml = workspace_client(EmulatorCredential(), workspace_from_config(cloud_settings(emu)))
    entries = recording("pipeline_job_get.json")["entries"]
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


def test_a_registry_model_input_by_version_is_stored_as_sent(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: E501
    """The recorded PUT ends 400 (the service resolves the registry component and refuses the region): the emulator
    does not reproduce the service's registry validation, and says so in the README. It keeps the input as sent."""
    emu, http = emulator
    [put] = recording("pipeline_job_registry_model_input.json")["entries"]
    assert put["status"] == 400 and put["response_body"]["error"]["code"] == "BadRequest"
    answer = http.put(url(emu, put["path"]), json=put["request_body"])
    assert answer.status_code in (200, 201)
    model = answer.json()["properties"]["inputs"]["pipeline_score_model"]
    assert model == {"jobInputType": "mlflow_model", "uri": "azureml://registries/00000-test/models/iris_model/versions/1"}


def _child_runs(emu: Emulator, http: requests.Session) -> tuple[list[dict[str, Any]], requests.Response]:
    put, discovery, children = recording("pipeline_job_child_runs.json")["entries"]
    created = http.put(url(emu, put["path"]), json=put["request_body"])
    assert created.status_code == put["status"] == 201
    ours = http.get(url(emu, discovery["path"]))
    assert ours.status_code == discovery["status"] and set(discovery["response_body"]) <= set(ours.json())
    return [put, discovery, children], http.get(ours.json()["history"] + children["path"].format(
        sub=emu.subscription, rg=emu.resource_group, ws=emu.workspace), params={"api-version": "v1.0"})


def test_a_pipeline_jobs_child_runs_are_listed_with_the_recorded_keys(
        emulator: tuple[Emulator, requests.Session]) -> None:
    emu, http = emulator
    (put, _, children), answer = _child_runs(emu, http)
    assert answer.status_code == children["status"] == 200
    recorded, ours = children["response_body"], answer.json()
    assert set(ours) == set(recorded) == {"value"}  # one page: no nextLink, as recorded
    assert {run["displayName"] for run in ours["value"]} == {run["displayName"] for run in recorded["value"]} == set(
        put["request_body"]["properties"]["jobs"])
    for run, like in zip(sorted(ours["value"], key=lambda r: r["displayName"]),
                         sorted(recorded["value"], key=lambda r: r["displayName"])):
        assert set(run) == set(like), run["displayName"]
        for key in ("rootRunId", "parentRunId", "runType", "target", "hidden", "currentAttemptId"):
            assert run[key] == like[key], key
        assert run["parentRunId"] == "test_680454434153" and run["name"] == like["name"] == "azureml_anonymous"
        assert run["dataContainerId"] == "dcid." + run["runId"]
        for key in ("azureml.pipelinerunid", "azureml.pipeline", "azureml.rootpipelinerunid", "_azureml.ClusterName",
                    "azureml.runsource"):
            assert run["properties"][key] == like["properties"][key], key
        assert run["compute"]["target"] == like["compute"]["target"] == "cpu-cluster"
        assert set(run["compute"]) == set(like["compute"]) and set(run["createdBy"]) == set(like["createdBy"])
    assert len({run["runId"] for run in ours["value"]}) == 2


def test_a_failed_pipelines_child_runs_carry_the_recorded_error_shape(
        emulator: tuple[Emulator, requests.Session]) -> None:
    emu, http = emulator
    emu.behaviour.failing_jobs.add("test_680454434153")
    (_, _, children), answer = _child_runs(emu, http)
    recorded = children["response_body"]["value"][0]
    assert recorded["status"] == "Failed"
    for run in answer.json()["value"]:
        assert run["status"] == "Failed"
        assert set(run["error"]) == set(recorded["error"]) and set(run["error"]["error"]) == set(
            recorded["error"]["error"])
        assert run["error"]["error"]["code"] == recorded["error"]["error"]["code"] == "UserError"


def test_child_runs_of_an_unknown_job_are_a_404(emulator: tuple[Emulator, requests.Session]) -> None:
    emu, http = emulator
    path = recording("pipeline_job_child_runs.json")["entries"][2]["path"].replace("test_680454434153", "no-such-job")
    answer = http.get(url(emu, path))
    assert answer.status_code == 404 and answer.json()["error"]["code"]


def test_the_sdk_lists_the_child_runs_by_parent_job_name(emulator: tuple[Emulator, requests.Session],
                                                         tmp_path: Any, monkeypatch: Any) -> None:
    """What the recorded test does first: `jobs.list(parent_job_name=…)` and pick the step by display name. Its next
    call, `jobs.get(<child run id>)`, is not in the recording, so it is not replayed."""
    from generator.emulator.connect import cloud_settings
    from generator.runner.connection import workspace_from_config, workspace_client
    from tests.emulator.harness import EmulatorCredential

    emu, http = emulator
    put = recording("pipeline_job_child_runs.json")["entries"][0]
    http.put(url(emu, put["path"]), json=put["request_body"])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    ml = workspace_client(EmulatorCredential(), workspace_from_config(cloud_settings(emu)))
    steps = {job.display_name: job for job in ml.jobs.list(parent_job_name="test_680454434153")}
    assert set(steps) == {"hello_world_inline_commandjob_1", "hello_world_inline_commandjob_2"}
    step = steps["hello_world_inline_commandjob_1"]
    assert step.compute == "cpu-cluster" and step.status == "Completed"
    assert step.id.endswith(f"/workspaces/{emu.workspace}/jobs/{step.name}") and step.name != step.display_name
