"""Recorded answers about a job's named outputs, what `jobs.download(name, output_name=…)` reads: run history's run
data, the default datastore list, the data plane's resolution of an output's asset id, and the blob list and ranged
GET of the output's files. Fixtures name their source (job_outputs_download.json from azure-sdk-assets,
job_outputs_blobs.json from microsoft/promptflow); what the emulator knowingly answers otherwise is said in each
test. `batchGetResolvedUris` itself has no public recording (docs/runner.md): its test follows azure-ai-ml's REST
models and the recorded form of a resolved data URI."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.contract.recorded import recording, url
from tests.emulator.harness import Emulator, EmulatorCredential, evaluation_job_body, install_dns

JOB = "test_94962644313"  # the recorded job
EVALUATION = "evaluation-run1-eval-tuned"
ANSWERS = (["The cat sat on the mat.", "Paris is the capital of France."],
           ["A cat sat on the mat.", "The capital of France is Paris."])


def _submit_recorded(emu: Emulator, http: requests.Session) -> None:
    """The recorded pipeline job's PUT; the job ends Failed, as the recorded one did."""
    put = recording("job_outputs_download.json")["entries"][0]
    emu.behaviour.failing_jobs.add(JOB)
    assert http.put(url(emu, put["path"]), json=put["request_body"]).status_code == put["status"] == 201


def _submit_evaluation(emu: Emulator, http: requests.Session) -> None:
    """An evaluation job that completes at once with the test's answers (Behaviour.evaluation_answers)."""
    emu.behaviour.evaluation_answers[EVALUATION] = ANSWERS
    answer = http.put(f"{emu.base_url}{emu.workspace_path}/jobs/{EVALUATION}", json=evaluation_job_body(["rougeL"]))
    assert answer.status_code == 201


def _run_data(emu: Emulator, http: requests.Session, job: str) -> requests.Response:
    entry = recording("job_outputs_download.json")["entries"][1]
    return http.post(url(emu, entry["path"]), params=entry["query"], json={**entry["request_body"], "runId": job})


def _blob(emu: Emulator, http: requests.Session, path: str, **kwargs: Any) -> requests.Response:
    """A request to the emulator's storage account (the host names the account)."""
    headers = {"Host": f"emustore.blob.{emu.storage_suffix}", **kwargs.pop("headers", {})}
    return http.get(emu.base_url + path, headers=headers, **kwargs)


def test_an_ended_jobs_run_data_answers_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:
    """The recorded job failed: its run carries run history's error and no outputs. The emulator leaves the run
    definition (the service's own view of the submitted job, which azure-ai-ml does not read) null."""
    emu, http = emulator
    _submit_recorded(emu, http)
    recorded = recording("job_outputs_download.json")["entries"][1]
    answer = _run_data(emu, http, JOB)
    assert answer.status_code == recorded["status"] == 200
    ours, theirs = answer.json(), recorded["response_body"]
    assert set(ours) == set(theirs) == {"runMetadata", "runDefinition", "jobSpecification", "systemSettings"}
    assert ours["runDefinition"] is None and theirs["runDefinition"]["JobType"] == "Pipeline"
    mine, run = ours["runMetadata"], theirs["runMetadata"]
    assert set(mine) == set(run)
    for key in ("runId", "rootRunId", "parentRunId", "status", "runType", "runTypeV2", "dataContainerId",
                "displayName", "description", "tags", "parentRunUuid", "outputs"):
        assert mine[key] == run[key], key
    assert mine["runUuid"] == mine["rootRunUuid"] and run["runUuid"] == run["rootRunUuid"]
    assert mine["error"]["error"]["code"] == run["error"]["error"]["code"] == "UserError"
    assert set(mine["error"]) == set(run["error"]) and set(mine["error"]["error"]) == set(run["error"]["error"])


