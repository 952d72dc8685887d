"""The local workspace's run history: long-running operations, a job's state as GET shows it, run details, logs,
a pipeline job's child runs, and a job's run data (its named outputs, which `jobs.download` reads).

A mixin of the workspace's request handler (generator/emulator/workspace.py): `self.owner` is the Emulator,
`self._send` and `self._not_found` answer.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
import uuid
from typing import Any

from generator import clock
from generator.emulator.routes_data import run_outputs

# What run history answers for a pipeline job's step, from the children GET of recording
# pipeline_job/e2etests/test_pipeline_job.pyTestPipelineJobLongRunningtest_pipeline_job_get_child_run.json
# (Azure/azure-sdk-assets @6873a4bb, fixture tests/contract/fixtures/pipeline_job_child_runs.json): the keys of a run,
# and the values recorded for a command step that nothing here can derive (runType, runTypeV2).
STEP_RUN_TYPE = "azureml.StepRun"
STEP_RUN_TYPE_V2 = {"orchestrator": "Execution", "traits": [STEP_RUN_TYPE, "scriptRun", "remote", "AlmostCommonRuntime",
                                                            "OsType:Linux", "CommonRuntime"],
                    "attribution": "Aether", "computeType": "AmlcTrain"}
# The pipeline job's own run, from the run data of recording
# pipeline_job/e2etests/test_pipeline_job.pyTestPipelineJobLongRunningtest_pipeline_job_download.json (@6873a4bb,
# fixture tests/contract/fixtures/job_outputs_download.json).
PIPELINE_RUN_TYPE = "azureml.PipelineRun"
PIPELINE_RUN_TYPE_V2 = {"orchestrator": "Pipeline", "traits": [PIPELINE_RUN_TYPE, "MFE", "HTTP", "DevPlatv2"],
                        "attribution": None, "computeType": None}
NO_USER = {key: None for key in ("userObjectId", "userPuId", "userIdp", "userAltSecId", "userIss", "userTenantId",
                                 "userName", "upn", "clientApplicationId", "applicationACR")}


def job_services(e: Any, name: str) -> dict[str, Any]:
    """A job's `services` as its GET answers them in recording
    pipeline_job/e2etests/test_pipeline_job.pyTestPipelineJobLongRunningtest_pipeline_job_get_child_run.json
    (Azure/azure-sdk-assets @6873a4bb, fixture tests/contract/fixtures/pipeline_job_get.json): Tracking (the
    workspace's MLflow URI and "?") and Studio (`wsid=/subscriptions/<sub>/resourcegroups/<rg>/workspaces/<ws>`), each
    with port, status, errorMessage, properties and nodes null."""
    def service(kind: str, endpoint: str) -> dict[str, Any]:
        return {"jobServiceType": kind, "port": None, "endpoint": endpoint, "status": None, "errorMessage": None,
                "properties": None, "nodes": None}
    tracking = e.workspace_body()["properties"]["mlFlowTrackingUri"] + "?"
    wsid = f"/subscriptions/{e.subscription}/resourcegroups/{e.resource_group}/workspaces/{e.workspace}"
    return {"Tracking": service("Tracking", tracking),
            "Studio": service("Studio", f"https://ml.azure.com/runs/{name}?wsid={wsid}")}


def _run_uuid(*parts: str) -> str:
    """A stable UUID for a run (Azure's are random; the emulator's derive from the names, so answers repeat)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts).lower()))


def _run_error(props: dict[str, Any]) -> dict[str, Any] | None:
    """Run history's `error` of a failed job (the shape of the children recording), else None."""
    if props["status"] != "Failed" or not props.get("error"):
        return None
    return {"error": {"code": props["error"].get("code"), "severity": None, "message": props["error"].get("message"),
                      "messageFormat": None, "messageParameters": {}, "referenceCode": None, "detailsUri": None,
                      "target": None, "details": [], "innerError": None, "debugInfo": None, "additionalInfo": None},
            "correlation": None, "environment": None, "location": None, "time": "0001-01-01T00:00:00+00:00",
            "componentName": None}


def _run(run_id: str, created: dt.datetime, status: str, error: dict[str, Any] | None) -> dict[str, Any]:
    """Every key of a run as run history answers it (the children recording and the run data of recording
    test_pipeline_job_download @6873a4bb carry the same keys), null or empty where the emulator knows nothing."""
    return {
        "runNumber": int(created.timestamp()), "rootRunId": None, "createdUtc": created.isoformat(),
        "createdBy": NO_USER, "userId": None, "token": None, "tokenExpiryTimeUtc": None, "error": error,
        "warnings": [], "revision": 1, "statusRevision": 1, "runUuid": _run_uuid(run_id),
        "parentRunUuid": None, "rootRunUuid": None,
        "lastStartTimeUtc": None, "currentComputeTime": None, "computeDuration": None, "effectiveStartTimeUtc": None,
        "lastModifiedBy": NO_USER, "lastModifiedUtc": created.isoformat(), "duration": None,
        "cancelationReason": None, "currentAttemptId": 1, "runId": run_id, "parentRunId": None,
        "experimentId": None, "status": status, "startTimeUtc": None, "endTimeUtc": None, "scheduleId": None,
        "displayName": None, "name": None, "dataContainerId": f"dcid.{run_id}", "description": None, "hidden": False,
        "runType": None, "runTypeV2": None, "properties": {}, "parameters": {}, "actionUris": {}, "scriptName": None,
        "target": None, "uniqueChildRunComputeTargets": [], "tags": {}, "settings": {}, "services": {},
        "inputDatasets": [], "outputDatasets": [], "runDefinition": None, "jobSpecification": None,
        "primaryMetricName": None, "createdFrom": None, "cancelUri": None, "completeUri": None, "diagnosticsUri": "",
        "computeRequest": None, "compute": None, "retainForLifetimeOfWorkspace": None, "queueingInfo": None,
        "inputs": None, "outputs": None}


