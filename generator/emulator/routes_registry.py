"""The local workspace's registry: discovery and registry models, serving the catalog's facts.

A mixin of the workspace's request handler (generator/emulator/workspace.py).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from generator import catalog
from generator.catalog.rest import SYSTEM_METADATA, to_rest

REGISTRY_MODEL_RE = re.compile(r"/registries/([^/]+)/models/([^/]+)/versions(?:/([^/]+))?$", re.I)


def registry_models(shape: str = SYSTEM_METADATA) -> dict[str, dict[str, Any]]:
    """The registry's models: every model of the catalog, published in `shape` (see catalog/rest.py)."""
    return {facts.name: {"versions": [facts.version], "archived": facts.archived, **to_rest(facts, shape)}
            for facts in catalog.models()}


class RegistryRoutes:
    """Registry discovery and registry model versions."""

    owner: Any
    _send: Any
    _not_found: Any

    def _registry_discovery(self, registry: str) -> None:
        e = self.owner
        self._send(200, {"registryName": registry, "primaryRegionResourceProviderUri": e.base_url + "/",
                         "subscriptionId": e.subscription, "resourceGroup": "registry-rg", "region": e.location,
                         "registryId": uuid.uuid4().hex})

    def _registry(self, url: Any) -> None:
        e = self.owner
        match = REGISTRY_MODEL_RE.search(url.path)
        if not match:
            self._not_found(url.path)
            return
        registry, name, version = match.groups()
        model = e.settings.registry_models.get(name)
        if model is None and version is None:
            # Recording test_create_get_download_model_registry (Azure/azure-sdk-assets @0e2fb6b0): the latest-version
            # list of a model the registry does not hold answers 200 with no versions, not 404.
            self._send(200, {"value": []})
            return
        if model is None:
            self._not_found(f"Model {name} in registry {registry}")
            return
        base = url.path.split("/versions")[0]

        def body(v: str) -> dict[str, Any]:
            properties = {"modelType": "mlflow_model", "flavors": {}, "tags": model.get("tags") or {},
                          "properties": model.get("properties") or {},
                          "modelUri": f"azureml://registries/{registry}/models/{name}/versions/{v}",
                          "isArchived": bool(model.get("archived"))}
            if model.get("system_metadata"):
                properties["system_metadata"] = model["system_metadata"]
            # As recorded (test_create_get_download_model_registry @0e2fb6b0): named by the model, of type "models".
            return {"id": f"azureml://registries/{registry}/models/{name}/versions/{v}", "name": name,
                    "type": "models", "properties": properties}
        if version is None:  # an archived model lists no version: azure-ai-ml then raises ValidationException
            listed = [] if model.get("archived") else [body(v) for v in reversed(model["versions"])][:1]
            self._send(200, {"value": listed})
        elif version in model["versions"]:
            self._send(200, body(version))
        else:
            self._not_found(f"{base}/versions/{version}")
