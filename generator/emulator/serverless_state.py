"""The emulated workspace's state for the serverless route: the models FineTuning jobs register when they complete,
what a serverless endpoint's model id names, which endpoint serves a model, and the marketplace subscriptions.

A mixin of the Emulator (generator/emulator/workspace.py), which holds the store these read and write.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Protocol

from generator.emulator import finetuning
from generator.emulator.backend import Backend
from generator.emulator.routes_serverless import TYPES

WORKSPACE_ID = "11111111-1111-1111-1111-111111111111"  # the workspace's workspaceId (what a workspace model id names)
# A workspace model's id as a serverless endpoint names it (azureml-examples cli/foundation-models/system/distillation/
# conversation/serverless_endpoint.yaml @3ee82b8e; the notebook fills it from workspace.location and _workspace_id)
WORKSPACE_MODEL_RE = re.compile(r"^azureml://locations/([^/]+)/workspaces/([^/]+)/models/([^/]+)/versions/([^/]+)$",
                                re.I)


class _Workspace(Protocol):
    """What these methods read of the Emulator."""

    resources: dict[str, dict[str, Any]]
    created: dict[str, float]
    lock: threading.RLock
    backend: Backend
    location: str
    finetunes_pending: set[str]

    @property
    def workspace_path(self) -> str:
        """ARM id of the workspace."""

    def resource(self, arm_id: str) -> dict[str, Any] | None:
        """A copy of the resource stored at `arm_id`, or None."""

    def subscribed_models(self: _Workspace) -> set[str]:
        """The model ids of the workspace's marketplace subscriptions."""

    def serverless_model(self: _Workspace, model_id: str) -> tuple[str | None, str | None]:
        """What a serverless endpoint's model id serves, or why it cannot."""


class ServerlessState:
    """The Emulator's methods for the serverless route (a mixin: each reads the Emulator as a `_Workspace`)."""

    def settle(self: _Workspace) -> None:
        """Register the model of every FineTuning job that has completed since the last request (as the service
        does when the job ends: finetuning.py registered_model), at the next version of its name."""
        with self.lock:
            pending = sorted(self.finetunes_pending)
        for name in pending:
            status = self.backend.job_status(name)[0]
            if status in ("Failed", "Canceled"):
                with self.lock:
                    self.finetunes_pending.discard(name)
            if status != "Completed":
                continue
            with self.lock:
                job = self.resources.get(f"{self.workspace_path}/jobs/{name}".lower())
                output = finetuning.model_output(job["properties"]) if job else None
                if job is not None and output is not None:
                    prefix = f"{self.workspace_path}/models/{output[0]}/versions/".lower()
                    version = finetuning.next_version([k[len(prefix):] for k in self.resources if k.startswith(prefix)])
                    model = finetuning.registered_model(self.workspace_path, name, job["properties"], version)
                    self.resources[model["id"].lower()] = model
                    self.created[model["id"].lower()] = time.monotonic()
                self.finetunes_pending.discard(name)

    def subscribed_models(self: _Workspace) -> set[str]:
        """The model ids of the workspace's marketplace subscriptions."""
        with self.lock:
            return {str(r["properties"].get("modelId")) for r in self.resources.values()
                    if r.get("type") == TYPES["marketplacesubscriptions"]}

    def subscription_of(self: _Workspace, model: str) -> str | None:
        """The id of the marketplace subscription to registry model `model`, or None."""
        with self.lock:
            return next((r["id"] for r in self.resources.values() if r.get("type") == TYPES[
                "marketplacesubscriptions"] and r["properties"].get("modelId") == model), None)

    def serverless_model(self: _Workspace, model_id: str) -> tuple[str | None, str | None]:
        """(what serverless endpoint `model_id` serves, None) — the ARM id of a model version of this workspace, or a
        registry model `azureml://registries/<registry>/models/<name>` of the serverless route (serverless.yml) — or
        (None, why it cannot). A model of another workspace (Azure deploys one across regions: the notebook's "Option
        2") is refused here: this workspace serves its own."""
        from generator import catalog

        found = WORKSPACE_MODEL_RE.match(model_id)
        if found:
            location, workspace, name, version = found.groups()
            if (location.lower(), workspace) != (self.location.lower(), WORKSPACE_ID):
                return None, (f"modelSettings.modelId {model_id} names workspace {workspace} in {location}: this "
                              f"workspace is {WORKSPACE_ID} in {self.location} and serves its own models")
            path = f"{self.workspace_path}/models/{name}/versions/{version}"
            if self.resource(path) is None:
                return None, f"modelSettings.modelId {model_id}: there is no model {name} version {version} here"
            return path, None
        registry = finetuning.REGISTRY_MODEL_RE.match(model_id)
        if registry is None or registry.group(3):
            return None, (f"modelSettings.modelId {model_id!r} is neither azureml://locations/<location>/workspaces/"
                          "<workspace id>/models/<name>/versions/<version> nor a registry model without a version")
        if catalog.serverless_model(registry.group(1), registry.group(2)) is None:
            return None, (f"{registry.group(2)}: the emulated workspace serves the serverless route's models only "
                          "(generator/catalog/serverless.yml)")
        return model_id, finetuning.subscription_refusal(registry.group(1), registry.group(2),
                                                         self.subscribed_models())

    def serving(self: _Workspace, model: str, besides: str) -> str | None:
        """The serverless endpoint other than `besides` that serves workspace model `model`, or None."""
        if not model.startswith("/subscriptions/"):
            return None
        with self.lock:
            endpoints = [r for r in self.resources.values() if r.get("type") == TYPES["serverlessendpoints"]
                         and str(r["name"]).lower() != besides.lower()]
        for endpoint in endpoints:
            served = ((endpoint["properties"].get("modelSettings") or {}).get("modelId")) or ""
            if self.serverless_model(served)[0] == model:
                return str(endpoint["name"])
        return None

