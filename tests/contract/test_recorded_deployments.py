"""Recorded answers about an online deployment: its create (the defaults Azure fills, given values kept) and its
operation. Fixtures name their source (tests/contract/recorded.py)."""

from __future__ import annotations

from typing import Any

import requests

from tests.contract.recorded import ENDPOINT_PUT, recording, url
from tests.emulator.harness import Emulator


def _deployment_answer(emu: Emulator, http: requests.Session) -> tuple[dict[str, Any], requests.Response, Any]:
    fixture = recording("online_deployment_create.json")["entries"]
    put = fixture[0]
    http.put(url(emu, put["path"].rsplit("/deployments/", 1)[0]), json=ENDPOINT_PUT)
    gate = emu.gate("deployment", "online-dpm-b0249d5411f7413")
    return fixture, http.put(url(emu, put["path"]), json=put["request_body"]), gate


def test_deployment_create_fills_the_recorded_request_and_probe_defaults(
        emulator: tuple[Emulator, requests.Session]) -> None:
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


def test_given_settings_are_kept_and_only_the_missing_ones_filled(emulator: tuple[Emulator, requests.Session]) -> None:  # noqa: E501
    emu, http = emulator
    put = recording("online_deployment_create.json")["entries"][0]
    body = {**put["request_body"], "properties": {**put["request_body"]["properties"],
                                                  "requestSettings": {"requestTimeout": "PT1M30S"},
                                                  "livenessProbe": {"initialDelay": "PT10M"}}}
    http.put(url(emu, put["path"].rsplit("/deployments/", 1)[0]), json=ENDPOINT_PUT)
    ours = http.put(url(emu, put["path"]), json=body).json()["properties"]
    assert ours["requestSettings"]["requestTimeout"] == "PT1M30S"
    assert ours["requestSettings"]["maxConcurrentRequestsPerInstance"] == 1
    assert ours["livenessProbe"]["initialDelay"] == "PT10M" and ours["livenessProbe"]["failureThreshold"] == 30


def test_deployment_operation_answers_updating_then_succeeded_as_recorded(
        emulator: tuple[Emulator, requests.Session]) -> None:
    emu, http = emulator
    fixture, answer, gate = _deployment_answer(emu, http)
    running, done = fixture[1]["response_body"], fixture[2]["response_body"]
    ours = http.get(answer.headers["Azure-AsyncOperation"]).json()
    assert set(ours) == set(running) and ours["status"] == running["status"] == "Updating"
    assert ours["endTime"] == running["endTime"] and ours["percentComplete"] == running["percentComplete"]
    gate.set()
    ours = http.get(answer.headers["Azure-AsyncOperation"]).json()
    assert set(ours) == set(done) and ours["status"] == done["status"] == "Succeeded"
