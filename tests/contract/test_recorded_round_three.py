"""Contract tests for the recorded interactions fixtured in round three: a data asset's upload and version (create,
get), a workspace model version (create, get), a registry model (latest-version list, get by version), a compute's
get and delete, and an endpoint's get, deployments, listKeys and delete.
Fixtures name their source; what the emulator knowingly answers otherwise is said in each test."""

from __future__ import annotations

import base64
from typing import Any

import requests

from generator.emulator.workspace import Emulator
from tests.contract.test_recorded import _fixture, _url, emulator  # noqa: F401  (the fixture)
from tests.contract.test_recorded_round_two import ENDPOINT_PUT


def _blob(emu: Emulator, http: requests.Session, entry: dict[str, Any]) -> requests.Response:
    """Send a recorded blob request to the emulator's storage account (the host names the account)."""
    body = base64.b64decode(entry["request_body_base64"]) if "request_body_base64" in entry else None
    headers = {"Host": f"emustore.blob.{emu.storage_suffix}", **entry.get("request_headers", {})}
    return http.request(entry["method"], emu.base_url + entry["path"], data=body, headers=headers)


def test_a_data_files_upload_answers_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811
    emu, http = emulator
    secrets, head, put, metadata = _fixture("data_create_uri_file.json")["entries"][:4]
    answer = http.post(_url(emu, secrets["path"]))
    assert answer.status_code == secrets["status"] == 200
    assert set(answer.json()) == set(secrets["response_body"]) and answer.json()["secretsType"] == "AccountKey"
    missing = _blob(emu, http, head)
    assert missing.status_code == head["status"] == 404
    assert missing.headers["x-ms-error-code"] == head["headers"]["x-ms-error-code"] == "BlobNotFound"
    stored = _blob(emu, http, put)
    assert stored.status_code == put["status"] == 201 and set(put["headers"]) <= set(stored.headers)
    tagged = _blob(emu, http, metadata)
    assert tagged.status_code == metadata["status"] == 200
    found = _blob(emu, http, {**head, "method": "GET"})
    assert found.status_code == 200 and found.content == base64.b64decode(put["request_body_base64"])
    assert found.headers["x-ms-meta-upload_status"] == metadata["request_headers"]["x-ms-meta-upload_status"]


def test_a_data_version_is_created_and_read_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811,E501
    """The service rewrites `dataUri` to the workspace's long form (azureml://subscriptions/…/datastores/…); the
    emulator keeps it as sent (nothing here reads it back)."""
    emu, http = emulator
    create, get = _fixture("data_create_uri_file.json")["entries"][4:]
    created = http.put(_url(emu, create["path"]), json=create["request_body"])
    assert created.status_code == create["status"] == 201
    for ours, recorded in ((created.json(), create["response_body"]),
                           (http.get(_url(emu, get["path"])).json(), get["response_body"])):
        assert ours["name"] == recorded["name"] == "2" and ours["type"] == recorded["type"]
        assert ours["id"].endswith("/data/test_184551485731/versions/2")
        assert set(ours["properties"]) == set(recorded["properties"])
        for key in ("description", "tags", "isArchived", "dataType", "stage", "autoDeleteSetting"):
            assert ours["properties"][key] == recorded["properties"][key], key


