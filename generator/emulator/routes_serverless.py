"""Serverless endpoints and marketplace subscriptions of the workspace, and a serverless endpoint's chat completions
route, as the emulated workspace answers them.

azure-ai-ml 1.35.2 sends (operations/_serverless_endpoint_operations.py, _marketplace_subscription_operations.py, on
the arm_ml_service client at api-version 2024-01-01-preview):
- `PUT …/serverlessEndpoints/<name>` `{location, sku: {name: Consumption}, tags, properties: {modelSettings:
  {modelId}}}` (`ServerlessEndpoint._to_rest_object`), polled through Azure-AsyncOperation (201) with ARM's default
  polling, then GET; `GET …/serverlessEndpoints[/<name>]`; `POST …/serverlessEndpoints/<name>/listKeys`;
  `DELETE …` (202 with Location, or 204);
- `PUT …/marketplaceSubscriptions/<name>` `{properties: {modelId}}`, GET, list and DELETE alike;
- scoring: `POST {inferenceEndpoint.uri}/v1/chat/completions` with `Authorization: <key>` (azureml-examples
  chat_completion_with_model_as_service.ipynb @085cd6ea; the reference page also names `Bearer <key>`: both pass).
The answers' keys are the REST models' (arm_ml_service models ServerlessEndpoint, ServerlessEndpointProperties,
MarketplaceSubscriptionProperties) as Azure/azure-rest-api-specs …/preview/2024-01-01-preview/examples/Workspace/
ServerlessEndpoint/ and MarketplaceSubscription/ show them; **no public recording** of either was found, so their
values (states, the scoring URI's form, the marketplace plan's ids) are the emulator's own (docs/runner.md).

A mixin of the workspace's request handler (generator/emulator/workspace.py): `self.owner` is the Emulator.
"""

from __future__ import annotations

import copy
import hmac
import time
from collections.abc import Callable
from email.message import Message
from typing import Any

from generator import catalog
from generator.emulator.answers import chat_error, error_body
from generator.emulator.finetuning import REGISTRY_MODEL_RE

SERVERLESS_KINDS = frozenset({"serverlessendpoints", "marketplacesubscriptions"})
CHAT_PREFIX = "/serverless/"  # the emulator's inference URI of endpoint <name>: <base>/serverless/<name>
CHAT_ROUTE = "v1/chat/completions"
MAX_CHAT_BODY = 1 << 20  # as the online scoring route (routes_arm.py MAX_SCORE_BODY)
TYPES = {"serverlessendpoints": "Microsoft.MachineLearningServices/workspaces/serverlessEndpoints",
         "marketplacesubscriptions": "Microsoft.MachineLearningServices/workspaces/marketplaceSubscriptions"}
# "Only one deployment is permitted for a custom model" (MicrosoftDocs/azure-ai-docs articles/ai-foundry/how-to/
# fine-tune-serverless.md @00fd7acc): a second serverless endpoint for the same tuned model is refused (the words
# around the quote are the emulator's).
ONE_DEPLOYMENT = ("Only one deployment is permitted for a custom model: serverless endpoint {other} already serves "
                  "{model}.")


