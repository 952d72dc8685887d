"""The emulated workspace: an HTTPS server that answers the Azure ML calls the runner makes.

Generic ARM storage ("PUT stores, GET returns it, else 404") plus what the SDK needs beyond
that: registry discovery and registry models, datastore secrets and the three blob calls of a
local-file upload, long-running operations the Azure way (Azure-AsyncOperation / Location
polling), VM sizes and quota usage, pipeline jobs moving through their states, endpoint keys and a
scoring URI that checks the key. Jobs and deployments are run by the backend it is given
(generator/emulator/backend.py): the local runtime (`--target local`) really trains and serves; the tests'
gated backend only moves states. It injects the faults it is given (faults.py) and reads its settings
(settings.py). It does not reproduce the service's own validation.

Split by concern: this module holds the Emulator, the store's read API and the request dispatch;
routes_arm.py (ARM resources, their provisioning and the scoring route), routes_serverless.py (serverless
endpoints, marketplace subscriptions and the chat completions route), finetuning.py (a FineTuning job's answers and the
model it registers), routes_data.py (the datastore, a finished
job's named outputs on it and the data plane's resolution of their ids), routes_history.py (operations, job states,
run details, logs, child runs, run data), routes_mlflow.py, routes_registry.py (registry discovery and models) and
routes_storage.py (blobs) are mixins of its handler; tls.py handles connections.
"""

from __future__ import annotations

import copy
import hmac
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from generator import clock
from generator.emulator import finetuning
from generator.emulator.answers import error_body
from generator.emulator.backend import Backend
from generator.emulator.faults import Faults
from generator.emulator.quota import usage_rows, vm_sizes_body
from generator.emulator.routes_arm import UPLOAD_PREFIX, WS_RE, ArmRoutes
from generator.emulator.routes_data import DataRoutes
from generator.emulator.routes_history import HistoryRoutes
from generator.emulator.routes_mlflow import MLFLOW_PREFIX, MlflowRoutes
from generator.emulator.routes_registry import RegistryRoutes, registry_models
from generator.emulator.routes_serverless import CHAT_PREFIX, ServerlessRoutes
from generator.emulator.routes_storage import StorageRoutes
from generator.emulator.routing import Router
from generator.emulator.serverless_state import WORKSPACE_ID, ServerlessState
from generator.emulator.settings import Settings
from generator.emulator.tls import QuietHandler, TLSServer, server_context

PROVIDER = "providers/Microsoft.MachineLearningServices"


