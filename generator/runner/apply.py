"""Apply: pre-flight, then execute a plan step by step in dependency order, and say how each step ended."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from generator.runner.experiment import SERVERLESS
from generator.runner.explain import StepRefused, explain
from generator.runner.graph import Graph, Outcome
from generator.runner.output import elapsed
from generator.runner.plan import Plan, Verb

if TYPE_CHECKING:
    from generator.runner.session import Session
    from generator.runner.steps.common import Context


@dataclass(frozen=True)
class ApplyResult:
    """Every step's outcome and the time the whole apply took."""

    outcomes: dict[str, Outcome]
    seconds: float
    closing: tuple[str, ...] = ()  # who serves now and what still bills (apply's last lines)

    @property
    def failed(self) -> dict[str, Outcome]:
        """The steps that failed."""
        return {rid: o for rid, o in self.outcomes.items() if o.status == "failed"}

    def summary(self) -> str:
        """`apply done in 0m12s: compute unchanged, data done, …`."""
        steps = ", ".join(f"{rid} {o.status}" for rid, o in self.outcomes.items())
        return f"apply {'failed' if self.failed else 'done'} in {elapsed(self.seconds)}: {steps}"

    def exit_code(self) -> int:
        """0, or the lowest exit code among the failed steps' errors."""
        codes = [o.error.exit_code for o in self.failed.values() if o.error]
        return min(codes) if codes else (1 if self.failed else 0)


def refuse_if_refused(plan: Plan) -> None:
    """Raise when the plan refuses any resource: apply then touches nothing."""
    if plan.refused:
        raise StepRefused("apply refuses " + "; ".join(row.action.details[0] for row in plan.refused
                                                       if row.action.details) + "\n  nothing was created")


def apply_plan(session: Session, plan: Plan, context: Context) -> ApplyResult:
    """Pre-flight (skipping the deployment checks when it exists unchanged), then execute `plan` with `context`
    (the one the plan was made with: a sweep's selection and slots live there)."""
    from generator.runner.preflight import run_preflight
    from generator.runner.settle import closing_lines, settle

    start = time.monotonic()
    refuse_if_refused(plan)
    if session.experiment.route == SERVERLESS:
        return _apply_serverless(session, plan, context, start)
    skip = {"deployment"} if any(row.resource.kind == "online_deployment" and row.action.verb == Verb.UNCHANGED
                                 for row in plan.rows) else set()
    run_preflight(session.ml, session.experiment, session.registry, session.out, skip, session.target)
    outcomes = Graph(plan, context).run()
    failed = any(o.status in ("failed", "skipped") for o in outcomes.values())
    try:
        settle(context, plan, outcomes)
    except Exception as exc:  # the run failed already; a failed clean-up is said, never hidden
        outcomes["settle"] = Outcome("failed", explain(exc, "settle"))
        context.out.line("settle", f"FAILED: {outcomes['settle'].error}", error=True)
    closing = tuple(closing_lines(context, plan, failed))
    return ApplyResult(outcomes, time.monotonic() - start, closing)


def _apply_serverless(session: Session, plan: Plan, context: Context, start: float) -> ApplyResult:
    """The serverless route: its pre-flight (the model, the region), the steps, and what bills after."""
    from generator.runner import serverless_route

    serverless_route.preflight(session, session.out)
    outcomes = Graph(plan, context).run()
    return ApplyResult(outcomes, time.monotonic() - start, tuple(serverless_route.closing_lines(context)))