def test_a_completed_jobs_run_data_lists_its_outputs_as_run_history_does(
        emulator: tuple[Emulator, requests.Session]) -> None:
    """Each output as `{"assetId", "type"}`, the asset id in the recorded form, the type in run history's PascalCase
    (the recorded run's folders are `UriFolder`; the evaluation's files are uri_file outputs: `UriFile`). Only the
    outputs with files are listed: evaluation_result has none on the gated backend."""
    emu, http = emulator
    _submit_evaluation(emu, http)
    recorded = recording("job_outputs_blobs.json")["entries"][0]["response_body"]["runMetadata"]
    run = _run_data(emu, http, EVALUATION).json()["runMetadata"]
    assert run["status"] == recorded["status"] == "Completed"
    assert set(run["outputs"]) == {"predictions", "ground_truth"}
    recorded_id = recorded["outputs"]["flow_outputs"]["assetId"]
    form = re.compile(r"^azureml://locations/[^/]+/workspaces/[^/]+/data/azureml_(.+)_output_data_(.+)/versions/1$")
    assert form.match(recorded_id).group(2) == "flow_outputs"  # type: ignore[union-attr]
    for name, output in run["outputs"].items():
        assert set(output) == set(recorded["outputs"]["flow_outputs"]) == {"assetId", "type"}
        assert form.match(output["assetId"]).groups() == (EVALUATION, name)  # type: ignore[union-attr]
        assert output["type"] == "UriFile" and recorded["outputs"]["flow_outputs"]["type"] == "UriFolder"


def test_a_running_jobs_run_data_lists_no_output(emulator: tuple[Emulator, requests.Session]) -> None:
    emu, http = emulator
    gate = emu.gate("job", EVALUATION)
    _submit_evaluation(emu, http)
    run = _run_data(emu, http, EVALUATION).json()["runMetadata"]
    assert (run["status"], run["outputs"]) == ("Running", None)
    gate.set()


def test_the_default_datastore_list_answers_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:
    """`datastores.get_default()`: one datastore, workspaceblobstore, in the recorded shape (no systemData)."""
    emu, http = emulator
    entry = recording("job_outputs_download.json")["entries"][2]
    answer = http.get(url(emu, entry["path"]), params=entry["query"])
    assert answer.status_code == entry["status"] == 200
    [ours], [theirs] = answer.json()["value"], entry["response_body"]["value"]
    assert set(theirs) - set(ours) == {"systemData"}
    assert set(ours["properties"]) == set(theirs["properties"])
    for key in ("isDefault", "datastoreType", "protocol", "credentials", "serviceDataAccessAuthIdentity"):
        assert ours["properties"][key] == theirs["properties"][key], key
    assert ours["name"] == theirs["name"] == "workspaceblobstore" and ours["type"] == theirs["type"]


def test_another_datastore_answers_in_the_recorded_shape(emulator: tuple[Emulator, requests.Session]) -> None:
    """The recorded artifact store (container `azureml`, not the default); the emulator's every datastore is its one
    blob container, so only the shape and isDefault are compared."""
    emu, http = emulator
    entry = recording("job_outputs_download.json")["entries"][3]
    ours = http.get(url(emu, entry["path"]), params=entry["query"]).json()
    theirs = entry["response_body"]
    assert set(theirs) - set(ours) == {"systemData"} and set(ours["properties"]) == set(theirs["properties"])
    assert ours["properties"]["isDefault"] is theirs["properties"]["isDefault"] is False


def test_an_outputs_blob_list_answers_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:
    """<EnumerationResults> with <Prefix>, each blob's Name and the Properties azure-storage-blob reads, <NextMarker>;
    the recording's other properties (Etag, Creation-Time, the MD5, lease and tier) are not kept by the emulator."""
    emu, http = emulator
    _submit_evaluation(emu, http)
    entry = recording("job_outputs_blobs.json")["entries"][2]
    prefix = f"azureml/{EVALUATION}/predictions/"
    answer = _blob(emu, http, "/azureml-blobstore", params={**entry["query"], "prefix": prefix})
    assert answer.status_code == entry["status"] == 200
    assert answer.headers["Content-Type"] == entry["headers"]["content-type"] == "application/xml"
    ours, theirs = ET.fromstring(answer.content), ET.fromstring(entry["response_body"].lstrip("\ufeff").encode())
    assert ours.tag == theirs.tag == "EnumerationResults"
    assert [child.tag for child in ours] == [child.tag for child in theirs] == ["Prefix", "Blobs", "NextMarker"]
    assert ours.findtext("Prefix") == prefix
    [mine], [recorded] = ours.findall("Blobs/Blob"), theirs.findall("Blobs/Blob")
    assert mine.findtext("Name") == f"{prefix}predictions.jsonl"
    assert {p.tag for p in mine.iterfind("Properties/*")} <= {p.tag for p in recorded.iterfind("Properties/*")}
    for tag in ("Last-Modified", "Content-Length", "Content-Type", "BlobType"):
        assert mine.findtext(f"Properties/{tag}") is not None, tag
    assert mine.findtext("Properties/BlobType") == recorded.findtext("Properties/BlobType") == "BlockBlob"


