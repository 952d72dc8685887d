"""Recorded answers about a data asset: a local file's upload (listSecrets and the three blob calls) and the
version's create and get. Fixtures name their source; what the emulator knowingly answers otherwise is said in
each test."""

from __future__ import annotations

import base64
from typing import Any

import requests

from tests.contract.recorded import recording, url
from tests.emulator.harness import Emulator


def _blob(emu: Emulator, http: requests.Session, entry: dict[str, Any]) -> requests.Response:
    """Send a recorded blob request to the emulator's storage account (the host names the account)."""
    body = base64.b64decode(entry["request_body_base64"]) if "request_body_base64" in entry else None
    headers = {"Host": f"emustore.blob.{emu.storage_suffix}", **entry.get("request_headers", {})}
    return http.request(entry["method"], emu.base_url + entry["path"], data=body, headers=headers)


def test_a_data_files_upload_answers_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:
    emu, http = emulator
    secrets, head, put, metadata = recording("data_create_uri_file.json")["entries"][:4]
    answer = http.post(url(emu, secrets["path"]))
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


def test_a_data_version_is_created_and_read_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: E501
    """The service rewrites `dataUri` to the workspace's long form (azureml://subscriptions/…/datastores/…); the
    emulator keeps it as sent (nothing here reads it back)."""
    emu, http = emulator
    create, get = recording("data_create_uri_file.json")["entries"][4:]
    created = http.put(url(emu, create["path"]), json=create["request_body"])
    assert created.status_code == create["status"] == 201
    for ours, recorded in ((created.json(), create["response_body"]),
                           (http.get(url(emu, get["path"])).json(), get["response_body"])):
        assert ours["name"] == recorded["name"] == "2" and ours["type"] == recorded["type"]
        assert ours["id"].endswith("/data/test_184551485731/versions/2")
        assert set(ours["properties"]) == set(recorded["properties"])
        for key in ("description", "tags", "isArchived", "dataType", "stage", "autoDeleteSetting"):
            assert ours["properties"][key] == recorded["properties"][key], key
