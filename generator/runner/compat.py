"""The private azure-ai-ml surface the runner depends on, gathered in one place (each use is tested).

azure-ai-ml 1.35.2 reads a registry model version into an `arm_ml_service` ModelVersion whose
properties have no `system_metadata` field, so `Model._from_rest_object` leaves
`Model._system_metadata` as None for every registry model: the public `models.get` loses the facts
the registry publishes there since 2026-06-16. The hybrid ModelVersion keeps the raw answer, so
the runner reads it through the operations' private `_get`.
"""

from __future__ import annotations

import importlib
from typing import Any

# Modules of azure-ai-ml 1.35.2 that print to the terminal whatever `show_progress` says: the blob and gen2 upload
# helpers print `Fore.RESET + "\n"` (a stray escape code and a blank line) after every upload, and AzureMLPolling
# prints a "." per poll of a deployment. Their only `print` calls are these.
PRINTING_MODULES = ("azure.ai.ml._artifacts._blob_storage_helper", "azure.ai.ml._artifacts._gen2_storage_helper",
                    "azure.ai.ml._utils._azureml_polling")


def _no_print(*args: Any, **kwargs: Any) -> None:
    """Stands in for `print` inside the modules above."""


def silence_sdk_prints() -> None:
    """Shadow `print` in the SDK modules that write progress noise to the terminal (output stays quiet piped)."""
    for name in PRINTING_MODULES:
        vars(importlib.import_module(name))["print"] = _no_print


def registry_model_properties(registry_client: Any, name: str, version: str) -> dict[str, Any]:
    """The REST `properties` of registry model `name` at `version`: tags, properties, system metadata."""
    raw = registry_client.models._get(name, version)  # pylint: disable=protected-access
    body = raw.as_dict() if hasattr(raw, "as_dict") else dict(raw)
    return dict(body.get("properties") or {})


def workspace_id(ml: Any) -> str:
    """The workspace's id (its `workspaceId` GUID), which a serverless endpoint's model id names: the route's own
    notebook reads it as `Workspace._workspace_id` (azureml-examples sdk/python/jobs/finetuning/standalone/
    model-as-a-service/chat-completion/chat_completion_with_model_as_service.ipynb @085cd6ea)."""
    return str(ml.workspaces.get(ml.workspace_name)._workspace_id)  # pylint: disable=protected-access
