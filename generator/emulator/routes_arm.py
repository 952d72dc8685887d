"""ARM resources of the workspace, as the emulator serves them: PUT stores (with Azure's defaults and
provisioning), GET returns, DELETE removes, actions (keys, secrets) answer, and the scoring route checks the key.

A mixin of the emulator's request handler (generator/emulator/workspace.py), like the other routes_* modules.
"""

from __future__ import annotations

import copy
import hmac
import json
import re
import time
from collections.abc import Callable
from email.message import Message
from typing import Any
from urllib.parse import parse_qs

from generator.emulator import finetuning
from generator.emulator.answers import error_body, scoring_error
from generator.emulator.routes_data import CONTAINER
from generator.emulator.routes_history import job_services
from generator.emulator.routes_serverless import SERVERLESS_KINDS

UPLOAD_PREFIX = f"/{CONTAINER}/LocalUpload/"  # where a component's code is uploaded (startPendingUpload)

MAX_SCORE_BODY = 1 << 20  # as the scoring server
# Which deployment answered: a header of this local workspace (not one Azure documents), so a test or a person can
# count how the live traffic was split.
LOCAL_DEPLOYMENT_HEADER = "x-azml-local-deployment"

ARM_TYPES = {("computes", 2): "Microsoft.MachineLearningServices/workspaces/computes",
             ("onlineendpoints", 2): "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
             ("onlineendpoints", 4): "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"}
# Azure's message for an endpoint name used elsewhere in the region: azureml-examples PR #1931, matched in
# Azure/azureml-assets assets/aml-benchmark/tests/test_utils.py.
ENDPOINT_NAME_TAKEN = ("There is already an endpoint with this name, Endpoint name needs to be unique within a "
                       "region. Try some other name.")
WS_RE = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.MachineLearningServices/"
                   r"workspaces/([^/]+)(/.*)?$", re.I)
REGISTRY_COMPONENT_RE = re.compile(r"/registries/([^/]+)/components/([^/]+)/versions(?:/([^/]+))?$", re.I)

# What Azure fills in a deployment the request leaves them out of: Azure/azure-sdk-assets
# python/sdk/ml/azure-ai-ml/tests/recordings/online_services/e2etests/
# test_online_deployment.pyTestOnlineDeploymenttest_online_deployment_create.json @04f5fde4 (the 201 of the PUT).
DEPLOYMENT_REQUEST_DEFAULTS = {"maxQueueWait": "PT0S", "requestTimeout": "PT5S", "maxConcurrentRequestsPerInstance": 1}
DEPLOYMENT_PROBE_DEFAULTS = {"failureThreshold": 30, "successThreshold": 1, "timeout": "PT2S", "period": "PT10S",
                             "initialDelay": "PT10S"}


def job_refusal(props: dict[str, Any]) -> str | None:
    """What the service would refuse in a pipeline job we can check: a registry model input by label (no recorded
    session or sample submits one), and node inputs the pinned component does not declare."""
    from generator.component import load_interface

    for node_name, node in (props.get("jobs") or {}).items():
        match = re.match(r"^azureml://registries/[^/]+/components/([^/]+)/versions/([^/]+)$",
                         str(node.get("componentId") or ""))
        interface = load_interface(*match.groups()) if match else None
        for input_name, value in (node.get("inputs") or {}).items():
            uri = str(value.get("uri") or "") if isinstance(value, dict) else ""
            if re.match(r"^azureml://registries/[^/]+/models/[^/]+/labels/", uri):
                return (f"Input {input_name} of node {node_name}: {uri} refers to a model by label; give a "
                        "version (azureml://registries/<registry>/models/<name>/versions/<version>).")
            if interface is not None and input_name not in interface.inputs:
                return (f"Node {node_name}: component {interface.name}:{interface.version} has no input named "
                        f"'{input_name}'.")
    return None


