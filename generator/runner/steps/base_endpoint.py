"""The base model's serverless endpoint (with `evaluation:` on the serverless route): the registry model the job
fine-tunes, served so that the evaluation can ask it the held-out prompts beside the tuned model."""

from __future__ import annotations

from generator.runner.experiment import Resource
from generator.runner.explain import explain
from generator.runner.plan import Action, FieldChange, Reason, Verb
from generator.runner.steps.common import REPAIR, Context, failed, not_found, state_of, wait_poller


def plan_base_endpoint(ctx: Context, res: Resource) -> Action:
    """Absent → create; serving the base model → unchanged (Failed → repair); serving another → refuse."""
    current = not_found(lambda: ctx.ml.serverless_endpoints.get(res.name))
    model = str(res.extra["model"])
    if current is None:
        return Action(Verb.CREATE, [f"serverless endpoint {res.name} for the base model {model} (the evaluation "
                                    "asks it beside the tuned model; destroy deletes it)"], reason=Reason.ABSENT)
    observed = {"state": state_of(current), "model": current.model_id}
    if str(current.model_id or "").lower() != model.lower():
        return Action(Verb.REFUSE, [f"serverless endpoint {res.name} serves {current.model_id}, not the base model "
                                    f"{model}: delete it or rename endpoint.name"], current,
                      Reason.SERVES_ANOTHER_MODEL, [FieldChange("model", current.model_id, model, False)], observed)
    if failed(current):
        return Action(Verb.REPAIR, [REPAIR], current, Reason.PROVISIONING_FAILED, [], observed)
    return Action(Verb.UNCHANGED, [f"serves {model}"], current, Reason.EQUAL, [], observed)


def apply_base_endpoint(ctx: Context, res: Resource, action: Action) -> None:
    """Create (or repair) the base model's endpoint from its file."""
    from azure.ai.ml import load_serverless_endpoint

    endpoint = ctx.load(res, load_serverless_endpoint)
    try:
        wait_poller(ctx, res.id, ctx.ml.serverless_endpoints.begin_create_or_update(endpoint),
                    f"{action.verb} serverless endpoint {res.name} for {res.extra['model']}")
    except Exception as exc:  # refused on the request or failed in the operation: Azure's message tells which
        raise explain(exc, f"create serverless endpoint {res.name}") from None
