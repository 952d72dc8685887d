"""Contract tests: Azure's recorded answers, read by our classifiers and replayed against the emulator.

Each fixture under tests/contract/fixtures/ names its source (repository, path, commit). Where the
emulator knowingly answers less than the service, the difference is listed here, so nothing passes
by omission.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from generator.emulator.workspace import Emulator, error_body, usage_rows
from generator.runner.explain import EndpointNameTaken, endpoint_error
from generator.runner.preflight import UsageRow, _subscription_row
from tests.emulator.harness import EmulatorCredential, start_emulator

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# What the real answers carry and the emulator does not, by entry; each is a field no code here reads.
KNOWN_MISSING = {
    "workspace": {"etag", "sku", "systemData", "tags", "properties.friendlyName", "properties.description",
                  "properties.keyVault", "properties.applicationInsights", "properties.hbiWorkspace",
                  "properties.tenantId", "properties.imageBuildCompute", "properties.managedNetwork",
                  "properties.allowRoleAssignmentOnRG", "properties.v1LegacyMode", "properties.softDeleteEnabled",
                  "properties.containerRegistry", "properties.creationTime", "properties.notebookInfo",
                  "properties.storageHnsEnabled", "properties.linkedModelInventoryArmId",
                  "properties.privateLinkCount", "properties.publicNetworkAccess", "properties.ipAllowlist",
                  "properties.serverlessComputeSettings", "properties.EnableSoftwareBillOfMaterials",
                  "properties.sdkTelemetryAppInsightsKey", "properties.sasGetterUri", "properties.enableDataIsolation",
                  "properties.enableServiceSideCMKEncryption"},
    "endpoint": {"systemData", "properties.properties.azureml.onlineendpointid",
                 "properties.properties.AzureAsyncOperationUri"},
    "compute": {"properties.createdOn", "properties.modifiedOn", "properties.resourceId",
                "properties.provisioningErrors", "properties.provisioningWarnings", "properties.isAttachedCompute",
                "properties.properties.subnet", "properties.properties.currentNodeCount",
                "properties.properties.targetNodeCount", "properties.properties.nodeStateCounts",
                "properties.properties.allocationState", "properties.properties.errors",
                "properties.properties.virtualMachineImage", "properties.properties.isolatedNetwork",
                "properties.properties.enableBatchPrivateLink", "tags"},
}


def _fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert set(data["source"]) >= {"repository", "path", "commit"} and len(data["source"]["commit"]) == 40
    return data


def _keys(body: Any, prefix: str = "") -> set[str]:
    """Dotted keys of nested mappings (two levels below properties are enough for these answers)."""
    keys = set()
    for key, value in (body or {}).items():
        keys.add(prefix + key)
        if isinstance(value, dict) and (prefix + key).count(".") < 2 and key not in ("identity", "systemData",
                                                                                       "notebookInfo", "managedNetwork",
                                                                                       "scaleSettings", "traffic",
                                                                                       "mirrorTraffic", "tags", "sku"):
            if not (prefix + key).endswith("properties.properties") or prefix.startswith("properties"):
                keys |= _keys(value, prefix + key + ".")
    return keys


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[Emulator, requests.Session]]:
    emu, _ = start_emulator(tmp_path)
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE of the machine would override the CA below
    session.verify = str(tmp_path / "ca.pem")
    token = EmulatorCredential().get_token("https://management.azure.com/.default").token
    session.headers["Authorization"] = f"Bearer {token}"
    yield emu, session
    emu.stop()


def _url(emu: Emulator, path: str) -> str:
    return emu.base_url + path.format(sub=emu.subscription, rg=emu.resource_group, ws=emu.workspace)


def _difference(recorded: dict[str, Any], ours: dict[str, Any]) -> set[str]:
    return _keys(recorded) - _keys(ours)


def test_workspace_answer_has_what_the_sdk_reads(emulator: tuple[Emulator, requests.Session]) -> None:
    emu, http = emulator
    emu.behaviour.datastore_auth = "identity"
    entry = _fixture("online_endpoint_create.json")["entries"][0]
    answer = http.get(_url(emu, entry["path"]))
    assert answer.status_code == entry["status"]
    ours, recorded = answer.json(), entry["response_body"]
    assert _difference(recorded, ours) == KNOWN_MISSING["workspace"]
    assert ours["properties"]["systemDatastoresAuthMode"] == recorded["properties"]["systemDatastoresAuthMode"]
    assert ours["properties"]["mlFlowTrackingUri"].startswith("azureml://") and ours["kind"] == recorded["kind"]


def test_endpoint_create_answers_creating_with_a_null_scoring_uri_then_succeeds(
        emulator: tuple[Emulator, requests.Session]) -> None:
    emu, http = emulator
    entry = _fixture("online_endpoint_create.json")["entries"][1]
    gate = emu.gate("endpoint", "online-ept-a2eef48db44f4a9")
    answer = http.put(_url(emu, entry["path"]), json=entry["request_body"])
    assert answer.status_code == entry["status"]
    assert set(entry["headers"]) <= set(answer.headers)
    ours, recorded = answer.json(), entry["response_body"]
    assert _difference(recorded, ours) == KNOWN_MISSING["endpoint"]
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
    done = http.get(_url(emu, entry["path"])).json()["properties"]
    assert done["provisioningState"] == "Succeeded" and done["scoringUri"].endswith("/score/online-ept-a2eef48db44f4a9")


def test_compute_create_answers_creating_with_the_size_upper_cased(emulator: tuple[Emulator, requests.Session]) -> None:
    emu, http = emulator
    create, poll = _fixture("compute_create.json")["entries"]
    gate = emu.gate("compute", "test49208482942")
    answer = http.put(_url(emu, create["path"]), json=create["request_body"])
    assert answer.status_code == create["status"] and set(create["headers"]) <= set(answer.headers)
    ours, recorded = answer.json(), create["response_body"]
    assert _difference(recorded, ours) == KNOWN_MISSING["compute"]
    assert ours["properties"]["provisioningState"] == recorded["properties"]["provisioningState"] == "Creating"
    assert ours["properties"]["properties"]["vmSize"] == recorded["properties"]["properties"]["vmSize"]
    assert http.get(answer.headers["Azure-AsyncOperation"]).json() == poll["response_body"]
    gate.set()


def test_quota_reads_the_subscription_row_of_the_recorded_usages() -> None:
    class Usage:
        def __init__(self, row: dict[str, Any]):
            self.type, self.limit, self.current_value = row["type"], row["limit"], row["currentValue"]
            self.name = row["name"]

    rows = [UsageRow.of(Usage(row)) for row in _fixture("usage_list.json")["rows"]]
    dedicated = _subscription_row(rows, "standardDSv2Family", "dedicated")
    assert dedicated is not None and dedicated.type.endswith("/vmFamily/usages") and (dedicated.current,
                                                                                       dedicated.limit) == (2, 24)
    low = _subscription_row(rows, "standardDSv2Family", "low_priority")
    assert low is not None and low.limit == -1
    assert _subscription_row(rows, "standardNCADSA100v4Family", "dedicated") is None


def test_the_emulators_usage_rows_have_the_recorded_shape(tmp_path: Path) -> None:
    emu, _ = start_emulator(tmp_path)
    try:
        ours = usage_rows(emu)
    finally:
        emu.stop()
    recorded = _fixture("usage_list.json")["rows"]
    assert all(set(row) - {"amlWorkspaceLocation"} == set(recorded[0]) for row in ours)
    types = {row["type"].rsplit("/", 2)[-2] for row in ours}
    assert {"dedicatedCores", "vmFamily", "workspaces", "computes"} <= types
    names = {row["name"]["value"] for row in ours}
    assert "Standard NCADSA100v4 Family Cluster Dedicated vCPUs" in names
    assert any(row["limit"] == -1 and "LowPriority" in row["name"]["value"] for row in ours)


def test_the_real_endpoint_name_message_is_recognised() -> None:
    from azure.core.exceptions import HttpResponseError

    message = ("There is already an endpoint with this name, Endpoint name needs to be unique within a region. "
               "Try some other name.")  # azureml-examples PR #1931
    assert isinstance(endpoint_error(HttpResponseError(message=message), "my-endpoint"), EndpointNameTaken)
    assert not isinstance(endpoint_error(HttpResponseError(message="Quota exceeded"), "my-endpoint"),
                          EndpointNameTaken)


def test_error_bodies_have_azures_form() -> None:
    assert set(error_body("UserError", "x")["error"]) == {"code", "message", "details", "additionalInfo"}
    assert re.fullmatch(r"[A-Z][A-Za-z]+", error_body("BadRequest", "x")["error"]["code"])