def _experiment_id(workspace_path: str, props: dict[str, Any]) -> str:
    return _run_uuid(workspace_path, "experiments", str(props.get("experimentName") or "Default"))


def child_run(workspace_path: str, job: dict[str, Any], view: dict[str, Any], node_name: str,
              created: dt.datetime) -> dict[str, Any]:
    """One step of pipeline job `job` as run history lists it under the job: every key of the recorded run, with
    the values the emulator knows (ids, names, status, compute, error) and null, empty or the recorded constant
    for the rest. The step's status is the job's (Azure's steps move on their own; the emulator runs none)."""
    name, props = job["name"], view["properties"]
    node = (job["properties"].get("jobs") or {}).get(node_name) or {}
    run_id = _run_uuid(workspace_path, "jobs", name, node_name)
    compute = str(node.get("computeId") or props.get("computeId") or "").rsplit("/", 1)[-1] or None
    component = str(node.get("componentId") or "")
    component_name = component.split("/components/", 1)[1].split("/", 1)[0] if "/components/" in component else None
    node_id, parent_uuid = run_id[:8], _run_uuid(workspace_path, "jobs", name)
    status = "NotStarted" if props["status"] in ("NotStarted", "Queued") else props["status"]
    return {
        **_run(run_id, created, status, _run_error({**props, "status": status})),
        "rootRunId": name, "parentRunUuid": parent_uuid, "rootRunUuid": parent_uuid, "parentRunId": name,
        "experimentId": _experiment_id(workspace_path, props), "displayName": node_name, "name": component_name,
        "runType": STEP_RUN_TYPE, "runTypeV2": STEP_RUN_TYPE_V2,
        "properties": {"azureml.runsource": STEP_RUN_TYPE, "azureml.nodeid": node_id, "azureml.pipelinerunid": name,
                       "azureml.pipeline": name, "azureml.rootpipelinerunid": name,
                       **({"_azureml.ClusterName": compute} if compute else {})},
        "target": compute, "tags": {"azureml.nodeid": node_id, "azureml.pipeline": name},
        "compute": {"target": compute, "targetType": "amlcompute", "vmSize": None, "instanceType": None,
                    "instanceCount": None, "gpuCount": None, "priority": None, "region": None, "armId": None,
                    "properties": None} if compute else None}


def job_run(e: Any, job: dict[str, Any], view: dict[str, Any], created: dt.datetime) -> dict[str, Any]:
    """Pipeline job `job` itself as run history's run data answers it (the `runMetadata` of recording
    test_pipeline_job_download @6873a4bb, fixture job_outputs_download.json): runId and rootRunId the job's name,
    runType azureml.PipelineRun and the recorded runTypeV2, the job's tags, description and display name, and its
    named outputs once it has completed (routes_data.py `run_outputs`; the recorded job failed and has none)."""
    name, props = job["name"], view["properties"]
    run_uuid = _run_uuid(e.workspace_path, "jobs", name)
    outputs = run_outputs(e, name, props.get("outputs") or {}) if props["status"] == "Completed" else None
    return {
        **_run(name, created, props["status"], _run_error(props)),
        "rootRunId": name, "runUuid": run_uuid, "rootRunUuid": run_uuid,
        "experimentId": _experiment_id(e.workspace_path, props), "displayName": props.get("displayName") or name,
        "description": props.get("description"), "runType": PIPELINE_RUN_TYPE, "runTypeV2": PIPELINE_RUN_TYPE_V2,
        "properties": {"azureml.runsource": PIPELINE_RUN_TYPE}, "tags": dict(props.get("tags") or {}),
        "diagnosticsUri": None, "retainForLifetimeOfWorkspace": False, "inputs": {}, "outputs": outputs}


