"""The evaluation jobs' answers, read back from the workspace: what the gate's evidence and serving parity rest on.

Each evaluation job exposes model_prediction's two outputs as pipeline outputs (templates/evaluation-job.yml.j2):
`predictions`, JSON lines `{"predictions": "<answer>", "prediction_appended": [...]}`, and `ground_truth`, JSON lines
`{"ground_truth": "<reference>"}` (Azure/azureml-assets assets/training/model_evaluation/src/model_prediction.py
`preds.to_json(args.predictions, orient="records", lines=True)`; constants.py ChatCompletionConstants OUTPUT; the
label column is generator/evaldata/eval_data.py LABEL_COLUMN). They are read with azure-ai-ml's
`jobs.download(name, output_name=…)`, the same call on Azure and on the local workspace, and scored with
generator/textmetrics.py, the code the local compute_metrics runs.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator import evidence, textmetrics
from generator.evaldata.eval_data import LABEL_COLUMN
from generator.runner.explain import RunnerError

PREDICTIONS, GROUND_TRUTH = "predictions", "ground_truth"  # the evaluation jobs' pipeline outputs
PREDICTION_FIELD = "predictions"  # model_prediction's ChatCompletionConstants.OUTPUT


@dataclass(frozen=True)
class Answers:
    """One evaluation job's answers and the reference answers, in the order of its conversations."""

    job: str
    predictions: list[str]
    references: list[str]


def _records(folder: Path, field: str, job: str, output: str) -> list[str]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if not files:
        raise RunnerError(f"evaluation job {job}: its {output} output holds no file (was it run with these "
                          "generated files? the gate needs model_prediction's outputs)")
    values = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line).get(field)
            except (ValueError, AttributeError):
                value = None
            if not isinstance(value, str):
                raise RunnerError(f"evaluation job {job}: line {number} of its {output} output ({path.name}) has no "
                                  f"string {field!r}")
            values.append(value)
    return values


def read_answers(ml: Any, job: str) -> Answers:
    """Download job `job`'s predictions and ground truth (into a temporary folder, removed after) and read them."""
    with tempfile.TemporaryDirectory(prefix="azml-answers-") as tmp:
        found = {}
        for output, field in ((PREDICTIONS, PREDICTION_FIELD), (GROUND_TRUTH, LABEL_COLUMN)):
            ml.jobs.download(job, output_name=output, download_path=tmp)
            found[output] = _records(Path(tmp) / "named-outputs" / output, field, job, output)
    if len(found[PREDICTIONS]) != len(found[GROUND_TRUTH]):
        raise RunnerError(f"evaluation job {job}: {len(found[PREDICTIONS])} answers for {len(found[GROUND_TRUTH])} "
                          "reference answers")
    return Answers(job, found[PREDICTIONS], found[GROUND_TRUTH])


def paired(base: Answers, tuned: Answers) -> list[str]:
    """The references both jobs answered, in order; refused when they did not evaluate the same conversations (then
    no per-conversation comparison is possible)."""
    if base.references != tuned.references:
        first = next((i for i, (a, b) in enumerate(zip(base.references, tuned.references, strict=False)) if a != b),
                     min(len(base.references), len(tuned.references)))
        raise RunnerError(f"the evaluation jobs {base.job} and {tuned.job} did not answer the same conversations "
                          f"({len(base.references)} and {len(tuned.references)}, first difference at conversation "
                          f"{first + 1}): evaluate both again on the same data (evaluation.attempt)")
    if not base.references:
        raise RunnerError(f"the evaluation jobs {base.job} and {tuned.job} answered no conversation")
    return base.references


def per_conversation(metric: str, answers: Answers) -> list[float] | list[list[int]]:
    """`metric` per conversation: the answer's score (rouge family) or its BLEU counts (a corpus metric)."""
    references = [[reference] for reference in answers.references]
    if textmetrics.per_answer(metric):
        return textmetrics.rouge_per_answer(answers.predictions, references, [metric])[metric]
    order = textmetrics.BLEU[metric]
    return [textmetrics.bleu_counts(p, r, order) for p, r in zip(answers.predictions, references, strict=True)]


def gate_evidence(base: Answers, tuned: Answers, metric: str, min_gain: float, confidence: float) -> evidence.Evidence:
    """The gate's evidence on `metric` from both jobs' answers to the same conversations."""
    paired(base, tuned)
    try:
        return evidence.compare(metric, per_conversation(metric, base), per_conversation(metric, tuned),
                                min_gain=min_gain, confidence=confidence)
    except ValueError as exc:
        raise RunnerError(f"evaluation gate on {metric}: {exc}") from None
