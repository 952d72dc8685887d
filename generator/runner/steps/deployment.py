"""The online deployment: the registered model on the endpoint's instances."""

from __future__ import annotations

from typing import Any

from generator.runner.experiment import Resource
from generator.runner.plan import Action, Reason, Verb
from generator.runner.steps.common import (REPAIR, Context, drift, failed, field_changes, not_found, state_of,
                                           wait_poller)

def _model_ref(value: Any) -> str:
    text = str(getattr(value, "id", value) or "")
    if "/models/" in text:
        parts = text.rstrip("/").split("/")
        return f"{parts[parts.index('models') + 1]}:{parts[-1]}"
    return text.removeprefix("azureml:")


def plan_deployment(ctx: Context, res: Resource) -> Action:
    """Absent → create; Failed → repair; else the fields that differ (size, count, model, probe, timeout)."""
    from azure.ai.ml import load_online_deployment

    desired = ctx.load(res, load_online_deployment, {"endpoint_name": ctx.endpoint_name})
    current = not_found(lambda: ctx.ml.online_deployments.get(res.name, ctx.endpoint_name))
    if current is None:
        return Action(Verb.CREATE, [f"deployment {res.name} on {ctx.endpoint_name}: {desired.instance_type} x "
                                    f"{desired.instance_count}"], reason=Reason.ABSENT)
    observed = {"state": state_of(current), "instance_type": current.instance_type,
                "instance_count": current.instance_count, "model": _model_ref(current.model)}
    if failed(current):
        return Action(Verb.REPAIR, [REPAIR], current, Reason.PROVISIONING_FAILED, [], observed)
    changes = field_changes([
        ("instance_type", (current.instance_type or "").lower(), desired.instance_type.lower()),
        ("instance_count", current.instance_count, desired.instance_count),
        ("model", _model_ref(current.model), _model_ref(desired.model)),
        ("liveness_probe.initial_delay", getattr(current.liveness_probe, "initial_delay", None),
         desired.liveness_probe.initial_delay),
        ("request_timeout_ms", getattr(current.request_settings, "request_timeout_ms", None),
         desired.request_settings.request_timeout_ms)])
    return drift(changes, current, observed)


def apply_deployment(ctx: Context, res: Resource, action: Action) -> None:
    """Create or update the deployment and wait for it."""
    from azure.ai.ml import load_online_deployment

    desired = ctx.load(res, load_online_deployment, {"endpoint_name": ctx.endpoint_name})
    poller = ctx.ml.online_deployments.begin_create_or_update(desired)
    wait_poller(ctx, res.id, poller, f"{action.verb} deployment {res.name}")
