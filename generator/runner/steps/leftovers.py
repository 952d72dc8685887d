"""Leftover deployments: the endpoint's deployments the spec does not name and that serve no traffic.

A refused green deployment, the previous deployment of a rollout interrupted after its last stage, the one a rollout
kept before `keep_previous` became false: each bills its instances and serves nothing. This step deletes them early
(it waits only for the endpoint), so every apply converges to the deployments the spec names.
"""

from __future__ import annotations

from generator.runner.experiment import Resource
from generator.runner.plan import Action, Reason, Verb
from generator.runner.serving import Serving, read_serving
from generator.runner.steps.common import Context, wait_poller


def wanted(res: Resource) -> tuple[list[str], bool]:
    """The deployments the spec names (its own) and whether the one a rollout kept stays."""
    return [str(name) for name in res.extra["keep"]], bool(res.extra["keep_previous"])


def _why(serving: Serving, name: str) -> str:
    why = "serves no traffic and the spec does not name it"
    if name == serving.previous:
        why = "the previous deployment a rollout kept at 0 %, and rollout.keep_previous is not true"
    return f"delete {serving.describe(name)}: {why}"


def plan_leftovers(ctx: Context, res: Resource) -> Action:
    """Delete the leftovers (none when the endpoint does not exist yet); records what the endpoint serves now."""
    serving = read_serving(ctx.ml, ctx.endpoint_name)
    if serving is None:
        return Action(Verb.UNCHANGED, ["no endpoint yet, so no deployment to delete"], reason=Reason.EQUAL)
    doomed = serving.leftovers(*wanted(res))
    if not doomed:
        return Action(Verb.UNCHANGED, [f"no leftover deployment ({len(serving.deployments)} on the endpoint)"],
                      reason=Reason.EQUAL, observed=serving.plain())
    return Action(Verb.DELETE, [_why(serving, name) for name in doomed], reason=Reason.LEFTOVER,
                  observed=serving.plain())


def apply_leftovers(ctx: Context, res: Resource, action: Action) -> None:
    """Delete every leftover as the endpoint stands now (one that started serving since the plan stays)."""
    serving = read_serving(ctx.ml, ctx.endpoint_name)
    for name in serving.leftovers(*wanted(res)) if serving is not None else []:
        wait_poller(ctx, res.id, ctx.ml.online_deployments.begin_delete(name=name, endpoint_name=ctx.endpoint_name),
                    f"delete leftover deployment {name}")
