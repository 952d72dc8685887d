"""Recorded answers about a FineTuning job (`type: finetuning`, azure-ai-ml's CustomModelFineTuningJob): one on managed
compute accepted (its 201 and the two GETs jobs.get sends), and a serverless one refused for its model in the
workspace's region. No public recording of an accepted serverless FineTuning job, of one that completed, or of the
model it registers was found (docs/runner.md): the emulator answers a serverless job in the recorded job's shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from tests.contract.recorded import difference, recording, url
from tests.emulator.harness import Emulator, EmulatorCredential, start_emulator

# What the recorded answers carry and the emulator's do not: systemData (the emulator keeps none on any resource), and
# the keys the 2024-01-01-preview GET adds (secretsConfiguration, inputs' pathOnCompute, the output's assetVersion,
# pathOnCompute and autoDeleteSetting, all null): the emulator answers both api-versions alike; azure-ai-ml reads only
# the jobType of that first GET (operations/_job_operations.py _get_job).
KNOWN_MISSING = {"systemData", "properties.secretsConfiguration"}


def _put(emu: Emulator, http: requests.Session, entry: dict[str, Any]) -> requests.Response:
    return http.put(url(emu, entry["path"]), params=entry["query"], json=entry["request_body"])


def _without_start(props: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in props.items() if key != "StartTimeUtc"}


def _same(ours: dict[str, Any], recorded: dict[str, Any], first_get: bool = False) -> None:
    """Every key and value of the recorded job azure-ai-ml or the runner reads, as recorded."""
    assert difference(recorded, ours) <= KNOWN_MISSING | ({"properties.resources", "properties.queueSettings"}
                                                          if first_get else set())
    assert (ours["name"], ours["type"]) == (recorded["name"], recorded["type"])
    mine, theirs = ours["properties"], recorded["properties"]
    assert _without_start(mine["properties"]) == _without_start(theirs["properties"])
    assert set(mine["properties"]) == set(theirs["properties"])
    for key in ("description", "tags", "displayName", "status", "experimentName", "services", "isArchived",
                "identity", "componentId", "notificationSetting", "jobType"):
        assert mine[key] == theirs[key], key
    strip = {"pathOnCompute", "assetVersion", "autoDeleteSetting"}  # the first GET's extra nulls
    for field, value in theirs["fineTuningDetails"].items():
        expected = {k: v for k, v in value.items() if k not in strip} if isinstance(value, dict) else value
        assert mine["fineTuningDetails"][field] == expected, field
    assert {name: {k: v for k, v in out.items() if k not in strip} for name, out in theirs["outputs"].items()} == \
        mine["outputs"]
    if not first_get:
        assert (mine["computeId"], mine["resources"], mine["queueSettings"]) == (
            theirs["computeId"], theirs["resources"], theirs["queueSettings"])


def test_a_finetuning_job_on_managed_compute_answers_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:
    """201 with the service's run properties, the task type in PascalCase, inputs ReadOnlyMount and the output
    ReadWriteMount with `uri` null; the GETs at 2024-01-01-preview and 2024-10-01-preview read the same job."""
    emu, http = emulator
    put, first, second = recording("finetuning_job_create.json")["entries"]
    emu.gate("job", "llama-3-8B-with-compute-42a3")  # the recorded job was Running
    answer = _put(emu, http, put)
    assert answer.status_code == put["status"] == 201
    assert answer.headers["Content-Type"].startswith("application/json")
    _same(answer.json(), put["response_body"])
    for entry, first_get in ((first, True), (second, False)):
        got = http.get(url(emu, entry["path"]), params=entry["query"])
        assert got.status_code == entry["status"] == 200
        _same(got.json(), entry["response_body"], first_get)
    assert emu.count("PUT", "/jobs/llama-3-8B-with-compute-42a3?api-version=2024-10-01-preview") == 1


def test_a_serverless_job_for_a_model_the_region_does_not_offer_is_refused_as_recorded(tmp_path: Path) -> None:
    """400 UserError "<model> : Serverless FineTuning not supported in <region>." with the inner code
    ModelNotSupportedByMaaS (the service's other additionalInfo entries, its correlation ids and time, are left
    out); nothing is stored."""
    emu, _ = start_emulator(tmp_path, location="westus")
    http = requests.Session()
    http.trust_env = False
    http.verify = str(tmp_path / "ca.pem")
    http.headers["Authorization"] = "Bearer " + EmulatorCredential().get_token("https://management.azure.com").token
    try:
        [put] = recording("finetuning_job_refused.json")["entries"]
        answer = _put(emu, http, put)
        assert answer.status_code == put["status"] == 400
        ours, theirs = answer.json()["error"], put["response_body"]["error"]
        assert (ours["code"], ours["message"], ours["details"]) == (theirs["code"], theirs["message"],
                                                                    theirs["details"])
        inner = [entry for entry in theirs["additionalInfo"] if entry["type"] == "InnerError"]
        assert ours["additionalInfo"] == inner
        assert http.get(url(emu, put["path"]), params=put["query"]).status_code == 404
    finally:
        emu.stop()
