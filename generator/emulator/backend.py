"""The seams between the emulated workspace and what runs its jobs and deployments.

`Backend` runs jobs and serves deployments and serverless endpoints; the workspace calls it when a job, a deployment
or a serverless endpoint is PUT (or a job cancelled), asks it for their state and a finished job's output files,
forwards scoring and chat completions requests to it, and tells it when an endpoint or a deployment is deleted. Two
implementations: the local runtime (generator/local/executor.py), which really trains and serves, and the tests'
gated backend (tests/emulator/gated.py), where a test opens each gate.

`WorkspaceStore` is the read API a backend gets on the workspace's store: the resources and blobs it needs to run a
job (data assets, a registered model) or to route a request, never the emulator's own dictionaries.
"""

from __future__ import annotations

from typing import Any, Protocol

Resource = dict[str, Any]  # an ARM resource as stored: id, name, type, properties, …
ScoringAnswer = tuple[int, Any]  # (HTTP status, JSON body)
JobOutputs = dict[str, dict[str, bytes]]  # output name -> {path of a file inside the output: its content}


class WorkspaceStore(Protocol):
    """What a backend reads of the workspace: resources by ARM id, blobs by path, the endpoint key."""

    def resource(self, arm_id: str) -> Resource | None:
        """A copy of the resource stored at `arm_id` (any case), or None."""

    def blob(self, path: str) -> bytes | None:
        """The content of the blob at `path` (`/<container>/<name>`), or None."""

    def endpoint(self, name: str) -> Resource | None:
        """A copy of online endpoint `name` of the workspace, or None."""

    @property
    def scoring_key(self) -> str:
        """The key every endpoint of the workspace accepts."""


class Backend(Protocol):
    """Runs the workspace's jobs and serves its deployments."""

    def attach(self, store: WorkspaceStore) -> None:
        """Read the workspace through `store` from now on (the workspace calls it once, when it is made)."""

    def submit_job(self, name: str, resource: Resource) -> None:
        """Start running job `name` (its resource as stored: a pipeline job, or a FineTuning job whose
        `fineTuningDetails` say what to fine-tune); called once per new job."""

    def cancel_job(self, name: str) -> None:
        """Cancel job `name` if it has not ended (its status becomes Canceled); nothing for an ended job."""

    def job_status(self, name: str) -> tuple[str, str | None]:
        """(status, error) of job `name` now: NotStarted, Queued, Running, Completed, Failed or Canceled."""

    def job_log(self, name: str) -> str:
        """The job's log so far."""

    def job_outputs(self, name: str) -> JobOutputs:
        """The files of job `name`'s named outputs once it has completed, by output name (`jobs.download(name,
        output_name=…)` reads them: generator/emulator/routes_data.py); empty before, and for an output it has no
        files for."""

    def start_deployment(self, endpoint: str, name: str, resource: Resource) -> None:
        """(Re)start serving deployment `name` of `endpoint` (its resource as stored)."""

    def deployment_status(self, endpoint: str, name: str) -> str:
        """InProgress while the deployment starts, then Succeeded or Failed."""

    def score(self, endpoint: str, deployment: str | None, body: bytes, authorization: str) -> ScoringAnswer:
        """The answer of `deployment` (None: the endpoint's) to a scoring request whose key the workspace checked."""

    def stop_deployment(self, endpoint: str, name: str) -> None:
        """Stop serving one deployment (it was deleted)."""

    def stop_endpoint(self, endpoint: str) -> None:
        """Stop serving every deployment of an endpoint (it was deleted)."""

    def start_serverless(self, name: str, resource: Resource, model: str) -> None:
        """(Re)start serving serverless endpoint `name` (its resource as stored) for `model`: the ARM id of a model
        version of the workspace (`/subscriptions/…/models/<name>/versions/<version>`), or a registry model
        (`azureml://registries/<registry>/models/<name>`)."""

    def serverless_status(self, name: str) -> str:
        """InProgress while the serverless endpoint starts, then Succeeded or Failed."""

    def chat(self, name: str, body: bytes, extra_parameters: str | None) -> ScoringAnswer:
        """The answer of serverless endpoint `name` to a chat completions request whose key the workspace checked
        (`extra_parameters`: the request's `extra-parameters` header)."""

    def stop_serverless(self, name: str) -> None:
        """Stop serving serverless endpoint `name` (it was deleted)."""

    def prepare_store(self) -> None:
        """Make the MLflow store the jobs log to ready before the workspace's MLflow routes read it."""
