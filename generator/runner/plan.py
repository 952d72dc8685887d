"""The plan as a value: what apply would do to each resource and why, what it would cost, and the budget's verdict.

Plan prints it (generator/runner/plan_view.py: text, Markdown or JSON, one view of one value), `plan --out FILE`
saves the same JSON document, and apply executes exactly the plan it showed (or the saved one, after checking that
nothing it was made from has moved). The JSON form is versioned (`FORMAT_VERSION`) and published as
`docs/plan.schema.json`, the analogue of `terraform show -json`. A plan made offline (`plan --offline`) is the same
value, made with an observer that answers "unknown" for the workspace's state (generator/runner/offline.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from generator.errors import ExitCode
from generator.runner.experiment import Resource

FORMAT_VERSION = "2.0"


class Verb(StrEnum):
    """What apply does to one resource."""

    CREATE = "create"
    UPDATE = "update"
    REPAIR = "repair"  # a Failed endpoint or deployment is PUT again
    UNCHANGED = "unchanged"
    ATTACH = "attach"  # a running job is waited for, never submitted again
    REFUSE = "refuse"  # apply would stop before touching anything
    RUN = "run"  # an action, not a resource: the smoke test, a sweep's selection
    DELETE = "delete"  # deployments left on the endpoint that the spec does not name
    UNKNOWN = "unknown"  # the workspace's state was not read (plan --offline): apply decides


CHANGING = frozenset({Verb.CREATE, Verb.UPDATE, Verb.REPAIR, Verb.DELETE})
ACTING = CHANGING | {Verb.ATTACH, Verb.RUN}  # the verbs whose step calls the resource's applier
# Kinds whose creation or update starts something Azure bills (by the hour; a FineTuning job by training token).
BILLED = frozenset({"compute", "pipeline_job", "evaluation_job", "online_endpoint", "online_deployment",
                    "finetuning_job", "serverless_endpoint"})  # by training token and by hosting hour


class Reason(StrEnum):
    """Why a resource gets its verb (one per resource; the field changes carry the details)."""

    ABSENT = "absent"
    DRIFT = "drift"  # present, and some fields differ from the files
    EQUAL = "equal"
    PROVISIONING_FAILED = "provisioning_failed"
    CANNOT_UPDATE = "cannot_update"  # a field Azure cannot change in place (a compute's VM size)
    FAILED_STATE = "failed_state"  # a compute in Failed state
    JOB_RUNNING = "job_running"
    JOB_COMPLETED = "job_completed"
    JOB_ENDED = "job_ended"  # failed or canceled: a finished job is never re-submitted
    JOB_DONE_INPUTS_DIFFER = "job_done_inputs_differ"
    JOB_RUNNING_INPUTS_DIFFER = "job_running_inputs_differ"
    DATA_CHANGED = "data_changed"  # a data version is immutable and its file changed
    SELECTED_OTHER_POINT = "selected_other_point"  # a sweep now selects another point than the one registered
    DECIDED_AT_APPLY = "decided_at_apply"  # depends on a choice apply makes (a sweep's selection)
    ACTION = "action"  # not a resource: it runs every time
    LEFTOVER = "leftover"  # a deployment the spec does not name that serves no traffic
    SERVES_ANOTHER_MODEL = "serves_another_model"  # a rollout's new deployment name is taken by one that serves
    GATE_REFUSED = "gate_refused"  # the model's tags hold an evaluation gate that refused it (serverless route)
    LIVE_STATE_UNKNOWN = "live_state_unknown"  # planned offline: what the workspace holds is unknown


@dataclass(frozen=True)
class FieldChange:
    """One field apply would change (or cannot change): its path, the workspace's value and the files' value."""

    path: str
    before: Any
    after: Any
    updatable: bool = True

    def text(self) -> str:
        """`path: before -> after`, as plan prints it."""
        return f"{self.path}: {self.before!r} -> {self.after!r}" + ("" if self.updatable else " (cannot change)")


@dataclass
class Action:
    """What apply would do to one resource, why, and what the workspace holds now (`observed`, plain data)."""

    verb: Verb
    details: list[str] = field(default_factory=list)
    current: Any = None  # the SDK object read from the workspace (not saved with a plan)
    reason: Reason | None = None
    changes: list[FieldChange] = field(default_factory=list)
    observed: dict[str, Any] | None = None  # what was read, as plain values: a saved plan is checked against it
    deferred: bool = False  # decided again at its turn in apply (it depends on a choice apply makes)

    def __post_init__(self) -> None:
        self.verb = Verb(self.verb)


@dataclass(frozen=True)
class ResourcePlan:
    """One resource: the action apply would take, and the name it has in the workspace."""

    resource: Resource
    action: Action
    name: str


@dataclass(frozen=True)
class Costs:
    """What plan says the spec costs: the estimate block as printed (money, memory, both routes), the upper estimate
    in USD (None, with why in `unknown`), and both routes' figures (docs/plan.schema.json `routes`)."""

    lines: tuple[str, ...]
    upper_usd: float | None
    unknown: str
    routes: dict[str, Any]


