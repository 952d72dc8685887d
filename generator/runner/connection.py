"""Connect to a workspace like the seed notebook, but without surprises.

Credential: DefaultAzureCredential, probed for a token; InteractiveBrowserCredential only when a
person is at a terminal. Workspace: explicit ids (flags / environment) or an Azure ML
`config.json`, which may also name a custom cloud (`cloud: {name, metadata}`), retry settings
and a poll interval.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.errors import NotLoggedIn, UsageError
from generator.runner.explain import LOGIN_HELP

CONFIG_NAMES = ("config.json", ".azureml/config.json")
DEFAULT_RETRY = {"retry_total": 8, "retry_backoff_factor": 0.8, "retry_backoff_max": 60}


@dataclass
class WorkspaceRef:
    """Which workspace, in which cloud, with which retry and polling settings (a target's connection gives it)."""

    subscription_id: str
    resource_group: str
    workspace_name: str
    cloud_name: str | None = None
    cloud_metadata: dict[str, str] | None = None
    retry: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_RETRY))
    poll_interval: float = 10.0

    @property
    def token_scope(self) -> str:
        """The scope probed for a token: the cloud's resource manager."""
        base = (self.cloud_metadata or {}).get("resource_manager", "https://management.azure.com/")
        return base.rstrip("/") + "/.default"


def _find_config(start: Path) -> Path | None:
    for folder in [start, *start.parents]:
        for name in CONFIG_NAMES:
            if (folder / name).is_file():
                return folder / name
    return None


def resolve_workspace(config: Path | None, subscription: str | None, resource_group: str | None,
                      workspace: str | None) -> WorkspaceRef:
    """Flags, then environment, then config.json (found upwards from the working folder)."""
    path = config or _find_config(Path.cwd())
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read workspace config {path}: {exc}") from None
    ids = {
        "subscription_id": subscription or os.environ.get("AZURE_SUBSCRIPTION_ID") or raw.get("subscription_id"),
        "resource_group": resource_group or os.environ.get("AZURE_RESOURCE_GROUP") or raw.get("resource_group"),
        "workspace_name": workspace or os.environ.get("AZUREML_WORKSPACE_NAME") or raw.get("workspace_name"),
    }
    missing = [key for key, value in ids.items() if not value]
    if missing:
        raise UsageError(
            f"no workspace given (missing {', '.join(missing)}): download config.json from the workspace's "
            "page in the Azure portal into this folder, or pass --subscription, --resource-group and "
            "--workspace (or set AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZUREML_WORKSPACE_NAME)")
    return workspace_from_config({**raw, **ids})


def workspace_from_config(raw: dict[str, Any]) -> WorkspaceRef:
    """A WorkspaceRef from a config.json body (workspace ids, optional cloud, retry, poll_interval)."""
    cloud = raw.get("cloud") or {}
    return WorkspaceRef(raw["subscription_id"], raw["resource_group"], raw["workspace_name"],
                        cloud_name=cloud.get("name"), cloud_metadata=cloud.get("metadata"),
                        retry={**DEFAULT_RETRY, **raw.get("retry", {})},
                        poll_interval=float(raw.get("poll_interval", 10)))


def default_credential(workspace: WorkspaceRef) -> Any:
    """DefaultAzureCredential if it yields a token, else a browser login at a terminal, else a clear error."""
    from azure.identity import DefaultAzureCredential, InteractiveBrowserCredential

    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    credential = DefaultAzureCredential()
    try:
        credential.get_token(workspace.token_scope)
        return credential
    except ModuleNotFoundError:
        raise  # a broken installation, not a missing login
    except Exception:  # every credential in the chain failed; decide below whether a person can log in
        if sys.stdin.isatty() and sys.stdout.isatty():
            return InteractiveBrowserCredential()
        raise NotLoggedIn(LOGIN_HELP) from None


def probe(credential: Any, workspace: WorkspaceRef) -> None:
    """Fail early, with the login paragraph, when `credential` cannot get a token."""
    try:
        credential.get_token(workspace.token_scope)
    except ModuleNotFoundError:
        raise  # a broken installation, not a missing login
    except Exception:  # azure-identity raises several types; all mean "not logged in"
        raise NotLoggedIn(LOGIN_HELP) from None


def _cloud_kwargs(workspace: WorkspaceRef) -> dict[str, Any]:
    if not workspace.cloud_name:
        return {}
    from azure.ai.ml._azure_environments import _environments

    kwargs: dict[str, Any] = {"cloud": workspace.cloud_name}
    if workspace.cloud_metadata and workspace.cloud_name not in _environments:
        kwargs["cloud_metadata"] = workspace.cloud_metadata
    return kwargs


def workspace_client(credential: Any, workspace: WorkspaceRef) -> Any:
    """MLClient for the workspace (telemetry off, tuned azure-core retries for 429/5xx)."""
    from azure.ai.ml import MLClient

    quiet_sdk()
    return MLClient(credential, workspace.subscription_id, workspace.resource_group, workspace.workspace_name,
                    enable_telemetry=False, show_progress=False, **_cloud_kwargs(workspace), **workspace.retry)


def registry_client(credential: Any, workspace: WorkspaceRef, registry: str) -> Any:
    """MLClient for a registry such as azureml (its constructor calls registry discovery)."""
    from azure.ai.ml import MLClient

    quiet_sdk()
    return MLClient(credential, registry_name=registry, enable_telemetry=False, show_progress=False,
                    **_cloud_kwargs(workspace), **workspace.retry)


def quiet_sdk() -> None:
    """Keep the SDK's notices (experimental classes, HTTP logging) out of the user's output."""
    import warnings

    warnings.filterwarnings("ignore", module="azure")
    warnings.filterwarnings("ignore", message=".*marshmallow.*")
    for name in ("azure.ai.ml", "azure.core.pipeline.policies.http_logging_policy", "azure.identity"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from generator.runner.compat import silence_sdk_prints

    silence_sdk_prints()
