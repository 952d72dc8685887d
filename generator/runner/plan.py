"""The plan as a value: what apply would do to each resource, why, and how it reads as text, Markdown or JSON.

Plan prints it (`--format text|markdown|json`), `plan --out FILE` saves it, and apply executes exactly the
plan it showed (or the saved one, after checking that nothing it was made from has moved). The JSON form is
versioned (`FORMAT_VERSION`) and published as `docs/plan.schema.json`, the analogue of `terraform show -json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from generator.errors import ExitCode
from generator.runner.experiment import Resource

FORMAT_VERSION = "1.0"


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


CHANGING = frozenset({Verb.CREATE, Verb.UPDATE, Verb.REPAIR, Verb.DELETE})
ACTING = CHANGING | {Verb.ATTACH, Verb.RUN}  # the verbs whose step calls the resource's applier
# Kinds whose creation or update starts something Azure bills by the hour.
BILLED = frozenset({"compute", "pipeline_job", "evaluation_job", "online_endpoint", "online_deployment"})


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

    def lines(self) -> list[str]:
        """The resource's line and its detail lines, as plan prints them."""
        return [f"{self.action.verb:<9} {self.resource.id:<13} {self.name}"] + [f"{'':10}{d}" for d in
                                                                               self.action.details]

    def as_json(self) -> dict[str, Any]:
        """The resource's entry in the plan's JSON."""
        action = self.action
        return {"id": self.resource.id, "kind": self.resource.kind, "name": self.name, "action": str(action.verb),
                "reason": str(action.reason) if action.reason else None, "details": list(action.details),
                "changes": [{"path": c.path, "before": _plain(c.before), "after": _plain(c.after),
                             "updatable": c.updatable} for c in action.changes],
                "observed": _plain(action.observed), "deferred": action.deferred,
                "depends_on": list(self.resource.depends_on)}


def _plain(value: Any) -> Any:
    """A JSON-safe copy of `value` (anything else becomes its text)."""
    return json.loads(json.dumps(value, default=str, allow_nan=False)) if value is not None else None


@dataclass(frozen=True)
class Plan:
    """Every resource's plan, in the manifest's order, plus where it was made and what it was made from."""

    rows: list[ResourcePlan]
    notes: tuple[str, ...] = ()  # what will not fail but may surprise: points queueing for nodes
    meta: dict[str, Any] = field(default_factory=dict)  # spec, experiment, target, generated files' hashes

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

    def summary(self) -> str:
        """`Plan: 2 to create, 1 to update, 0 to delete, 0 unchanged, 1 refused` (repairs count as updates)."""
        return (f"Plan: {self.count(Verb.CREATE)} to create, {self.count(Verb.UPDATE, Verb.REPAIR)} to update, "
                f"{self.count(Verb.DELETE)} to delete, {self.count(Verb.UNCHANGED, Verb.ATTACH)} unchanged, "
                f"{self.count(Verb.REFUSE)} refused")

    def exit_code(self, detailed: bool) -> ExitCode:
        """With `detailed`, 0 for no changes and 2 for changes (as terraform); else 0. A refused step is an error
        (StepRefused, exit 1), raised by plan and apply alike."""
        if detailed:
            return ExitCode.CHANGES if self.changes else ExitCode.OK
        return ExitCode.OK

    def text(self, estimate: list[str] | None = None) -> str:
        """Every resource's line and details, the notes, the estimate block, then the summary line."""
        lines = [line for row in self.rows for line in row.lines()]
        lines += [f"note: {note}" for note in self.notes]
        lines += estimate or []
        return "\n".join([*lines, self.summary()])

    def markdown(self, estimate: list[str] | None = None) -> str:
        """The plan as a Markdown table, for a pull request or a CI job summary."""
        title = self.meta.get("experiment", "plan")
        out = [f"### Plan for `{title}`", "", "| action | resource | name | details |", "|---|---|---|---|"]
        for row in self.rows:
            details = "<br>".join(_cell(d) for d in row.action.details) or ""
            mark = {"create": "+", "update": "~", "repair": "~", "refuse": "!", "attach": "=", "run": ">",
                    "delete": "-"}.get(
                row.action.verb, "")
            out.append(f"| {mark} {row.action.verb} | `{row.resource.id}` | `{_cell(row.name)}` | {details} |")
        out += [""] + [f"> note: {_cell(n)}" for n in self.notes]
        if estimate:
            out += ["", "```", *estimate, "```"]
        out += ["", f"**{self.summary()}**"]
        return "\n".join(out) + "\n"

    def as_json(self) -> dict[str, Any]:
        """The plan's JSON document (see docs/plan.schema.json)."""
        return {"format_version": FORMAT_VERSION, **_plain(self.meta),
                "resource_changes": [row.as_json() for row in self.rows], "notes": list(self.notes),
                "summary": {verb.value: self.count(verb) for verb in Verb},
                "applyable": not self.refused, "changes": self.changes}


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")
