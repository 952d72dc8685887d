"""Contract tests for recorded interactions fixtured in issue 19: a deployment create (the defaults Azure fills and
its operation), the identity datastore (get, listSecrets), a pipeline job with a registry model input, and a
pipeline job's child runs.
Fixtures name their source; what the emulator knowingly does not reproduce is listed in the tests."""

from __future__ import annotations

from typing import Any

import requests

from generator.emulator.workspace import Emulator
from tests.contract.test_recorded import _fixture, _url, emulator  # noqa: F401  (the fixture)

ENDPOINT_PUT = {"location": "eastus", "identity": {"type": "SystemAssigned"},
                "properties": {"authMode": "Key", "properties": {}, "mirrorTraffic": {}, "traffic": {}}}


def _deployment_answer(emu: Emulator, http: requests.Session) -> tuple[dict[str, Any], requests.Response, Any]:
    fixture = _fixture("online_deployment_create.json")["entries"]
    put = fixture[0]
    http.put(_url(emu, put["path"].rsplit("/deployments/", 1)[0]), json=ENDPOINT_PUT)
    gate = emu.gate("deployment", "online-dpm-b0249d5411f7413")
    return fixture, http.put(_url(emu, put["path"]), json=put["request_body"]), gate


def test_deployment_create_fills_the_recorded_request_and_probe_defaults(
        emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811
    emu, http = emulator
    fixture, answer, gate = _deployment_answer(emu, http)
    recorded = fixture[0]["response_body"]["properties"]
    assert answer.status_code == fixture[0]["status"] == 201
    ours = answer.json()["properties"]
    assert ours["requestSettings"] == recorded["requestSettings"] == {
        "maxQueueWait": "PT0S", "requestTimeout": "PT5S", "maxConcurrentRequestsPerInstance": 1}
    assert ours["livenessProbe"] == recorded["livenessProbe"] and ours["readinessProbe"] == recorded["readinessProbe"]
    assert ours["provisioningState"] == recorded["provisioningState"] == "Creating"
    gate.set()


def test_given_settings_are_kept_and_only_the_missing_ones_filled(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811,E501
    emu, http = emulator
    put = _fixture("online_deployment_create.json")["entries"][0]
    body = {**put["request_body"], "properties": {**put["request_body"]["properties"],
                                                  "requestSettings": {"requestTimeout": "PT1M30S"},
                                                  "livenessProbe": {"initialDelay": "PT10M"}}}
    http.put(_url(emu, put["path"].rsplit("/deployments/", 1)[0]), json=ENDPOINT_PUT)
    ours = http.put(_url(emu, put["path"]), json=body).json()["properties"]
    assert ours["requestSettings"]["requestTimeout"] == "PT1M30S"
    assert ours["requestSettings"]["maxConcurrentRequestsPerInstance"] == 1
    assert ours["livenessProbe"]["initialDelay"] == "PT10M" and ours["livenessProbe"]["failureThreshold"] == 30


def test_deployment_operation_answers_updating_then_succeeded_as_recorded(
        emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811
    emu, http = emulator
    fixture, answer, gate = _deployment_answer(emu, http)
    running, done = fixture[1]["response_body"], fixture[2]["response_body"]
    ours = http.get(answer.headers["Azure-AsyncOperation"]).json()
    assert set(ours) == set(running) and ours["status"] == running["status"] == "Updating"
    assert ours["endTime"] == running["endTime"] and ours["percentComplete"] == running["percentComplete"]
    gate.set()
    ours = http.get(answer.headers["Azure-AsyncOperation"]).json()
    assert set(ours) == set(done) and ours["status"] == done["status"] == "Succeeded"


def test_compute_operation_keeps_the_compute_recordings_shape(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811,E501
    emu, http = emulator
    create, poll = _fixture("compute_create.json")["entries"]
    gate = emu.gate("compute", "test49208482942")
    answer = http.put(_url(emu, create["path"]), json=create["request_body"])
    assert http.get(answer.headers["Azure-AsyncOperation"]).json() == poll["response_body"] == {"status": "InProgress"}
    gate.set()


def test_identity_datastore_get_and_list_secrets_answer_as_recorded(
        emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811
    emu, http = emulator
    emu.behaviour.datastore_auth = "identity"
    get, secrets = _fixture("online_deployment_create.json")["entries"][3:5]
    ours = http.get(_url(emu, get["path"]))
    assert ours.status_code == get["status"]
    recorded = get["response_body"]["properties"]
    for key in ("credentials", "datastoreType", "isDefault", "protocol"):
        assert ours.json()["properties"][key] == recorded[key], key
    refused = http.post(_url(emu, secrets["path"]), json=secrets["request_body"])
    assert refused.status_code == secrets["status"] == 400
    assert refused.json()["error"]["code"] == secrets["response_body"]["error"]["code"]
    assert refused.json()["error"]["message"] == secrets["response_body"]["error"]["message"]


def test_a_registry_model_input_by_version_is_stored_as_sent(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811,E501
    """The recorded PUT ends 400 (the service resolves the registry component and refuses the region): the emulator
    does not reproduce the service's registry validation, and says so in the README. It keeps the input as sent."""
    emu, http = emulator
    [put] = _fixture("pipeline_job_registry_model_input.json")["entries"]
    assert put["status"] == 400 and put["response_body"]["error"]["code"] == "BadRequest"
    answer = http.put(_url(emu, put["path"]), json=put["request_body"])
    assert answer.status_code in (200, 201)
    model = answer.json()["properties"]["inputs"]["pipeline_score_model"]
    assert model == {"jobInputType": "mlflow_model", "uri": "azureml://registries/00000-test/models/iris_model/versions/1"}


def _child_runs(emu: Emulator, http: requests.Session) -> tuple[list[dict[str, Any]], requests.Response]:
    put, discovery, children = _fixture("pipeline_job_child_runs.json")["entries"]
    created = http.put(_url(emu, put["path"]), json=put["request_body"])
    assert created.status_code == put["status"] == 201
    ours = http.get(_url(emu, discovery["path"]))
    assert ours.status_code == discovery["status"] and set(discovery["response_body"]) <= set(ours.json())
    return [put, discovery, children], http.get(ours.json()["history"] + children["path"].format(
        sub=emu.subscription, rg=emu.resource_group, ws=emu.workspace), params={"api-version": "v1.0"})


def test_a_pipeline_jobs_child_runs_are_listed_with_the_recorded_keys(
        emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811
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
        emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811
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


def test_child_runs_of_an_unknown_job_are_a_404(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811
    emu, http = emulator
    path = _fixture("pipeline_job_child_runs.json")["entries"][2]["path"].replace("test_680454434153", "no-such-job")
    answer = http.get(_url(emu, path))
    assert answer.status_code == 404 and answer.json()["error"]["code"]


def test_the_sdk_lists_the_child_runs_by_parent_job_name(emulator: tuple[Emulator, requests.Session],  # noqa: F811
                                                         tmp_path: Any, monkeypatch: Any) -> None:
    """What the recorded test does first: `jobs.list(parent_job_name=…)` and pick the step by display name. Its next
    call, `jobs.get(<child run id>)`, is not in the recording, so it is not replayed."""
    from generator.emulator.connect import cloud_settings
    from generator.runner.connection import target_from_config, workspace_client
    from tests.emulator.harness import EmulatorCredential

    emu, http = emulator
    put = _fixture("pipeline_job_child_runs.json")["entries"][0]
    http.put(_url(emu, put["path"]), json=put["request_body"])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    ml = workspace_client(EmulatorCredential(), target_from_config(cloud_settings(emu)))
    steps = {job.display_name: job for job in ml.jobs.list(parent_job_name="test_680454434153")}
    assert set(steps) == {"hello_world_inline_commandjob_1", "hello_world_inline_commandjob_2"}
    step = steps["hello_world_inline_commandjob_1"]
    assert step.compute == "cpu-cluster" and step.status == "Completed"
    assert step.id.endswith(f"/workspaces/{emu.workspace}/jobs/{step.name}") and step.name != step.display_name
