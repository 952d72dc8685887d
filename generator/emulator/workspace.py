"""The local workspace: an HTTPS server that answers the Azure ML calls the runner makes.

Generic ARM storage ("PUT stores, GET returns it, else 404") plus what the SDK needs beyond
that: registry discovery and registry models, datastore secrets and the three blob calls of a
local-file upload, long-running operations the Azure way (Azure-AsyncOperation / Location
polling), VM sizes and quota usage, a pipeline job moving Queued → Running → Completed (or
Failed), endpoint keys and a scoring URI that checks the key. It can inject latency and 429/503
faults. Alone it is the tests' emulator (jobs and deployments only change state); with a
LocalExecutor attached (`--target local`) jobs really train and deployments really serve.
It does not reproduce the service's own validation.

Split by concern: this module holds the Emulator and the request dispatch; routes_arm.py (ARM
resources, their provisioning and the scoring route), routes_history.py (operations, job states, run details, logs, child runs), routes_registry.py (registry discovery
and models) and routes_storage.py (blobs) are mixins of its handler; tls.py handles connections and
persist.py the state a daemon keeps across restarts.
"""

from __future__ import annotations

import hmac
import json
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from generator import clock
from generator.emulator.routes_arm import UPLOAD_PREFIX, WS_RE, ArmRoutes, error_body, usage_rows, vm_sizes_body
from generator.emulator.routes_history import HistoryRoutes
from generator.emulator.routes_mlflow import MLFLOW_PREFIX, MlflowRoutes
from generator.emulator.routes_registry import RegistryRoutes, registry_models
from generator.emulator.routes_storage import StorageRoutes
from generator.emulator.routing import Router
from generator.emulator.tls import QuietHandler, TLSServer, server_context

PROVIDER = "providers/Microsoft.MachineLearningServices"
# ARM resource types as the recordings show them (test_online_deployment_create, test_aml_compute_create_and_delete).
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
    failing_scoring: set[str] = field(default_factory=set)  # deployments whose scoring answers 500 (a bad model)
    # jobs whose first submission is stored but answered 500, as a connection lost after the service accepted it:
    # the client's retry then finds the job there
    lost_job_answers: set[str] = field(default_factory=set)
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
    # must carry a bearer token ending in it (generator/emulator/connect.py LocalCredential), or gets a 401.
    token_secret: str | None = None
    # (status, body) the emulated endpoint answers every scoring request with, as a model that refuses would.
    scoring_answer: tuple[int, Any] | None = None
    # Explicit gates a test opens: "job:<name>" keeps a job Running, "endpoint:<name>",
    # "deployment:<name>" and "compute:<name>" keep the create operation InProgress, until set.
    gates: dict[str, threading.Event] = field(default_factory=dict)
    # Figures an evaluation job (a pipeline job with a compute_metrics node) logs when it completes, by job name: the
    # emulator writes them to `Emulator.mlflow_store` as Azure lays them out (routes_mlflow.log_evaluation_runs).
    evaluation_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    # Retry-After on operations in progress: Azure's value is not known. Read: the operation polls of recording
    # test_online_deployment_create (Azure/azure-sdk-assets @04f5fde4) carry no Retry-After header, and the SDK polled
    # there every 30 s (endpoint) and 5 s (deployment). Searched: search (docs) "Azure-AsyncOperation Retry-After header
    # long running operation polling interval Azure Resource Manager" finds ARM's rule that 201/202 answers should carry
    # one (typespec-azure retry-after lint) and no Azure ML value. The emulator asks for a short wait so tests are quick.
    poll_after: float = 0.05


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
        self.router = Router()
        self.scored: Counter[tuple[str, str]] = Counter()  # (endpoint, deployment) -> requests it answered
        self.mirrored: Counter[tuple[str, str]] = Counter()  # (endpoint, deployment) -> copies it got
        self.evaluations_logged: set[str] = set()  # evaluation jobs whose figures are in mlflow_store

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> "Emulator":
        """Serve on an ephemeral 127.0.0.1 port in a background thread."""
        emulator = self

        class Handler(_Handler):
            owner = emulator

        self.server = TLSServer(Handler, server_context(self._cert, self._key))
        self.port = self.server.server_address[1]
        # shutdown() waits up to one poll interval; the default 0.5 s is paid by every test that stops an emulator
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
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

    def signature(self, path: str) -> str:
        """The signature of `path` (a placeholder when the workspace requires no credential)."""
        secret = self.behaviour.token_secret
        return hmac.new(secret.encode(), path.encode(), "sha256").hexdigest() if secret else "emulated"

    def signature_valid(self, url: Any) -> bool:
        """Whether `url` (split) carries the signature `signed_url` gave its path; under a code upload's folder
        (`/azureml-blobstore/LocalUpload/<name>/<version>`, whose SAS startPendingUpload hands out), the folder's."""
        secret = self.behaviour.token_secret
        given = parse_qs(url.query).get("sig", [""])[0]
        path = url.path
        if path.startswith(UPLOAD_PREFIX):
            path = "/".join(path.split("/")[:5])
        return bool(secret and given) and hmac.compare_digest(given, self.signature(path))

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


def _bearer_ends_with(headers: Any, secret: str) -> bool:
    """Whether the request's bearer token's last segment is `secret` (compared in constant time)."""
    token = (headers.get("Authorization") or "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(token.rsplit(".", 1)[-1].encode(), secret.encode())


class _Handler(QuietHandler, ArmRoutes, HistoryRoutes, MlflowRoutes, RegistryRoutes, StorageRoutes):
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
        elif url.path.startswith("/history/") and url.path.endswith("/children"):
            self._run_children(url.path.split("/")[-2])
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
