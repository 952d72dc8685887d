"""The local workspace: an HTTPS server that answers the Azure ML calls the runner makes.

Generic ARM storage ("PUT stores, GET returns it, else 404") plus what the SDK needs beyond
that: registry discovery and registry models, datastore secrets and the three blob calls of a
local-file upload, long-running operations the Azure way (Azure-AsyncOperation / Location
polling), VM sizes and quota usage, a pipeline job moving Queued → Running → Completed (or
Failed), endpoint keys and a scoring URI that checks the key. It can inject latency and 429/503
faults. Alone it is the tests' emulator (jobs and deployments only change state); with a
LocalExecutor attached (`--target local`) jobs really train and deployments really serve.
It does not reproduce the service's own validation.

Split by concern: this module holds the Emulator, the request dispatch, ARM resources and scoring;
routes_history.py (operations, job states, run details, logs), routes_registry.py (registry discovery
and models) and routes_storage.py (blobs) are mixins of its handler; tls.py handles connections and
persist.py the state a daemon keeps across restarts.
"""

from __future__ import annotations

import copy
import hmac
import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from generator import catalog, clock
from generator.local.routes_history import HistoryRoutes
from generator.local.routes_mlflow import MLFLOW_PREFIX, MlflowRoutes
from generator.local.routes_registry import RegistryRoutes, registry_models
from generator.local.routes_storage import StorageRoutes
from generator.local.scoring import scoring_error
from generator.local.tls import QuietHandler, TLSServer, server_context
from generator.request import parse_request

PROVIDER = "providers/Microsoft.MachineLearningServices"
# ARM resource types as the recordings show them (test_online_deployment_create, test_aml_compute_create_and_delete).
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


def vm_sizes_body() -> list[dict[str, Any]]:
    """The vmSizes answer: the catalog's sizes that are not retired, in the REST shape
    (VirtualMachineSize/list.json in Azure/azure-rest-api-specs: name, family, vCPUs, gpus, memoryGB)."""
    today = clock.today()
    rows = []
    for size in catalog.vm_sizes():
        if size.vcpus is None or size.gpus is None or size.is_retired(today):
            continue
        row: dict[str, Any] = {"name": size.name, "family": size.quota_family, "vCPUs": size.vcpus, "gpus": size.gpus}
        if size.memory_gib is not None:
            row["memoryGB"] = size.memory_gib
        rows.append(row)
    return rows


@dataclass
class Latency:
    """Seconds each long-running thing takes in the emulator."""

    compute: float = 0.0
    endpoint: float = 0.0
    deployment: float = 0.0
    job_queued: float = 0.0
    job_running: float = 0.0


