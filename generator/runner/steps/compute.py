"""The compute cluster: created, updated in place (node counts, idle time, tier), never resized."""

from __future__ import annotations

from generator.runner.experiment import Resource
from generator.runner.plan import Action, FieldChange, Reason, Verb
from generator.runner.steps.common import Context, drift, field_changes, not_found, state_of, wait_poller


def plan_compute(ctx: Context, res: Resource) -> Action:
    """Absent → create; Failed or another VM size → refuse; else the node settings that differ."""
    from azure.ai.ml import load_compute

    desired = ctx.load(res, load_compute)
    current = not_found(lambda: ctx.ml.compute.get(res.name))
    if current is None:
        return Action(Verb.CREATE, [f"amlCompute {desired.size}, {desired.min_instances}-{desired.max_instances} "
                                    "nodes"], reason=Reason.ABSENT)
    observed = {"size": current.size, "state": state_of(current), "min_instances": current.min_instances,
                "max_instances": current.max_instances,
                "idle_time_before_scale_down": current.idle_time_before_scale_down, "tier": current.tier}
    if state_of(current).lower() == "failed":
        return Action(Verb.REFUSE, [f"compute {res.name} is in Failed state; delete it (destroy --compute) or "
                                    "choose another compute.name"], current, Reason.FAILED_STATE, [], observed)
    if (current.size or "").lower() != desired.size.lower():
        change = FieldChange("size", current.size, desired.size, updatable=False)
        return Action(Verb.REFUSE, [f"size: {current.size!r} -> {desired.size!r} (a cluster's VM size cannot change; "
                                    "delete it with destroy --compute or choose another compute.name)"], current,
                      Reason.CANNOT_UPDATE, [change], observed)
    changes = field_changes([("min_instances", current.min_instances, desired.min_instances),
                             ("max_instances", current.max_instances, desired.max_instances),
                             ("idle_time_before_scale_down", current.idle_time_before_scale_down,
                              desired.idle_time_before_scale_down),
                             ("tier", (current.tier or "").lower(), (desired.tier or "").lower())])
    return drift(changes, current, observed)


def apply_compute(ctx: Context, res: Resource, action: Action) -> None:
    """Create or update the cluster and wait for it."""
    from azure.ai.ml import load_compute

    poller = ctx.ml.compute.begin_create_or_update(ctx.load(res, load_compute))
    wait_poller(ctx, res.id, poller, f"{action.verb} compute {res.name}")
