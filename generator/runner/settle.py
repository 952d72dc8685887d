"""After apply's steps: undo what a failed run changed, delete what it left billing, and say what serves and bills.

A run whose model did not pass every gate (an evaluation job failed, the evaluation gate refused, the smoke test or a
rollout stage failed) must leave the endpoint as it was: the gate comes before the deployment (manifest.py), a failed
rollout stage rolls traffic back (steps/rollout.py), and here:
- a deployment of this run's model that serves no traffic is deleted (it would bill for nothing), unless apply was
  given --keep-failed-deployment (to read its logs);
- a deployment whose model this apply changed in place, and whose smoke test then failed, gets its previous model
  back (an in-place update again: the new version served in between; a rollout tests it before any traffic).
Apply's last lines then say who serves (and whether that changed) and what still bills.
"""

from __future__ import annotations

from generator.runner.graph import Outcome
from generator.runner.plan import Plan, ResourcePlan
from generator.runner.serving import Serving, from_plain, read_serving
from generator.runner.steps.common import Context, not_found, wait_poller

# the steps that prove this run's model
JUDGES = frozenset({"evaluation_job", "evaluation_gate", "invoke", "parity", "rollout"})


def _row(plan: Plan, kind: str) -> ResourcePlan | None:
    return next((row for row in plan.rows if row.resource.kind == kind), None)


def unproven(plan: Plan, outcomes: dict[str, Outcome]) -> str | None:
    """The step that failed to prove this run's model (None when none did)."""
    return next((row.resource.id for row in plan.rows if row.resource.kind in JUDGES
                 and outcomes.get(row.resource.id, Outcome()).status == "failed"), None)


def settle(ctx: Context, plan: Plan, outcomes: dict[str, Outcome]) -> None:
    """Put back a model changed in place when its smoke test failed; delete this run's deployment when its model did
    not pass and it serves no traffic (unless ctx.keep_failed_deployment)."""
    failed = unproven(plan, outcomes)
    deployment = _row(plan, "online_deployment")
    if failed is None or deployment is None:
        return
    name, model = deployment.resource.name, run_model(ctx)
    change = next((c for c in deployment.action.changes if c.path == "model"), None)
    if failed in ("smoke-test", "parity") and change is not None and outcomes[deployment.resource.id].status == "done":
        from generator.runner.steps.deployment import restore_model

        what = "the smoke test" if failed == "smoke-test" else "serving parity"
        ctx.out.line("settle", f"{what} failed after {name} was updated in place to {model}: putting "
                               f"{change.before} back")
        restore_model(ctx, deployment.resource, str(change.before))
        return
    serving = read_serving(ctx.ml, ctx.endpoint_name)
    current = serving.deployments.get(name) if serving is not None else None
    if current is None or current.model != model or serving is None or serving.serves(name):
        return
    if ctx.keep_failed_deployment:
        ctx.out.line("settle", f"kept {serving.describe(name)} (--keep-failed-deployment): its model did not pass "
                               f"{failed}, it serves no traffic and it still bills; the next apply without the flag "
                               "deletes it unless its model passes then")
        return
    wait_poller(ctx, "settle", ctx.ml.online_deployments.begin_delete(name=name, endpoint_name=ctx.endpoint_name),
                f"delete {name}: its model {model} did not pass {failed} and it serves no traffic "
                "(--keep-failed-deployment keeps it)")


def run_model(ctx: Context) -> str:
    """This run's registered model, `name:version`."""
    model = ctx.experiment.by_kind("model")
    return f"{model.name}:{model.extra['version']}"


def before_apply(plan: Plan) -> Serving | None:
    """What the endpoint served when the plan was made (the leftovers step's snapshot)."""
    row = _row(plan, "leftover_deployments")
    return from_plain(row.action.observed) if row is not None else None


def _serving_models(serving: Serving | None) -> dict[str, tuple[int, int, str]]:
    if serving is None:
        return {}
    return {name: (serving.live.get(name, 0), serving.mirror.get(name, 0),
                   serving.deployments[name].model if name in serving.deployments else "?")
            for name in {*serving.live, *serving.mirror}}


def closing_lines(ctx: Context, plan: Plan, failed: bool) -> list[str]:
    """Who serves now (and, after a failed apply, whether that changed), then what still bills."""
    before, now = before_apply(plan), read_serving(ctx.ml, ctx.endpoint_name)
    lines = []
    if now is None:
        lines.append(f"serving: endpoint {ctx.endpoint_name} does not exist")
    else:
        same = _serving_models(before) == _serving_models(now)
        was = before.serving_text() if before is not None else "the endpoint did not exist"
        lines.append(f"serving: {now.serving_text()}" + (" (as before this apply)" if same else
                                                         f" (before this apply: {was})"))
        if failed:
            lines.append("serving: nothing that served changed" if same else
                         "serving: CHANGED by this failed apply; check `status`")
    return lines + billing_lines(ctx, now)


def billing_lines(ctx: Context, serving: Serving | None) -> list[str]:
    """Every deployment's instances and the compute's idle nodes, as the target names what runs on (on a target that
    bills nothing: what would bill on Azure)."""
    head = ctx.target.billing_head
    lines = [f"{head}: deployment {serving.describe(name)}" for name in sorted(serving.deployments)] \
        if serving is not None else []
    if serving is not None and not serving.deployments:
        lines.append(f"{head}: no deployment on endpoint {ctx.endpoint_name}")
    compute = ctx.experiment.by_kind("compute").name
    found = not_found(lambda: ctx.ml.compute.get(compute))
    if found is not None:
        idle = int(getattr(found, "min_instances", 0) or 0)
        size = getattr(found, "size", "") or ""
        lines.append(f"{head}: compute {compute}: min_instances {idle}" + (
            f", so {idle} x {size} bill while idle" if idle else ", so no node bills while it is idle"))
    if serving is not None and serving.deployments:
        lines.append(f"stop it: python -m generator destroy {ctx.experiment.spec} (deletes the endpoint and its "
                     "deployments)")
    return lines