def test_an_outputs_ranged_get_answers_as_recorded(emulator: tuple[Emulator, requests.Session]) -> None:
    """206 with the bytes asked for, `Content-Range: bytes 0-<size-1>/<size>`, `Accept-Ranges`, the blob type."""
    emu, http = emulator
    _submit_evaluation(emu, http)
    entry = recording("job_outputs_blobs.json")["entries"][3]
    answer = _blob(emu, http, f"/azureml-blobstore/azureml/{EVALUATION}/predictions/predictions.jsonl",
                   headers=entry["request_headers"])
    assert answer.status_code == entry["status"] == 206
    size = len(answer.content)
    assert answer.content.decode().splitlines() == [f'{{"predictions": "{text}"}}' for text in ANSWERS[0]]
    assert answer.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"
    assert entry["headers"]["content-range"] == f"bytes 0-{len(entry['response_body'].encode()) - 1}/56"
    for header in ("accept-ranges", "content-type", "x-ms-blob-type"):
        assert answer.headers[header] == entry["headers"][header], header


def test_the_data_plane_resolves_an_outputs_asset_id_to_a_uri_the_sdk_downloads(
        emulator: tuple[Emulator, requests.Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`batchGetResolvedUris` has no public recording: the request and answer are azure-ai-ml's REST models (sent and
    read here by the SDK's own data-plane client), the URI has the long form the data plane gives in the recorded
    `getByAssetId`, and the SDK's `download_artifact_from_aml_uri` fetches the output's file from it. An asset id
    that is no job output's is left out of the answer."""
    from azure.ai.ml._artifacts._artifact_utilities import download_artifact_from_aml_uri

    from generator.emulator.connect import cloud_settings
    from generator.runner.connection import workspace_from_config, workspace_client

    emu, http = emulator
    _submit_evaluation(emu, http)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    install_dns()
    ml = workspace_client(EmulatorCredential(), workspace_from_config(cloud_settings(emu)))
    asset = _run_data(emu, http, EVALUATION).json()["runMetadata"]["outputs"]["ground_truth"]["assetId"]
    unknown = asset.replace(EVALUATION, "no-such-job")
    resolved = ml.jobs._dataset_dataplane_operations.get_batch_dataset_uris([asset, unknown]).values_property
    assert set(resolved) == {asset}
    recorded = recording("job_outputs_blobs.json")["entries"][1]["response_body"]["dataVersion"]["dataUri"]
    form = re.compile(r"^azureml://subscriptions/[^/]+/resourcegroups/[^/]+/workspaces/[^/]+/datastores/"
                      r"workspaceblobstore/paths/(.+/)$")
    assert form.match(recorded)
    assert form.match(resolved[asset].uri).group(1) == f"azureml/{EVALUATION}/ground_truth/"  # type: ignore[union-attr]
    download_artifact_from_aml_uri(resolved[asset].uri, str(tmp_path / "out"), ml.datastores)
    assert (tmp_path / "out" / "ground_truth.jsonl").read_text().splitlines() == [
        f'{{"ground_truth": "{text}"}}' for text in ANSWERS[1]]


def test_an_empty_blob_downloads_as_azure_storage_answers_a_range_beyond_its_end(
        emulator: tuple[Emulator, requests.Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """azure-storage-blob asks for a range first, and asks again without one when Azure Storage answers 416
    InvalidRange (an empty blob: `_download.py`); no public recording shows that answer."""
    from azure.storage.blob import BlobClient

    emu, http = emulator
    put = http.put(f"{emu.base_url}/azureml-blobstore/empty.txt", data=b"",
                   headers={"Host": f"emustore.blob.{emu.storage_suffix}", "x-ms-blob-type": "BlockBlob"})
    assert put.status_code == 201
    refused = _blob(emu, http, "/azureml-blobstore/empty.txt", headers={"x-ms-range": "bytes=0-33554431"})
    assert (refused.status_code, refused.headers["x-ms-error-code"]) == (416, "InvalidRange")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    install_dns()
    client = BlobClient(f"https://emustore.blob.{emu.storage_suffix}", "azureml-blobstore", "empty.txt",
                        credential="ZW11bGF0b3Ita2V5")
    assert client.download_blob().readall() == b""
