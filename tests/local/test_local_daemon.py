"""The local workspace's process and state: owned, never guessed; kept across stop and start; one demo at a time."""

from __future__ import annotations

import fcntl
import json
import ssl
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from generator.local import persist
from generator.emulator.connect import LocalCredential
from generator.local.daemon import STATE_FILE, ensure_running, read_state, stop
from tests.emulator.harness import Emulator
from tests.local.test_local_servers import exchange

WS = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
      "Microsoft.MachineLearningServices/workspaces/ws")


def _call(state: dict[str, Any], method: str, path: str, body: bytes = b"", host: str = "127.0.0.1",
          headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    token = LocalCredential(state["token_secret"]).get_token("scope").token
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
             f"Authorization: Bearer {token}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    return exchange(state["port"], ssl.create_default_context(cafile=state["ca_bundle"]), raw)


def test_state_survives_local_stop_and_start(tmp_path: Path) -> None:
    folder = tmp_path / ".local-workspace"
    state = ensure_running(folder)
    try:
        compute = f"{WS}/computes/kept?api-version=2024-01-01"
        body = json.dumps({"location": "westeurope", "properties": {"computeType": "AmlCompute"}}).encode()
        assert _call(state, "PUT", compute, body)[0] in (200, 201)
        blob_host = f"emustore.blob.{state['config']['cloud']['metadata']['storage_endpoint']}"
        assert _call(state, "PUT", "/azureml-blobstore/LocalUpload/x/train.jsonl", b'{"a": 1}\n', blob_host,
                     {"x-ms-blob-type": "BlockBlob"})[0] == 201
    finally:
        assert stop(folder)
    assert read_state(folder) is None
    again = ensure_running(folder)
    try:
        assert again["port"] != state["port"] or again["pid"] != state["pid"]
        status, answer = _call(again, "GET", f"{WS}/computes/kept?api-version=2024-01-01")
        assert status == 200 and json.loads(answer)["name"] == "kept"
        blob_host = f"emustore.blob.{again['config']['cloud']['metadata']['storage_endpoint']}"
        assert _call(again, "GET", "/azureml-blobstore/LocalUpload/x/train.jsonl", host=blob_host) == (200, b'{"a": 1}\n')
    finally:
        stop(folder)


class _Executor:
    """Records what restore asks of the executor."""

    def __init__(self) -> None:
        self.jobs: dict[str, Any] = {}
        self.started: list[tuple[str, str]] = []

    def start_deployment(self, endpoint: str, name: str, resource: dict[str, Any]) -> None:
        """Remember the deployment whose scoring server would be started again."""
        self.started.append((endpoint, name))

    def adopt_job(self, name: str, folder: Path, status: str, error: str | None) -> None:
        """Know a job that ended before the workspace started, as the real executor does."""
        self.jobs[name] = SimpleNamespace(name=name, folder=folder, status=status, error=error)


def test_restore_keeps_finished_jobs_cancels_interrupted_ones_and_restarts_deployments(tmp_path: Path) -> None:
    before = Emulator("unused", "unused")
    before.port = 1111
    before.resources = {
        f"{WS}/jobs/done".lower(): {"name": "done", "properties": {}},
        f"{WS}/jobs/cut-short".lower(): {"name": "cut-short", "properties": {}},
        f"{WS}/onlineendpoints/ep/deployments/blue".lower(): {
            "name": "blue", "properties": {"scoringUri": "https://127.0.0.1:1111/score/ep"}},
    }
    (tmp_path / "jobs" / "done").mkdir(parents=True)
    persist.save_job_status(tmp_path / "jobs" / "done", "Completed", None)
    persist.save(before, tmp_path)
    after, executor = Emulator("unused", "unused"), _Executor()
    after.port = 2222
    assert persist.restore(after, executor, tmp_path) == 3
    assert executor.jobs["done"].status == "Completed"
    assert (executor.jobs["cut-short"].status, executor.jobs["cut-short"].error) == (
        "Canceled", "the local workspace was stopped while this job ran; bump experiment.run to train again")
    assert executor.started == [("ep", "blue")]
    deployment = after.resources[f"{WS}/onlineendpoints/ep/deployments/blue".lower()]
    assert deployment["properties"]["scoringUri"] == "https://127.0.0.1:2222/score/ep"  # follows the new port


def test_a_stale_pid_is_never_signalled(tmp_path: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        folder = tmp_path / ".local-workspace"
        folder.mkdir()
        (folder / STATE_FILE).write_text(json.dumps({"pid": bystander.pid, "port": 1}))
        assert read_state(folder) is None
        assert stop(folder) is False
        from click.testing import CliRunner

        from generator.cli import main

        result = CliRunner().invoke(main, ["local", "stop", "--root", str(tmp_path)])
        assert result.stdout == "local workspace was not running\n"
        assert bystander.poll() is None  # alive: its pid was in a stale file, and nothing signalled it
    finally:
        bystander.kill()
        bystander.wait()


def test_a_second_demo_refuses_while_one_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from generator.cli import demo, main
    from generator.local.daemon import LOCAL_STATE_ENV

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(LOCAL_STATE_ENV, raising=False)
    folder = tmp_path / demo.DEMO_STATE_DIR
    folder.mkdir()
    (folder / "jobs").mkdir()  # the running demo's state, which the second must not touch
    with open(folder / demo.DEMO_LOCK, "a+") as first:
        fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the first `make demo` holds it
        code = main(["demo"], standalone_mode=False)
    assert code == 2
    assert capsys.readouterr().err == ("error: another `make demo` is running in this project (its local workspace "
                                       "is .local-workspace-demo/); wait for it to finish, then run it again\n")
    assert (folder / "jobs").is_dir()


def test_a_restored_deployment_that_is_still_starting_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Right after `local start` a restored deployment's server is loading: invoke waits for it, then says it is
    starting (503), never 'no running deployment' for a deployment that exists."""
    from types import SimpleNamespace

    from generator.local import executor as local_executor
    from generator.local.layout import Layout

    monkeypatch.setattr(local_executor, "STARTING_WAIT", 0.05)
    starting = local_executor.LocalDeployment("ep", "blue", tmp_path / "ep-blue")
    broken = local_executor.LocalDeployment("ep", "green", tmp_path / "ep-green", error="RuntimeError: exited")
    broken.ready.set()
    owner = SimpleNamespace(deployments={("ep", "blue"): starting, ("ep", "green"): broken}, layout=Layout(tmp_path))
    status, body = local_executor.LocalExecutor.score(owner, "ep", "blue", b"{}", "Bearer k")
    assert status == 503 and "is starting" in body["error"]["message"]
    status, body = local_executor.LocalExecutor.score(owner, "ep", "green", b"{}", "Bearer k")
    assert status == 503 and "failed to start (RuntimeError: exited)" in body["error"]["message"]
    assert f"see {tmp_path / 'deployments' / 'ep-green' / 'scoring.log'}" in body["error"]["message"]
    status, body = local_executor.LocalExecutor.score(owner, "ep", "red", b"{}", "Bearer k")
    assert status == 404 and "no running deployment 'red'" in body["error"]["message"]
