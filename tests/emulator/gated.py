"""The tests' backend of the emulated workspace: nothing runs; jobs and deployments only move through their states.

A job is Queued, then Running, for the latency the test gave (Faults.latency), or Running for as long as its gate
("job:<name>", opened by the test) stays closed; then Completed, or Failed when the test named it in failing_jobs.
A completed evaluation job logs figures to the workspace's MLflow store, as Azure lays them out: those compute_metrics
computes from the answers and references the test gave for it (Behaviour.evaluation_answers), which are then also its
`predictions` and `ground_truth` outputs (what `jobs.download` fetches), else the figures the test gave
(Behaviour.evaluation_metrics). A FineTuning job moves the same way (the workspace registers its model once it has
completed); a cancelled job is Canceled. Deployments and serverless endpoints start at once (the workspace's own gates
and latency hold their operation); scoring and chat completions answer the test's answer to the conversation
(Behaviour.served_answers), else an echo of its last user message.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Sequence

from generator.emulator.answers import chat_error, scoring_error
from generator.emulator.backend import JobOutputs, Resource, ScoringAnswer, WorkspaceStore
from generator.evaldata.eval_data import LABEL_COLUMN
from generator.request import ChatRequestError, parse_chat_request, parse_request

if TYPE_CHECKING:
    from tests.emulator.harness import Behaviour


def log_evaluation_runs(store: str, experiment: str, job: str, metrics: dict[str, float]) -> None:
    """An evaluation pipeline job's runs as Azure lays them out: the job's run, a child run per step (eval_data,
    model_prediction, compute_metrics), each tagged mlflow.rootRunId = the job, and the scalar metrics on the
    compute_metrics step's run (Azure/azureml-assets assets/training/model_evaluation/src/utils.py `_log_metrics`
    @4b41f8cc: `run.log(name, score)` on the step's own run)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found is not None else client.create_experiment(experiment)
    root = client.create_run(experiment_id, run_name=job).info.run_id
    tags = {"mlflow.rootRunId": job, "mlflow.parentRunId": root}
    for step in ("eval_data", "model_prediction"):
        client.set_terminated(client.create_run(experiment_id, run_name=step, tags=tags).info.run_id)
    step = client.create_run(experiment_id, run_name="compute_metrics", tags=tags).info.run_id
    for name, value in metrics.items():
        client.log_metric(step, name, float(value))
    client.set_terminated(step)
    client.set_terminated(root)


# The records of model_prediction's outputs (Azure/azureml-assets assets/training/model_evaluation/src/
# model_prediction.py writes both with `to_json(…, orient="records", lines=True)`; constants.py
# ChatCompletionConstants.OUTPUT = "predictions"; the label column is generator/evaldata/eval_data.py LABEL_COLUMN). The
# service's `prediction_appended` (the conversation with its answer) is left out: a test gives answers only. The file
# names are the local evaluation job's (generator/local/evaluate.py); Azure's names for these uri_file outputs are not
# in any public source (docs/facts.md, "A job's named outputs").
PREDICTIONS, GROUND_TRUTH = "predictions", "ground_truth"


def jsonl(records: Sequence[dict[str, str]]) -> bytes:
    """One JSON document a line, as pandas' `to_json(orient="records", lines=True)` writes them."""
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode()


def evaluation_outputs(predictions: Sequence[str], ground_truths: Sequence[str]) -> JobOutputs:
    """The `predictions` and `ground_truth` outputs of an evaluation job that gave these answers."""
    return {PREDICTIONS: {f"{PREDICTIONS}.jsonl": jsonl([{PREDICTIONS: answer} for answer in predictions])},
            GROUND_TRUTH: {f"{GROUND_TRUTH}.jsonl": jsonl([{LABEL_COLUMN: truth} for truth in ground_truths])}}