class ServerlessRoutes:
    """Handler methods for serverless endpoints, marketplace subscriptions and the chat completions route."""

    owner: Any  # the Emulator: workspace.py imports this module, so its type is not named here
    command: str
    headers: Message
    _send: Callable[..., None]  # (status, body=None, headers=None)
    _not_found: Callable[[str], None]
    _body: Callable[..., bytes | None]  # (limit=MAX_BODY)
    _provisioning: Callable[..., str]  # routes_arm.py
    discard_body: Callable[[], None]  # generator/emulator/tls.py QuietHandler

    def _throttled(self) -> bool:
        """Whether this chat completion is one of the next `Faults.chat_throttled` (each counted once)."""
        e = self.owner
        with e.lock:
            if e.fault_plan.chat_throttled <= 0:
                return False
            e.fault_plan.chat_throttled -= 1
            return True

    def _serverless_resource(self, kind: str, parts: list[str], key: str, sub: str, body: dict[str, Any]) -> None:
        """PUT, GET (one or the list), DELETE and listKeys of serverless endpoints and marketplace subscriptions."""
        e = self.owner
        if self.command == "GET" and len(parts) == 1:
            with e.lock:
                found = [copy.deepcopy(r) for k, r in e.resources.items() if k.startswith(key + "/")
                         and k.count("/") == key.count("/") + 1]
            self._send(200, {"value": found})
        elif self.command == "GET" and len(parts) == 2:
            found = e.resource(key)
            self._send(200, found) if found is not None else self._not_found(sub)
        elif self.command == "PUT" and len(parts) == 2:
            (self._put_serverless if kind == "serverlessendpoints" else self._put_subscription)(parts[1], key, sub,
                                                                                                  body)
        elif self.command == "DELETE" and len(parts) == 2:
            if kind == "serverlessendpoints":
                e.backend.stop_serverless(parts[1])
            with e.lock:
                existed = e.resources.pop(key, None)
            # azure-rest-api-specs …/2024-01-01-preview/examples/Workspace/ServerlessEndpoint/delete.json: 202 with a
            # location header (an mfeOperationResults URL), or 204
            self._send(202, None, {"Location": e.new_operation(0.0)}) if existed is not None else self._send(204, None)
        elif self.command == "POST" and parts[-1].lower() == "listkeys" and kind == "serverlessendpoints":
            if key.rsplit("/", 1)[0] not in e.resources:
                self._not_found(sub)
            else:  # the workspace's one key, as its online endpoints (Settings.key)
                self._send(200, {"primaryKey": e.settings.key, "secondaryKey": e.settings.key[::-1]})
        else:
            self._not_found(sub)

    def _put_serverless(self, name: str, key: str, sub: str, body: dict[str, Any]) -> None:
        """A serverless endpoint for a model of this workspace or of a registry: 201 Creating (200 Updating) with
        Azure-AsyncOperation; the backend serves it; its operation ends as the backend says (or Failed for a name
        in Faults.failing_endpoints), held by the gate "serverless:<name>"; then provisioningState Succeeded,
        endpointState Online and `inferenceEndpoint.uri` <base>/serverless/<name>."""
        e = self.owner
        model_id = str(((body.get("properties") or {}).get("modelSettings") or {}).get("modelId") or "")
        model, problem = e.serverless_model(model_id)
        if model is not None and problem is None:
            other = e.serving(model, besides=name)
            problem = ONE_DEPLOYMENT.format(other=other, model=model_id) if other else None
        if model is None or problem is not None:
            self._send(400, error_body("UserError", problem or f"modelSettings.modelId {model_id!r} is not a model"))
            return
        resource = copy.deepcopy(body)
        resource.update(id=e.workspace_path + sub, name=name, type=TYPES["serverlessendpoints"])
        resource.setdefault("location", e.location)
        props = resource.setdefault("properties", {})
        with e.lock:
            before = (e.resources.get(key) or {}).get("properties") or {}
            props.setdefault("authMode", "Key")  # azure-ai-ml drops a YAML auth_mode; Key is what listKeys serves
            props.update(provisioningState="Updating" if before else "Creating",
                         endpointState=before.get("endpointState") or "Creating",
                         inferenceEndpoint=before.get("inferenceEndpoint"),
                         marketplaceSubscriptionId=e.subscription_of(model))
            props.setdefault("contentSafety", None)
            if key not in e.resources:
                e.created[key] = time.monotonic()
            e.resources[key] = resource
        e.backend.start_serverless(name, copy.deepcopy(resource), model)
        error = (error_body("EndpointProvisioningFailed", "the emulator was told to fail this endpoint")["error"]
                 if name in e.fault_plan.failing_endpoints else None)
        operation = self._provisioning(
            "serverless", name, key, e.fault_plan.latency.endpoint, error,
            {"endpointState": "Online",
             "inferenceEndpoint": {"uri": f"{e.base_url}{CHAT_PREFIX}{name}", "headers": {}}},
            source=lambda: e.backend.serverless_status(name))
        self._send(200 if before else 201, e.resource(key), {"Azure-AsyncOperation": operation, "Retry-After": "0"})

    def _put_subscription(self, name: str, key: str, sub: str, body: dict[str, Any]) -> None:
        """A marketplace subscription to a partner model: 201 Creating with Azure-AsyncOperation, status
        PendingFulfillmentStart until it succeeds, then Subscribed (the states of azure-rest-api-specs …/
        MarketplaceSubscription/createOrUpdate.json). Refused: one that exists ("this will throw exception if the
        subscription already exists or subscription is not required (for example, if the model is not in the
        marketplace like Phi family)": chat_completion_with_model_as_service.ipynb @085cd6ea), and one for a model
        that needs none (serverless.yml); the words are the emulator's. The plan's ids are not in any public source:
        the registry as publisher, the model as offer and plan."""
        e = self.owner
        model_id = str((body.get("properties") or {}).get("modelId") or "")
        match = REGISTRY_MODEL_RE.match(model_id)
        facts = catalog.serverless_model(match.group(1), match.group(2)) if match and not match.group(3) else None
        if key in e.resources:
            problem = f"The marketplace subscription {name} already exists."
        elif facts is None or not facts.marketplace_subscription:
            problem = (f"modelId {model_id!r}: no marketplace subscription is required (or possible) for it; give a "
                       "partner model as azureml://registries/<registry>/models/<name>, without a version.")
        else:
            problem = None
        if problem is not None:
            self._send(400, error_body("UserError", problem))
            return
        assert match is not None  # a model the catalog names matched the registry form
        resource = {"id": e.workspace_path + sub, "name": name, "type": TYPES["marketplacesubscriptions"],
                    "properties": {"modelId": model_id,
                                   "marketplacePlan": {"publisherId": match.group(1), "offerId": match.group(2),
                                                       "planId": match.group(2)},
                                   "marketplaceSubscriptionStatus": "PendingFulfillmentStart",
                                   "provisioningState": "Creating"}}
        with e.lock:
            e.created[key] = time.monotonic()
            e.resources[key] = resource
        operation = self._provisioning("subscription", name, key, e.fault_plan.latency.endpoint, None,
                                       {"marketplaceSubscriptionStatus": "Subscribed"})
        self._send(201, copy.deepcopy(resource), {"Azure-AsyncOperation": operation, "Retry-After": "0"})

    def _chat(self, path: str) -> None:
        """`POST <base>/serverless/<name>/v1/chat/completions`: the key first (before a byte of the body is read),
        then the route, the endpoint, and the backend's answer; errors in the chat completions reference's shapes."""
        e = self.owner
        parts = path.split("/", 3)  # "", "serverless", name, rest
        name, route = parts[2], parts[3] if len(parts) > 3 else ""
        given = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if not given or not hmac.compare_digest(given.encode(), e.settings.key.encode()):
            self._send(401, chat_error(401, "Access token is missing or invalid: send the endpoint's key as "
                                            "`Authorization: <key>`"), {"x-ms-error-code": "Unauthorized"})
            self.discard_body()
            return
        body = self._body(MAX_CHAT_BODY)
        if body is None:
            return
        resource = e.resource(f"{e.workspace_path}/serverlessendpoints/{name}")
        if self.command != "POST" or route.rstrip("/") != CHAT_ROUTE:
            self._send(404, chat_error(404, f"POST <scoring uri>/{CHAT_ROUTE} is the route this model serves"))
        elif resource is None or resource["properties"].get("provisioningState") != "Succeeded":
            self._send(404, chat_error(404, f"no serverless endpoint {name} serves in this workspace"))
        elif e.fault_plan.scoring_answer is not None:
            self._send(*e.fault_plan.scoring_answer)
        elif self._throttled():
            self._send(429, chat_error(429, "Rate limit is exceeded. Try again later."), {"Retry-After": "0"})
        else:
            with e.lock:
                e.chats[name.lower()] += 1
            self._send(*e.backend.chat(name, body, self.headers.get("extra-parameters")))
