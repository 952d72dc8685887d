"""Start the workspace emulator for a test: certificates, cloud settings, credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generator.emulator.connect import LocalCredential, cloud_settings, install_dns, make_certificates
from generator.emulator.workspace import Behaviour, Emulator

__all__ = ["EmulatorCredential", "RejectingCredential", "install_dns", "start_emulator"]


class EmulatorCredential(LocalCredential):
    """The local workspace's credential: an unsigned JWT with the right audience."""


class RejectingCredential:
    """A credential that cannot get a token (as when nobody is logged in)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        """Always fails the way azure-identity does."""
        from azure.core.exceptions import ClientAuthenticationError

        raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token from the included "
                                        "credentials. Attempted credentials: EnvironmentCredential, AzureCliCredential")


def start_emulator(folder: Path, behaviour: Behaviour | None = None) -> tuple[Emulator, dict[str, Any]]:
    """Start an emulator with a fresh CA; return it and the config.json body that points at it."""
    server_pem, _ = make_certificates(folder)
    emulator = Emulator(str(server_pem), str(server_pem), behaviour).start()
    return emulator, cloud_settings(emulator, poll_interval=0.05)