@dataclass
class Behaviour:
    """What the emulator does beyond storing: faults, latency, failures, quota, registry content."""

    latency: Latency = field(default_factory=Latency)
    fault_rate: float = 0.0
    fault_seed: int = 1
    failing_jobs: set[str] = field(default_factory=set)
    taken_endpoint_names: set[str] = field(default_factory=set)
    # Where a taken name surfaces: "request" (the PUT is refused) or "operation" (the PUT is accepted and
    # the long-running operation fails). Public material records the message, not which of the two.
    endpoint_conflict_in: str = "request"
    failing_endpoints: set[str] = field(default_factory=set)  # create operation ends Failed
    failing_deployments: set[str] = field(default_factory=set)
    quota: dict[str, tuple[int, int]] = field(default_factory=lambda: {
        "standardNDSv2Family": (0, 100), "standardNCADSA100v4Family": (0, 96), "standardNCASv3_T4Family": (0, 64),
        "standardNCSv3Family": (0, 48), "standardDSv2Family": (0, 100), "standardNDASv4_A100Family": (0, 96),
        "standardNDAMSv4_A100Family": (0, 96), "standardNCADSH100v5Family": (0, 80),
        "standardNDv5H100Family": (0, 96)})
    regional_quota: tuple[int, int] = (0, 1000)
    forbidden: set[str] = field(default_factory=set)
    # "key": the datastore hands out an account key; "identity": systemDatastoresAuthMode identity (credentialsType
    # None, listSecrets 400, blob calls with the user's token); "identity-no-role": the same, and the user's token
    # lacks a blob-data role on the storage account (403 AuthorizationPermissionMismatch).
    datastore_auth: str = "key"  # "usages", "vmSizes": answer 403 as to a reader without rights  # Total Cluster Dedicated Regional vCPUs (current, limit)
    registry_models: dict[str, dict[str, Any]] = field(default_factory=dict)
    key: str = field(default_factory=lambda: "emu-key-" + uuid.uuid4().hex)
    # The local workspace's own credential: when set, every request but scoring (which checks the endpoint key)
    # must carry a bearer token ending in it (generator/local/connect.py LocalCredential), or gets a 401.
    token_secret: str | None = None
    # (status, body) the emulated endpoint answers every scoring request with, as a model that refuses would.
    scoring_answer: tuple[int, Any] | None = None
    # Explicit gates a test opens: "job:<name>" keeps a job Running, "endpoint:<name>",
    # "deployment:<name>" and "compute:<name>" keep the create operation InProgress, until set.
    gates: dict[str, threading.Event] = field(default_factory=dict)
    # Retry-After on operations in progress. No public source gives Azure's value: the recorded operation answers of
    # test_online_deployment_create (Azure/azure-sdk-assets @04f5fde4) carry no Retry-After header, and the SDK
    # polled there every 30 s (endpoint) and 5 s (deployment). The emulator asks for a short wait so tests are quick.
    poll_after: float = 0.05


def usage_rows(e: "Emulator") -> list[dict[str, Any]]:
    """The usages list in the shape of Azure/azure-rest-api-specs `…/2023-08-01-preview/examples/Usage/list.json`
    (@f5ec6141): regional totals, then per family a subscription row (type …/vmFamily/usages), a workspace row and a
    cluster row sharing one name, and a LowPriority family row with limit -1."""
    sub = f"/subscriptions/{e.subscription}"

    def row(rid: str, kind: str, name: str, current: int, limit: int) -> dict[str, Any]:
        return {"id": rid, "type": f"Microsoft.MachineLearningServices/{kind}", "unit": "Count",
                "amlWorkspaceLocation": e.location, "currentValue": current, "limit": limit,
                "name": {"value": name, "localizedValue": name}}
    total_current, total_limit = e.behaviour.regional_quota
    rows = [row(f"{sub}/usages", "dedicatedCores/usages", "Total Cluster Dedicated Regional vCPUs", total_current,
                total_limit)]
    for family, (current, limit) in e.behaviour.quota.items():
        label = re.sub(r"^standard(.*)Family$", r"Standard \1 Family", family)
        dedicated, low = f"{label} Cluster Dedicated vCPUs", f"{label} Cluster LowPriority vCPUs"
        slug = dedicated.replace(" ", "_")
        rows += [row(f"{sub}/usages/{slug}", "vmFamily/usages", dedicated, current, limit),
                 row(f"{e.workspace_path}/usages/{slug}", "workspaces/usages", dedicated, current, limit),
                 row(f"{e.workspace_path}/computes/other-cluster/usages/{slug}", "workspaces/computes/usages",
                     dedicated, limit, limit),  # a full cluster: its row must never be read as the subscription's
                 row(f"{sub}/usages/{low.replace(' ', '_')}", "vmFamily/usages", low, 0, -1)]
    return rows


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


def error_body(code: str, message: str) -> dict[str, Any]:
    """An error answer in Azure's form: {"error": {"code", "message", "details", "additionalInfo"}}."""
    return {"error": {"code": code, "message": message, "details": [], "additionalInfo": []}}


