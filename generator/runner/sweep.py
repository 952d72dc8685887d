"""A sweep on the workspace: points submitted at most max_concurrent at a time, then the best one selected.

Azure ML is the state here as everywhere: a point whose job exists is never submitted again (a running one
is attached to and counts against max_concurrent), and the selection is read back from the registered
model's `pipeline_job` tag, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import math
import threading
from typing import TYPE_CHECKING, Any

from generator.runner.compare import RunRow, collect, table
from generator.runner.experiment import Resource
from generator.runner.explain import NothingToRead, RunnerError
from generator.runner.plan import Action, FieldChange, Reason, Verb

if TYPE_CHECKING:
    from generator.runner.experiment import Experiment
    from generator.runner.steps.common import Context

SELECTED_TAG = "pipeline_job"  # the model file's tag naming the job the model was registered from
JUDGED_TAG = "azml-gen.sweep-judged"  # added at registration: which points the selection compared


class Slots:
    """At most `capacity` sweep points running at once, submitted in the manifest's order.

    Every point first reports what its plan found: a point already running in the workspace (attach) holds a
    slot from then on, whatever the order. A point to submit waits until every point has reported, no earlier
    point is still waiting, and a slot is free, so a resumed sweep never runs more than `capacity` jobs.
    """

    def __init__(self, points: list[str], capacity: int):
        self.capacity = capacity
        self._order = list(points)
        self._reported: set[str] = set()
        self._waiting: list[str] = []
        self._holding: set[str] = set()
        self._closed = False
        self._changed = threading.Condition()

    def close(self) -> None:
        """Let no waiting point start (apply was interrupted): each raises instead."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def report(self, point: str, verb: str) -> None:
        """What the point's plan found (`attach` takes a slot now; `create` must call acquire)."""
        with self._changed:
            self._reported.add(point)
            if verb == "attach":
                self._holding.add(point)
            elif verb == "create":
                self._waiting.append(point)
                self._waiting.sort(key=self._order.index)
            self._changed.notify_all()

    def acquire(self, point: str, waiting: Any = None) -> None:
        """Block until `point` may be submitted; `waiting(reason)` is called whenever the reason it waits changes
        (`planning`, `turn` or `limit`)."""
        with self._changed:
            told = None
            while not self._may_start(point):
                if self._closed:
                    raise RunnerError("not submitted: apply was interrupted")
                reason = self._reason(point)
                if waiting is not None and reason != told:
                    waiting(reason)
                    told = reason
                self._changed.wait()
            self._waiting.remove(point)
            self._holding.add(point)
            self._changed.notify_all()  # the next point in line may fit in a slot too

    def _reason(self, point: str) -> str:
        """Why `point` waits: `planning` (a peer has not planned yet), `turn` (an earlier point waits), `limit`."""
        if len(self._reported) < len(self._order):
            return "planning"
        return "limit" if self._waiting[0] == point else "turn"

    def _may_start(self, point: str) -> bool:
        return (len(self._reported) == len(self._order) and self._waiting[0] == point
                and len(self._holding) < self.capacity)

    def release(self, point: str) -> None:
        """The point's job ended (or its step failed): free its slot, and forget it if it never got one."""
        with self._changed:
            self._holding.discard(point)
            if point in self._waiting:
                self._waiting.remove(point)
            self._reported.add(point)
            self._changed.notify_all()


def point_jobs(ctx: Context, res: Resource) -> list[Resource]:
    """The pipeline-job resources the selection `res` chooses among."""
    return [ctx.experiment.resource(rid) for rid in res.depends_on]


def _model_tags(ml: Any, experiment: Experiment) -> dict[str, str] | None:
    from azure.core.exceptions import ResourceNotFoundError

    model = experiment.by_kind("model")
    try:
        return dict(ml.models.get(model.name, version=str(model.extra["version"])).tags or {})
    except ResourceNotFoundError:
        return None


def registered_from(ml: Any, experiment: Experiment) -> str | None:
    """The job the experiment's model version was registered from (its tag), or None when it is not registered."""
    tags = _model_tags(ml, experiment)
    return None if tags is None else tags.get(SELECTED_TAG, "")


def judged(points: list[Resource]) -> str:
    """A short digest of the points a selection judged, kept on the registered model: points added later
    make the sweep judge again."""
    return hashlib.sha256("\n".join(sorted(p.name for p in points)).encode()).hexdigest()[:16]


