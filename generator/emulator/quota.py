"""The region's answers about capacity, as the emulator serves them: the VM sizes a workspace may use and the quota
usages (what pre-flight reads before anything bills)."""

from __future__ import annotations

import re
from typing import Any

from generator import catalog, clock


def vm_sizes_body() -> list[dict[str, Any]]:
    """The vmSizes answer: the catalog's sizes that are not retired, in the REST shape
    (VirtualMachineSize/list.json in Azure/azure-rest-api-specs: name, family, vCPUs, gpus, memoryGB)."""
    today = clock.today()
    rows = []
    for size in catalog.vm_sizes():
        if size.vcpus is None or size.gpus is None or size.is_retired(today):
            continue
        row: dict[str, Any] = {"name": size.name, "family": size.quota_family, "vCPUs": size.vcpus, "gpus": size.gpus}
        if size.memory_gib is not None:
            row["memoryGB"] = size.memory_gib
        rows.append(row)
    return rows


def usage_rows(e: Any) -> list[dict[str, Any]]:
    """The usages list in the shape of Azure/azure-rest-api-specs `…/2023-08-01-preview/examples/Usage/list.json`
    (@f5ec6141): regional totals, then per family a subscription row (type …/vmFamily/usages), a workspace row and a
    cluster row sharing one name, and a LowPriority family row with limit -1."""
    sub = f"/subscriptions/{e.subscription}"

    def row(rid: str, kind: str, name: str, current: int, limit: int) -> dict[str, Any]:
        return {"id": rid, "type": f"Microsoft.MachineLearningServices/{kind}", "unit": "Count",
                "amlWorkspaceLocation": e.location, "currentValue": current, "limit": limit,
                "name": {"value": name, "localizedValue": name}}
    total_current, total_limit = e.settings.regional_quota
    rows = [row(f"{sub}/usages", "dedicatedCores/usages", "Total Cluster Dedicated Regional vCPUs", total_current,
                total_limit)]
    for family, (current, limit) in e.settings.quota.items():
        label = re.sub(r"^standard(.*)Family$", r"Standard \1 Family", family)
        dedicated, low = f"{label} Cluster Dedicated vCPUs", f"{label} Cluster LowPriority vCPUs"
        slug = dedicated.replace(" ", "_")
        rows += [row(f"{sub}/usages/{slug}", "vmFamily/usages", dedicated, current, limit),
                 row(f"{e.workspace_path}/usages/{slug}", "workspaces/usages", dedicated, current, limit),
                 row(f"{e.workspace_path}/computes/other-cluster/usages/{slug}", "workspaces/computes/usages",
                     dedicated, limit, limit),  # a full cluster: its row must never be read as the subscription's
                 row(f"{sub}/usages/{low.replace(' ', '_')}", "vmFamily/usages", low, 0, -1)]
    return rows
