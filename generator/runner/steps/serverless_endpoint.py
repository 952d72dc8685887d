"""The serverless endpoint of the tuned model: created once the FineTuning job has registered it, with `model_id`
naming that version in this workspace; left alone while it serves it.

"Only one deployment is permitted for a custom model" (MicrosoftDocs/azure-ai-docs articles/ai-foundry/how-to/
fine-tune-serverless.md @00fd7acc), and no public source says a serverless endpoint's model can change in place: an
endpoint that serves another model is refused in plan, before anything is submitted or billed, never replaced.
"""

from __future__ import annotations

import re
from typing import Any

from generator.runner.cost import CREATED_TAG, now_tag
from generator.runner.experiment import Resource
from generator.runner.explain import RunnerError, explain
from generator.runner.plan import Action, FieldChange, Reason, Verb
from generator.runner.steps.common import REPAIR, Context, failed, not_found, state_of, wait_poller
from generator.runner.steps.endpoint_evaluation import refused_before
from generator.runner.steps.finetuning_job import registered_version

_MODEL = re.compile(r"/models/([^/]+)/versions/([^/]+)$", re.I)


def served_model(model_id: str | None) -> str:
    """`name:version` of a workspace model id, or the id itself (a registry model's)."""
    found = _MODEL.search(model_id or "")
    return f"{found.group(1)}:{found.group(2)}" if found else str(model_id or "(none)")


def _job(ctx: Context, res: Resource) -> Resource:
    """The FineTuning job whose registered model the endpoint serves."""
    return next(ctx.experiment.resource(dep) for dep in res.depends_on
                if ctx.experiment.resource(dep).kind == "finetuning_job")


def wanted_model(ctx: Context, res: Resource) -> str | None:
    """`name:version` this run's job registered, or None before it has."""
    version = registered_version(ctx, _job(ctx, res))
    return f"{res.extra['model']}:{version}" if version else None


def plan_serverless_endpoint(ctx: Context, res: Resource) -> Action:
    """Absent → create (for the version the job registers), or refuse when an earlier apply's gate refused that
    version (its tags say so; --skip-evaluation-gate serves it anyway); Failed → repair; serving this run's model →
    unchanged; serving another model → refuse (one deployment per custom model; its model is not changed in place)."""
    current = not_found(lambda: ctx.ml.serverless_endpoints.get(res.name))
    wanted = wanted_model(ctx, res)
    refused = _refused_before(ctx)
    if current is None and refused is not None:
        return Action(Verb.REFUSE, [f"serverless endpoint {res.name}: {refused}"], reason=Reason.GATE_REFUSED)
    if current is None:
        model = wanted or f"{res.extra['model']} (the version the job registers)"
        return Action(Verb.CREATE, [f"serverless endpoint {res.name} for {model}; it bills by the hour while it "
                                    "exists, called or not"], reason=Reason.ABSENT)
    served = served_model(current.model_id)
    observed = {"state": state_of(current), "model": served}
    if wanted is not None and served.lower() == wanted.lower():
        if failed(current):
            return Action(Verb.REPAIR, [REPAIR], current, Reason.PROVISIONING_FAILED, [], observed)
        return Action(Verb.UNCHANGED, [f"serves {served}"], current, Reason.EQUAL, [], observed)
    after = wanted or f"{res.extra['model']}:(the version this run's job registers)"
    return Action(Verb.REFUSE, [f"serverless endpoint {res.name} serves {served}, not this run's model {after}: a "
                                "serverless endpoint's model is not changed in place, and Azure permits one deployment "
                                f"per custom model (docs/serverless.md): `destroy {ctx.experiment.spec}` first (it "
                                "stops serving), or set endpoint.name to a new name and render"], current,
                  Reason.SERVES_ANOTHER_MODEL, [FieldChange("model", served, after, updatable=False)], observed)


def _refused_before(ctx: Context) -> str | None:
    """Why this run's model is not served again (its gate refused it on an earlier apply), or None."""
    evaluation = next((r for r in ctx.experiment.resources if r.kind == "endpoint_evaluation"), None)
    return refused_before(ctx, evaluation) if evaluation is not None else None


def model_id(ctx: Context, res: Resource, version: str) -> str:
    """The file's model_id with its placeholders filled: the workspace's location and id and the registered version
    (as azureml-examples' serverless_endpoint.yaml @3ee82b8e and the route's notebook fill them)."""
    from azure.ai.ml import load_serverless_endpoint

    from generator.runner.compat import workspace_id

    template = str(ctx.load(res, load_serverless_endpoint).model_id)
    location = ctx.ml.workspaces.get(ctx.ml.workspace_name).location
    return template.format(AI_PROJECT_LOCATION=location, WORKSPACE_ID=workspace_id(ctx.ml), VERSION=version)


def apply_serverless_endpoint(ctx: Context, res: Resource, action: Action) -> None:
    """Create (or repair) the endpoint for the version the job registered, tagged with when it was created."""
    from azure.ai.ml import load_serverless_endpoint

    version = registered_version(ctx, _job(ctx, res))
    if version is None:
        raise RunnerError(f"the FineTuning job registered no version of {res.extra['model']}: nothing to serve")
    endpoint = ctx.load(res, load_serverless_endpoint)
    endpoint.model_id = model_id(ctx, res, version)
    kept: dict[str, Any] = dict(action.current.tags or {}) if action.current is not None else {}
    endpoint.tags = {**kept, **(endpoint.tags or {})}
    endpoint.tags.setdefault(CREATED_TAG, now_tag())
    try:
        made = wait_poller(ctx, res.id, ctx.ml.serverless_endpoints.begin_create_or_update(endpoint),
                           f"{action.verb} serverless endpoint {res.name} for {res.extra['model']}:{version}")
    except Exception as exc:  # refused on the request or failed in the operation: Azure's message tells which
        raise explain(exc, f"create serverless endpoint {res.name}") from None
    ctx.out.line(res.id, f"{res.name} serves {served_model(made.model_id)}: it bills by the hour while it exists")
