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

What azureml-metrics 0.0.91 (PyPI wheel) does for task chat-completion, with compute_metrics' defaults
(`common/_scoring.py` `_score_chat_completion`: the last assistant turn of each predicted conversation against
its ground truths; Azure/azureml-assets `assets/training/model_evaluation/src/evaluators/evaluators.py`
ChatCompletionEvaluator passes each ground truth as a one-element list):
- rouge1, rouge2, rougeL, rougeLsum: `text/summarization/rouge/rouge.py` (the Hugging Face evaluate rouge script):
  `rouge_score.rouge_scorer.RougeScorer(rouge_types, use_stemmer=False)`, `score_multi(references, prediction)`,
  aggregated by `rouge_score.scoring.BootstrapAggregator`, reported as `mid.fmeasure` (0..1);
- bleu_1..bleu_4: `text/translation/_seq2seq_translation.py` Bleu with max_order n and smooth=False, through
  `text/translation/bleu/bleu.py` (its static copy of the Hugging Face evaluate bleu script): sacreBLEU's 13a
  tokenizer (`tokenizer_13a.py`, mteval-v13a) and tensorflow/nmt's `compute_bleu`, a corpus BLEU (n-gram matches
  summed over all answers, uniform weights, brevity penalty), 0..1. The wheel's bleu.py imports `nmt_bleu.py`,
  which the 0.0.91 wheel does not ship, and the `evaluate` package fetches metric scripts from the Hub, so `bleu`
  below computes that formula itself on nltk's n-grams; it equals nltk's `corpus_bleu` (weights (1/n,)*n, no
  smoothing) whenever every answer has at least n tokens (tests/local/test_local_evaluation.py checks).
- rouge-score imports nltk (its Porter stemmer, unused here: use_stemmer=False; rougeLsum splits on newlines, so
  nltk's sentence tokenizer data is not needed).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROUGE = ("rouge1", "rouge2", "rougeL", "rougeLsum")
BLEU = {"bleu_1": 1, "bleu_2": 2, "bleu_3": 3, "bleu_4": 4}  # azureml-metrics constants TRANSLATION_NGRAM_MAP
METRICS = (*BLEU, *ROUGE)
STEPS = ("eval_data", "model_prediction", "compute_metrics")
BOOTSTRAP_SEED = 0  # rouge_score's BootstrapAggregator resamples with numpy's global generator: seeded here

# mteval-v13a's tokenisation, as sacreBLEU's tokenizer_13a (which azureml-metrics' bleu.py uses): punctuation and
# symbols become tokens, a period or comma only when not inside a number, a dash after a digit.
_13A = [(re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "), (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
        (re.compile(r"([\.,])([^0-9])"), r" \1 \2"), (re.compile(r"([0-9])(-)"), r"\1 \2 ")]


def tokenize_13a(line: str) -> list[str]:
    """The 13a tokens of `line`."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, replacement in _13A:
        line = pattern.sub(replacement, line)
    return line.split()


def bleu(predictions: list[str], references: list[list[str]], order: int) -> float:
    """Corpus BLEU up to n-grams of `order` on 13a tokens (uniform weights, no smoothing), 0..1: tensorflow/nmt's
    `compute_bleu`, which azureml-metrics' bleu script runs. Clipped n-gram matches and possible matches are summed
    over all answers; a zero precision makes the score 0; brevity penalty exp(1 - r/c) when c <= r, with r the
    shortest reference's length. nltk's corpus_bleu is the same formula except for answers shorter than n tokens
    (it counts one possible n-gram for them, nmt none)."""
    from collections import Counter

    from nltk.util import ngrams

    matches, possible = [0] * order, [0] * order
    hypothesis_length = reference_length = 0
    for refs, prediction in zip(references, predictions, strict=True):
        hypothesis, tokenized = tokenize_13a(prediction), [tokenize_13a(r) for r in refs]
        hypothesis_length += len(hypothesis)
        reference_length += min(len(r) for r in tokenized)
        for n in range(1, order + 1):
            reference_counts: Counter[tuple[str, ...]] = Counter()
            for ref in tokenized:
                reference_counts |= Counter(ngrams(ref, n))
            matches[n - 1] += sum((Counter(ngrams(hypothesis, n)) & reference_counts).values())
            possible[n - 1] += max(0, len(hypothesis) - n + 1)
    precisions = [m / p if p else 0.0 for m, p in zip(matches, possible, strict=True)]
    if min(precisions) <= 0 or hypothesis_length == 0:
        return 0.0
    geometric_mean = math.exp(sum(math.log(p) / order for p in precisions))
    ratio = hypothesis_length / reference_length if reference_length else 1.0
    return geometric_mean * (1.0 if ratio > 1.0 else math.exp(1 - 1 / ratio))


def rouge(predictions: list[str], references: list[list[str]], names: Iterable[str]) -> dict[str, float]:
    """ROUGE F-measures (rouge_score, no stemmer), aggregated as azureml-metrics does (bootstrap mid), 0..1."""
    import numpy as np
    from rouge_score import rouge_scorer, scoring

    names = list(names)
    scorer = rouge_scorer.RougeScorer(rouge_types=names, use_stemmer=False)
    aggregator = scoring.BootstrapAggregator()
    for refs, prediction in zip(references, predictions, strict=True):
        aggregator.add_scores(scorer.score_multi(refs, prediction))
    state = np.random.get_state()
    np.random.seed(BOOTSTRAP_SEED)
    try:
        result = aggregator.aggregate()
    finally:
        np.random.set_state(state)
    return {name: float(result[name].mid.fmeasure) for name in names}


def compute_metrics(predictions: list[str], ground_truths: list[str], names: Iterable[str]) -> dict[str, float]:
    """The metrics `names` (compute_metrics' names) of answers against their reference answers."""
    names = list(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"metrics {', '.join(unknown)} are not computed locally; these are: {', '.join(METRICS)}")
    if len(predictions) != len(ground_truths) or not predictions:
        raise ValueError(f"{len(predictions)} prediction(s) for {len(ground_truths)} reference answer(s)")
    references = [[truth] for truth in ground_truths]
    out = rouge(predictions, references, [n for n in names if n in ROUGE]) if any(n in ROUGE for n in names) else {}
    out.update({n: bleu(predictions, references, BLEU[n]) for n in names if n in BLEU})
    return {n: out[n] for n in names}


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
    write_jsonl(outputs / "model_prediction" / "predictions.jsonl", [{"predictions": a} for a in answers])
    write_jsonl(outputs / "model_prediction" / "ground_truth.jsonl", [{LABEL_COLUMN: t} for t in truths])
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
