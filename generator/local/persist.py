"""The local workspace's state on disk, so every experiment's resources survive `local stop` / `local start`.

`save` writes the resources (JSON) and the uploaded blobs (one file per content hash) under the
state folder; the daemon calls it after every request that changes something and when it stops.
`restore` reads them back into a fresh workspace: finished jobs keep their status (each job writes
its own `status.json` when it ends), a job that was still running when the workspace stopped is
Canceled (its process died with it), and every deployment's and serverless endpoint's scoring server is started
again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from generator.files import write_atomically
from generator.local.layout import JOB_STATUS, Layout

if TYPE_CHECKING:
    from generator.emulator.workspace import Emulator

STATE_FILE = "resources.json"
BLOBS_DIR = "blobs"
STOPPED_WHILE_RUNNING = "the local workspace was stopped while this job ran; bump experiment.run to train again"
_digests: dict[str, tuple[bytes, str]] = {}  # blob path -> (the content last hashed, its sha256): hash each once


class Restorable(Protocol):
    """What `restore` asks of the workspace's backend (generator/local/executor.py LocalExecutor)."""

    def adopt_job(self, name: str, folder: Path, status: str, error: str | None) -> None:
        """Know a job that ended before the workspace started."""

    def start_deployment(self, endpoint: str, name: str, resource: dict[str, Any]) -> None:
        """Start serving a deployment again."""

    def start_serverless(self, name: str, resource: dict[str, Any], model: str) -> None:
        """Start serving a serverless endpoint again."""


def save(workspace: Emulator, state_dir: Path) -> None:
    """Write the workspace's resources and blobs under `state_dir` (atomically; blobs once per content)."""
    blobs_dir = state_dir / BLOBS_DIR
    blobs_dir.mkdir(parents=True, exist_ok=True)
    resources, blobs = workspace.snapshot()
    index = {}
    for path, (content, meta) in blobs.items():
        known = _digests.get(path)
        digest = known[1] if known is not None and known[0] is content else hashlib.sha256(content).hexdigest()
        _digests[path] = (content, digest)
        if not (blobs_dir / digest).is_file():
            write_atomically(blobs_dir / digest, content)
        index[path] = {"sha256": digest, "meta": meta}
    body = json.dumps({"base_url": workspace.base_url, "resources": resources, "blobs": index}, indent=1,
                      sort_keys=True).encode()
    write_atomically(state_dir / STATE_FILE, body)


def save_job_status(folder: Path, status: str, error: str | None) -> None:
    """Record how a job ended, beside its log (read back by `restore`)."""
    write_atomically(folder / JOB_STATUS, json.dumps({"status": status, "error": error}).encode())


def restore(workspace: Emulator, executor: Restorable, state_dir: Path) -> int:
    """Load what `save` wrote into the started `workspace` and its `executor`; return how many resources came back."""
    try:
        saved = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return 0
    if saved.get("base_url"):  # the workspace listens on a new port: scoring URIs and the like follow it
        saved["resources"] = json.loads(json.dumps(saved.get("resources", {})).replace(saved["base_url"],
                                                                                       workspace.base_url))
    blobs = {}
    for path, entry in saved.get("blobs", {}).items():
        blob = state_dir / BLOBS_DIR / entry["sha256"]
        if blob.is_file():
            blobs[path] = (blob.read_bytes(), dict(entry["meta"]))
    workspace.load(saved.get("resources", {}), blobs)
    layout = Layout(state_dir)
    for key, resource in saved.get("resources", {}).items():
        parts = key.split("/")
        if parts[-2:-1] == ["jobs"]:
            folder = layout.job(resource["name"])
            try:
                ended = json.loads(layout.job_status(resource["name"]).read_text(encoding="utf-8"))
                status, error = ended["status"], ended.get("error")
            except (OSError, ValueError, KeyError):
                status, error = "Canceled", STOPPED_WHILE_RUNNING
            executor.adopt_job(resource["name"], folder, status, error)
        elif parts[-2:-1] == ["deployments"] and parts[-4:-3] == ["onlineendpoints"]:
            executor.start_deployment(parts[-3], resource["name"], resource)
        elif parts[-2:-1] == ["serverlessendpoints"]:
            model = workspace.serverless_model((resource["properties"].get("modelSettings") or {}).get("modelId")
                                                or "")[0]
            if model is not None:
                executor.start_serverless(resource["name"], resource, model)
    return len(saved.get("resources", {}))