def plan_select(ctx: Context, res: Resource) -> Action:
    """Unchanged once the model is registered from one of the points; else pick the best once all finished."""
    points = point_jobs(ctx, res)
    registered = _model_tags(ctx.ml, ctx.experiment)
    tags = registered or {}
    chosen = next((p for p in points if p.name == tags.get(SELECTED_TAG)), None)
    if chosen is not None and tags.get(JUDGED_TAG) == judged(points):
        ctx.selected[res.id] = chosen.id
        return Action(Verb.UNCHANGED, [f"{chosen.name} was selected and registered"], reason=Reason.EQUAL)
    if registered is not None and chosen is None:
        model = ctx.experiment.by_kind("model")
        source = tags.get(SELECTED_TAG) or "another job"
        return Action(Verb.REFUSE, [f"{model.name}:{model.extra['version']} was registered from {source}, which is "
                                    "no longer a point of the sweep, and a model version is immutable: bump "
                                    f"experiment.run in {ctx.experiment.spec} and render to sweep again"],
                      reason=Reason.SELECTED_OTHER_POINT,
                      changes=[FieldChange("tags.pipeline_job", source, None, False)])
    best = "lowest" if res.extra["goal"] == "minimize" else "highest"
    return Action(Verb.RUN, [f"pick the point with the {best} {res.extra['metric']} of {len(points)}, once every "
                             "point has finished"], reason=Reason.ACTION)


def score(row: RunRow, metric: str) -> float | None:
    """The metric's last logged value in the point's fine-tune run (the model the job outputs)."""
    return {"eval_loss": row.final_eval_loss, "train_loss": row.final_train_loss}[metric]


def diverged(value: float | None) -> bool:
    """Whether a logged loss is no result: NaN or infinite (training diverged)."""
    return value is not None and not math.isfinite(value)


def choose(rows: list[RunRow], metric: str, goal: str) -> RunRow:
    """The best row by `metric` and `goal` among the points whose metric is finite; the first in the manifest's
    order wins a tie (`ties` says which points tied). A diverged point (NaN or infinite) never wins; when every
    point diverged, nothing is selected."""
    missing = [row.job for row in rows if score(row, metric) is None]
    if missing:
        raise RunnerError(f"no {metric} logged by {', '.join(missing)}: the sweep cannot be judged by it "
                          f"(compare shows what each point logged)")
    finite = [(row, value) for row in rows if (value := score(row, metric)) is not None and not diverged(value)]
    if not finite:
        raise RunnerError(f"every point's {metric} is NaN or infinite (training diverged): nothing is selected, "
                          "registered or deployed; lower the learning rate and bump experiment.run")
    sign = 1 if goal == "minimize" else -1
    return min(finite, key=lambda pair: sign * pair[1])[0]


def ties(rows: list[RunRow], best: RunRow, metric: str) -> list[str]:
    """The other points whose metric equals the best's (the first in the manifest's order won)."""
    return [row.job for row in rows if row is not best and score(row, metric) == score(best, metric)]


def apply_select(ctx: Context, res: Resource, action: Action) -> None:
    """Read every point's metrics, print the comparison and why the best won, and remember it for the model."""
    points = point_jobs(ctx, res)
    rows = collect(ctx.metrics_client(), [(ctx.experiment.name, p.name) for p in points])
    metric, goal = res.extra["metric"], res.extra["goal"]
    best = choose(rows, metric, goal)
    for line in table(rows).splitlines():
        ctx.out.line(res.id, line)
    for row in rows:
        if diverged(score(row, metric)):
            ctx.out.line(res.id, f"left out {row.job}: its {metric} is {score(row, metric)} (diverged)")
    others = [value for row in rows if row is not best and (value := score(row, metric)) is not None
              and not diverged(value)]
    than = f"{'lowest' if goal == 'minimize' else 'highest'} of {len(rows)}" + (
        f"; next {min(others) if goal == 'minimize' else max(others):.4f}" if others else "")
    tied = ties(rows, best, metric)
    if tied:
        than += f"; tied with {', '.join(tied)}: the first in the sweep's order wins a tie"
    ctx.out.line(res.id, f"selected {best.job}: {metric} {score(best, metric):.4f} ({than})")
    ctx.selected[res.id] = next(p.id for p in points if p.name == best.job)


def reviewed_job(session: Any, spec: str) -> str:
    """The job whose metrics `metrics` shows: the experiment's, or the sweep point its model was registered from."""
    job = str(next(r.name for r in session.experiment.resources if r.kind in ("pipeline_job", "finetuning_job")))
    if not session.experiment.points:
        return job
    job = registered_from(session.ml, session.experiment) or ""
    if job not in {p.name for p in session.experiment.points}:
        raise NothingToRead(f"{spec} is a sweep of {len(session.experiment.points)} points and none is registered "
                          f"yet: `compare {spec}` shows them side by side; metrics shows the point apply selects")
    return job
