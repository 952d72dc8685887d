"""The workspace's datastore, and a finished job's named outputs on it: what `jobs.download(name, output_name=…)`
reads.

azure-ai-ml 1.35.2 (`operations/_job_operations.py` `download` and `_get_named_output_uri`, `_job_ops_helper.py`
`get_job_output_uris_from_dataplane`, `_artifacts/_artifact_utilities.py` `download_artifact_from_aml_uri`) asks:
1. the job's GET (a job that has not reached a terminal state is refused with JobException, on the client);
2. run history's run data (`POST /history/v1.0/<workspace>/rundata`, routes_history.py): the job's `outputs`, each
   `{"assetId", "type"}`;
3. for outputs whose type is one of the control plane's data types (`uri_file`, `uri_folder`, `mltable`), the data
   plane's batch resolution of their asset ids (`POST /data/v1.0/<workspace>/dataversion/batchGetResolvedUris`,
   here) to data URIs;
4. for a requested output that step 3 did not resolve, the default datastore (`GET …/datastores?isDefault=true`) and
   a probe of two "known paths" on it, `azureml/<job>/<output>/` and `dataset/<job>/<output>/` (a blob HEAD, then a
   list with a delimiter);
5. the datastore of the URI found (`GET …/datastores/<name>`, `POST …/listSecrets` unless its credentials are an
   identity), a blob list under the path and a ranged GET of each blob (routes_storage.py); the files land under
   `<download_path>/named-outputs/<output>/`.
An output found by neither step 3 nor 4 downloads nothing, without an error.

Run history reports an output's type in PascalCase (`UriFolder`: the run data of microsoft/promptflow's recording
src/promptflow/tests/test_configs/recordings/test_run_operations_TestFlowRun_test_download_run.yaml @0280f6a4; the
comment "RunHistory reports the type of a job's outputs in PascalCase" in Azure/azure-sdk-for-python
sdk/ml/azure-ai-ml/tests/job_common/unittests/test_job_ops_helper.py @ec8bca8b), which azure-ai-ml 1.35.2 compares
with the snake_case values of `DataType`: it never resolves such an output through step 3, and finds it by the probe
of step 4. The emulator answers as run history does, so the SDK takes the same path here; it keeps a job's outputs
where that probe looks (`azureml/<job>/<output>/` on the default datastore, the path of the azure-sdk-for-python
test above, `azureml://datastores/workspaceblobstore/paths/azureml/dummy/forecast_data/`). Where Azure keeps a
pipeline job's outputs is not recorded publicly (docs/facts.md, "A job's named outputs").

The files come from the backend (generator/emulator/backend.py `Backend.job_outputs`): the local runtime's files,
or a test's answers on the gated backend.

A mixin of the workspace's request handler (generator/emulator/workspace.py), like the other routes_* modules.
"""

from __future__ import annotations

import json
from typing import Any

DATASTORE = "workspaceblobstore"  # the workspace's default datastore
CONTAINER = "azureml-blobstore"  # its blob container
OUTPUTS_ROOT = "azureml"  # the folder of jobs' outputs on it: azureml/<job>/<output>/
# How run history spells a control-plane output type (the PascalCase of the azure-sdk-for-python test above).
RUN_HISTORY_TYPES = {"uri_file": "UriFile", "uri_folder": "UriFolder", "mltable": "MLTable",
                     "mlflow_model": "MLFlowModel", "custom_model": "CustomModel", "triton_model": "TritonModel"}


def output_path(job: str, output: str) -> str:
    """Where output `output` of job `job` lives on the default datastore (a folder, ending in /)."""
    return f"{OUTPUTS_ROOT}/{job}/{output}/"


def asset_id(e: Any, job: str, output: str) -> str:
    """The data asset id run history gives a job's output, in the form of the promptflow recording above:
    `azureml://locations/<location>/workspaces/<workspace id>/data/azureml_<job>_output_data_<output>/versions/1`."""
    workspace_id = e.workspace_body()["properties"]["workspaceId"]
    return (f"azureml://locations/{e.location}/workspaces/{workspace_id}/data/azureml_{job}_output_data_{output}/"
            "versions/1")


def data_uri(e: Any, job: str, output: str) -> str:
    """The output's long-form data URI, as the data plane resolves an output asset in the promptflow recording above
    (`azureml://subscriptions/<sub>/resourcegroups/<rg>/workspaces/<ws>/datastores/<datastore>/paths/<path>/`)."""
    return (f"azureml://subscriptions/{e.subscription}/resourcegroups/{e.resource_group}/workspaces/{e.workspace}/"
            f"datastores/{DATASTORE}/paths/{output_path(job, output)}")


