"""Where the local workspace keeps its files, in one place: under its state folder (`.local-workspace/`).

jobs/<job>/                 a job's folder: std_log.txt (its log), job.json (what its program reads), its data
                            files, status.json (how it ended), outputs/ (trained_model, pytorch_model_folder, or an
                            evaluation's steps: eval_data/, model_prediction/ predictions.jsonl and ground_truth.jsonl,
                            evaluation_result/)
deployments/<ep>-<dep>/     a deployment's scoring server: scoring.log, port
serverless/<endpoint>/      a serverless endpoint's scoring server (chat completions): scoring.log, port
mlflow.db                   the MLflow store the jobs log to (also served to azureml-mlflow)
models.json                 registry model name -> a Hugging Face folder that replaces the stand-in (local start
                            --model)

The workspace process's own files are named where they are written: workspace.json, daemon.lock, workspace.log and
tls/ by generator/local/daemon.py, resources.json and blobs/ (the saved store) by generator/local/persist.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODELS_FILE = "models.json"
JOB_STATUS = "status.json"
# An evaluation job's named outputs (its pipeline's `predictions` and `ground_truth`, bound to model_prediction's) and
# the file under the job's outputs/ that generator/local/evaluate.py writes for each.
EVALUATION_OUTPUTS = {"predictions": "model_prediction/predictions.jsonl",
                      "ground_truth": "model_prediction/ground_truth.jsonl"}


@dataclass(frozen=True)
class Layout:
    """The files of the local workspace whose state folder is `root`."""

    root: Path

    def job(self, name: str) -> Path:
        """The folder of job `name`."""
        return self.root / "jobs" / name

    def job_log(self, name: str) -> Path:
        """The log of job `name` (what `jobs.stream` would show)."""
        return self.job(name) / "std_log.txt"

    def job_status(self, name: str) -> Path:
        """How job `name` ended (written when it ends, read when the workspace starts again)."""
        return self.job(name) / JOB_STATUS

    def job_outputs(self, job: str) -> Path:
        """The folder of job `job`'s named outputs (one folder, or file, each)."""
        return self.job(job) / "outputs"

    def job_output(self, job: str, output: str) -> Path:
        """Job `job`'s named output `output` (a folder or a file)."""
        return self.job_outputs(job) / output

    def trained_model(self, job: str) -> Path:
        """The MLflow model a fine-tune job writes (a pipeline job's trained_model output, a FineTuning job's
        registered_model)."""
        return self.job_output(job, "trained_model")

    def evaluation_output(self, job: str, output: str) -> Path:
        """The file of named output `output` (a key of EVALUATION_OUTPUTS) of evaluation job `job`."""
        return self.job(job) / "outputs" / EVALUATION_OUTPUTS[output]

    def deployment(self, endpoint: str, name: str) -> Path:
        """The folder of deployment `name` of `endpoint`."""
        return self.root / "deployments" / f"{endpoint}-{name}"

    def scoring_log(self, endpoint: str, name: str) -> Path:
        """The log of the deployment's scoring server."""
        return self.deployment(endpoint, name) / "scoring.log"

    def serverless(self, name: str) -> Path:
        """The folder of serverless endpoint `name`."""
        return self.root / "serverless" / name

    def serverless_log(self, name: str) -> Path:
        """The log of the serverless endpoint's scoring server."""
        return self.serverless(name) / "scoring.log"

    @property
    def tracking_uri(self) -> str:
        """The MLflow store the jobs log to."""
        return f"sqlite:///{self.mlflow_db}"

    @property
    def mlflow_db(self) -> Path:
        """The MLflow store's sqlite file."""
        return self.root / "mlflow.db"

    @property
    def models_file(self) -> Path:
        """Which Hugging Face folder replaces the stand-in for a registry model (`local start --model`)."""
        return self.root / MODELS_FILE
