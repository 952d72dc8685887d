"""Recorded answers about an online endpoint: its create and operation, the message Azure gives for a name taken
in the region, its get with its deployments, listKeys and delete.
Fixtures name their source; what the emulator knowingly answers otherwise is said in each test."""

from __future__ import annotations

import requests

from generator.runner.explain import EndpointNameTaken, endpoint_error
from tests.contract.recorded import ENDPOINT_PUT, difference, recording, url
from tests.emulator.harness import Emulator


# What the recorded endpoint PUT answer carries and the emulator does not; no code here reads these.
KNOWN_MISSING = {"systemData", "properties.properties.azureml.onlineendpointid",
                 "properties.properties.AzureAsyncOperationUri"}


def test_endpoint_create_answers_creating_with_a_null_scoring_uri_then_succeeds(
        emulator: tuple[Emulator, requests.Session]) -> None:
    emu, http = emulator
    entry = recording("online_endpoint_create.json")["entries"][1]
    gate = emu.gate("endpoint", "online-ept-a2eef48db44f4a9")
    answer = http.put(url(emu, entry["path"]), json=entry["request_body"])
    assert answer.status_code == entry["status"]
    assert set(entry["headers"]) <= set(answer.headers)
    ours, recorded = answer.json(), entry["response_body"]
    assert difference(recorded, ours) == KNOWN_MISSING
    for key in ("provisioningState", "scoringUri", "swaggerUri", "authMode"):
        assert ours["properties"][key] == recorded["properties"][key], key
    assert ours["kind"] == recorded["kind"] and ours["type"] == recorded["type"]
    operation = answer.headers["Azure-AsyncOperation"]
    running = http.get(operation).json()  # recorded: Updating, with id, name, startTime, endTime, percentComplete
    assert running["status"] == "Updating" and set(running) == {"id", "name", "status", "startTime", "endTime",
                                                                "percentComplete"}
    assert running["endTime"] == "0001-01-01T00:00:00+00:00" and running["percentComplete"] == 0.0
    gate.set()
    done = http.get(operation).json()
    assert done["status"] == "Succeeded" and done["id"] == running["id"] and done["endTime"] != running["endTime"]
    done = http.get(url(emu, entry["path"])).json()["properties"]
    assert done["provisioningState"] == "Succeeded" and done["scoringUri"].endswith("/score/online-ept-a2eef48db44f4a9")


def test_the_real_endpoint_name_message_is_recognised() -> None:
    from azure.core.exceptions import HttpResponseError

    message = ("There is already an endpoint with this name, Endpoint name needs to be unique within a region. "
               "Try some other name.")  # azureml-examples PR #1931
    assert isinstance(endpoint_error(HttpResponseError(message=message), "my-endpoint"), EndpointNameTaken)
    assert not isinstance(endpoint_error(HttpResponseError(message="Quota exceeded"), "my-endpoint"),
                          EndpointNameTaken)


def _endpoint_with_a_deployment(emu: Emulator, http: requests.Session) -> None:
    """The endpoint and deployment of recording test_online_deployment_create, created and provisioned."""
    put = recording("online_deployment_create.json")["entries"][0]
    endpoint = http.put(url(emu, put["path"].rsplit("/deployments/", 1)[0]), json=ENDPOINT_PUT)
    assert http.get(endpoint.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded"
    deployment = http.put(url(emu, put["path"]), json=put["request_body"])
    assert http.get(deployment.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded"


def test_an_endpoint_and_its_deployments_are_read_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: E501
    """The emulator's scoring and swagger URIs name itself; the endpoint's properties.properties (the service's own
    operation URI and id) and the deployment's sku are not reproduced: nothing here reads them."""
    emu, http = emulator
    _endpoint_with_a_deployment(emu, http)
    get, listed = recording("online_endpoint_get_delete.json")["entries"][:2]
    answer = http.get(url(emu, get["path"]))
    assert answer.status_code == get["status"] == 200
    ours, recorded = answer.json(), get["response_body"]
    assert ours["name"] == recorded["name"] and ours["type"] == recorded["type"] and ours["kind"] == recorded["kind"]
    assert set(recorded["properties"]) <= set(ours["properties"])
    for key in ("provisioningState", "authMode", "compute", "description", "publicNetworkAccess"):
        assert ours["properties"][key] == recorded["properties"][key], key
    deployments = http.get(url(emu, listed["path"]))
    assert deployments.status_code == listed["status"] == 200 and set(deployments.json()) == {"value"}
    [ours], [like] = deployments.json()["value"], listed["response_body"]["value"]
    assert ours["name"] == like["name"] and ours["type"] == like["type"]
    for key in ("provisioningState", "scaleSettings", "requestSettings", "livenessProbe", "readinessProbe"):
        assert ours["properties"][key] == like["properties"][key], key
    single = http.get(url(emu, listed["path"] + "/" + like["name"]))
    assert single.status_code == 200 and single.json()["properties"]["provisioningState"] == "Succeeded"


def test_an_endpoints_keys_and_delete_answer_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: E501
    """The recorded delete's first poll is Updating; the emulator's delete ends at once (Succeeded), in the same
    shape. Deleting the endpoint deletes its deployments."""
    emu, http = emulator
    _endpoint_with_a_deployment(emu, http)
    keys, delete, poll = recording("online_endpoint_get_delete.json")["entries"][2:]
    answer = http.post(url(emu, keys["path"]))
    assert answer.status_code == keys["status"] == 200 and set(answer.json()) == set(keys["response_body"])
    deleted = http.delete(url(emu, delete["path"]))
    assert deleted.status_code == delete["status"] == 202 and set(delete["headers"]) <= set(deleted.headers)
    assert deleted.headers["x-ms-async-operation-timeout"] == delete["headers"]["x-ms-async-operation-timeout"]
    ours = http.get(deleted.headers["Azure-AsyncOperation"]).json()
    assert set(ours) == set(poll["response_body"]) and ours["status"] in ("Updating", "Succeeded")
    assert ours["id"].endswith("/mfeOperationsStatus/" + ours["name"])
    assert http.get(url(emu, delete["path"])).status_code == 404
    assert http.get(url(emu, delete["path"] + "/deployments/online-dpm-b0249d5411f7413")).status_code == 404
