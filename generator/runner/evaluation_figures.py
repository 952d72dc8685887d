"""Evaluation figures: read from MLflow where compute_metrics logs them, kept on the registered model's tags,
compared base against tuned, and judged by the spec's gate.

Where the figures are (Azure/azureml-assets @4b41f8ccbc01cf492767adc586ce1661c54c340a,
assets/training/model_evaluation/src/):
- utils.py `_log_metrics`: compute_metrics logs every scalar metric on its step's run (`run.log(name, score)`),
  a child run of the evaluation pipeline job, so MLflow finds it by `tags.mlflow.rootRunId = <job>` (on the
  local workspace, by `tags.azureml.job`), as `metrics` finds the fine-tune step;
- compute_metrics.py `log_and_write_outputs`: `result.save(<evaluation_result>/evaluationResult)`
  (constants.EVALUATION_RESULTS_PATH), MLflow's EvaluationResult layout: `metrics.json` (the scalar metrics, one
  JSON object), `artifacts_metadata.json`, `artifacts/` (mlflow models/evaluation/base.py EvaluationResult.save).
  `read_evaluation_result` reads that file, for an output downloaded or written on this machine.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.errors import Refused
from generator.runner.explain import NothingToRead

if TYPE_CHECKING:
    from generator.evidence import Evidence

TAG_PREFIX = "evaluation"  # model tags: evaluation.base.<metric>, evaluation.tuned.<metric>, evaluation.<role>.job
GATE_PREFIX = f"{TAG_PREFIX}.gate"  # the gate's evidence: evaluation.gate.<field> (generator/evidence.py Evidence.tags)


class EvaluationGateFailed(Refused):
    """The tuned model does not beat its base by the gate's min_gain: no traffic (exit 1, with the figures)."""

    def __init__(self, message: str, rows: list[Row], proof: Evidence | None = None):
        super().__init__(message)
        self.rows, self.proof = rows, proof


@dataclass(frozen=True)
class Row:
    """One metric: the base model's figure, the tuned model's, and the difference."""

    metric: str
    base: float | None
    tuned: float | None

    @property
    def delta(self) -> float | None:
        """tuned - base (None when either is missing)."""
        return None if self.base is None or self.tuned is None else self.tuned - self.base


def read_evaluation_result(folder: Path) -> dict[str, float]:
    """The scalar metrics of a compute_metrics output folder (`<folder>/evaluationResult/metrics.json`)."""
    path = folder / "evaluationResult" / "metrics.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NothingToRead(f"cannot read {path}: {exc}") from None
    return {k: float(v) for k, v in raw.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}


def find_metrics(client: Any, experiment: str, job: str, names: list[str]) -> dict[str, float]:
    """The metrics `names` of evaluation job `job`: from the run (a step of the job) that logged them."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise NothingToRead(f"no MLflow experiment {experiment!r}: has the evaluation job {job} run?")
    for query in (f"tags.`azureml.job` = '{job}'", f"tags.mlflow.rootRunId = '{job}'"):
        for run in client.search_runs([found.experiment_id], filter_string=query):
            figures = {name: float(run.data.metrics[name]) for name in names if name in run.data.metrics}
            if figures:
                return figures
    raise NothingToRead(f"the evaluation job {job} logged none of {', '.join(names)} (compute_metrics logs them on its "
                      "step's run)")


def rows(names: list[str], base: dict[str, float], tuned: dict[str, float]) -> list[Row]:
    """One row per metric, in the spec's order."""
    return [Row(name, base.get(name), tuned.get(name)) for name in names]


def _figure(value: float | None, signed: bool = False) -> str:
    return "-" if value is None else (f"{value:+.4f}" if signed else f"{value:.4f}")


def table(result: list[Row]) -> str:
    """The base-against-tuned table with deltas."""
    body = [["metric", "base", "tuned", "delta"]] + [[r.metric, _figure(r.base), _figure(r.tuned),
                                                      _figure(r.delta, True)] for r in result]
    widths = [max(len(line[i]) for line in body) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in body)


def judge(result: list[Row], metric: str, min_gain: float) -> str | None:
    """None when tuned - base >= min_gain on `metric`; else why not."""
    row = next((r for r in result if r.metric == metric), None)
    if row is None or row.delta is None:
        return f"the gate's metric {metric} has no figure for both models"
    if not math.isfinite(row.delta):  # a NaN never passes a comparison silently
        return f"the gate's metric {metric} is not a finite number (base {row.base}, tuned {row.tuned})"
    if row.delta + 1e-12 < min_gain:
        return (f"the tuned model's {metric} {row.tuned:.4f} is {row.delta:+.4f} against its base's {row.base:.4f}; "
                f"the gate asks for at least {min_gain:+.4f}")
    return None


def tags(result: list[Row], jobs: dict[str, str]) -> dict[str, str]:
    """The registered model's evaluation tags: each figure, and the jobs that produced them."""
    out = {f"{TAG_PREFIX}.{role}.job": job for role, job in jobs.items()}
    for row in result:
        for role, value in (("base", row.base), ("tuned", row.tuned)):
            if value is not None:
                out[f"{TAG_PREFIX}.{role}.{row.metric}"] = repr(value)
    return out


def from_tags(model_tags: dict[str, str], names: list[str], jobs: dict[str, str]) -> list[Row] | None:
    """The figures a previous apply tagged the model with, when they come from these jobs and hold every metric."""
    if any(model_tags.get(f"{TAG_PREFIX}.{role}.job") != job for role, job in jobs.items()):
        return None
    try:
        found = {role: {n: float(model_tags[f"{TAG_PREFIX}.{role}.{n}"]) for n in names} for role in jobs}
    except (KeyError, ValueError):
        return None
    if not all(math.isfinite(v) for figures in found.values() for v in figures.values()):
        return None  # an odd tag is read as no figures: the evaluation runs again
    return rows(names, found["base"], found["tuned"])
