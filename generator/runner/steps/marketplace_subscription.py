"""The marketplace subscription a partner model needs before it is fine-tuned serverless (serverless.yml): made once,
kept (destroy leaves it: it bills nothing by itself, the model's use does)."""

from __future__ import annotations

from generator.runner.experiment import Resource
from generator.runner.plan import Action, Reason, Verb
from generator.runner.steps.common import Context, not_found, wait_poller


def plan_marketplace_subscription(ctx: Context, res: Resource) -> Action:
    """Absent → subscribe; present → unchanged (its status shown)."""
    current = not_found(lambda: ctx.ml.marketplace_subscriptions.get(res.name))
    if current is None:
        return Action(Verb.CREATE, [f"subscribe to {res.extra['model']} through Azure Marketplace"],
                      reason=Reason.ABSENT)
    status = str(getattr(current, "status", "") or "")
    return Action(Verb.UNCHANGED, [f"subscription {res.name} is {status or 'present'}"], current, Reason.EQUAL, [],
                  {"status": status, "model": current.model_id})


def apply_marketplace_subscription(ctx: Context, res: Resource, action: Action) -> None:
    """Create the subscription from its file and wait until it is fulfilled."""
    from azure.ai.ml import load_marketplace_subscription

    subscription = ctx.load(res, load_marketplace_subscription)
    made = wait_poller(ctx, res.id, ctx.ml.marketplace_subscriptions.begin_create_or_update(subscription),
                       f"subscribe {res.name}")
    ctx.out.line(res.id, f"subscription {res.name}: {getattr(made, 'status', '')}")
