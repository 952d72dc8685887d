"""What lets the real MLClient talk to a local workspace: TLS trust, blob-host DNS, a local credential."""

from __future__ import annotations

import base64
import json
import socket
import time
from pathlib import Path
from typing import Any

BLOB_SUFFIX = ".azmlemu.test"
AML_RESOURCE = "https://ml.azmlemu.test/"



def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class LocalCredential:
    """A JWT-shaped token whose audience is the local aml_resource_id (job submission decodes it).

    Its last segment is the local workspace's secret (`secret`), which the workspace checks; without one
    (the in-process test workspace, which stands for Azure) the segment is a fixed placeholder.
    """

    def __init__(self, secret: str = "bG9jYWw"):
        self._secret = secret

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        """A token valid for an hour."""
        from azure.core.credentials import AccessToken

        exp = int(time.time()) + 3600
        payload = {"aud": AML_RESOURCE.rstrip("/"), "tid": "local", "oid": "local", "exp": exp,
                   "iss": "https://sts.azmlemu.test/", "upn": "you@localhost"}
        return AccessToken(f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(payload)}.{self._secret}", exp)


_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, str) and host.endswith(BLOB_SUFFIX):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


def install_dns() -> None:
    """Resolve `*.azmlemu.test` (the local workspace's blob hosts) to 127.0.0.1 in this process."""
    socket.getaddrinfo = _getaddrinfo


def make_certificates(folder: Path) -> tuple[Path, Path]:
    """A fresh CA and a server certificate for 127.0.0.1 and the blob hosts: (server PEM, CA PEM)."""
    import trustme

    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost", f"*.blob.core{BLOB_SUFFIX}")
    cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    return folder / "server.pem", folder / "ca.pem"


def cloud_settings(workspace: Any, poll_interval: float = 0.2) -> dict[str, Any]:
    """A config.json body (workspace ids, cloud metadata, retry, polling) pointing at `workspace`."""
    return {
        "subscription_id": workspace.subscription,
        "resource_group": workspace.resource_group,
        "workspace_name": workspace.workspace,
        "cloud": {"name": f"AzmlLocal{workspace.port}", "metadata": {
            "azure_portal": f"{workspace.base_url}/portal/",
            "resource_manager": f"{workspace.base_url}/",
            "active_directory": f"{workspace.base_url}/aad/",
            "aml_resource_id": AML_RESOURCE,
            "storage_endpoint": workspace.storage_suffix,
            "registry_discovery_endpoint": f"{workspace.base_url}/",
        }},
        "retry": {"retry_total": 8, "retry_backoff_factor": 0.01, "retry_backoff_max": 0.05},
        "poll_interval": poll_interval,
    }