class Emulator(ServerlessState):
    """State and request handling; `start()` serves it over HTTPS on 127.0.0.1."""

    def __init__(self, cert_pem: str, key_pem: str, backend: Backend, settings: Settings | None = None,
                 faults: Faults | None = None, subscription: str = "00000000-0000-0000-0000-000000000000",
                 resource_group: str = "rg", workspace: str = "ws", location: str = "westeurope"):
        self.settings = settings or Settings()
        if not self.settings.registry_models:
            self.settings.registry_models = registry_models()
        self.fault_plan = faults or Faults()
        self.backend = backend
        self.subscription, self.resource_group, self.workspace, self.location = (
            subscription, resource_group, workspace, location)
        self.resources: dict[str, dict[str, Any]] = {}
        self.created: dict[str, float] = {}
        self.operations: dict[str, tuple[float, str]] = {}
        self.operation_errors: dict[str, dict[str, Any]] = {}
        self.operation_bodies: dict[str, dict[str, Any]] = {}  # endpoint and deployment operations: id, name, start
        self.polls: dict[str, int] = {}  # "<kind>:<name>" -> how often its operation was polled
        self.blobs: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.served = 0  # requests received
        self.faults = 0  # requests answered with an injected fault
        self.lock = threading.RLock()
        self._random = random.Random(self.fault_plan.fault_seed)
        self._cert, self._key = cert_pem, key_pem
        self.server: TLSServer | None = None
        self.port = 0
        self.on_request: Callable[[str, str], None] | None = None  # called with (method, path?query) as one arrives
        self.on_change: Callable[[], None] | None = None  # called after every request that may change state
        self.mlflow_store: str | None = None  # tracking URI of the store the MLflow routes answer from
        self.router = Router()
        self.scored: Counter[tuple[str, str]] = Counter()  # (endpoint, deployment) -> requests it answered
        self.chats: Counter[str] = Counter()  # serverless endpoint -> chat completions it answered
        self.finetunes_pending: set[str] = set()  # FineTuning jobs whose model is not registered yet (settle)
        self.mirrored: Counter[tuple[str, str]] = Counter()  # (endpoint, deployment) -> copies it got
        backend.attach(self)

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        """Serve on an ephemeral 127.0.0.1 port in a background thread."""
        class Handler(_Handler):
            """The request handler of this emulator."""

        Handler.owner = self

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
        secret = self.settings.token_secret
        if not secret:
            return self.base_url + path
        return f"{self.base_url}{path}?sig={hmac.new(secret.encode(), path.encode(), 'sha256').hexdigest()}"

    def signature(self, path: str) -> str:
        """The signature of `path` (a placeholder when the workspace requires no credential)."""
        secret = self.settings.token_secret
        return hmac.new(secret.encode(), path.encode(), "sha256").hexdigest() if secret else "emulated"

    def signature_valid(self, url: Any) -> bool:
        """Whether `url` (split) carries the signature `signed_url` gave its path; under a code upload's folder
        (`/azureml-blobstore/LocalUpload/<name>/<version>`, whose SAS startPendingUpload hands out), the folder's."""
        secret = self.settings.token_secret
        given = parse_qs(url.query).get("sig", [""])[0]
        path = url.path
        if path.startswith(UPLOAD_PREFIX):
            path = "/".join(path.split("/")[:5])
        return bool(secret and given) and hmac.compare_digest(given, self.signature(path))

    # ---------------------------------------------------------------- the store's read API (backend.WorkspaceStore)
    def resource(self, arm_id: str) -> dict[str, Any] | None:
        """A copy of the resource stored at `arm_id` (any case), or None."""
        with self.lock:
            found = self.resources.get(arm_id.lower())
            return copy.deepcopy(found) if found is not None else None

    def blob(self, path: str) -> bytes | None:
        """The content of the blob at `path` (`/<container>/<name>`), or None."""
        with self.lock:
            found = self.blobs.get(path)
        return found[0] if found is not None else None

    def endpoint(self, name: str) -> dict[str, Any] | None:
        """A copy of online endpoint `name` of this workspace, or None."""
        return self.resource(f"{self.workspace_path}/onlineendpoints/{name}")

    @property
    def scoring_key(self) -> str:
        """The key every endpoint of the workspace accepts."""
        return self.settings.key

    def snapshot(self) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[bytes, dict[str, str]]]]:
        """(resources, blobs) as they are now: copies to save."""
        with self.lock:
            return copy.deepcopy(self.resources), dict(self.blobs)

    def load(self, resources: dict[str, dict[str, Any]], blobs: dict[str, tuple[bytes, dict[str, str]]]) -> None:
        """Add saved resources and blobs (a restart); a FineTuning job whose model is not registered yet is
        settled again. A model version counts as the job's by its `jobName` or by its `modelUri` (the job's output):
        a tag update is a PUT from azure-ai-ml's Model, which sends the path but no job_name."""
        with self.lock:
            self.resources.update(resources)
            self.blobs.update(blobs)
            versions = [r["properties"] for k, r in self.resources.items() if "/models/" in k and "/versions/" in k]
            registered = {str(p.get("jobName")) for p in versions} | {
                uri.split("/")[3] for p in versions
                if (uri := str(p.get("modelUri") or "")).startswith("azureml://jobs/") and uri.count("/") >= 5}
            self.finetunes_pending |= {r["name"] for k, r in self.resources.items() if k.count("/") == self.
                                       workspace_path.count("/") + 2 and "/jobs/" in k and finetuning.is_finetuning(
                                           r.get("properties") or {}) and r["name"] not in registered}

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
                "workspaceId": WORKSPACE_ID, "provisioningState": "Succeeded",
                "discoveryUrl": f"{self.base_url}/discovery",
                "storageAccount": f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/"
                                  "providers/Microsoft.Storage/storageAccounts/emustore",
                # Azure's host is <region>.api.azureml.ms; here the workspace serves the MLflow API itself
                "mlFlowTrackingUri": f"azureml://127.0.0.1:{self.port}/mlflow/v1.0{self.workspace_path}",
                "systemDatastoresAuthMode": "accessKey" if self.settings.datastore_auth == "key" else "identity",
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


class _Handler(QuietHandler, ArmRoutes, DataRoutes, HistoryRoutes, MlflowRoutes, RegistryRoutes, ServerlessRoutes,
               StorageRoutes):
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
        plan = emulator.fault_plan
        with emulator.lock:
            emulator.served += 1
            served = emulator.served
            fault = plan.fault_rate and emulator._random.random() < plan.fault_rate
        if emulator.on_request is not None:
            emulator.on_request(self.command, url.path + ("?" + url.query if url.query else ""))
        secret = emulator.settings.token_secret
        scoring = url.path.startswith(("/score/", CHAT_PREFIX))  # their own key: checked by the route
        if secret and url.path not in PUBLIC_PATHS and not scoring \
                and not _bearer_ends_with(self.headers, secret) and not emulator.signature_valid(url):
            self._send(401, error_body("AuthenticationFailed", "Authentication failed: the request needs the local "
                                                               "workspace's credential (Authorization: Bearer …)."),
                       {"WWW-Authenticate": "Bearer"})
            self.discard_body()  # answered first: nothing of an unauthenticated request is buffered
            return
        if url.path.startswith("/score/"):
            self._score(url.path.split("/")[2])
            return
        if url.path.startswith(CHAT_PREFIX):
            self._chat(url.path)
            return
        emulator.settle()
        body = self._body()
        if body is None:
            return
        if fault and not url.path.startswith("/score") and ".blob." not in host:
            status = 429 if served % 2 else 503
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
        elif url.path.startswith("/history/") and url.path.endswith("/rundata") and self.command == "POST":
            self._run_data(body)
        elif url.path.startswith("/data/") and url.path.endswith("/dataversion/batchGetResolvedUris"):
            self._batch_resolve(body)
        elif url.path.startswith("/logs/"):
            self._logs(url.path.split("/")[2])
        elif url.path.startswith("/operations/"):
            self._operation(url.path.rsplit("/", 1)[-1])
        elif url.path.startswith("/registrymanagement/"):
            self._registry_discovery(url.path.split("/")[4])
        elif "/registries/" in url.path:
            self._registry(url)
        elif url.path.rsplit("/", 1)[-1] in plan.forbidden:
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
