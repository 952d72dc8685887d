"""What makes the local workspace real: jobs train (or evaluate) in a child process, deployments and serverless
endpoints serve in one (both forked from a process that has imported the libraries once: generator/local/warm.py).

The workspace's backend (generator/emulator/backend.py `Backend`): it calls `submit_job` when a pipeline or a
FineTuning job is PUT, `start_deployment` when a deployment is, `start_serverless` when a serverless endpoint is,
`score` and `chat` for their scoring URIs and `stop_endpoint` / `stop_serverless` on delete; what the executor reads
of the workspace goes through the store's read API (`WorkspaceStore`), never its dictionaries.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from generator.emulator.answers import chat_error, scoring_error
from generator.emulator.backend import JobOutputs, Resource, ScoringAnswer, WorkspaceStore
from generator.local import servers
from generator.local.finetune import THREADS_VARIABLE, store_lock
from generator.local.jobspec import JobInputs
from generator.local.layout import EVALUATION_OUTPUTS, Layout
from generator.local.mlflow_store import create_store
from generator.local.persist import save_job_status
from generator.local.scoring import (
    CHAT,
    DEFAULT_REQUEST_TIMEOUT_MS,
    KEY_VARIABLE,
    MODEL_NAME_VARIABLE,
    REQUEST_TIMEOUT_VARIABLE,
    SCORE,
    STAND_IN,
)
from generator.local.servers import LocalDeployment
from generator.local.warm import WarmProcess

# Offline, and no progress bars or advisory warnings in the job and scoring logs.
QUIET_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
             "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
             "TRANSFORMERS_VERBOSITY": "error", "PYTHONWARNINGS": "ignore"}


def request_timeout_ms(resource: Resource) -> int:
    """The deployment's request_settings.request_timeout_ms, from the ISO 8601 duration the SDK sends."""
    import isodate

    raw = ((resource.get("properties") or {}).get("requestSettings") or {}).get("requestTimeout")
    try:
        return int(isodate.parse_duration(raw).total_seconds() * 1000) if raw else DEFAULT_REQUEST_TIMEOUT_MS
    except (isodate.ISO8601Error, TypeError, ValueError):
        return DEFAULT_REQUEST_TIMEOUT_MS


@dataclass
class LocalJob:
    """A pipeline job run by this machine."""

    name: str
    folder: Path
    status: str = "Queued"
    error: str | None = None
    process: WarmProcess | None = None
    evaluation: bool = False  # an evaluation job (it and the jobs after it wait: _blockers)
    canceled: threading.Event = field(default_factory=threading.Event)  # set by jobs.begin_cancel's thread
    submitted: float = field(default_factory=time.monotonic)


STARTING_WAIT = 60.0  # seconds a scoring request waits for a deployment whose server is starting (after restore)


