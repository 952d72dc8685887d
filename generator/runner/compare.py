"""Runs side by side: one row per fine-tune run, only the parameters that differ, final and best losses.

Reads each run from MLflow the way `metrics` does (the fine-tune step's run of a pipeline job), so it
works wherever `metrics` works: the local workspace, or Azure through its MLflow tracking URI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.runner.metrics import curves, find_run


@dataclass
class RunRow:
    """One run: its job, its parameters, and its loss figures."""

    job: str
    experiment: str
    params: dict[str, str]
    final_train_loss: float | None = None
    final_eval_loss: float | None = None
    best_eval_loss: float | None = None
    best_eval_step: int | None = None
    eval_curve: list[tuple[int, float]] = field(default_factory=list)


def collect(client: Any, runs: list[tuple[str, str]]) -> list[RunRow]:
    """A RunRow for each (experiment, job name), read from MLflow."""
    rows = []
    for experiment, job in runs:
        found = find_run(client, experiment, job)
        histories = {curve.name: curve.points for curve in curves(client, found.info.run_id)}
        row = RunRow(job, experiment, {k: str(v) for k, v in found.data.params.items()})
        if histories.get("train_loss"):
            row.final_train_loss = histories["train_loss"][-1][1]
        evals = histories.get("eval_loss") or []
        if evals:
            row.eval_curve = evals
            row.final_eval_loss = evals[-1][1]
            finite = [point for point in evals if math.isfinite(point[1])] or evals
            row.best_eval_step, row.best_eval_loss = min(finite, key=lambda point: point[1])
        rows.append(row)
    return rows


def differing(rows: list[RunRow]) -> list[str]:
    """The parameter names whose values are not the same in every row (a missing one counts as different)."""
    names = sorted({name for row in rows for name in row.params})
    return [name for name in names if len({row.params.get(name) for row in rows}) > 1]


def _figure(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def table(rows: list[RunRow]) -> str:
    """The comparison as plain text: run, differing parameters, final train/eval loss, best eval loss @ step."""
    names = differing(rows)
    head = ["run", *names, "final train_loss", "final eval_loss", "best eval_loss @ step"]
    body = [[row.job, *(row.params.get(name, "-") for name in names), _figure(row.final_train_loss),
             _figure(row.final_eval_loss),
             "" if row.best_eval_loss is None else f"{row.best_eval_loss:.4f} @ {row.best_eval_step}"]
            for row in rows]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [head, *body]]
    if not names:
        lines.append("(every logged parameter is the same in these runs)")
    return "\n".join(lines)


def _json_number(value: float | None) -> float | None:
    """A figure as JSON can hold it: NaN and infinity (a diverged run) become null, with `diverged` set."""
    return value if value is None or math.isfinite(value) else None


def as_json(rows: list[RunRow]) -> dict[str, Any]:
    """The same data for scripts: the differing parameter names and one object per run. Valid JSON always: a NaN
    or infinite loss is null, and the run says `"diverged": true`."""
    names = differing(rows)
    return {"differing_parameters": names, "runs": [
        {"run": row.job, "experiment": row.experiment, "parameters": {n: row.params.get(n) for n in names},
         "final_train_loss": _json_number(row.final_train_loss), "final_eval_loss": _json_number(row.final_eval_loss),
         "best_eval_loss": _json_number(row.best_eval_loss), "best_eval_step": row.best_eval_step,
         "diverged": any(v is not None and not math.isfinite(v)
                         for v in (row.final_train_loss, row.final_eval_loss, row.best_eval_loss))}
        for row in rows]}


def label(row: RunRow, names: list[str]) -> str:
    """A curve's legend: the run and what differs in it."""
    differs = ", ".join(f"{name}={row.params.get(name, '-')}" for name in names)
    return f"{row.job}" + (f" ({differs})" if differs else "")


def plot(rows: list[RunRow], out: Path) -> None:
    """One PNG with every run's eval-loss curve, labelled by what differs."""
    from generator.plots import chart

    names = differing(rows)
    with chart(out, "eval loss by run", "optimizer step", "eval loss (assistant tokens)") as ax:
        for row in rows:
            if row.eval_curve:
                steps, values = zip(*row.eval_curve, strict=True)
                ax.plot(steps, values, marker="o", label=label(row, names))


def job_pairs(experiments: list[Any], runs: list[int] | None) -> list[tuple[str, str]]:
    """(experiment, job) of every run to compare: each experiment's current run (or `runs`), each sweep point."""
    from generator import naming

    pairs = []
    for experiment in experiments:
        data = experiment.loaded.data  # naming.job_name reads the spec's data (render's code)
        numbers = runs or [experiment.loaded.sections.experiment.run]
        slugs = [p.slug for p in experiment.loaded.points] or [None]  # a sweep: each of its points
        pairs += [(experiment.name, naming.job_name({**data, "experiment": {**data["experiment"], "run": n}}, slug))
                  for n in numbers for slug in slugs]
    return pairs


def run_numbers(text: str) -> list[int]:
    """`1,2,3` as [1, 2, 3]; a clear error for anything else."""
    from generator.errors import UsageError

    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        numbers = []
    if not numbers or any(n < 1 for n in numbers):
        raise UsageError(f"--runs {text!r}: give run numbers such as 1,2,3")
    return numbers
