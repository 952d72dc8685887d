"""Facts about Azure VM sizes the generator knows offline: vCPUs, GPUs, quota family.

The runner re-checks GPU counts against `compute.list_sizes()` and quota against
`compute.list_usage()`; this table lets render catch mistakes before any cloud call.
"""

from __future__ import annotations

from typing import NamedTuple


class VmSize(NamedTuple):
    """One VM size: how many vCPUs and GPUs a node has, and the quota family it counts against."""

    name: str
    vcpus: int
    gpus: int
    family: str


_SIZES = [
    VmSize("Standard_NC6s_v3", 6, 1, "standardNCSv3Family"),
    VmSize("Standard_NC12s_v3", 12, 2, "standardNCSv3Family"),
    VmSize("Standard_NC24s_v3", 24, 4, "standardNCSv3Family"),
    VmSize("Standard_NC24rs_v3", 24, 4, "standardNCSv3Family"),
    VmSize("Standard_ND40rs_v2", 40, 8, "standardNDSv2Family"),
    VmSize("Standard_NC4as_T4_v3", 4, 1, "standardNCASv3_T4Family"),
    VmSize("Standard_NC8as_T4_v3", 8, 1, "standardNCASv3_T4Family"),
    VmSize("Standard_NC16as_T4_v3", 16, 1, "standardNCASv3_T4Family"),
    VmSize("Standard_NC64as_T4_v3", 64, 4, "standardNCASv3_T4Family"),
    VmSize("Standard_NC24ads_A100_v4", 24, 1, "standardNCADSA100v4Family"),
    VmSize("Standard_NC48ads_A100_v4", 48, 2, "standardNCADSA100v4Family"),
    VmSize("Standard_NC96ads_A100_v4", 96, 4, "standardNCADSA100v4Family"),
    VmSize("Standard_ND96asr_v4", 96, 8, "standardNDASv4_A100Family"),
    VmSize("Standard_ND96amsr_A100_v4", 96, 8, "standardNDAMSv4_A100Family"),
    VmSize("Standard_NC40ads_H100_v5", 40, 1, "standardNCadsH100v5Family"),
    VmSize("Standard_NC80adis_H100_v5", 80, 2, "standardNCadsH100v5Family"),
    VmSize("Standard_ND96isr_H100_v5", 96, 8, "standardNDSH100v5Family"),
    VmSize("Standard_NC6", 6, 1, "standardNCFamily"),
    VmSize("Standard_NC12", 12, 2, "standardNCFamily"),
    VmSize("Standard_NC24", 24, 4, "standardNCFamily"),
    VmSize("Standard_NC24r", 24, 4, "standardNCFamily"),
    VmSize("Standard_D12_v2", 4, 0, "standardDv2Family"),
    VmSize("Standard_D13_v2", 8, 0, "standardDv2Family"),
    VmSize("Standard_DS3_v2", 4, 0, "standardDSv2Family"),
    VmSize("Standard_E4s_v3", 4, 0, "standardESv3Family"),
    VmSize("Standard_F4s_v2", 4, 0, "standardFSv2Family"),
]

KNOWN_SIZES: dict[str, VmSize] = {size.name.lower(): size for size in _SIZES}

# Sizes the fine-tuning components refuse when the model carries no finetune_compute_allow_list tag.
UNSUPPORTED_FINETUNE_SIZES = frozenset({"standard_nc6", "standard_nc12", "standard_nc24", "standard_nc24r"})


def lookup(size: str) -> VmSize | None:
    """The known facts about `size` (case-insensitive), or None."""
    return KNOWN_SIZES.get(size.lower())
