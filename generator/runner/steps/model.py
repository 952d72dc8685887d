"""The registered model: one immutable version per run, from the job's (or the selected point's) output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from generator.runner.experiment import Resource
from generator.runner.explain import RunnerError
from generator.runner.plan import Action, FieldChange, Reason, Verb
from generator.runner.steps.common import Context, fixed_changes, not_found, with_fixed
from generator.runner.sweep import JUDGED_TAG, judged, point_jobs


def _chosen_file(ctx: Context, res: Resource) -> Path | None:
    """A sweep's model: the model file of the point the selection chose (None before it has chosen)."""
    choice = next((ctx.selected[dep] for dep in res.depends_on if dep in ctx.selected), None)
    return ctx.experiment.folder / res.extra["candidates"][choice] if choice else None


def plan_model(ctx: Context, res: Resource) -> Action:
    """Absent → register; registered → unchanged. A sweep's model is decided again at its turn in apply, once the
    selection has chosen a point: registered from another point → refuse (a model version is immutable)."""
    version = str(res.extra["version"])
    current = not_found(lambda: ctx.ml.models.get(res.name, version=version))
    observed = None if current is None else {"version": version, "tags": dict(current.tags or {})}
    if "candidates" not in res.extra:
        if current is None:
            return Action(Verb.CREATE, [f"register {res.name}:{version} from the job's trained_model output"],
                          reason=Reason.ABSENT)
        return with_fixed(Action(Verb.UNCHANGED, [f"{res.name}:{version} is registered"], current, Reason.EQUAL, [],
                                 observed), _fixed(ctx, res, res.file, current))
    chosen = _chosen_file(ctx, res)
    wanted = yaml.safe_load(chosen.read_text(encoding="utf-8"))["tags"]["pipeline_job"] if chosen else None
    if current is None:
        return Action(Verb.CREATE, [f"register {res.name}:{version} from {wanted}" if wanted else
                                    f"register {res.name}:{version} from the point the sweep selects"],
                      reason=Reason.ABSENT if wanted else Reason.DECIDED_AT_APPLY, deferred=not wanted)
    source = (current.tags or {}).get("pipeline_job", "")
    if wanted and source != wanted:
        return Action(Verb.REFUSE, [f"{res.name}:{version} was registered from {source or 'another job'}, but the "
                                    f"sweep now selects {wanted} (a model version is immutable): bump "
                                    f"experiment.run in {ctx.experiment.spec} and render to sweep again"], current,
                      Reason.SELECTED_OTHER_POINT, [FieldChange("tags.pipeline_job", source, wanted, False)],
                      observed)
    return with_fixed(Action(Verb.UNCHANGED, [f"{res.name}:{version} is registered from {source}"], current,
                             Reason.EQUAL if wanted else Reason.DECIDED_AT_APPLY, [], observed, deferred=not wanted),
                      _fixed(ctx, res, chosen, current))


def _fixed(ctx: Context, res: Resource, file: Path | None, current: Any) -> list[FieldChange]:
    """The model file's description and tags that the registered version holds otherwise (a version keeps them)."""
    if file is None:
        return []
    try:
        desired = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    held = dict(current.tags or {})
    wanted = sorted((desired.get("tags") or {}).items())
    return fixed_changes([("description", current.description or "", desired.get("description") or "")] + [
        (f"tags.{key}", held.get(key, "(unset)"), str(value)) for key, value in wanted])


def apply_model(ctx: Context, res: Resource, action: Action) -> None:
    """Register the model from the job's output (a sweep's: from the selected point's file)."""
    from azure.ai.ml import load_model

    source = res
    if "candidates" in res.extra:
        chosen = _chosen_file(ctx, res)
        if chosen is None:
            raise RunnerError("the sweep selected no point, so there is no model to register")
        source = Resource(res.id, res.kind, res.name, res.depends_on, res.az, chosen, res.extra)
    model = ctx.load(source, load_model)
    if "candidates" in res.extra:
        select = next(ctx.experiment.resource(dep) for dep in res.depends_on if dep in ctx.selected)
        model.tags = {**(model.tags or {}), JUDGED_TAG: judged(point_jobs(ctx, select))}
    model = ctx.ml.models.create_or_update(model)
    ctx.out.line(res.id, f"registered model {model.name}:{model.version}")
