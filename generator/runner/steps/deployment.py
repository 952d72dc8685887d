"""The online deployment: the registered model on the endpoint's instances.

With an evaluation gate the deployment waits for it (the manifest's `depends_on`): no deployment is created, and no
serving deployment is switched to a new model, before the tuned model has passed. A rollout's new deployment never
takes over a name that serves another model (that would replace the serving model in place, before any stage).
"""

from __future__ import annotations

from typing import Any

from generator.runner.experiment import Resource
from generator.runner.plan import Action, FieldChange, Reason, Verb
from generator.runner.serving import model_ref
from generator.runner.steps.common import (
    REPAIR,
    Context,
    drift,
    failed,
    field_changes,
    not_found,
    state_of,
    wait_poller,
)

WAITS = ("waits for the evaluation gate: nothing is deployed for a model the gate refuses; it costs the "
         "deployment's provisioning time after the tuned evaluation instead of beside it")


def _waits(res: Resource) -> list[str]:
    return [WAITS] if "gate" in res.depends_on else []


def plan_deployment(ctx: Context, res: Resource) -> Action:
    """Absent → create; Failed → repair; else the fields that differ (size, count, model, probe, timeout)."""
    from azure.ai.ml import load_online_deployment

    desired = ctx.load(res, load_online_deployment, {"endpoint_name": ctx.endpoint_name})
    current = not_found(lambda: ctx.ml.online_deployments.get(res.name, ctx.endpoint_name))
    if current is None:
        return Action(Verb.CREATE, [f"deployment {res.name} on {ctx.endpoint_name}: {desired.instance_type} x "
                                    f"{desired.instance_count}", *_waits(res)], reason=Reason.ABSENT)
    observed = {"state": state_of(current), "instance_type": current.instance_type,
                "instance_count": current.instance_count, "model": model_ref(current.model)}
    if failed(current):
        return Action(Verb.REPAIR, [REPAIR], current, Reason.PROVISIONING_FAILED, [], observed)
    refused = _takes_over_serving(ctx, res, current, desired)
    if refused is not None:
        return Action(Verb.REFUSE, [refused], current, Reason.SERVES_ANOTHER_MODEL,
                      [FieldChange("model", model_ref(current.model), model_ref(desired.model), False)], observed)
    changes = field_changes([
        ("instance_type", (current.instance_type or "").lower(), desired.instance_type.lower()),
        ("instance_count", current.instance_count, desired.instance_count),
        ("model", model_ref(current.model), model_ref(desired.model)),
        ("liveness_probe.initial_delay", getattr(current.liveness_probe, "initial_delay", None),
         desired.liveness_probe.initial_delay),
        ("request_timeout_ms", getattr(current.request_settings, "request_timeout_ms", None),
         desired.request_settings.request_timeout_ms)])
    action = drift(changes, current, observed)
    if any(change.path == "model" for change in changes):
        action.details += [f"in place: {model_ref(current.model)} serves until the update ends; a failed smoke test "
                           "puts it back", *_waits(res)]
    return action


def _takes_over_serving(ctx: Context, res: Resource, current: Any, desired: Any) -> str | None:
    """Why a rollout's new deployment may not be `current`: it serves traffic with another model (its versioned
    name is the serving deployment's), so updating it would replace the serving model before any stage ran."""
    if res.extra.get("strategy") != "blue_green" or model_ref(current.model) == model_ref(desired.model):
        return None
    endpoint = not_found(lambda: ctx.ml.online_endpoints.get(ctx.endpoint_name))
    live = int(dict(getattr(endpoint, "traffic", None) or {}).get(res.name, 0))
    mirrored = int(dict(getattr(endpoint, "mirror_traffic", None) or {}).get(res.name, 0))
    if not live and not mirrored:
        return None
    return (f"deployment {res.name}: the rollout's new deployment for {model_ref(desired.model)} has the name of the "
            f"deployment that serves {live} % of live traffic ({mirrored} % mirrored) with "
            f"{model_ref(current.model)}; updating it would replace the serving model in place, before any rollout "
            f"stage. Give deployment.name another value in {ctx.experiment.spec} (the new version then gets a "
            "deployment of its own) and render")


def apply_deployment(ctx: Context, res: Resource, action: Action) -> None:
    """Create or update the deployment and wait for it."""
    from azure.ai.ml import load_online_deployment

    desired = ctx.load(res, load_online_deployment, {"endpoint_name": ctx.endpoint_name})
    poller = ctx.ml.online_deployments.begin_create_or_update(desired)
    wait_poller(ctx, res.id, poller, f"{action.verb} deployment {res.name}")


def restore_model(ctx: Context, res: Resource, model: str) -> None:
    """Update the deployment back to `model` (`name:version`), as it was before this apply changed it in place."""
    from azure.ai.ml import load_online_deployment

    desired = ctx.load(res, load_online_deployment, {"endpoint_name": ctx.endpoint_name, "model": f"azureml:{model}"})
    wait_poller(ctx, "settle", ctx.ml.online_deployments.begin_create_or_update(desired),
                f"put {model} back on deployment {res.name}")
