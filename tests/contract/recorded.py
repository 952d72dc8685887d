"""What the contract tests share: the recorded fixtures and how to compare an answer of the emulator with one.

Each fixture under tests/contract/fixtures/ names its source (repository, path, commit). Where the emulator
knowingly answers less than the service, the test of that resource lists the difference (KNOWN_MISSING), so
nothing passes by omission. One test file per resource kind: test_recorded_<kind>.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.emulator.harness import Emulator

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The endpoint of recording test_online_deployment_create, as the deployment tests create it first.
ENDPOINT_PUT = {"location": "eastus", "identity": {"type": "SystemAssigned"},
                "properties": {"authMode": "Key", "properties": {}, "mirrorTraffic": {}, "traffic": {}}}


def recording(name: str) -> dict[str, Any]:
    """The fixture `name`, after checking that it names its source."""
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert set(data["source"]) >= {"repository", "path", "commit"} and len(data["source"]["commit"]) == 40
    return data


def keys(body: Any, prefix: str = "") -> set[str]:
    """Dotted keys of nested mappings (two levels below properties are enough for these answers)."""
    found = set()
    for key, value in (body or {}).items():
        found.add(prefix + key)
        if isinstance(value, dict) and (prefix + key).count(".") < 2 and key not in ("identity", "systemData",
                                                                                       "notebookInfo", "managedNetwork",
                                                                                       "scaleSettings", "traffic",
                                                                                       "mirrorTraffic", "tags", "sku"):
            if not (prefix + key).endswith("properties.properties") or prefix.startswith("properties"):
                found |= keys(value, prefix + key + ".")
    return found


def url(emu: Emulator, path: str) -> str:
    """A recorded path on the emulator, with its subscription, resource group and workspace filled in."""
    return emu.base_url + path.format(sub=emu.subscription, rg=emu.resource_group, ws=emu.workspace)


def difference(recorded: dict[str, Any], ours: dict[str, Any]) -> set[str]:
    """The keys the recorded answer has and ours lacks."""
    return keys(recorded) - keys(ours)