class ArmRoutes:
    """Handler methods for the workspace's ARM resources and the scoring route (a mixin of the workspace's handler,
    generator/emulator/workspace.py, which gives the attributes below)."""

    owner: Any  # the Emulator: workspace.py imports this module, so its type is not named here
    headers: Message
    command: str
    _send: Callable[..., None]  # (status, body=None, headers=None)
    _body: Callable[..., bytes | None]  # (limit=MAX_BODY)
    _not_found: Callable[[str], None]
    _view: Callable[..., dict[str, Any]]  # (kind, key, resource, run_history=False): routes_history.py
    _datastores: Callable[[list[str]], None]  # routes_data.py
    _serverless_resource: Callable[[str, list[str], str, str, dict[str, Any]], None]  # routes_serverless.py
    discard_body: Callable[[], None]  # generator/emulator/tls.py QuietHandler

    def _score(self, endpoint: str) -> None:
        """The endpoint's scoring URI: the key is checked before a byte of the body is read."""
        e = self.owner
        path = f"{e.workspace_path}/onlineendpoints/{endpoint}".lower()
        given = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), e.settings.key.encode()):
            self._send(401, scoring_error(401, "missing or wrong key"))
            self.discard_body()
            return
        body = self._body(MAX_SCORE_BODY)
        if body is None:
            return
        if path not in e.resources:
            self._not_found(f"endpoint {endpoint}")
            return
        if e.fault_plan.scoring_answer is not None:
            self._send(*e.fault_plan.scoring_answer)
            return
        deployment, copy_to = self._pick_deployment(endpoint, path)
        authorization = self.headers.get("Authorization", "")
        if copy_to is not None:  # the mirror's answer is dropped, as Azure does
            e.mirrored[(endpoint.lower(), copy_to)] += 1
            e.backend.score(endpoint, copy_to, body, authorization)
        if deployment is not None:
            e.scored[(endpoint.lower(), deployment)] += 1
        if deployment in e.fault_plan.failing_scoring:
            self._send(500, scoring_error(500, f"deployment {deployment} failed to answer (the emulator was told to)"))
            return
        status, answer = e.backend.score(endpoint, deployment, body, authorization)
        self._send(status, answer, {LOCAL_DEPLOYMENT_HEADER: deployment or ""})

    def _pick_deployment(self, endpoint: str, path: str) -> tuple[str | None, str | None]:
        """The deployment named by the azureml-model-deployment header (never mirrored), else the one the live
        traffic picks, and the deployment a copy is mirrored to (generator/emulator/routing.py)."""
        named = self.headers.get("azureml-model-deployment")
        if named:
            return named.lower(), None
        props = self.owner.resources[path].get("properties", {})
        chosen, copy_to = self.owner.router.route(endpoint.lower(), props.get("traffic") or {},
                                                  props.get("mirrorTraffic") or {})
        return (chosen.lower() if chosen else None), (copy_to.lower() if copy_to else None)

    # ------------------------------------------------------------ workspace resources
    def _workspace(self, sub: str, url: Any, body: bytes) -> None:
        e = self.owner
        if sub in ("", "/"):
            self._send(200, e.workspace_body())
            return
        key = (e.workspace_path + sub).lower()
        parts = sub.strip("/").split("/")
        kind = parts[0].lower()
        if kind in SERVERLESS_KINDS:  # routes_serverless.py
            self._serverless_resource(kind, parts, key, sub, json.loads(body or b"{}") if self.command == "PUT" else {})
        elif self.command == "POST":
            self._action(kind, parts, key)
        elif self.command == "PUT":
            self._put(kind, parts, key, sub, json.loads(body or b"{}"))
        elif self.command == "DELETE":
            self._delete(kind, key)
        elif self.command == "GET":
            self._get(kind, parts, key, sub, url)
        else:
            self._send(405, None)

    def _action(self, kind: str, parts: list[str], key: str) -> None:
        e = self.owner
        if parts[-1].lower() == "listsecrets" and e.settings.datastore_auth != "key":
            self._send(400, error_body("UserError", "No secrets for credentials of type None."))
        elif parts[-1].lower() == "listsecrets":
            self._send(200, {"secretsType": "AccountKey", "key": "ZW11bGF0b3Ita2V5"})
        elif parts[-1].lower() == "listkeys":
            if key.rsplit("/", 1)[0] not in e.resources:
                self._not_found("endpoint")
            else:
                self._send(200, {"primaryKey": e.settings.key, "secondaryKey": e.settings.key[::-1]})
        elif parts[-1].lower() == "cancel":
            # 202 with Location and Retry-After: what azure-ai-ml 1.35.2's jobs begin_cancel reads (arm_ml_service
            # JobsOperations._cancel_initial); no public recording of a cancel was found
            if key.rsplit("/", 1)[0] not in e.resources:
                self._not_found(f"job {parts[1]}")
                return
            e.backend.cancel_job(parts[1])
            self._send(202, None, {"Location": e.new_operation(0.0), "Retry-After": "0"})
        elif kind == "codes" and parts[-1].lower() == "startpendingupload":
            # The code asset of a component of our own (azure-ai-ml 1.35 _utils/_asset_utils.py
            # get_storage_info_for_non_registry_asset reads blobReferenceForConsumption.blobUri and .credential.sasUri,
            # the PendingUploadResponseDto of the 2023-04 REST API); the upload then goes to the emulated blob store.
            # The SAS is signed for that folder with the workspace's credential (workspace.py signature_valid).
            folder = f"{UPLOAD_PREFIX}{parts[1]}/{parts[3]}"
            blob = f"https://emustore.blob.{e.storage_suffix}{folder}"
            self._send(200, {"blobReferenceForConsumption": {"blobUri": blob, "credential": {
                "credentialType": "SAS", "sasUri": f"{blob}?sv=2021-08-06&sig={e.signature(folder)}"}},
                "pendingUploadId": parts[1], "pendingUploadType": "TemporaryBlobReference"})
        else:
            self._not_found("/".join(parts))

    def _put(self, kind: str, parts: list[str], key: str, sub: str, body: dict[str, Any]) -> None:
        e = self.owner
        name = parts[-1]
        resource = copy.deepcopy(body)
        resource.update(id=e.workspace_path + sub, name=name, type=ARM_TYPES.get((kind, len(parts)), resource.get(
            "type", f"Microsoft.MachineLearningServices/workspaces/{parts[0]}")))
        props = resource.setdefault("properties", {})
        status, headers = 200 if key in e.resources else 201, {"Retry-After": "0"}
        taken = kind == "onlineendpoints" and len(parts) == 2 and key not in e.resources \
            and name in e.fault_plan.taken_endpoint_names
        if taken and e.fault_plan.endpoint_conflict_in == "request":
            self._send(400, error_body("UserError", ENDPOINT_NAME_TAKEN))
            return
        with e.lock:
            if kind == "computes":
                # Recording test_aml_compute_create_and_delete: 201 Creating, vmSize comes back upper-cased.
                props["provisioningState"] = "Updating" if key in e.resources else "Creating"
                props.setdefault("properties", {})
                if isinstance(props["properties"].get("vmSize"), str):
                    props["properties"]["vmSize"] = props["properties"]["vmSize"].upper()
                headers["Azure-AsyncOperation"] = self._provisioning("compute", name, key, e.fault_plan.latency.compute,
                                                                     None, {})
            elif kind == "onlineendpoints" and len(parts) == 2:
                # Recording test_online_deployment_create: 201 Creating, scoringUri null until it succeeds.
                before = e.resources.get(key, {}).get("properties", {})
                props.update(provisioningState="Updating" if before else "Creating",
                             scoringUri=before.get("scoringUri"), swaggerUri=before.get("swaggerUri"))
                props.setdefault("description", None)
                props.setdefault("compute", None)
                props.setdefault("publicNetworkAccess", "Enabled")
                resource.setdefault("kind", "Managed")
                headers.update({"Location": f"{e.base_url}{e.workspace_path}{sub}?api-version=2022-02-01-preview",
                                "x-ms-async-operation-timeout": "PT30M"})
                props.setdefault("traffic", {})
                error = (error_body("UserError", ENDPOINT_NAME_TAKEN)["error"] if taken else
                         error_body("EndpointProvisioningFailed", "the emulator was told to fail this endpoint")
                         ["error"] if name in e.fault_plan.failing_endpoints else None)
                uris = {"scoringUri": f"{e.base_url}/score/{name}", "swaggerUri": f"{e.base_url}/swagger/{name}"}
                headers["Azure-AsyncOperation"] = self._provisioning("endpoint", name, key,
                                                                     e.fault_plan.latency.endpoint, error, uris)
            elif kind == "onlineendpoints":
                props["provisioningState"] = "Updating" if key in e.resources else "Creating"
                props.setdefault("scaleSettings", {"scaleType": "Default"})
                # Recording test_online_deployment_create (@04f5fde4): Azure fills what the request leaves out.
                props["requestSettings"] = {**DEPLOYMENT_REQUEST_DEFAULTS, **(props.get("requestSettings") or {})}
                for probe in ("livenessProbe", "readinessProbe"):
                    props[probe] = {**DEPLOYMENT_PROBE_DEFAULTS, **(props.get(probe) or {})}
                error = (error_body("DeploymentFailed", "the emulator was told to fail this deployment")["error"]
                         if name in e.fault_plan.failing_deployments else None)
                endpoint = parts[1]
                headers["Azure-AsyncOperation"] = self._provisioning(
                    "deployment", name, key, e.fault_plan.latency.deployment, error, {},
                    source=lambda: e.backend.deployment_status(endpoint, name))
            elif kind == "jobs":
                if key in e.resources:
                    self._send(400, {"error": {"code": "UserError", "message": f"Job {name} already exists and "
                                                                               "cannot be modified."}})
                    return
                refused = job_refusal(props)
                if refused:
                    self._send(400, error_body("UserError", refused))
                    return
                if finetuning.is_finetuning(props):
                    answer = finetuning.refusal(props, e.location, e.subscribed_models(),
                                                e.settings.serverless_region_check)
                    if answer is not None:
                        self._send(400, answer)
                        return
                    finetuning.accept(props, e.location)
                    e.finetunes_pending.add(name)
                    props["status"] = "NotStarted"
                else:
                    props.update(status="NotStarted", services=job_services(e, name))
            elif kind == "models" and len(parts) == 4 and (unfinished := self._unfinished_job_output(props)):
                self._send(400, error_body("UserError", unfinished))
                return
            elif kind in ("models", "data") and len(parts) == 4:
                # Recordings test_crud_file (models, @0f205ad0) and test_create_uri_file (data, @2238c1b7): a version
                # answers as workspaces/<kind>/versions, named by its version, with these keys null unless sent.
                resource["type"] = f"Microsoft.MachineLearningServices/workspaces/{kind}/versions"
                for absent in ("description", "autoDeleteSetting", "intellectualProperty"):
                    props.setdefault(absent, None)
                props.setdefault("isArchived", False)
                if kind == "models":
                    props.setdefault("flavors", {})
                    props.setdefault("jobName", None)
                    props.update(provisioningState="Succeeded", stage=props.get("stage") or "Development")
                else:
                    props.setdefault("stage", None)
            if key not in e.resources:
                e.created[key] = time.monotonic()
            e.resources[key] = resource
        if kind == "jobs":
            e.backend.submit_job(name, resource)
        if kind == "jobs" and name in e.fault_plan.lost_job_answers:
            e.fault_plan.lost_job_answers.discard(name)
            self._send(500, error_body("InternalServerError", "the emulator was told to lose this answer"))
            return
        if kind == "onlineendpoints" and len(parts) == 4:
            e.backend.start_deployment(parts[1], name, resource)
        self._send(status, self._view(kind, key, resource), headers)

    def _provisioning(self, kind: str, name: str, key: str, seconds: float, error: dict[str, Any] | None,
                      on_success: dict[str, Any], source: Callable[[], str] | None = None) -> str:
        """An operation that ends Failed with `error` (a fault), or else as `source()` says (Succeeded when there is
        none), once `seconds` have passed or the test's gate has opened; the resource's provisioningState (and
        `on_success` properties) follow it."""
        e = self.owner
        gate = e.fault_plan.gates.get(f"{kind}:{name}")
        deadline = time.monotonic() + seconds

        def probe() -> str:
            with e.lock:
                e.polls[f"{kind}:{name}"] = e.polls.get(f"{kind}:{name}", 0) + 1
            if (gate is not None and not gate.is_set()) or (gate is None and time.monotonic() < deadline):
                return "InProgress"
            state = "Failed" if error else (source() if source is not None else "Succeeded")
            if state == "InProgress":
                return state
            with e.lock:
                resource = e.resources.get(key)
                if resource is not None and resource["properties"].get("provisioningState") in ("Creating",
                                                                                                 "Updating"):
                    resource["properties"]["provisioningState"] = state
                    if state == "Succeeded":
                        resource["properties"].update(on_success)
            return state
        return str(e.new_operation(0, probe=probe, error=error, online=kind in ("endpoint", "deployment", "serverless",
                                                                                "subscription")))

    def _unfinished_job_output(self, props: dict[str, Any]) -> str | None:
        """Why a model cannot be registered from a job output yet (its job has not completed), or None."""
        match = re.match(r"^azureml://jobs/([^/]+)/outputs/", str(props.get("modelUri") or ""))
        if not match:
            return None
        key = f"{self.owner.workspace_path}/jobs/{match.group(1)}".lower()
        job = self.owner.resources.get(key)
        status = self._view("jobs", key, job)["properties"]["status"] if job else None
        if status == "Completed":
            return None
        return (f"Job {match.group(1)} is {status or 'not found'}: a model can be registered from a job's output only "
                "once the job has completed.")

    def _delete(self, kind: str, key: str) -> None:
        e = self.owner
        parts = key.split("/")
        if parts[-2] == "onlineendpoints":
            e.backend.stop_endpoint(parts[-1])
        elif parts[-2] == "deployments" and parts[-4] == "onlineendpoints":
            e.backend.stop_deployment(parts[-3], parts[-1])
        with e.lock:
            existed = e.resources.pop(key, None)
            for other in [k for k in e.resources if k.startswith(key + "/")]:
                e.resources.pop(other)
        if existed is None:
            self._send(204, None)
            return
        # An endpoint's delete answers as recorded in test_online_deployment_create (@04f5fde4): 202, its operation
        # in the mfeOperationsStatus shape, and x-ms-async-operation-timeout PT30M.
        online = parts[-2] == "onlineendpoints"
        headers = {"Location": e.new_operation(0.0), "Azure-AsyncOperation": e.new_operation(0.0, online=online)}
        if online:
            headers["x-ms-async-operation-timeout"] = "PT30M"
        self._send(202, None, headers)

    def _get(self, kind: str, parts: list[str], key: str, sub: str, url: Any) -> None:
        e = self.owner
        if kind == "datastores" and len(parts) <= 2:
            self._datastores(parts)
            return
        with e.lock:
            if key in e.resources:
                resource = e.resources[key]
                self._send(200, self._view(kind, key, resource))
                return
            children = [r for k, r in e.resources.items()
                        if k.startswith(key + "/") and k.count("/") == key.count("/") + 1]
        if children or kind in ("models", "data", "computes", "onlineendpoints", "jobs", "codes", "components") and (
                len(parts) in (1, 3) or parts[-1].lower() in ("versions", "deployments")):
            if parts[-1].lower() == "versions":
                children.sort(key=lambda r: e.created.get(r["id"].lower(), 0), reverse=True)
                top = parse_qs(url.query).get("$top")
                children = children[:int(top[0])] if top else children
            self._send(200, {"value": [self._view(kind, r["id"].lower(), r) for r in children]})
            return
        self._not_found(sub)
