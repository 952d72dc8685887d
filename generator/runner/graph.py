"""Execute a plan: walk the manifest's dependency graph, running independent steps side by side.

Each step waits for its dependencies (the manifest's `depends_on`), then carries out the action the
plan holds for it; only a deferred action (one that depends on a choice apply makes, such as a
sweep's selection) is decided again at its turn. A failed step stops everything downstream of it.
The pipeline job depends on the endpoint, so no GPU time is spent on a run that could not be
deployed (an endpoint name taken in the region, a failed endpoint).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import partial

from generator.errors import GeneratorError
from generator.runner.experiment import Resource
from generator.runner.explain import StepRefused, explain
from generator.runner.plan import ACTING, Action, Plan, Verb
from generator.runner.steps.common import Context
from generator.runner.steps.registry import APPLIERS, PLANNERS


@dataclass
class Outcome:
    """How one step ended: done, unchanged, failed or skipped, with the error if any."""

    status: str = "pending"
    error: GeneratorError | None = None
    seconds: float = 0.0


@dataclass
class Graph:
    """The steps of one apply (the plan's rows) and their outcomes."""

    plan: Plan
    ctx: Context
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    finished: dict[str, threading.Event] = field(default_factory=dict)

    def run(self) -> dict[str, Outcome]:
        """Run every step in its own thread; return the outcomes (raises KeyboardInterrupt on Ctrl-C)."""
        for row in self.plan.rows:
            self.outcomes[row.resource.id] = Outcome()
            self.finished[row.resource.id] = threading.Event()
        threads = [threading.Thread(target=self._step, args=(row.resource, row.action), daemon=True,
                                    name=row.resource.id) for row in self.plan.rows]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)
        except KeyboardInterrupt:
            if self.ctx.slots is not None:  # no sweep point waiting for a slot may start after Ctrl-C
                self.ctx.slots.close()
            raise
        return self.outcomes

    def _wait_for(self, res: Resource) -> str | None:
        for dep in res.depends_on:
            self.finished[dep].wait()
            if self.outcomes[dep].status not in ("done", "unchanged"):
                return dep
        return None

    def _waiting(self, rid: str, capacity: int, reason: str) -> None:
        """Say that a sweep point waits for a slot (when it waits for the limit, not for another reason)."""
        if reason == "limit":
            self.ctx.out.line(rid, f"waiting for a slot: sweep.max_concurrent is {capacity}")

    def _step(self, res: Resource, planned: Action) -> None:
        outcome = self.outcomes[res.id]
        start = time.monotonic()
        slots = self.ctx.slots if "sweep_point" in res.extra else None
        try:
            blocked = self._wait_for(res)
            if blocked:
                outcome.status = "skipped"
                self.ctx.out.line(res.id, f"not run: {blocked} did not succeed")
                return
            action = PLANNERS[res.kind](self.ctx, res) if planned.deferred else planned
            if slots is not None:
                slots.report(res.id, action.verb)
                if action.verb == Verb.CREATE:
                    slots.acquire(res.id, partial(self._waiting, res.id, slots.capacity))
            if action.verb == Verb.REFUSE:
                raise StepRefused("; ".join(action.details))
            if action.verb not in ACTING:
                self.ctx.out.line(res.id, f"unchanged: {res.name}" + (f" ({action.details[0]})" if action.details
                                                                     else ""))
                outcome.status = "unchanged"
            else:
                if action.details and action.verb != Verb.RUN:
                    self.ctx.out.line(res.id, f"{action.verb}: " + "; ".join(action.details))
                APPLIERS[res.kind](self.ctx, res, action)
                outcome.status = "done"
        except Exception as exc:  # every failure is reported per step; explain() keeps it readable
            outcome.status = "failed"
            outcome.error = explain(exc, f"{res.id} {res.name}")
            self.ctx.out.line(res.id, f"FAILED: {outcome.error}", error=True)
        finally:
            if slots is not None:
                slots.release(res.id)
            outcome.seconds = time.monotonic() - start
            self.finished[res.id].set()
