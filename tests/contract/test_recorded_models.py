"""Recorded answers about models: a workspace model version (create, get) and a registry model (latest-version
list, get by version). Fixtures name their source; what the emulator knowingly answers otherwise is said in each
test."""

from __future__ import annotations

import requests

from tests.contract.recorded import recording, url
from tests.emulator.harness import Emulator


def test_a_workspace_model_version_is_created_and_read_as_recorded(
        emulator: tuple[Emulator, requests.Session]) -> None:
    """The service rewrites `resourcegroups` in modelUri to `resourceGroups`; the emulator keeps the URI as sent."""
    emu, http = emulator
    create, get = recording("model_create_workspace.json")["entries"]
    created = http.put(url(emu, create["path"]), json=create["request_body"])
    assert created.status_code == create["status"] == 201
    for ours, recorded in ((created.json(), create["response_body"]),
                           (http.get(url(emu, get["path"])).json(), get["response_body"])):
        assert ours["name"] == recorded["name"] == "3" and ours["type"] == recorded["type"]
        assert set(ours["properties"]) == set(recorded["properties"])
        for key in ("description", "tags", "flavors", "modelType", "provisioningState", "stage", "jobName",
                    "isArchived"):
            assert ours["properties"][key] == recorded["properties"][key], key


def test_a_registry_models_latest_list_and_version_answer_as_recorded(
        emulator: tuple[Emulator, requests.Session]) -> None:
    """`models.get(name, label="latest")` lists the versions newest first, one of them; the recording lists a model
    with no version yet (200, empty), so that is what an unknown name answers. The version GET is named by the model
    and typed "models". The emulator leaves out description, isAnonymous, originAssetId, jobName and
    intellectualProperty (nothing here reads them) and adds system_metadata when the catalog has it."""
    emu, http = emulator
    latest, version = recording("registry_model_get.json")["entries"]
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
