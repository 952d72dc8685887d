"""The local workspace's scoring servers: one child process (generator/local/scoring.py, forked from the warm
process) per deployment of an online endpoint and per serverless endpoint, started, asked and stopped here for the
executor (generator/local/executor.py).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from generator.emulator.backend import ScoringAnswer
from generator.local.warm import WarmProcess


@dataclass
class LocalDeployment:
    """A deployment (or a serverless endpoint: `endpoint` its name, `name` empty) served by a local scoring server."""

    endpoint: str
    name: str
    folder: Path
    process: WarmProcess | None = None
    port: int | None = None
    error: str | None = None
    ready: threading.Event = field(default_factory=threading.Event)


def serve(server: LocalDeployment, model: Callable[[], str], cert: Path, env: dict[str, str], log: Path,
          cwd: Path) -> None:
    """Start `server`'s scoring process (TLS with `cert`) for the model `model()` names (a folder, or
    generator.local.scoring's STAND_IN) and wait until it listens; a failure is kept in `server.error`. `ready` is
    set either way."""
    server.folder.mkdir(parents=True, exist_ok=True)
    port_file = server.folder / "port"
    port_file.unlink(missing_ok=True)
    try:
        args = [model(), str(port_file), str(cert)]
        log.write_text("", encoding="utf-8")
        server.process = WarmProcess("generator.local.scoring", args, log, env, cwd)
        while not port_file.is_file():
            if server.process.poll() is not None:
                raise RuntimeError(f"scoring server exited with code {server.process.returncode}")
            time.sleep(0.1)
        server.port = int(port_file.read_text())
    except Exception as exc:  # reported through the deployment's (or endpoint's) long-running operation
        server.error = f"{type(exc).__name__}: {exc}"
    finally:
        server.ready.set()


def forward(server: LocalDeployment, path: str, body: bytes, headers: dict[str, str], ca_pem: Path) -> ScoringAnswer:
    """POST `body` to `path` of a listening scoring server; its (status, JSON answer)."""
    request = urllib.request.Request(f"https://127.0.0.1:{server.port}{path}", data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    context = ssl.create_default_context(cafile=str(ca_pem))
    try:
        with urllib.request.urlopen(request, context=context, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def stop(server: LocalDeployment) -> None:
    """Stop a scoring server's process (terminate, then kill after 10 s)."""
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
