"""Start the workspace emulator for a test: certificates, cloud settings, credentials, and what a test holds.

`Emulator` here is the product's (generator/emulator/workspace.py) with the tests' gated backend
(tests/emulator/gated.py) and the hooks a test uses: gates it opens, the requests it counts or waits for.
`Behaviour` is everything a test sets in one value: the workspace's settings, the faults to inject, and what
evaluation jobs log and write.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from generator.emulator import workspace
from generator.emulator.connect import LocalCredential, cloud_settings, install_dns, make_certificates
from generator.emulator.faults import Faults
from generator.emulator.settings import Settings
from tests.emulator.gated import GatedBackend

__all__ = ["Behaviour", "Emulator", "EmulatorCredential", "RejectingCredential", "evaluation_job_body", "install_dns",
           "start_emulator"]


@dataclass
class Behaviour(Settings, Faults):
    """The workspace's settings and the faults to inject, plus what each evaluation job gives when it completes, by
    job name (figures written to `Emulator.mlflow_store` as Azure lays them out: gated.log_evaluation_runs):
    - `evaluation_answers[job] = (predictions, ground_truths)`: the job's answers and their reference answers, in
      the same order. They are its `predictions` and `ground_truth` outputs (`jobs.download(job, output_name=…)`),
      and the figures it logs are generator.textmetrics.compute_metrics' of them, for the metrics its
      compute_metrics node asks for; this wins over `evaluation_metrics`.
    - `evaluation_metrics[job] = {metric: figure}`: the figures it logs, with no outputs to download.
    And what a deployment or a serverless endpoint answers: `served_answers[json.dumps(conversation)] = answer` for
    a scored conversation (its messages as the request sends them), else an echo of its last user message; one
    serverless endpoint's own answers first: `endpoint_answers[endpoint][json.dumps(conversation)] = answer`."""

    evaluation_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    evaluation_answers: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    served_answers: dict[str, str] = field(default_factory=dict)
    endpoint_answers: dict[str, dict[str, str]] = field(default_factory=dict)


class Emulator(workspace.Emulator):
    """The emulated workspace on the gated backend, recording every request for the test."""

    def __init__(self, cert_pem: str, key_pem: str, behaviour: Behaviour | None = None, **where: str):
        self.behaviour = behaviour or Behaviour()
        super().__init__(cert_pem, key_pem, GatedBackend(self.behaviour, lambda: self.mlflow_store), self.behaviour,
                         self.behaviour, **where)
        self.requests: list[tuple[str, str]] = []
        self.seen = threading.Condition(threading.Lock())
        self.on_request = self._record

    def _record(self, method: str, path: str) -> None:
        with self.lock:
            self.requests.append((method, path))
        with self.seen:
            self.seen.notify_all()

    def gate(self, kind: str, name: str) -> threading.Event:
        """A closed gate that holds resource `name` of `kind` (job, endpoint, deployment, compute) until set."""
        return self.behaviour.gates.setdefault(f"{kind}:{name}", threading.Event())

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
        """Block until `condition()` holds (checked at every request); raise TimeoutError naming `what` if never."""
        with self.seen:
            if not self.seen.wait_for(condition, timeout):
                raise TimeoutError(f"the emulator never saw {what}")

    def wait_for_request(self, method: str, contains: str, count: int) -> None:
        """Block until `count` requests with `method` and a path containing `contains` were served."""
        self.wait_until(lambda: self.count(method, contains) >= count, f"{count} x {method} {contains}")

    def count(self, method: str, contains: str = "") -> int:
        """How many requests with `method` (and a path containing `contains`) were served."""
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and contains.lower() in p.lower())


class EmulatorCredential(LocalCredential):
    """The local workspace's credential: an unsigned JWT with the right audience."""


class RejectingCredential:
    """A credential that cannot get a token (as when nobody is logged in)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        """Always fails the way azure-identity does."""
        from azure.core.exceptions import ClientAuthenticationError

        raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token from the included "
                                        "credentials. Attempted credentials: EnvironmentCredential, AzureCliCredential")


def start_emulator(folder: Path, behaviour: Behaviour | None = None,
                   location: str = "westeurope") -> tuple[Emulator, dict[str, Any]]:
    """Start an emulator with a fresh CA in `location`; return it and the config.json body that points at it."""
    server_pem, _ = make_certificates(folder)
    emulator = Emulator(str(server_pem), str(server_pem), behaviour, location=location).start()
    return emulator, cloud_settings(emulator, poll_interval=0.05)


def evaluation_job_body(metrics: list[str]) -> dict[str, Any]:
    """A pipeline job's PUT body shaped as the generated evaluation jobs' (templates/evaluation-job.yml.j2): the
    outputs `evaluation_result` (uri_folder), `predictions` and `ground_truth` (uri_file), and a compute_metrics node
    asking for `metrics`; what the gated backend reads of an evaluation job, without its data and model inputs."""
    registry = "azureml://registries/azureml/components"
    return {"properties": {
        "jobType": "Pipeline", "experimentName": "evaluation", "displayName": "evaluation",
        "outputs": {"evaluation_result": {"jobOutputType": "uri_folder", "mode": "ReadWriteMount"},
                    "predictions": {"jobOutputType": "uri_file", "mode": "ReadWriteMount"},
                    "ground_truth": {"jobOutputType": "uri_file", "mode": "ReadWriteMount"}},
        "jobs": {"model_prediction": {"type": "command", "componentId": f"{registry}/model_prediction/versions/0.0.37",
                                      "outputs": {"predictions": {"type": "literal",
                                                                  "value": "${{parent.outputs.predictions}}"},
                                                  "ground_truth": {"type": "literal",
                                                                   "value": "${{parent.outputs.ground_truth}}"}}},
                 "compute_metrics": {"type": "command", "componentId": f"{registry}/compute_metrics/versions/0.0.36",
                                     "inputs": {"evaluation_config_params": {
                                         "jobInputType": "literal", "value": json.dumps({"metrics": metrics})}}}}}}