def test_a_workspace_model_version_is_created_and_read_as_recorded(
        emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811
    """The service rewrites `resourcegroups` in modelUri to `resourceGroups`; the emulator keeps the URI as sent."""
    emu, http = emulator
    create, get = _fixture("model_create_workspace.json")["entries"]
    created = http.put(_url(emu, create["path"]), json=create["request_body"])
    assert created.status_code == create["status"] == 201
    for ours, recorded in ((created.json(), create["response_body"]),
                           (http.get(_url(emu, get["path"])).json(), get["response_body"])):
        assert ours["name"] == recorded["name"] == "3" and ours["type"] == recorded["type"]
        assert set(ours["properties"]) == set(recorded["properties"])
        for key in ("description", "tags", "flavors", "modelType", "provisioningState", "stage", "jobName",
                    "isArchived"):
            assert ours["properties"][key] == recorded["properties"][key], key


def test_a_registry_models_latest_list_and_version_answer_as_recorded(
        emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811
    """`models.get(name, label="latest")` lists the versions newest first, one of them; the recording lists a model
    with no version yet (200, empty), so that is what an unknown name answers. The version GET is named by the model
    and typed "models". The emulator leaves out description, isAnonymous, originAssetId, jobName and
    intellectualProperty (nothing here reads them) and adds system_metadata when the catalog has it."""
    emu, http = emulator
    latest, version = _fixture("registry_model_get.json")["entries"]
    listed = http.get(emu.base_url + latest["path"], params=latest["query"])
    assert listed.status_code == latest["status"] == 200 and listed.json() == latest["response_body"] == {"value": []}
    recorded = version["response_body"]
    emu.behaviour.registry_models["test_267902544371"] = {
        "versions": ["2"], "archived": False, "tags": recorded["properties"]["tags"], "properties": {}}
    answer = http.get(emu.base_url + version["path"])
    assert answer.status_code == version["status"] == 200
    ours = answer.json()
    assert ours["name"] == recorded["name"] == "test_267902544371" and ours["type"] == recorded["type"] == "models"
    assert ours["id"].lower() == recorded["id"].lower()
    assert set(ours["properties"]) - {"system_metadata"} <= set(recorded["properties"])
    for key in ("tags", "properties", "isArchived", "modelType"):
        assert ours["properties"][key] == recorded["properties"][key], key
    listed = http.get(emu.base_url + latest["path"], params=latest["query"]).json()["value"]
    assert [item["id"] for item in listed] == [ours["id"]]


def test_a_compute_is_read_and_deleted_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811
    """Known difference: Azure's GET shows vmSize as sent (Standard_DS2_v2) and only the PUT's answer upper-cased;
    the emulator stores it upper-cased (tests/e2e test_compute_comes_back_upper_cased_and_is_still_unchanged relies on
    it, and the runner compares sizes case-insensitively)."""
    emu, http = emulator
    create = _fixture("compute_create.json")["entries"][0]
    done, get, delete = _fixture("compute_get_delete.json")["entries"]
    operation = http.put(_url(emu, create["path"]), json=create["request_body"]).headers["Azure-AsyncOperation"]
    assert http.get(operation).json() == done["response_body"] == {"status": "Succeeded", "percentComplete": 100.0}
    answer = http.get(_url(emu, get["path"]))
    assert answer.status_code == get["status"] == 200
    ours, recorded = answer.json(), get["response_body"]
    assert ours["name"] == recorded["name"] and ours["type"] == recorded["type"]
    assert ours["properties"]["provisioningState"] == recorded["properties"]["provisioningState"] == "Succeeded"
    size = ours["properties"]["properties"]["vmSize"]
    assert size.lower() == recorded["properties"]["properties"]["vmSize"].lower()
    assert ours["properties"]["properties"]["scaleSettings"] == recorded["properties"]["properties"]["scaleSettings"]
    deleted = http.delete(_url(emu, delete["path"]), params=delete["query"])
    assert deleted.status_code == delete["status"] == 202 and set(delete["headers"]) <= set(deleted.headers)
    assert http.get(_url(emu, get["path"])).status_code == 404


def _endpoint_with_a_deployment(emu: Emulator, http: requests.Session) -> None:
    """The endpoint and deployment of recording test_online_deployment_create, created and provisioned."""
    put = _fixture("online_deployment_create.json")["entries"][0]
    endpoint = http.put(_url(emu, put["path"].rsplit("/deployments/", 1)[0]), json=ENDPOINT_PUT)
    assert http.get(endpoint.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded"
    deployment = http.put(_url(emu, put["path"]), json=put["request_body"])
    assert http.get(deployment.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded"


def test_an_endpoint_and_its_deployments_are_read_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811,E501
    """The emulator's scoring and swagger URIs name itself; the endpoint's properties.properties (the service's own
    operation URI and id) and the deployment's sku are not reproduced: nothing here reads them."""
    emu, http = emulator
    _endpoint_with_a_deployment(emu, http)
    get, listed = _fixture("online_endpoint_get_delete.json")["entries"][:2]
    answer = http.get(_url(emu, get["path"]))
    assert answer.status_code == get["status"] == 200
    ours, recorded = answer.json(), get["response_body"]
    assert ours["name"] == recorded["name"] and ours["type"] == recorded["type"] and ours["kind"] == recorded["kind"]
    assert set(recorded["properties"]) <= set(ours["properties"])
    for key in ("provisioningState", "authMode", "compute", "description", "publicNetworkAccess"):
        assert ours["properties"][key] == recorded["properties"][key], key
    deployments = http.get(_url(emu, listed["path"]))
    assert deployments.status_code == listed["status"] == 200 and set(deployments.json()) == {"value"}
    [ours], [like] = deployments.json()["value"], listed["response_body"]["value"]
    assert ours["name"] == like["name"] and ours["type"] == like["type"]
    for key in ("provisioningState", "scaleSettings", "requestSettings", "livenessProbe", "readinessProbe"):
        assert ours["properties"][key] == like["properties"][key], key
    single = http.get(_url(emu, listed["path"] + "/" + like["name"]))
    assert single.status_code == 200 and single.json()["properties"]["provisioningState"] == "Succeeded"


def test_an_endpoints_keys_and_delete_answer_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: F811,E501
    """The recorded delete's first poll is Updating; the emulator's delete ends at once (Succeeded), in the same
    shape. Deleting the endpoint deletes its deployments."""
    emu, http = emulator
    _endpoint_with_a_deployment(emu, http)
    keys, delete, poll = _fixture("online_endpoint_get_delete.json")["entries"][2:]
    answer = http.post(_url(emu, keys["path"]))
    assert answer.status_code == keys["status"] == 200 and set(answer.json()) == set(keys["response_body"])
    deleted = http.delete(_url(emu, delete["path"]))
    assert deleted.status_code == delete["status"] == 202 and set(delete["headers"]) <= set(deleted.headers)
    assert deleted.headers["x-ms-async-operation-timeout"] == delete["headers"]["x-ms-async-operation-timeout"]
    ours = http.get(deleted.headers["Azure-AsyncOperation"]).json()
    assert set(ours) == set(poll["response_body"]) and ours["status"] in ("Updating", "Succeeded")
    assert ours["id"].endswith("/mfeOperationsStatus/" + ours["name"])
    assert http.get(_url(emu, delete["path"])).status_code == 404
    assert http.get(_url(emu, delete["path"] + "/deployments/online-dpm-b0249d5411f7413")).status_code == 404
