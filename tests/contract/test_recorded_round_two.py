"""Contract tests for recorded interactions fixtured in issue 19: a deployment create (the defaults Azure fills and
its operation), the identity datastore (get, listSecrets), and a pipeline job with a registry model input.
Fixtures name their source; what the emulator knowingly does not reproduce is listed in the tests."""

from __future__ import annotations

from typing import Any

import requests

from generator.local.workspace import Emulator
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