class Emulator:
    """State and request handling; `start()` serves it over HTTPS on 127.0.0.1."""

    def __init__(self, cert_pem: str, key_pem: str, behaviour: Behaviour | None = None,
                 subscription: str = "00000000-0000-0000-0000-000000000000", resource_group: str = "rg",
                 workspace: str = "ws", location: str = "westeurope", executor: Any = None):
        self.behaviour = behaviour or Behaviour()
        if not self.behaviour.registry_models:
            self.behaviour.registry_models = registry_models()
        self.subscription, self.resource_group, self.workspace, self.location = (
            subscription, resource_group, workspace, location)
        self.resources: dict[str, dict[str, Any]] = {}
        self.created: dict[str, float] = {}
        self.operations: dict[str, tuple[float, str]] = {}
        self.operation_errors: dict[str, dict[str, Any]] = {}
        self.operation_bodies: dict[str, dict[str, Any]] = {}  # endpoint and deployment operations: id, name, start
        self.polls: dict[str, int] = {}  # "<kind>:<name>" -> how often its operation was polled
        self.blobs: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.requests: list[tuple[str, str]] = []
        self.seen = threading.Condition(threading.Lock())
        self.faults = 0
        self.lock = threading.RLock()
        self._random = random.Random(self.behaviour.fault_seed)
        self._cert, self._key = cert_pem, key_pem
        self.server: TLSServer | None = None
        self.port = 0
        self.executor = executor
        self.on_change: Callable[[], None] | None = None  # called after every request that may change state
        self.mlflow_store: str | None = None  # tracking URI of the store the MLflow routes answer from

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> "Emulator":
        """Serve on an ephemeral 127.0.0.1 port in a background thread."""
        emulator = self

        class Handler(_Handler):
            owner = emulator

        self.server = TLSServer(Handler, server_context(self._cert, self._key))
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    @property
    def base_url(self) -> str:
        """https://127.0.0.1:<port>"""
        return f"https://127.0.0.1:{self.port}"

    @property
    def storage_suffix(self) -> str:
        """Blob host suffix: `<account>.blob.<suffix>` resolves to 127.0.0.1 in the test process."""
        return f"core.azmlemu.test:{self.port}"

    @property
    def workspace_path(self) -> str:
        """ARM id of the workspace."""
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/{PROVIDER}/"
                f"workspaces/{self.workspace}")

    def signed_url(self, path: str) -> str:
        """`path` on this workspace, with a signature when it requires a credential (as Azure hands out SAS URLs
        for run logs: the SDK fetches them without its token)."""
        secret = self.behaviour.token_secret
        if not secret:
            return self.base_url + path
        return f"{self.base_url}{path}?sig={hmac.new(secret.encode(), path.encode(), 'sha256').hexdigest()}"

    def signature_valid(self, url: Any) -> bool:
        """Whether `url` (split) carries the signature `signed_url` gave its path."""
        secret = self.behaviour.token_secret
        given = parse_qs(url.query).get("sig", [""])[0]
        return bool(secret and given) and hmac.compare_digest(
            given, hmac.new(secret.encode(), url.path.encode(), "sha256").hexdigest())

    def gate(self, kind: str, name: str) -> threading.Event:
        """A closed gate that holds resource `name` of `kind` (job, endpoint, deployment, compute) until set."""
        return self.behaviour.gates.setdefault(f"{kind}:{name}", threading.Event())

    def wait_until(self, condition: Any, what: str, timeout: float = 120.0) -> None:
        """Block until `condition()` holds (checked at every request); raise TimeoutError naming `what` if never."""
        with self.seen:
            if not self.seen.wait_for(condition, timeout):
                raise TimeoutError(f"the emulator never saw {what}")

    def wait_for_request(self, method: str, contains: str, count: int) -> None:
        """Block until `count` requests with `method` and a path containing `contains` were served."""
        self.wait_until(lambda: self.count(method, contains) >= count, f"{count} x {method} {contains}")

    def count(self, method: str, contains: str = "") -> int:
        """How many requests with `method` (and a path containing `contains`) were served."""
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and contains.lower() in p.lower())

    # ---------------------------------------------------------------- helpers
    def elapsed(self, key: str) -> float:
        """Seconds since the resource at `key` was created."""
        return time.monotonic() - self.created.get(key, time.monotonic())

    def new_operation(self, seconds: float, status: str = "Succeeded", probe: Any = None,
                      error: dict[str, Any] | None = None, online: bool = False) -> str:
        """Register a long-running operation finishing after `seconds` (or when `probe()` says so). An `online`
        one (an endpoint's or a deployment's) answers in the shape of Azure's mfeOperationsStatus."""
        op = uuid.uuid4().hex
        with self.lock:
            self.operations[op] = (time.monotonic() + seconds, status) if probe is None else (probe, "")
            if error is not None:
                self.operation_errors[op] = error
            if online:
                self.operation_bodies[op] = {
                    "id": f"/subscriptions/{self.subscription}/providers/Microsoft.MachineLearningServices/locations/"
                          f"{self.location}/mfeOperationsStatus/{op}",
                    "name": op, "startTime": clock.now().isoformat()}
        return f"{self.base_url}/operations/{op}?api-version=2024-01-01"

    def workspace_body(self) -> dict[str, Any]:
        """The workspace resource."""
        return {
            "id": self.workspace_path, "name": self.workspace, "type": "Microsoft.MachineLearningServices/workspaces",
            "location": self.location, "kind": "Default",
            "identity": {"type": "SystemAssigned"},
            "properties": {
                "workspaceId": "11111111-1111-1111-1111-111111111111", "provisioningState": "Succeeded",
                "discoveryUrl": f"{self.base_url}/discovery",
                "storageAccount": f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/"
                                  "providers/Microsoft.Storage/storageAccounts/emustore",
                # Azure's host is <region>.api.azureml.ms; here the workspace serves the MLflow API itself
                "mlFlowTrackingUri": f"azureml://127.0.0.1:{self.port}/mlflow/v1.0{self.workspace_path}",
                "systemDatastoresAuthMode": "accessKey" if self.behaviour.datastore_auth == "key" else "identity",
            },
        }


