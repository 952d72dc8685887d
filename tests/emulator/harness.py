"""Everything that makes the real MLClient talk to the emulator: TLS trust, DNS, cloud, credential."""

from __future__ import annotations

import base64
import json
import socket
import time
from pathlib import Path
from typing import Any

import trustme
from azure.core.credentials import AccessToken

from tests.emulator.server import Behaviour, Emulator

BLOB_SUFFIX = ".azmlemu.test"
AML_RESOURCE = "https://ml.azmlemu.test/"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class EmulatorCredential:
    """Returns an unsigned JWT whose audience is the emulator's aml_resource_id (job submission decodes it)."""

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """A token valid for an hour."""
        self.calls += 1
        exp = int(time.time()) + 3600
        payload = {"aud": AML_RESOURCE.rstrip("/"), "tid": "tenant", "oid": "object", "exp": exp,
                   "iss": "https://sts.azmlemu.test/", "upn": "tester@example.invalid"}
        token = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(payload)}.c2lnbmF0dXJl"
        return AccessToken(token, exp)


class RejectingCredential:
    """A credential that cannot get a token (as when nobody is logged in)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """Always fails the way azure-identity does."""
        from azure.core.exceptions import ClientAuthenticationError

        raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token from the included "
                                        "credentials. Attempted credentials: EnvironmentCredential, AzureCliCredential")


_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, str) and host.endswith(BLOB_SUFFIX):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


def install_dns() -> None:
    """Resolve `*.azmlemu.test` (the emulator's blob hosts) to 127.0.0.1 in this process."""
    socket.getaddrinfo = _getaddrinfo


def start_emulator(folder: Path, behaviour: Behaviour | None = None) -> tuple[Emulator, dict[str, Any]]:
    """Start an emulator with a fresh CA; return it and the runner's cloud settings (write them to JSON)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost", f"*.blob.core{BLOB_SUFFIX}")
    folder.mkdir(parents=True, exist_ok=True)
    cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    emulator = Emulator(str(folder / "server.pem"), str(folder / "server.pem"), behaviour).start()
    cloud = {
        "name": f"AzmlEmulator{emulator.port}",
        "metadata": {
            "azure_portal": f"{emulator.base_url}/portal/",
            "resource_manager": f"{emulator.base_url}/",
            "active_directory": f"{emulator.base_url}/aad/",
            "aml_resource_id": AML_RESOURCE,
            "storage_endpoint": emulator.storage_suffix,
            "registry_discovery_endpoint": f"{emulator.base_url}/",
        },
        "subscription_id": emulator.subscription,
        "resource_group": emulator.resource_group,
        "workspace_name": emulator.workspace,
        "retry": {"retry_total": 8, "retry_backoff_factor": 0.01, "retry_backoff_max": 0.05},
        "poll_interval": 0.05,
    }
    return emulator, cloud
