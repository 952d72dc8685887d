"""`compare --evaluation`: the base and the tuned model of each experiment side by side on the evaluation metrics.

Figures come from the registered model's tags when a gate tagged it (what apply judged), else from the evaluation
jobs' MLflow runs (generator/runner/evaluation_figures.py find_metrics), so they show before the gate has run too.
The gate's evidence (the paired interval on tuned - base, p, the verdict) is computed again from both jobs' answers,
as apply's gate computes it, with the per-conversation differences it rests on (table, JSON and a chart).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.errors import UsageError
from generator.evidence import Evidence
from generator.runner.evaluation_figures import TAG_PREFIX, find_metrics
from generator.textmetrics import per_answer, rouge_per_answer

if TYPE_CHECKING:
    from generator.runner.experiment import Experiment


@dataclass(frozen=True)
class ModelFigures:
    """One evaluated model: its experiment, its role (base or tuned), its evaluation job, where the figures come
    from, and the figures (None: not logged)."""

    experiment: str
    role: str
    job: str
    source: str
    metrics: dict[str, float | None]


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def collect(experiment: Experiment, client: Any, model_tags: dict[str, str] | None) -> list[ModelFigures]:
    """Base then tuned figures of `experiment` (an Experiment with an evaluation gate in its manifest)."""
    gate = next((res for res in experiment.resources if res.kind == "evaluation_gate"), None)
    if gate is None:
        raise UsageError(f"{experiment.spec} has no evaluation: section, so there is nothing to compare with "
                         "--evaluation (docs/evaluation.md)")
    names = [str(name) for name in gate.extra["metrics"]]
    out = []
    for res in experiment.resources:
        if res.kind != "evaluation_job":
            continue
        role = str(res.extra["role"])
        tags = model_tags or {}
        if tags.get(f"{TAG_PREFIX}.{role}.job") == res.name:
            figures = {n: _finite(tags.get(f"{TAG_PREFIX}.{role}.{n}")) for n in names}
            source = "the registered model's tags"
        else:
            logged = find_metrics(client, experiment.name, res.name, names)
            figures = {n: _finite(logged.get(n)) for n in names}
            source = "MLflow"
        out.append(ModelFigures(experiment.name, role, res.name, source, figures))
    return out


def table(models: list[ModelFigures]) -> str:
    """Models as rows, metrics as columns; a tuned row's cells also show the change from its base."""
    names = list(models[0].metrics) if models else []
    base = {m.experiment: m for m in models if m.role == "base"}
    body = [["experiment", "model", *names]]
    for model in models:
        cells = []
        for name in names:
            value = model.metrics[name]
            text = "-" if value is None else f"{value:.4f}"
            of_base = base.get(model.experiment) if model.role == "tuned" else None
            reference = of_base.metrics.get(name) if of_base is not None else None
            if model.role == "tuned" and value is not None and reference is not None:
                text += f" ({value - reference:+.4f})"
            cells.append(text)
        body.append([model.experiment, model.role, *cells])
    widths = [max(len(row[i]) for row in body) for i in range(len(body[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in body)


def as_json(models: list[ModelFigures]) -> dict[str, Any]:
    """The figures as a JSON document (a missing or non-finite figure is null)."""
    return {"evaluation": [{"experiment": m.experiment, "model": m.role, "job": m.job, "source": m.source,
                            "metrics": dict(m.metrics)} for m in models]}


def plot(models: list[ModelFigures], out: Path) -> None:
    """Grouped bars: one group per metric, one bar per evaluated model."""
    from generator.plots import chart

    names = list(models[0].metrics) if models else []
    width = 0.8 / max(1, len(models))
    with chart(out, "evaluation: base against tuned", "metric", "score") as ax:
        for i, model in enumerate(models):
            xs = [j + i * width for j in range(len(names))]
            ax.bar(xs, [model.metrics[n] or 0.0 for n in names], width, label=f"{model.experiment} {model.role}")
        ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(names))], names)


@dataclass(frozen=True)
class GateEvidence:
    """One experiment's evidence on its gate's metric (None with the reason when it cannot be had yet), and the
    per-conversation differences tuned - base it rests on (empty for a corpus metric: BLEU has none)."""

    experiment: str
    proof: Evidence | None
    differences: list[float]
    missing: str = ""


def gate_evidence(experiment: Any, ml: Any) -> GateEvidence | None:
    """The evidence apply's gate judges, computed again from both evaluation jobs' answers (the same seed gives the
    same interval); None when the experiment has no gate."""
    from generator.runner.evaluation_answers import gate_evidence as judge
    from generator.runner.evaluation_answers import read_answers
    from generator.runner.explain import explain

    gate = next((res for res in experiment.resources if res.kind == "evaluation_gate"), None)
    if gate is None or "metric" not in gate.extra:
        return None
    jobs = {str(res.extra["role"]): res.name for res in experiment.resources if res.kind == "evaluation_job"}
    metric = str(gate.extra["metric"])
    try:
        base, tuned = read_answers(ml, jobs["base"]), read_answers(ml, jobs["tuned"])
        proof = judge(base, tuned, metric, float(gate.extra["min_gain"]), float(gate.extra.get("confidence", 0.95)))
    except Exception as exc:  # not run yet, or outputs missing: the figures above still show
        return GateEvidence(experiment.name, None, [], str(explain(exc)).splitlines()[0])
    differences: list[float] = []
    if per_answer(metric):
        scores = [rouge_per_answer(answers.predictions, [[r] for r in answers.references], [metric])[metric]
                  for answers in (base, tuned)]
        differences = [after - before for before, after in zip(*scores, strict=True)]
    return GateEvidence(experiment.name, proof, differences)


def evidence_lines(items: list[GateEvidence]) -> list[str]:
    """One line per experiment: the evidence and the verdict, or why there is none."""
    lines = []
    for item in items:
        if item.proof is None:
            lines.append(f"{item.experiment}: no evidence yet ({item.missing})")
        else:
            lines.append(f"{item.experiment}: {item.proof.line()}; gate {item.proof.verdict.value}: {item.proof.why()}")
    return lines


def evidence_json(items: list[GateEvidence]) -> list[dict[str, Any]]:
    """The evidence as JSON: the interval, p, the verdict, and the per-conversation differences."""
    return [{"experiment": item.experiment, **(item.proof.as_json() if item.proof else {"missing": item.missing}),
             "differences": item.differences} for item in items]


def plot_differences(items: list[GateEvidence], out: Path) -> bool:
    """Per experiment, the per-conversation differences tuned - base sorted, with their mean, the interval and
    min_gain as lines; False (nothing drawn) when no experiment has per-conversation differences."""
    from generator.plots import chart

    drawn = [item for item in items if item.proof is not None and item.differences]
    if not drawn:
        return False
    with chart(out, "evaluation: tuned - base per conversation", "conversation (sorted by difference)",
               drawn[0].proof.metric if drawn[0].proof else "") as ax:
        for item in drawn:
            assert item.proof is not None
            ax.plot(sorted(item.differences), marker=".", linestyle="", label=f"{item.experiment}: tuned - base")
            ax.axhline(item.proof.difference, linestyle="-", linewidth=1, label=f"{item.experiment}: mean")
            ax.axhspan(item.proof.low, item.proof.high, alpha=0.2,
                       label=f"{item.experiment}: {item.proof.confidence:.0%} interval")
            ax.axhline(item.proof.min_gain, linestyle="--", linewidth=1, label=f"{item.experiment}: min_gain")
    return True