class LocalExecutor:
    """Runs jobs and deployments for the local workspace, keeping their files under `state_dir`."""

    def __init__(self, state_dir: Path, cert_pem: Path, ca_pem: Path):
        self.state_dir = state_dir
        self.layout = Layout(state_dir)
        self.cert_pem, self.ca_pem = cert_pem, ca_pem
        self._store: WorkspaceStore | None = None  # the workspace's read API, given by the workspace (attach)
        self.jobs: dict[str, LocalJob] = {}
        self.deployments: dict[tuple[str, str], LocalDeployment] = {}
        self.serverless: dict[str, LocalDeployment] = {}
        self.lock = threading.RLock()
        self.store_ready = False  # the MLflow store's tables exist (prepare_store)
        self.store_guard = threading.Lock()

    # ------------------------------------------------------------------ resolving references
    def attach(self, store: WorkspaceStore) -> None:
        """Read the workspace through `store` (the workspace calls it when it is made with this backend)."""
        self._store = store

    @property
    def store(self) -> WorkspaceStore:
        """The workspace's store (read API)."""
        if self._store is None:
            raise RuntimeError("the executor is not attached to a workspace")
        return self._store

    def inputs(self) -> JobInputs:
        """What a job names (data assets, models), resolved through the workspace's store."""
        return JobInputs(self.layout, self.store)

    # ------------------------------------------------------------------ jobs
    def adopt_job(self, name: str, folder: Path, status: str, error: str | None) -> None:
        """Know a job that ended before this workspace started (restored from its saved state)."""
        self.jobs[name] = LocalJob(name, folder, status, error)

    def submit_job(self, name: str, resource: Resource) -> None:
        """Start running the pipeline job `name` in the background."""
        with self.lock:
            if name in self.jobs:
                return
            job = LocalJob(name, self.layout.job(name),
                           evaluation="compute_metrics" in (resource.get("properties", {}).get("jobs") or {}))
            self.jobs[name] = job
        job.folder.mkdir(parents=True, exist_ok=True)
        threading.Thread(target=self._run_job, args=(job, resource), daemon=True).start()

    def prepare_store(self) -> None:
        """Make the MLflow store's tables once, under the store's lock, before any job runs or any MLflow read is
        answered: two processes that open a new sqlite store side by side (a training and an evaluation job, or the
        runner reading metrics) would otherwise both run MLflow's migrations, and one fails ("No such constraint").

        A new store is a copy of an empty one (generator/local/mlflow_store.py): the daemon used to run MLflow's
        migrations when the demo's fine-tune was submitted, which waited for them."""
        with self.store_guard:
            if self.store_ready:
                return
            db = self.layout.mlflow_db
            with store_lock(f"sqlite:///{db}"):
                create_store(db)
            self.store_ready = True

    def _blockers(self, job: LocalJob) -> list[str]:
        """The unfinished jobs submitted before `job` that it waits for: all of them, except that fine-tunes do not
        wait for fine-tunes (a sweep's points train side by side, sharing the cores).

        An evaluation job loads a model in its own process, as a fine-tune does. Side by side, the demo's training and
        base evaluation took its processes to 3.77 GiB (the demo's limit is 3 GiB: docs/local.md), and on a machine's
        few shared cores they finish no sooner than one after the other. On Azure each job gets its own compute."""
        with self.lock:
            return [other.name for other in self.jobs.values() if other is not job and not other.canceled.is_set()
                    and other.status in ("Queued", "Running") and other.submitted < job.submitted
                    and (job.evaluation or other.evaluation)]

    def _wait_for_memory(self, job: LocalJob, handle: IO[str]) -> None:
        """Keep a job queued while _blockers names a job; say so once in its log."""
        said = False
        while not job.canceled.is_set() and (blockers := self._blockers(job)):
            if not said:
                handle.write(f"[local] queued behind {', '.join(blockers)}: one model-loading job at a time on "
                             "this machine (memory)\n")
                handle.flush()
                said = True
            time.sleep(0.5)

    def _run_job(self, job: LocalJob, resource: Resource) -> None:
        log = self.layout.job_log(job.name)
        try:
            self.prepare_store()
            evaluation = job.evaluation
            module, spec, first = self.inputs().spec(job.name, resource["properties"])
            (job.folder / "job.json").write_text(json.dumps(spec, indent=2))
            with open(log, "w", encoding="utf-8") as handle:
                self._wait_for_memory(job, handle)
                env = {**os.environ, **QUIET_ENV, THREADS_VARIABLE: str(self._threads_per_job())}
                handle.write(f"[local] {job.name}: {first}\n")
                handle.flush()
                with self.lock:
                    if job.canceled.is_set():
                        raise RuntimeError("cancelled before it started")
                    job.status = "Running"
                    job.process = WarmProcess(module, [str(job.folder / "job.json")], log, env, self.state_dir)
                code = job.process.wait()
            if job.canceled.is_set():
                job.status, job.error = "Canceled", "cancelled (jobs.begin_cancel)"
            elif code == 0:
                job.status = "Completed"
            else:
                what = "evaluation" if evaluation else "fine-tuning"
                job.status, job.error = "Failed", f"{what} exited with code {code}: {self._last_line(log)}"
        except Exception as exc:  # any failure to start the job is the job's failure, shown by jobs.get
            job.status, job.error = ("Canceled", "cancelled (jobs.begin_cancel)") if job.canceled.is_set() else (
                "Failed", f"{type(exc).__name__}: {exc}")
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"[local] failed: {job.error}\n")
        if job.status in ("Completed", "Failed", "Canceled"):
            save_job_status(job.folder, job.status, job.error)

    def cancel_job(self, name: str) -> None:
        """Cancel a job that has not ended: its process is stopped (or never started) and it ends Canceled."""
        with self.lock:
            job = self.jobs.get(name)
            if job is None or job.status not in ("Queued", "Running"):
                return
            job.canceled.set()
            process = job.process
            if process is None:  # still queued: it never starts
                job.status, job.error = "Canceled", "cancelled (jobs.begin_cancel)"
        if process is not None and process.poll() is None:
            process.terminate()

    def _threads_per_job(self) -> int:
        """This machine's cores shared among the jobs that run side by side (a sweep's points): each torch process
        takes every core by default, and two such processes on two cores run slower than one after the other.

        A job counts when nothing blocks it (_blockers, decided by the order of submission), not by whether its
        thread has reached its queue yet: the demo's fine-tune once got one core of two because the base
        evaluation, submitted a moment later, had not yet said it waits."""
        with self.lock:
            side_by_side = sum(1 for job in self.jobs.values()
                               if job.status in ("Queued", "Running") and not self._blockers(job))
        return max(1, (os.cpu_count() or 1) // max(1, side_by_side))

    @staticmethod
    def _last_line(log: Path) -> str:
        lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        return lines[-1] if lines else "no output"

    def job_status(self, name: str) -> tuple[str, str | None]:
        """(status, error) of a job."""
        job = self.jobs.get(name)
        return (job.status, job.error) if job else ("NotStarted", None)

    def job_log(self, name: str) -> str:
        """The job's log so far."""
        job = self.jobs.get(name)
        path = self.layout.job_log(name) if job else None
        return path.read_text(encoding="utf-8", errors="replace") if path and path.is_file() else ""

    def job_outputs(self, name: str) -> JobOutputs:
        """A completed evaluation job's `predictions` and `ground_truth`: the files generator/local/evaluate.py wrote
        (layout.EVALUATION_OUTPUTS), each under its own name; nothing for another job or before it completed."""
        if self.job_status(name)[0] != "Completed":
            return {}
        files = {output: self.layout.evaluation_output(name, output) for output in EVALUATION_OUTPUTS}
        return {output: {path.name: path.read_bytes()} for output, path in files.items() if path.is_file()}

    # ------------------------------------------------------------------ deployments
    def start_deployment(self, endpoint: str, name: str, resource: Resource) -> None:
        """(Re)start the scoring server of a deployment."""
        key = (endpoint.lower(), name.lower())
        with self.lock:
            old = self.deployments.pop(key, None)
        if old is not None:
            servers.stop(old)
        deployment = LocalDeployment(endpoint, name, self.layout.deployment(endpoint, name))
        with self.lock:
            self.deployments[key] = deployment
        threading.Thread(target=self._serve, args=(deployment, resource), daemon=True).start()

    def _serve(self, deployment: LocalDeployment, resource: Resource) -> None:
        env = {**os.environ, **QUIET_ENV, KEY_VARIABLE: self.store.scoring_key,
               REQUEST_TIMEOUT_VARIABLE: str(request_timeout_ms(resource))}
        servers.serve(deployment, lambda: str(self.inputs().model_dir(resource["properties"]["model"])), self.cert_pem,
                      env, self.layout.scoring_log(endpoint=deployment.endpoint, name=deployment.name), self.state_dir)

    def deployment_status(self, endpoint: str, name: str) -> str:
        """InProgress until the scoring server listens; then Succeeded (or Failed)."""
        deployment = self.deployments.get((endpoint.lower(), name.lower()))
        if deployment is None or not deployment.ready.is_set():
            return "InProgress"
        return "Failed" if deployment.error else "Succeeded"

    def score(self, endpoint: str, deployment: str | None, body: bytes, authorization: str) -> ScoringAnswer:
        """Forward a scoring request to the deployment (by header, else the endpoint's traffic)."""
        if deployment is None:
            traffic = ((self.store.endpoint(endpoint) or {}).get("properties") or {}).get("traffic") or {}
            deployment = max(traffic, key=lambda name: int(traffic[name])) if traffic else None
        target = self.deployments.get((endpoint.lower(), (deployment or "").lower()))
        if target is not None and not target.ready.wait(STARTING_WAIT):  # restored by `local start`: still loading
            return 503, scoring_error(503, f"deployment {deployment!r} on endpoint {endpoint} is starting (the local "
                                           "workspace is loading its model); try again in a minute")
        if target is not None and target.error:
            log = self.layout.scoring_log(endpoint=target.endpoint, name=target.name)
            return 503, scoring_error(503, f"deployment {deployment!r} on endpoint {endpoint} failed to start "
                                           f"({target.error}); see {log}")
        if target is None or target.port is None:
            return 404, scoring_error(404, f"no running deployment {deployment!r} on endpoint {endpoint}")
        return servers.forward(target, SCORE, body, {"Authorization": authorization}, self.ca_pem)

    def stop_deployment(self, endpoint: str, name: str) -> None:
        """Stop one deployment's scoring server (it was deleted)."""
        with self.lock:
            stopped = self.deployments.pop((endpoint.lower(), name.lower()), None)
        if stopped is not None:
            servers.stop(stopped)

    def stop_endpoint(self, endpoint: str) -> None:
        """Stop every scoring server of an endpoint."""
        with self.lock:
            doomed = [k for k in self.deployments if k[0] == endpoint.lower()]
            stopped = [self.deployments.pop(k) for k in doomed]
        for deployment in stopped:
            servers.stop(deployment)

    # ------------------------------------------------------------------ serverless endpoints
    def start_serverless(self, name: str, resource: Resource, model: str) -> None:
        """(Re)start the scoring server of a serverless endpoint for `model` (a model version's ARM id: its job's
        output; or a registry model: the `local start --model` folder, else the stand-in)."""
        with self.lock:
            old = self.serverless.pop(name.lower(), None)
        if old is not None:
            servers.stop(old)
        server = LocalDeployment(name, "", self.layout.serverless(name))
        with self.lock:
            self.serverless[name.lower()] = server
        served = model.rstrip("/").split("/models/")[-1].split("/")[0]
        env = {**os.environ, **QUIET_ENV, KEY_VARIABLE: self.store.scoring_key, MODEL_NAME_VARIABLE: served}
        threading.Thread(target=servers.serve, args=(server, lambda: self._served_model(model), self.cert_pem, env,
                                                     self.layout.serverless_log(name), self.state_dir),
                         daemon=True).start()

    def _served_model(self, model: str) -> str:
        if model.startswith("/subscriptions/"):
            return str(self.inputs().model_dir(model))
        chosen = self.inputs().foundation_model_dir(model)
        return str(chosen) if chosen else STAND_IN

    def serverless_status(self, name: str) -> str:
        """InProgress until the scoring server listens; then Succeeded (or Failed)."""
        server = self.serverless.get(name.lower())
        if server is None or not server.ready.is_set():
            return "InProgress"
        return "Failed" if server.error else "Succeeded"

    def chat(self, name: str, body: bytes, extra_parameters: str | None) -> ScoringAnswer:
        """Forward a chat completions request to the serverless endpoint's scoring server."""
        server = self.serverless.get(name.lower())
        if server is not None and not server.ready.wait(STARTING_WAIT):  # restored by `local start`: still loading
            return 503, chat_error(503, f"serverless endpoint {name} is starting (the local workspace is loading its "
                                        "model); try again in a minute")
        if server is None or server.error or server.port is None:
            why = f"failed to start ({server.error}); see {server.folder / 'scoring.log'}" if server else "not running"
            return 503, chat_error(503, f"serverless endpoint {name} {why}")
        headers = {"Authorization": self.store.scoring_key}
        if extra_parameters is not None:
            headers["extra-parameters"] = extra_parameters
        return servers.forward(server, CHAT, body, headers, self.ca_pem)

    def stop_serverless(self, name: str) -> None:
        """Stop a serverless endpoint's scoring server (it was deleted)."""
        with self.lock:
            stopped = self.serverless.pop(name.lower(), None)
        if stopped is not None:
            servers.stop(stopped)

    def stop_all(self) -> None:
        """Stop every scoring server and running job."""
        for endpoint in {k[0] for k in list(self.deployments)}:
            self.stop_endpoint(endpoint)
        for name in list(self.serverless):
            self.stop_serverless(name)
        for job in self.jobs.values():
            if job.process is not None and job.process.poll() is None:
                job.process.terminate()
