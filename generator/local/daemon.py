"""The local workspace as a background process that outlives one command.

`ensure_running(state_dir)` starts it when needed (`python -m generator.local.daemon serve DIR`)
and returns its state (config, CA path); `stop(state_dir)` ends it and every scoring server it started.
The endpoint key lives only in the daemon's memory and its scoring servers' environment.

Ownership: the daemon holds an exclusive lock on `<state_dir>/daemon.lock` for its whole life. A pid
is signalled only when that lock is held and the pid's command line is this daemon serving this
folder, so a stale `workspace.json` never leads to killing whatever process has its pid now.
State: resources and blobs are saved under the folder (generator/local/persist.py) and restored at
start, so `local stop` / `local start` keeps every experiment.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import psutil

from generator.errors import UsageError

if TYPE_CHECKING:
    from generator.local.executor import LocalExecutor

STATE_FILE = "workspace.json"
LOCK_FILE = "daemon.lock"
MODULE = "generator.local.daemon"
START_TIMEOUT = 60.0


LOCAL_STATE_DIR = ".local-workspace"
LOCAL_STATE_ENV = "AZML_LOCAL_WORKSPACE"  # another folder for the local workspace (make demo keeps its own)


def local_state_dir(root: Path) -> Path:
    """Where the project's local workspace keeps its state: AZML_LOCAL_WORKSPACE, else .local-workspace/."""
    return root / os.environ.get(LOCAL_STATE_ENV, LOCAL_STATE_DIR)


def start_local(root: Path) -> tuple[dict[str, Any], Any, Path, str]:
    """Start (or find) the project's local workspace and make this process trust and reach it.

    Returns its config.json body, its credential, its state folder and its MLflow tracking URI: what the runner
    needs to connect to it like to any workspace.
    """
    from generator.emulator.connect import LocalCredential, install_dns

    state_dir = local_state_dir(root)
    try:
        state = ensure_running(state_dir)
    except (RuntimeError, OSError) as exc:
        raise UsageError(f"cannot start the local workspace: {exc}. Run `make demo` once (it installs the local "
                         "extra, requirements-local.txt)") from None
    os.environ["REQUESTS_CA_BUNDLE"] = state["ca_bundle"]
    install_dns()
    return state["config"], LocalCredential(state["token_secret"]), state_dir.resolve(), state["tracking_uri"]


def _lock_held(state_dir: Path) -> bool:
    """True when some process holds the daemon lock of `state_dir` (probed without taking it for long)."""
    try:
        fd = os.open(state_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def is_our_daemon(pid: int, state_dir: Path) -> bool:
    """Whether `pid` is this module's daemon serving `state_dir` (by its command line, not by trust)."""
    try:
        command = psutil.Process(pid).cmdline()
    except (psutil.Error, ValueError):
        return False
    return MODULE in command and "serve" in command and str(state_dir.resolve()) in command


def read_state(state_dir: Path) -> dict[str, Any] | None:
    """The running daemon's state, or None when no daemon of ours serves `state_dir`."""
    try:
        state = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
        if not isinstance(state, dict):
            return None
        pid = int(state.get("pid", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    if not _lock_held(state_dir) or not is_our_daemon(pid, state_dir):
        return None
    return state


def ensure_running(state_dir: Path) -> dict[str, Any]:
    """Start the local workspace unless it runs; return its state (config, CA path)."""
    state_dir = state_dir.resolve()
    state = read_state(state_dir)
    if state is not None:
        return state
    state_dir.mkdir(parents=True, exist_ok=True)
    log = open(state_dir / "workspace.log", "a", encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", MODULE, "serve", str(state_dir)],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        state = read_state(state_dir)
        if state is not None:
            return state
        if process.poll() is not None:
            state = read_state(state_dir)  # another command started it at the same moment: use that one
            if state is not None:
                return state
            raise RuntimeError(f"the local workspace exited with code {process.returncode}; see "
                               f"{state_dir / 'workspace.log'}")
        time.sleep(0.1)
    raise RuntimeError(f"the local workspace did not start within {START_TIMEOUT:.0f} s")


def stop(state_dir: Path) -> bool:
    """Stop our daemon serving `state_dir` (and its scoring servers); False when none runs."""
    state = read_state(state_dir)
    if state is None:
        return False
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while _lock_held(state_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def _take_lock(state_dir: Path) -> IO[str]:
    """Hold the daemon lock for this process's life; exit when another daemon already serves the folder."""
    handle = open(state_dir / LOCK_FILE, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(f"another local workspace already serves {state_dir}", flush=True)
        raise SystemExit(3) from None
    return handle


def _prepare_store(executor: LocalExecutor) -> None:
    """executor.prepare_store in the background; a failure is left for the first job, whose own call reports it."""
    with contextlib.suppress(Exception):
        executor.prepare_store()


def serve(state_dir: Path) -> None:
    """Run the local workspace until SIGTERM, restoring and saving its state under `state_dir`."""
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = _take_lock(state_dir)
    from generator.emulator.connect import cloud_settings, make_certificates
    from generator.emulator.settings import Settings
    from generator.emulator.workspace import Emulator
    from generator.local import persist, warm
    from generator.local.executor import QUIET_ENV, LocalExecutor

    server_pem, ca_pem = make_certificates(state_dir / "tls")
    warm.start(QUIET_ENV)  # jobs and scoring servers fork from it, their libraries imported once
    executor = LocalExecutor(state_dir, server_pem, ca_pem)
    # Its own credential (kept in workspace.json, readable by its owner only); blobs go up with it too (identity).
    # In no real region: it fine-tunes every model the serverless route offers (Settings.serverless_region_check).
    settings = Settings(token_secret=secrets.token_urlsafe(32), datastore_auth="identity",
                        serverless_region_check=False)
    workspace = Emulator(str(server_pem), str(server_pem), executor, settings)
    # the MLflow store made now, beside the runner's first commands: the first job would otherwise wait for it
    threading.Thread(target=_prepare_store, args=(executor,), daemon=True).start()
    workspace.mlflow_store = executor.layout.tracking_uri  # the jobs' store, also over azureml-mlflow
    workspace.start()  # nobody knows its port before workspace.json is written below
    restored = persist.restore(workspace, executor, state_dir)
    saving = threading.Lock()

    def save() -> None:
        with saving:
            persist.save(workspace, state_dir)

    workspace.on_change = save
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    state = {"pid": os.getpid(), "port": workspace.port, "ca_bundle": str(ca_pem),
             "config": cloud_settings(workspace), "tracking_uri": workspace.mlflow_store,
             "token_secret": settings.token_secret}
    tmp = state_dir / (STATE_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=2)
    tmp.replace(state_dir / STATE_FILE)
    print(f"local workspace on {workspace.base_url} (pid {os.getpid()}); {restored} resource(s) restored", flush=True)
    done.wait()
    workspace.stop()
    save()
    executor.stop_all()
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    lock.close()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(Path(sys.argv[2]))
    else:
        raise SystemExit("usage: python -m generator.local.daemon serve STATE_DIR")