@dataclass(frozen=True)
class Budget:
    """The spec's budget.max_usd against the upper estimate. `checked`: apply holds the plan to it (the target bills
    and the plan starts something billed); apply then refuses, without --over-budget, unless it is within it."""

    max_usd: float
    upper_usd: float | None
    verdict: str  # "within", "over", or "unknown" (no upper estimate)
    checked: bool
    why: str  # what apply says when it refuses ("" within the budget)

    @property
    def refuses(self) -> bool:
        """Whether apply would refuse on it (without --over-budget)."""
        return self.checked and self.verdict != "within"


@dataclass(frozen=True)
class Plan:
    """Every resource's plan, in the manifest's order, plus where it was made and what it was made from."""

    rows: list[ResourcePlan]
    notes: tuple[str, ...] = ()  # what will not fail but may surprise: points queueing for nodes
    meta: dict[str, Any] = field(default_factory=dict)  # spec, experiment, workspace, generated and data files' hashes
    costs: Costs | None = None  # the estimate (none when apply on a target that bills nothing skipped it)
    budget: Budget | None = None  # the budget's verdict (none without budget.max_usd, or without costs)
    offline: str = ""  # why the workspace's state is unknown (plan --offline); "" when it was read

    def count(self, *verbs: str) -> int:
        """How many resources would get one of `verbs`."""
        return sum(1 for row in self.rows if row.action.verb in verbs)

    @property
    def refused(self) -> list[ResourcePlan]:
        """The resources apply would refuse to touch."""
        return [row for row in self.rows if row.action.verb == Verb.REFUSE]

    @property
    def changes(self) -> bool:
        """Whether apply would create, update or repair anything."""
        return self.count(*CHANGING) > 0

    @property
    def billed(self) -> list[ResourcePlan]:
        """The changes that start something billed (compute, training, endpoint, deployment)."""
        return [row for row in self.rows if row.action.verb in CHANGING | {Verb.ATTACH} and row.resource.kind in BILLED]

    def exit_code(self, detailed: bool) -> ExitCode:
        """With `detailed`, 0 for no changes and 2 for changes, or for a resource whose change is unknown (as
        terraform); else 0. A refused step or budget is an error (StepRefused, OverBudget: exit 1), raised by plan and
        apply alike."""
        if detailed:
            return ExitCode.CHANGES if self.changes or self.unknown else ExitCode.OK
        return ExitCode.OK

    @property
    def unknown(self) -> list[ResourcePlan]:
        """The resources whose action is unknown (the workspace was not read)."""
        return [row for row in self.rows if row.action.verb == Verb.UNKNOWN]

    @property
    def applyable(self) -> bool:
        """Whether apply would carry it out: nothing refused, within the budget it is held to, made connected."""
        return not self.refused and not (self.budget is not None and self.budget.refuses) and not self.offline
