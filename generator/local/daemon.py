"""The local workspace as a background process that outlives one command.

`ensure_running(state_dir)` starts it when needed (`python -m generator.local.daemon serve DIR`)
and returns its config.json body; `stop(state_dir)` ends it and every scoring server it started.
The endpoint key lives only in the daemon's memory and its scoring servers' environment.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

STATE_FILE = "workspace.json"
START_TIMEOUT = 60.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def read_state(state_dir: Path) -> dict[str, Any] | None:
    """The running daemon's state file, or None when it is not running."""
    try:
        state = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if _alive(int(state.get("pid", 0))) else None


def ensure_running(state_dir: Path) -> dict[str, Any]:
    """Start the local workspace unless it runs; return its state (config, CA path)."""
    state_dir = state_dir.resolve()
    state = read_state(state_dir)
    if state is not None:
        return state
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    log = open(state_dir / "workspace.log", "a", encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "generator.local.daemon", "serve", str(state_dir)],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        state = read_state(state_dir)
        if state is not None:
            return state
        if process.poll() is not None:
            raise RuntimeError(f"the local workspace exited with code {process.returncode}; see "
                               f"{state_dir / 'workspace.log'}")
        time.sleep(0.1)
    raise RuntimeError(f"the local workspace did not start within {START_TIMEOUT:.0f} s")


def stop(state_dir: Path) -> bool:
    """Stop the daemon (and its scoring servers); False when it was not running."""
    state = read_state(state_dir)
    if state is None:
        return False
    os.kill(int(state["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + 20
    while _alive(int(state["pid"])) and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def serve(state_dir: Path) -> None:
    """Run the local workspace until SIGTERM."""
    state_dir = state_dir.resolve()
    from generator.local.connect import cloud_settings, make_certificates
    from generator.local.executor import LocalExecutor
    from generator.local.workspace import Behaviour, Emulator

    for stale in ("jobs", "deployments"):  # what a previous run left: its jobs and endpoints are gone with it
        shutil.rmtree(state_dir / stale, ignore_errors=True)
    server_pem, ca_pem = make_certificates(state_dir / "tls")
    executor = LocalExecutor(state_dir, server_pem, ca_pem)
    workspace = Emulator(str(server_pem), str(server_pem), Behaviour(), executor=executor)
    executor.workspace = workspace
    workspace.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    state = {"pid": os.getpid(), "port": workspace.port, "ca_bundle": str(ca_pem),
             "config": cloud_settings(workspace), "tracking_uri": f"sqlite:///{state_dir / 'mlflow.db'}"}
    tmp = state_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(state_dir / STATE_FILE)
    print(f"local workspace on {workspace.base_url} (pid {os.getpid()})", flush=True)
    done.wait()
    executor.stop_all()
    workspace.stop()
    (state_dir / STATE_FILE).unlink(missing_ok=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(Path(sys.argv[2]))
    else:
        raise SystemExit("usage: python -m generator.local.daemon serve STATE_DIR")
