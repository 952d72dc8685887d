"""Review training and evaluation metrics (the seed's step): find the job's fine-tune run through MLflow,
print the final figures and draw the loss curves."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.errors import GeneratorError
from generator.runner.explain import NothingToRead, RunnerError
from generator.runner.offline import LiveStateUnknown

if TYPE_CHECKING:
    from generator.estimate import Calibration
    from generator.runner.offline import Observer

CURVES = ("train_loss", "eval_loss")


@dataclass
class Curve:
    """One metric's history: (step, value) pairs."""

    name: str
    points: list[tuple[int, float]]


QUIET_LOGGERS = ("mlflow", "alembic")  # their INFO lines ("Creating initial MLflow database tables...") are not ours


def _shown(uri: str) -> str:
    """The store's URI without any user:password it may carry."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        return urlunsplit(parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")))
    return uri


def _store_hint() -> str:
    import os

    return ("check MLFLOW_TRACKING_URI" if os.environ.get("MLFLOW_TRACKING_URI") else
            "check that the workspace is running (local: `python -m generator local start`) and has run a job")


def store_error(uri: str, exc: BaseException) -> NothingToRead:
    """One line naming the store, what it answered and what to do."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return NothingToRead(f"the MLflow store {_shown(str(uri))} cannot be read ({type(exc).__name__}: {first}): "
                         f"{_store_hint()}")


def open_store(uri: str) -> Any:
    """An MlflowClient on `uri`. MLflow's and alembic's INFO lines are silenced, and MLflow's HTTP retries
    shortened (unless set), so an unreachable store is an error in seconds, not minutes; find_run turns what a
    missing or broken store raises into one line (store_error)."""
    import logging
    import os

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    from mlflow.tracking import MlflowClient

    for name in QUIET_LOGGERS:  # after the import: importing mlflow sets its own loggers to INFO
        logging.getLogger(name).setLevel(logging.WARNING)

    try:
        return MlflowClient(uri)
    except Exception as exc:  # MLflow, SQLAlchemy, requests and azureml-mlflow each raise their own types
        raise store_error(uri, exc) from None


def find_run(client: Any, experiment: str, job: str) -> Any:
    """The fine-tune run of pipeline job `job`: tagged with it locally, a descendant of it on Azure."""
    try:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise NothingToRead(f"no MLflow experiment {experiment!r}: has the job {job} run yet?")
        for query in (f"tags.`azureml.job` = '{job}'", f"tags.mlflow.rootRunId = '{job}'"):
            runs = [r for r in client.search_runs([found.experiment_id], filter_string=query)
                    if "eval_loss" in r.data.metrics or "train_loss" in r.data.metrics]
            if runs:
                return runs[0]
    except RunnerError:
        raise
    except Exception as exc:  # a missing or broken store: MLflow, SQLAlchemy and requests raise their own types
        raise store_error(getattr(client, "tracking_uri", "(unknown)"), exc) from None
    raise NothingToRead(f"no run with loss metrics for job {job} in experiment {experiment!r}")


def curves(client: Any, run_id: str) -> list[Curve]:
    """The loss histories of the run, sorted by step."""
    return [Curve(name, sorted((m.step, m.value) for m in client.get_metric_history(run_id, name)))
            for name in CURVES]


def table(run: Any, histories: list[Curve]) -> str:
    """A plain-text table of the loss metrics and the run's summary figures."""
    rows = [["metric", "first", "last", "min", "points"]]
    for curve in histories:
        if curve.points:
            values = [v for _, v in curve.points]
            rows.append([curve.name, f"{values[0]:.4f}", f"{values[-1]:.4f}", f"{min(values):.4f}", str(len(values))])
    for name in ("initial_eval_loss", "final_eval_loss", "train_tokens_per_second", "train_steps"):
        if name in run.data.metrics:
            rows.append([name, "", f"{run.data.metrics[name]:.4f}", "", ""])
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def plot(histories: list[Curve], out: Path, title: str) -> None:
    """PNG of the loss curves."""
    from generator.plots import chart

    with chart(out, title, "optimizer step", "loss (assistant tokens)") as ax:
        for curve in histories:
            if curve.points:
                steps, values = zip(*curve.points, strict=True)
                ax.plot(steps, values, marker="o" if curve.name == "eval_loss" else None, label=curve.name)


def calibration(session: Observer, tokens_per_epoch: int) -> Calibration | str | None:
    """The latest finished run of the experiment as a Calibration (its train_runtime and the tokens of its epochs),
    None when no run has finished, or why a finished run's metrics could not be read."""
    from generator.estimate import Calibration

    experiment = session.experiment.loaded.sections.experiment
    try:
        finished = latest_finished_run(session.ml, experiment.name, experiment.run)
    except LiveStateUnknown:  # plan --offline: no earlier run is known
        return None
    if finished is None:
        return None
    try:
        client = session.metrics_client()
        found = find_run(client, experiment.name, finished)
    except GeneratorError as exc:
        return f"{finished} finished, but its metrics cannot be read ({exc})"
    except Exception as exc:  # MLflow and azureml-mlflow raise many types; an estimate must never stop plan
        return f"{finished} finished, but its metrics cannot be read ({type(exc).__name__}: {exc})"
    runtime = found.data.metrics.get("train_runtime")
    epochs = found.data.params.get("num_train_epochs")
    if not runtime or not epochs:
        return f"{finished} logged no train_runtime metric or num_train_epochs parameter"
    try:
        runtime, epochs = float(runtime), float(epochs)
    except (TypeError, ValueError):
        runtime = epochs = math.nan
    if not (math.isfinite(runtime) and runtime > 0 and math.isfinite(epochs) and 1 <= epochs <= 10_000):
        return (f"{finished} logged train_runtime {found.data.metrics.get('train_runtime')!r} and num_train_epochs "
                f"{found.data.params.get('num_train_epochs')!r}, which are no usable figures")
    return Calibration(finished, tokens_per_epoch * int(epochs), runtime)


def latest_finished_run(ml: Any, experiment: str, run: int) -> str | None:
    """The name of the experiment's latest Completed job `<experiment>-run<N>` with N <= run, from one listing of the
    workspace's jobs (never a request per run number: `run: 3000` is one listing, not 3000 gets)."""
    from generator.runner.steps.common import job_status

    pattern = re.compile(re.escape(experiment) + r"-run([1-9][0-9]{0,8})", re.IGNORECASE)
    best: tuple[int, str] | None = None
    for job in ml.jobs.list():
        match = pattern.fullmatch(str(getattr(job, "name", "") or ""))
        if match is None or int(match.group(1)) > run or job_status(job) != "Completed":
            continue
        if best is None or int(match.group(1)) > best[0]:
            best = (int(match.group(1)), job.name)
    return None if best is None else best[1]