class HistoryRoutes:
    """Operations, jobs moving through their states, run details, run logs and a pipeline job's child runs."""

    owner: Any
    _send: Any
    _not_found: Any

    def _operation(self, op: str) -> None:
        """An operation's status. Compute operations answer `{"status": "InProgress"}` until they end (recording
        compute/e2etests/test_compute.pyTestComputetest_aml_compute_create_and_delete.json, Azure/azure-sdk-assets
        @003b900b). Endpoint and deployment operations answer as their mfeOperationsStatus does in
        online_services/e2etests/test_online_deployment.pyTestOnlineDeploymenttest_online_deployment_create.json
        (@04f5fde4): id, name, startTime, endTime (0001-01-01T00:00:00+00:00 until the end), percentComplete 0.0
        throughout, and status "Updating" until "Succeeded". No public recording shows a failed one: the emulator
        adds `error` to the same shape."""
        done_at, status = self.owner.operations.get(op, (0.0, "Succeeded"))
        if callable(done_at):
            status = done_at()
            done_at = 0.0 if status != "InProgress" else float("inf")
        online = self.owner.operation_bodies.get(op)
        running = status != "Failed" and time.monotonic() < done_at
        body: dict[str, Any] = {"status": "InProgress" if running else status}
        if status == "Succeeded" and not running:  # the compute recording's last poll (@003b900b)
            body["percentComplete"] = 100.0
        if online is not None:
            body = {**online, "endTime": "0001-01-01T00:00:00+00:00" if running else clock.now().isoformat(),
                    "percentComplete": 0.0, "status": "Updating" if running else status}
        if status == "Failed":
            body["error"] = self.owner.operation_errors.get(op) or {"code": "DeploymentFailed",
                                                                    "message": "the local scoring server did not start"}
            self._send(200, body)
        elif running:
            self._send(200, body, {"Retry-After": str(self.owner.settings.poll_after)})
        else:
            self._send(200, body)

    def _job_properties(self, run_id: str) -> dict[str, Any] | None:
        """The job's properties as GET shows them now, or None (and a 404 sent) when there is no such job."""
        e = self.owner
        key = f"{e.workspace_path}/jobs/{run_id}".lower()
        if key not in e.resources:
            self._not_found(f"run {run_id}")
            return None
        properties: dict[str, Any] = self._view("jobs", key, e.resources[key], run_history=True)["properties"]
        return properties

    def _run_details(self, run_id: str) -> None:
        e = self.owner
        props = self._job_properties(run_id)
        if props is None:
            return
        details: dict[str, Any] = {"runId": run_id, "status": props["status"], "logFiles": {
            "logs/azureml/executionlogs.txt": e.signed_url(f"/logs/{run_id}/executionlogs.txt")}}
        if "error" in props:
            details["error"] = {"error": props["error"]}
        self._send(200, details)

    def _run_children(self, run_id: str) -> None:
        """`GET /history/v1.0/<workspace>/runs/<job>/children`: `{"value": [run, …]}`, one run per node of the
        pipeline job, as recorded (no `nextLink`: the emulator answers one page). 404 for an unknown job."""
        e = self.owner
        props = self._job_properties(run_id)
        if props is None:
            return
        key = f"{e.workspace_path}/jobs/{run_id}".lower()
        job = e.resources[key]
        view = {"properties": props}
        created = clock.now() - dt.timedelta(seconds=e.elapsed(key))
        self._send(200, {"value": [child_run(e.workspace_path, job, view, node, created)
                                   for node in job["properties"].get("jobs") or {}]})

    def _run_data(self, body: bytes) -> None:
        """`POST /history/v1.0/<workspace>/rundata` `{"runId", "selectRunMetadata", …}` → `{"runMetadata": run,
        "runDefinition", "jobSpecification", "systemSettings"}` (recording test_pipeline_job_download @6873a4bb):
        the job's run (`job_run`); the run definition (the service's own view of the submitted job) and the rest are
        null here. 404 for an unknown job (not recorded: the SDK asks for a job it has just read)."""
        e = self.owner
        try:
            run_id = str(json.loads(body or b"{}").get("runId") or "")
        except (ValueError, AttributeError):
            run_id = ""
        props = self._job_properties(run_id) if run_id else None
        if props is None:
            if not run_id:
                self._send(400, {"error": {"code": "UserError", "message": "runId is required"}})
            return
        key = f"{e.workspace_path}/jobs/{run_id}".lower()
        created = clock.now() - dt.timedelta(seconds=e.elapsed(key))
        self._send(200, {"runMetadata": job_run(e, e.resources[key], {"properties": props}, created),
                         "runDefinition": None, "jobSpecification": None, "systemSettings": None})

    def _logs(self, run_id: str) -> None:
        if self._job_properties(run_id) is None:
            return
        self._send(200, self.owner.backend.job_log(run_id).encode(), {"Content-Type": "text/plain"})

    def _view(self, kind: str, key: str, resource: dict[str, Any], run_history: bool = False) -> dict[str, Any]:
        """The resource as GET shows it now (a job's status is its backend's). A failed job's error is in run history
        only (`run_history`): the job resource's GET carries none (recording test_pipeline_job_get_child_run
        @6873a4bb, fixture pipeline_job_get.json)."""
        if kind != "jobs" or key.count("/") != self.owner.workspace_path.count("/") + 2:
            return resource
        view = copy.deepcopy(resource)
        props, name = view["properties"], resource["name"]
        props["status"], error = self.owner.backend.job_status(name)
        if error and run_history:
            props["error"] = {"code": "UserError", "message": error}
        if props["status"] == "Completed":
            for output in props.get("outputs") or {}:
                props["outputs"][output]["uri"] = f"azureml://jobs/{name}/outputs/{output}"
        return view
