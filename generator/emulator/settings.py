"""How a workspace the emulator serves is set up: its keys and credential, its datastore, quota and registry.

These are the product's settings (the local target's daemon sets them); what a test makes go wrong is
generator/emulator/faults.py, a separate type.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


def _quota() -> dict[str, tuple[int, int]]:
    """(current, limit) dedicated vCPUs per VM family: room for every size the catalog's models list."""
    return {"standardNDSv2Family": (0, 100), "standardNCADSA100v4Family": (0, 96), "standardNCASv3_T4Family": (0, 64),
            "standardNCSv3Family": (0, 48), "standardDSv2Family": (0, 100), "standardNDASv4_A100Family": (0, 96),
            "standardNDAMSv4_A100Family": (0, 96), "standardNCADSH100v5Family": (0, 80),
            "standardNDv5H100Family": (0, 96)}


@dataclass
class Settings:
    """What the workspace is: its endpoint key, credential, datastore authentication, quota and registry content."""

    key: str = field(default_factory=lambda: "emu-key-" + uuid.uuid4().hex)
    # The local workspace's own credential: when set, every request but scoring (which checks the endpoint key)
    # must carry a bearer token ending in it (generator/emulator/connect.py LocalCredential), or gets a 401.
    token_secret: str | None = None
    # "key": the datastore hands out an account key; "identity": systemDatastoresAuthMode identity (credentialsType
    # None, listSecrets 400, blob calls with the user's token); "identity-no-role": the same, and the user's token
    # lacks a blob-data role on the storage account (403 AuthorizationPermissionMismatch).
    datastore_auth: str = "key"
    quota: dict[str, tuple[int, int]] = field(default_factory=_quota)
    regional_quota: tuple[int, int] = (0, 1000)  # Total Cluster Dedicated Regional vCPUs (current, limit)
    registry_models: dict[str, dict[str, Any]] = field(default_factory=dict)  # empty: the catalog's
    # Refuse a serverless FineTuning job for a model the route does not fine-tune in the workspace's location, as
    # Azure does (generator/emulator/finetuning.py refusal). The local target's workspace is in no real region (its
    # location is nominal), so its daemon turns this off: it fine-tunes every model the route offers.
    serverless_region_check: bool = True
    # Retry-After on operations in progress: Azure's value is not known. Read: the operation polls of recording
    # test_online_deployment_create (Azure/azure-sdk-assets @04f5fde4) carry no Retry-After header, and the SDK polled
    # there every 30 s (endpoint) and 5 s (deployment). Searched: search (docs) "Azure-AsyncOperation Retry-After header
    # long running operation polling interval Azure Resource Manager" finds ARM's rule that 201/202 answers should carry
    # one (typespec-azure retry-after lint) and no Azure ML value. The emulator asks for a short wait so tests are
    # quick.
    poll_after: float = 0.05
