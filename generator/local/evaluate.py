"""The local evaluation job: eval_data → model_prediction → compute_metrics, for real, on this CPU.

Run by the local workspace as `python -m generator.local.evaluate JOB_JSON` for a pipeline job with those three
nodes (generated/<experiment>/evaluation-base.yml, evaluation-tuned.yml):

1. eval_data: the uploaded test conversations become model_prediction's rows with the component's own code
   (generator/evaldata/eval_data.py `convert`): each conversation cut before its last assistant turn, that turn as
   the reference answer;
2. model_prediction: the job's model (the stand-in for the registry model, or the registered model's MLflow
   folder) answers each row greedily with the job's `generator_config`, in batches of prompts of similar length
   (model_prediction's ChatCompletion.predict answers one at a time; the greedy answers are the same);
3. compute_metrics: the metrics under compute_metrics' names, computed as azureml-metrics 0.0.91 computes them
   for chat-completion, with the libraries it calls (rouge-score, nltk), logged on the
   compute_metrics step's run (a child of the job's run, tagged mlflow.rootRunId = job) and written in MLflow's
   EvaluationResult layout to `<evaluation_result>/evaluationResult/metrics.json`.

The metrics are generator/textmetrics.py's: the same code scores the answers for the evaluation gate.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from generator.textmetrics import compute_metrics

STEPS = ("eval_data", "model_prediction", "compute_metrics")


def log(message: str) -> None:
    """A line of the job's log."""
    print(message, flush=True)


def load_model(job: dict[str, Any]) -> Any:
    """The job's model as generator.local.pyfunc.ChatModel: the registered model's MLflow folder (loaded as the
    scoring server loads it), else a Hugging Face folder (`local start --model`), else the converted stand-in."""
    from generator.local.pyfunc import ChatModel
    from generator.local.standin import ensure_stand_in

    if job.get("mlflow_model"):
        import mlflow.pyfunc

        return mlflow.pyfunc.load_model(job["mlflow_model"]).unwrap_python_model()
    model = ChatModel()
    model.load(job.get("model_dir") or str(ensure_stand_in(say=log)))
    return model


def predict(model: Any, rows: list[dict[str, Any]], generator_config: dict[str, Any]) -> tuple[list[str], int, float]:
    """(answers, generated tokens, seconds): each row's conversation answered with `generator_config`, in batches
    (ChatModel.chat_many; model_prediction's ChatCompletion.predict answers one conversation at a time, which
    gives the same greedy answers here at more than twice the time)."""
    from generator.evaldata.eval_data import INPUT_COLUMN

    settings = {"do_sample": False, "temperature": 0.0, "max_new_tokens": 256, **generator_config}
    started = time.perf_counter()

    def progress(answered: int, tokens: int) -> None:
        log(f"model_prediction: {answered}/{len(rows)} answered, {tokens} tokens in "
            f"{time.perf_counter() - started:.0f} s")

    results = model.chat_many([row[INPUT_COLUMN] for row in rows], settings, progress=progress)
    return [text for text, _ in results], sum(count for _, count in results), time.perf_counter() - started


def write_jsonl(path: Path, records: Iterable[Any]) -> None:
    """`records` as one JSON document a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def write_evaluation_result(folder: Path, metrics: dict[str, float]) -> Path:
    """MLflow's EvaluationResult layout under `<folder>/evaluationResult` (mlflow models/evaluation/base.py
    EvaluationResult.save, as compute_metrics' `result.save` writes it): metrics.json, artifacts_metadata.json,
    artifacts/."""
    target = folder / "evaluationResult"
    (target / "artifacts").mkdir(parents=True, exist_ok=True)
    (target / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (target / "artifacts_metadata.json").write_text("{}", encoding="utf-8")
    return target / "metrics.json"


def log_runs(job: dict[str, Any], metrics: dict[str, float], step_metrics: dict[str, dict[str, float]]) -> None:
    """The job's runs as Azure lays them out: the job's run, a child run per step tagged mlflow.rootRunId = job,
    the scalar metrics on the compute_metrics step's run (azureml-assets src/utils.py `_log_metrics`)."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from generator.local.finetune import store_lock

    client = MlflowClient(job["tracking_uri"])
    with store_lock(job["tracking_uri"]):
        found = client.get_experiment_by_name(job["experiment"])
        experiment_id = found.experiment_id if found is not None else client.create_experiment(job["experiment"])
    root = client.create_run(experiment_id, run_name=job["run_name"]).info.run_id
    tags = {"mlflow.rootRunId": job["run_name"], "mlflow.parentRunId": root}
    for step in STEPS:
        run = client.create_run(experiment_id, run_name=step, tags=tags).info.run_id
        figures = metrics if step == "compute_metrics" else step_metrics.get(step, {})
        now = int(time.time() * 1000)
        client.log_batch(run, metrics=[Metric(name, float(value), now, 0) for name, value in figures.items()])
        client.set_terminated(run)
    client.set_terminated(root)


def run(job: dict[str, Any]) -> dict[str, float]:
    """The three steps of an evaluation job as `job` (written by generator/local/executor.py) says."""
    import torch

    from generator.evaldata.eval_data import LABEL_COLUMN, convert
    from generator.local.finetune import THREADS_VARIABLE
    from generator.local.layout import EVALUATION_OUTPUTS

    torch.set_num_threads(int(os.environ.get(THREADS_VARIABLE) or 0) or max(1, torch.get_num_threads()))
    outputs = Path(job["output_dir"])
    with open(job["conversations"], encoding="utf-8") as source:
        rows = list(convert(source, int(job["max_samples"])))
    if not rows:
        raise SystemExit(f"eval_data: {job['conversations']} has no conversation with a user turn and an answer")
    write_jsonl(outputs / "eval_data" / "test_data.jsonl", rows)
    log(f"eval_data: {len(rows)} held-out conversation(s), each cut before its last assistant turn")
    started = time.perf_counter()
    model = load_model(job)
    loaded = time.perf_counter() - started
    log(f"model_prediction: {job['model_name']} loaded in {loaded:.1f} s; "
        f"generation {json.dumps(job['generator_config'])}")
    answers, tokens, seconds = predict(model, rows, job["generator_config"])
    truths = [row[LABEL_COLUMN] for row in rows]
    write_jsonl(outputs / EVALUATION_OUTPUTS["predictions"], [{"predictions": a} for a in answers])
    write_jsonl(outputs / EVALUATION_OUTPUTS["ground_truth"], [{LABEL_COLUMN: t} for t in truths])
    metrics = compute_metrics(answers, truths, job["metrics"])
    written = write_evaluation_result(outputs / "evaluation_result", metrics)
    log_runs(job, metrics, {"eval_data": {"rows": float(len(rows))},
                            "model_prediction": {"load_seconds": loaded, "predict_seconds": seconds,
                                                 "generated_tokens": float(tokens),
                                                 "tokens_per_second": tokens / max(seconds, 1e-9)}})
    log(f"compute_metrics: {', '.join(f'{k} {v:.4f}' for k, v in metrics.items())}")
    log(f"evaluation_result written: {written}")
    return metrics


def main() -> None:
    """Entry point: `python -m generator.local.evaluate JOB_JSON`."""
    import mlflow  # noqa: F401 - imported first so its logging set-up is in place before ours replaces it

    from generator.local.finetune import send_library_logs_to

    job_file = Path(sys.argv[1])
    send_library_logs_to(job_file.parent / "libraries.log")
    run(json.loads(job_file.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