def requested_metrics(props: dict[str, Any]) -> list[str]:
    """The metrics the job's compute_metrics node asks for (its evaluation_config_params' `metrics`), else all
    those generator.textmetrics computes."""
    from generator.textmetrics import METRICS

    given = (((props.get("jobs") or {}).get("compute_metrics") or {}).get("inputs") or {}).get(
        "evaluation_config_params")
    raw = given.get("value") if isinstance(given, dict) else given
    try:
        names = json.loads(str(raw)).get("metrics") if raw else None
    except (ValueError, AttributeError):
        names = None
    return [str(n) for n in names] if isinstance(names, list) and names else list(METRICS)


class GatedBackend:
    """A Backend (generator/emulator/backend.py) whose jobs move by latency and gates, and whose deployments echo."""

    def __init__(self, behaviour: Behaviour, mlflow_store: Callable[[], str | None]):
        self.behaviour = behaviour
        self.mlflow_store = mlflow_store  # the workspace's tracking URI now (Emulator.mlflow_store, set by a test)
        self.jobs: dict[str, tuple[float, Resource]] = {}  # name -> (when submitted, resource)
        self.evaluations_logged: set[str] = set()  # evaluation jobs whose figures are in mlflow_store
        self.canceled: set[str] = set()
        self.serverless: dict[str, str] = {}  # serverless endpoint -> the model it serves
        self.lock = threading.Lock()
        self.logging = threading.Lock()  # evaluation figures being logged (_log_evaluation)

    def attach(self, store: WorkspaceStore) -> None:
        """Nothing to read: no job runs."""

    def submit_job(self, name: str, resource: Resource) -> None:
        """Remember when the job was submitted: its states follow from that."""
        with self.lock:
            self.jobs.setdefault(name, (time.monotonic(), resource))

    def job_status(self, name: str) -> tuple[str, str | None]:
        """By the gate, the latency, failing_jobs; a completed evaluation job's figures are logged once."""
        behaviour, now = self.behaviour, time.monotonic()
        submitted, resource = self.jobs.get(name, (now, {}))
        elapsed, latency = now - submitted, behaviour.latency
        if name in self.canceled:
            return "Canceled", None
        if behaviour.held("job", name):
            return "Running", None
        if elapsed < latency.job_queued:
            return "Queued", None
        if elapsed < latency.job_queued + latency.job_running:
            return "Running", None
        if name in behaviour.failing_jobs:
            return "Failed", "finetune step failed: CUDA out of memory"
        self._log_evaluation(name, resource.get("properties") or {})
        return "Completed", None

    def cancel_job(self, name: str) -> None:
        """A job that has not ended is Canceled from now on."""
        if name in self.jobs and self.job_status(name)[0] not in ("Completed", "Failed", "Canceled"):
            self.canceled.add(name)

    def _log_evaluation(self, name: str, props: dict[str, Any]) -> None:
        answers, store = self.behaviour.evaluation_answers.get(name), self.mlflow_store()
        figures = self.behaviour.evaluation_metrics.get(name)
        if (figures is None and answers is None) or store is None or "compute_metrics" not in (props.get("jobs")
                                                                                               or {}):
            return
        # Held while the figures are logged: a poll that asks meanwhile waits, so no caller sees the job Completed
        # before its figures are in the store (it did, under load: the gate then found no metric, exit 2).
        with self.logging:
            if name in self.evaluations_logged:
                return
            if answers is not None:
                from generator.textmetrics import compute_metrics

                figures = compute_metrics(answers[0], answers[1], requested_metrics(props))
            log_evaluation_runs(store, str(props.get("experimentName") or "Default"), name, figures or {})
            self.evaluations_logged.add(name)

    def job_outputs(self, name: str) -> JobOutputs:
        """A completed evaluation job's `predictions` and `ground_truth` (those of its declared outputs), from the
        answers and references the test gave for it; nothing for any other job."""
        answers, submitted = self.behaviour.evaluation_answers.get(name), self.jobs.get(name)
        if answers is None or submitted is None or self.job_status(name)[0] != "Completed":
            return {}
        declared = (submitted[1].get("properties") or {}).get("outputs") or {}
        return {output: files for output, files in evaluation_outputs(*answers).items() if output in declared}

    def job_log(self, name: str) -> str:
        """The lines of a job's steps so far."""
        status = self.job_status(name)[0]
        if (self.jobs.get(name, (0.0, {}))[1].get("properties") or {}).get("jobType") == "FineTuning":
            return f"[emulator] fine-tuning job {name}: {status.lower()}\n"
        lines = ["[emulator] step model_import: queued"]
        if status != "Queued":
            lines += ["[emulator] step model_import: done", "[emulator] step finetune: running"]
        if status in ("Completed", "Failed"):
            lines.append(f"[emulator] step finetune: {status.lower()}")
        return "\n".join(lines) + "\n"

    def start_deployment(self, endpoint: str, name: str, resource: Resource) -> None:
        """Nothing to start."""

    def deployment_status(self, endpoint: str, name: str) -> str:
        """Ready at once: the workspace's gate and latency hold the operation."""
        return "Succeeded"

    def score(self, endpoint: str, deployment: str | None, body: bytes, authorization: str) -> ScoringAnswer:
        """The test's answer to this conversation (Behaviour.served_answers), else an echo of the last user message;
        400 for a request the scoring contract refuses."""
        try:
            conversation, _ = parse_request(body)
        except ValueError as exc:
            return 400, scoring_error(400, str(exc))
        given = self.behaviour.served_answers.get(json.dumps(conversation))
        if given is not None:
            return 200, {"output": given}
        last = ([m["content"] for m in conversation if m["role"] == "user"] or [""])[-1]
        return 200, {"output": f"(emulated answer to: {last[:60]})"}

    def start_serverless(self, name: str, resource: Resource, model: str) -> None:
        """Remember which model the endpoint serves (its chat answers name it)."""
        self.serverless[name.lower()] = model

    def serverless_status(self, name: str) -> str:
        """Ready at once: the workspace's gate and latency hold the operation."""
        return "Succeeded"

    def chat(self, name: str, body: bytes, extra_parameters: str | None) -> ScoringAnswer:
        """A chat completion in the reference's shape (reference-model-inference-chat-completions.md @9829b8ac):
        the test's answer to the conversation (Behaviour.served_answers) or an echo of its last user message, usage
        counted in words (nothing here tokenizes); 400 or 422 for a request the contract refuses."""
        try:
            conversation, _ = parse_chat_request(body, extra_parameters)
        except ChatRequestError as exc:
            return exc.status, chat_error(exc.status, str(exc), exc.loc, exc.value)
        answer = self.behaviour.endpoint_answers.get(name.lower(), {}).get(json.dumps(conversation),
                                                                           self.behaviour.served_answers.get(
                                                                               json.dumps(conversation)))
        if answer is None:
            last = ([m["content"] for m in conversation if m["role"] == "user"] or [""])[-1]
            answer = f"(emulated answer to: {last[:60]})"
        prompt = sum(len(m["content"].split()) for m in conversation)
        model = self.serverless.get(name.lower(), "").rstrip("/").split("/models/")[-1].split("/")[0]
        return 200, {"id": uuid.uuid4().hex, "object": "chat.completion", "created": int(time.time()), "model": model,
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": answer}}],
                     "usage": {"prompt_tokens": prompt, "completion_tokens": len(answer.split()),
                               "total_tokens": prompt + len(answer.split())}}

    def stop_serverless(self, name: str) -> None:
        """Forget the endpoint."""
        self.serverless.pop(name.lower(), None)

    def stop_deployment(self, endpoint: str, name: str) -> None:
        """Nothing to stop."""

    def stop_endpoint(self, endpoint: str) -> None:
        """Nothing to stop."""

    def prepare_store(self) -> None:
        """The test made its MLflow store."""