MUTATING = frozenset({"PUT", "POST", "PATCH", "DELETE"})
# Answered without a credential, as Azure's workspace discovery endpoint is (the SDK fetches it with a plain GET).
PUBLIC_PATHS = frozenset({"/discovery", "/metadata/endpoints", "/msi/token"})  # the token route checks its header
MAX_BODY = 512 << 20  # a data asset upload; the workspace keeps blobs in memory
MAX_SCORE_BODY = 1 << 20  # as the scoring server


def _bearer_ends_with(headers: Any, secret: str) -> bool:
    """Whether the request's bearer token's last segment is `secret` (compared in constant time)."""
    token = (headers.get("Authorization") or "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(token.rsplit(".", 1)[-1].encode(), secret.encode())


class _Handler(QuietHandler, HistoryRoutes, MlflowRoutes, RegistryRoutes, StorageRoutes):
    owner: Emulator

    # ------------------------------------------------------------ plumbing
    def _body(self, limit: int = MAX_BODY) -> bytes | None:
        """The request body (at most `limit` bytes); None after answering 400/413 for a bad or too large one."""
        length = self.content_length(limit)
        if length is None:
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True
            self.send_error(400, "request body shorter than its Content-Length")
            return None
        return body

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        if body is not None and not isinstance(body, bytes):
            self.send_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("x-ms-request-id", uuid.uuid4().hex)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    def _not_found(self, what: str) -> None:
        self._send(404, {"error": {"code": "ResourceNotFound", "message": f"{what} was not found."}})

    def _dispatch(self) -> None:
        emulator = self.owner
        url = urlsplit(self.path)
        host = (self.headers.get("Host") or "").split(":")[0]
        with emulator.lock:
            emulator.requests.append((self.command, url.path + ("?" + url.query if url.query else "")))
        with emulator.seen:
            emulator.seen.notify_all()
            fault = emulator.behaviour.fault_rate and emulator._random.random() < emulator.behaviour.fault_rate
        secret = emulator.behaviour.token_secret
        if secret and url.path not in PUBLIC_PATHS and not url.path.startswith("/score/") \
                and not _bearer_ends_with(self.headers, secret) and not emulator.signature_valid(url):
            self._send(401, error_body("AuthenticationFailed", "Authentication failed: the request needs the local "
                                                               "workspace's credential (Authorization: Bearer …)."),
                       {"WWW-Authenticate": "Bearer"})
            self.discard_body()  # answered first: nothing of an unauthenticated request is buffered
            return
        if url.path.startswith("/score/"):
            self._score(url.path.split("/")[2])
            return
        body = self._body()
        if body is None:
            return
        if fault and not url.path.startswith("/score") and ".blob." not in host:
            status = 429 if len(emulator.requests) % 2 else 503
            emulator.faults += 1
            self._send(status, {"error": {"code": "TooManyRequests" if status == 429 else "ServiceUnavailable",
                                          "message": "injected fault"}}, {"Retry-After": "0"})
            return
        if ".blob." in host:
            self._blob(host, url, body)
        elif url.path == "/discovery":
            self._send(200, {key: emulator.base_url for key in ("api", "catalog", "experimentation", "gallery",
                                                                 "history", "hyperdrive", "labeling", "modelmanagement",
                                                                 "pipelines", "studio")})
        elif url.path == "/metadata/endpoints":
            self._cloud_metadata()
        elif url.path == "/msi/token":
            self._managed_identity_token(url.query)
        elif url.path.startswith(MLFLOW_PREFIX):
            self._mlflow(url.path, url.query, body)
        elif url.path.startswith("/history/") and url.path.endswith("/details"):
            self._run_details(url.path.split("/")[-2])
        elif url.path.startswith("/logs/"):
            self._logs(url.path.split("/")[2])
        elif url.path.startswith("/operations/"):
            self._operation(url.path.rsplit("/", 1)[-1])
        elif url.path.startswith("/registrymanagement/"):
            self._registry_discovery(url.path.split("/")[4])
        elif "/registries/" in url.path:
            self._registry(url)
        elif url.path.rsplit("/", 1)[-1] in emulator.behaviour.forbidden:
            self._send(403, error_body("AuthorizationFailed", f"The client does not have authorization to perform "
                                                              f"action over scope '{url.path}'."))
        elif url.path.endswith("/vmSizes"):
            self._send(200, {"value": vm_sizes_body()})
        elif url.path.endswith("/usages"):
            self._send(200, {"value": usage_rows(emulator)})
        else:
            match = WS_RE.match(url.path)
            if not match:
                self._not_found(url.path)
            elif (match.group(1).lower(), match.group(2).lower(), match.group(3).lower()) != (
                    emulator.subscription.lower(), emulator.resource_group.lower(), emulator.workspace.lower()):
                self._send(404, error_body("ResourceNotFound", f"The Resource 'Microsoft.MachineLearningServices/"
                                                               f"workspaces/{match.group(3)}' under resource group "
                                                               f"'{match.group(2)}' was not found."))
            else:
                self._workspace(match.group(4) or "", url, body)
        if self.command in MUTATING and emulator.on_change is not None and not url.path.startswith("/score"):
            emulator.on_change()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _dispatch  # noqa: N815

    # ------------------------------------------------------------ service pieces (more in routes_*.py)
    def _score(self, endpoint: str) -> None:
        """The endpoint's scoring URI: the key is checked before a byte of the body is read."""
        e = self.owner
        path = f"{e.workspace_path}/onlineendpoints/{endpoint}".lower()
        given = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), e.behaviour.key.encode()):
            self._send(401, scoring_error(401, "missing or wrong key"))
            self.discard_body()
            return
        body = self._body(MAX_SCORE_BODY)
        if body is None:
            return
        if path not in e.resources:
            self._not_found(f"endpoint {endpoint}")
            return
        if e.behaviour.scoring_answer is not None:
            self._send(*e.behaviour.scoring_answer)
            return
        if e.executor is not None:
            deployment = self.headers.get("azureml-model-deployment")
            status, answer = e.executor.score(endpoint, deployment, body, self.headers.get("Authorization", ""))
            self._send(status, answer)
            return
        try:
            conversation, _ = parse_request(body)
            last = ([m["content"] for m in conversation if m["role"] == "user"] or [""])[-1]
        except ValueError as exc:
            self._send(400, scoring_error(400, str(exc)))
            return
        self._send(200, {"output": f"(emulated answer to: {last[:60]})"})

    # ------------------------------------------------------------ workspace resources
    def _workspace(self, sub: str, url: Any, body: bytes) -> None:
        e = self.owner
        if sub in ("", "/"):
            self._send(200, e.workspace_body())
            return
        key = (e.workspace_path + sub).lower()
        parts = sub.strip("/").split("/")
        kind = parts[0].lower()
        if self.command == "POST":
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
        if parts[-1].lower() == "listsecrets" and e.behaviour.datastore_auth != "key":
            self._send(400, error_body("UserError", "No secrets for credentials of type None."))
        elif parts[-1].lower() == "listsecrets":
            self._send(200, {"secretsType": "AccountKey", "key": "ZW11bGF0b3Ita2V5"})
        elif parts[-1].lower() == "listkeys":
            if key.rsplit("/", 1)[0] not in e.resources:
                self._not_found("endpoint")
            else:
                self._send(200, {"primaryKey": e.behaviour.key, "secondaryKey": e.behaviour.key[::-1]})
        elif parts[-1].lower() == "cancel":
            self._send(202, None)
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
            and name in e.behaviour.taken_endpoint_names
        if taken and e.behaviour.endpoint_conflict_in == "request":
            self._send(400, error_body("UserError", ENDPOINT_NAME_TAKEN))
            return
        with e.lock:
            if kind == "computes":
                # Recording test_aml_compute_create_and_delete: 201 Creating, vmSize comes back upper-cased.
                props["provisioningState"] = "Updating" if key in e.resources else "Creating"
                props.setdefault("properties", {})
                if isinstance(props["properties"].get("vmSize"), str):
                    props["properties"]["vmSize"] = props["properties"]["vmSize"].upper()
                headers["Azure-AsyncOperation"] = self._provisioning("compute", name, key, e.behaviour.latency.compute,
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
                         ["error"] if name in e.behaviour.failing_endpoints else None)
                headers["Azure-AsyncOperation"] = self._provisioning("endpoint", name, key, e.behaviour.latency.endpoint,
                                                                     error, {"scoringUri": f"{e.base_url}/score/{name}",
                                                                             "swaggerUri": f"{e.base_url}/swagger/{name}"})
            elif kind == "onlineendpoints":
                props["provisioningState"] = "Updating" if key in e.resources else "Creating"
                props.setdefault("scaleSettings", {"scaleType": "Default"})
                # Recording test_online_deployment_create (@04f5fde4): Azure fills what the request leaves out.
                props["requestSettings"] = {**DEPLOYMENT_REQUEST_DEFAULTS, **(props.get("requestSettings") or {})}
                for probe in ("livenessProbe", "readinessProbe"):
                    props[probe] = {**DEPLOYMENT_PROBE_DEFAULTS, **(props.get(probe) or {})}
                error = (error_body("DeploymentFailed", "the emulator was told to fail this deployment")["error"]
                         if name in e.behaviour.failing_deployments else None)
                headers["Azure-AsyncOperation"] = self._provisioning("deployment", name, key,
                                                                     e.behaviour.latency.deployment, error, {})
            elif kind == "jobs":
                if key in e.resources:
                    self._send(400, {"error": {"code": "UserError", "message": f"Job {name} already exists and "
                                                                               "cannot be modified."}})
                    return
                refused = job_refusal(props)
                if refused:
                    self._send(400, error_body("UserError", refused))
                    return
                props.update(status="NotStarted", services={"Studio": {
                    "endpoint": f"https://ml.azure.com/runs/{name}?wsid={e.workspace_path}", "jobServiceType":
                    "Studio"}})
            elif kind == "models" and len(parts) == 4 and self._unfinished_job_output(props):
                self._send(400, error_body("UserError", self._unfinished_job_output(props)))
                return
            elif kind in ("models", "data") and len(parts) == 4:
                props.setdefault("flavors", {}) if kind == "models" else None
                props.setdefault("isArchived", False)
            if key not in e.resources:
                e.created[key] = time.monotonic()
            e.resources[key] = resource
        if e.executor is not None and kind == "jobs":
            e.executor.submit_job(name, resource)
        if e.executor is not None and kind == "onlineendpoints" and len(parts) == 4:
            e.executor.start_deployment(parts[1], name, resource)
            headers["Azure-AsyncOperation"] = self._provisioning(
                "deployment", name, key, 0, None, {}, source=lambda: e.executor.deployment_status(parts[1], name))
        self._send(status, self._view(kind, key, resource), headers)

    def _provisioning(self, kind: str, name: str, key: str, seconds: float, error: dict[str, Any] | None,
                      on_success: dict[str, Any], source: Any = None) -> str:
        """An operation that ends Succeeded (or Failed with `error`) after `seconds` or when the test's gate opens;
        the resource's provisioningState (and `on_success` properties) follow it."""
        e = self.owner
        gate = e.behaviour.gates.get(f"{kind}:{name}")
        deadline = time.monotonic() + seconds

        def probe() -> str:
            with e.lock:
                e.polls[f"{kind}:{name}"] = e.polls.get(f"{kind}:{name}", 0) + 1
            if (gate is not None and not gate.is_set()) or (gate is None and time.monotonic() < deadline):
                return "InProgress"
            state = source() if source is not None else ("Failed" if error else "Succeeded")
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
        return e.new_operation(0, probe=probe, error=error, online=kind in ("endpoint", "deployment"))

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
        if e.executor is not None and key.split("/")[-2] == "onlineendpoints":
            e.executor.stop_endpoint(key.rsplit("/", 1)[-1])
        with e.lock:
            existed = e.resources.pop(key, None)
            for other in [k for k in e.resources if k.startswith(key + "/")]:
                e.resources.pop(other)
        if existed is None:
            self._send(204, None)
        else:
            self._send(202, None, {"Location": e.new_operation(0.0), "Azure-AsyncOperation":
                                   e.new_operation(0.0)})

    def _get(self, kind: str, parts: list[str], key: str, sub: str, url: Any) -> None:
        e = self.owner
        if kind == "datastores" and len(parts) == 2:
            self._send(200, {"id": e.workspace_path + sub, "name": parts[1], "type":
                             "Microsoft.MachineLearningServices/workspaces/datastores", "properties": {
                                 "datastoreType": "AzureBlob", "accountName": "emustore",
                                 "containerName": "azureml-blobstore", "endpoint": e.storage_suffix,
                                 "protocol": "https", "isDefault": True,
                                 "credentials": {"credentialsType": "AccountKey" if e.behaviour.datastore_auth == "key"
                                                 else "None"}}})
            return
        with e.lock:
            if key in e.resources:
                resource = e.resources[key]
                self._send(200, self._view(kind, key, resource))
                return
            children = [r for k, r in e.resources.items()
                        if k.startswith(key + "/") and k.count("/") == key.count("/") + 1]
        if children or kind in ("models", "data", "computes", "onlineendpoints", "jobs") and (
                len(parts) in (1, 3) or parts[-1].lower() in ("versions", "deployments")):
            if parts[-1].lower() == "versions":
                children.sort(key=lambda r: e.created.get(r["id"].lower(), 0), reverse=True)
                top = parse_qs(url.query).get("$top")
                children = children[:int(top[0])] if top else children
            self._send(200, {"value": [self._view(kind, r["id"].lower(), r) for r in children]})
            return
        self._not_found(sub)

