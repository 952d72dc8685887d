"""The online endpoint: created first (names are unique per region), updated in place, repaired when Failed."""

from __future__ import annotations

from generator.runner.cost import CREATED_TAG, EXPIRES_TAG, now_tag
from generator.runner.experiment import Resource
from generator.runner.explain import endpoint_error
from generator.runner.plan import Action, Reason, Verb
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


def plan_endpoint(ctx: Context, res: Resource) -> Action:
    """Absent → create; Failed → repair; else the fields that differ (auth mode, description, expiry)."""
    from azure.ai.ml import load_online_endpoint

    desired = ctx.load(res, load_online_endpoint, {"name": ctx.endpoint_name})
    current = not_found(lambda: ctx.ml.online_endpoints.get(ctx.endpoint_name))
    if current is None:
        return Action(Verb.CREATE, [f"endpoint {ctx.endpoint_name} ({desired.auth_mode} auth)"], reason=Reason.ABSENT)
    observed = {"state": state_of(current), "auth_mode": current.auth_mode, "description": current.description,
                "traffic": dict(current.traffic or {}),
                "mirror_traffic": dict(getattr(current, "mirror_traffic", None) or {}),
                "tags": dict(current.tags or {})}
    if failed(current):
        return Action(Verb.REPAIR, [REPAIR], current, Reason.PROVISIONING_FAILED, [], observed)
    changes = field_changes([("auth_mode", (current.auth_mode or "").lower(), (desired.auth_mode or "").lower()),
                             ("description", current.description or "", desired.description or ""),
                             ("expires_after", (current.tags or {}).get(EXPIRES_TAG, ""),
                              (desired.tags or {}).get(EXPIRES_TAG, ""))])
    return drift(changes, current, observed)


def apply_endpoint(ctx: Context, res: Resource, action: Action) -> None:
    """Create or update the endpoint, keeping its traffic and the tags this tool set at creation."""
    from azure.ai.ml import load_online_endpoint

    desired = ctx.load(res, load_online_endpoint, {"name": ctx.endpoint_name})
    kept = dict(action.current.tags or {}) if action.current is not None else {}
    desired.tags = {**{k: v for k, v in kept.items() if k != EXPIRES_TAG}, **(desired.tags or {})}
    if action.current is None:  # its age is counted from when this tool created it (the tag stays on updates)
        desired.tags[CREATED_TAG] = now_tag()
    if action.current is not None:
        desired.traffic = action.current.traffic
    try:
        poller = ctx.ml.online_endpoints.begin_create_or_update(desired)
        wait_poller(ctx, res.id, poller, f"{action.verb} endpoint {ctx.endpoint_name}")
    except Exception as exc:  # refused on the request or failed in the operation: Azure's message tells which
        raise endpoint_error(exc, ctx.endpoint_name) from None