def run_outputs(e: Any, job: str, declared: dict[str, Any]) -> dict[str, dict[str, str]] | None:
    """Run history's `outputs` of a job: each output the backend has files for, as `{"assetId", "type"}` with the
    type the job declared in run history's spelling; None when there is none (as a job that wrote nothing)."""
    found = {}
    for name in e.backend.job_outputs(job):
        kind = str((declared.get(name) or {}).get("jobOutputType") or "uri_folder")
        found[name] = {"assetId": asset_id(e, job, name), "type": RUN_HISTORY_TYPES.get(kind, kind)}
    return found or None


def output_blobs(e: Any, prefix: str) -> dict[str, bytes]:
    """The blobs of the default datastore's container that hold jobs' outputs, by name, whose names start with
    `prefix`: those of the job `prefix` names (`azureml/<job>/…`); nothing for a prefix naming no job."""
    parts = prefix.split("/")
    if len(parts) < 3 or parts[0] != OUTPUTS_ROOT or not parts[1]:
        return {}
    job = parts[1]
    blobs = {f"{output_path(job, output)}{file}": content
             for output, files in e.backend.job_outputs(job).items() for file, content in files.items()}
    return {name: content for name, content in blobs.items() if name.startswith(prefix)}


def output_blob(e: Any, key: str) -> bytes | None:
    """The content of the blob at `key` (`/<container>/<name>`) when it is a file of a job's output, else None."""
    container, _, name = key.lstrip("/").partition("/")
    if container != CONTAINER:
        return None
    return output_blobs(e, name).get(name)


def datastore_body(e: Any, name: str) -> dict[str, Any]:
    """A datastore of the workspace (every name answers the workspace's blob container), in the recorded shape of
    the default datastore list of azure-sdk-assets `…/pipeline_job/e2etests/test_pipeline_job.py
    TestPipelineJobLongRunningtest_pipeline_job_download.json` @6873a4bb (fixture job_outputs_download.json)."""
    return {"id": f"{e.workspace_path}/datastores/{name}", "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/datastores", "properties": {
                "description": None, "tags": None, "properties": None, "isDefault": name == DATASTORE,
                "credentials": {"credentialsType": "AccountKey" if e.settings.datastore_auth == "key" else "None"},
                "subscriptionId": e.subscription, "resourceGroup": e.resource_group,
                "datastoreType": "AzureBlob", "accountName": "emustore", "containerName": CONTAINER,
                "endpoint": e.storage_suffix, "protocol": "https",
                "serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity"}}


class DataRoutes:
    """The datastore's ARM answers and the data plane's resolution of output asset ids (a mixin)."""

    owner: Any
    _send: Any

    def _datastores(self, parts: list[str]) -> None:
        """`GET …/datastores/<name>`: the datastore; `GET …/datastores` (the SDK's `get_default` lists it with
        isDefault=true): the default one, as the recorded list."""
        e = self.owner
        if len(parts) == 2:
            self._send(200, datastore_body(e, parts[1]))
        else:
            self._send(200, {"value": [datastore_body(e, DATASTORE)]})

    def _batch_resolve(self, body: bytes) -> None:
        """`POST /data/v1.0/<workspace>/dataversion/batchGetResolvedUris` `{"values": [asset id, …]}` →
        `{"values": {asset id: {"uri", "type"}}}` (azure-ai-ml 1.35.2 `_restclient/dataset_dataplane` models
        BatchGetResolvedURIs, BatchDataUriResponse, DataUriV2Response). No public recording of this call was found:
        the shape is the REST model's; an id that is no job output's is left out of the answer."""
        e = self.owner
        try:
            asked = json.loads(body or b"{}").get("values")
        except (ValueError, AttributeError):
            asked = None
        if not isinstance(asked, list):
            self._send(400, {"error": {"code": "UserError", "message": "values: a list of asset ids is required"}})
            return
        resolved = {}
        for wanted in asked:
            for job, output, kind in self._outputs_named_by(str(wanted)):
                resolved[wanted] = {"uri": data_uri(e, job, output), "type": kind}
        self._send(200, {"values": resolved})

    def _outputs_named_by(self, wanted: str) -> list[tuple[str, str, str]]:
        """(job, output, run-history type) of the finished job's output whose asset id is `wanted`."""
        e = self.owner
        marker = "/data/azureml_"
        if marker not in wanted or "_output_data_" not in wanted:
            return []
        middle = wanted.split(marker, 1)[1].rsplit("/versions/", 1)[0]
        job, _, output = middle.rpartition("_output_data_")
        resource = e.resource(f"{e.workspace_path}/jobs/{job}")
        if resource is None:
            return []
        outputs = run_outputs(e, job, (resource.get("properties") or {}).get("outputs") or {}) or {}
        found = outputs.get(output)
        return [(job, output, found["type"])] if found and found["assetId"] == wanted else []
