"""The one view of a plan: the same value as text (what plan prints), Markdown (a pull request's job summary) and
JSON (docs/plan.schema.json: what `plan --format json` prints and `plan --out FILE` saves, the same document)."""

from __future__ import annotations

import json
from typing import Any

from generator.runner.plan import FORMAT_VERSION, Plan, ResourcePlan, Verb

MARKS = {"create": "+", "update": "~", "repair": "~", "refuse": "!", "attach": "=", "run": ">", "delete": "-",
         "unknown": "?"}


def summary(plan: Plan) -> str:
    """`Plan: 2 to create, 1 to update, 0 to delete, 0 unchanged, 1 refused` (repairs count as updates; `, 9
    unknown (…)` when the workspace was not read)."""
    unknown = f", {plan.count(Verb.UNKNOWN)} unknown ({plan.offline})" if plan.unknown else ""
    return (f"Plan: {plan.count(Verb.CREATE)} to create, {plan.count(Verb.UPDATE, Verb.REPAIR)} to update, "
            f"{plan.count(Verb.DELETE)} to delete, {plan.count(Verb.UNCHANGED, Verb.ATTACH)} unchanged, "
            f"{plan.count(Verb.REFUSE)} refused{unknown}")


def _row_lines(row: ResourcePlan) -> list[str]:
    """The resource's line and its detail lines."""
    return [f"{row.action.verb:<9} {row.resource.id:<13} {row.name}"] + [f"{'':10}{d}" for d in row.action.details]


def _estimate(plan: Plan) -> list[str]:
    return list(plan.costs.lines) if plan.costs is not None else []


def text(plan: Plan) -> str:
    """Every resource's line and details, the notes, the estimate block, then the summary line."""
    lines = [line for row in plan.rows for line in _row_lines(row)]
    lines += [f"note: {note}" for note in plan.notes]
    lines += _estimate(plan)
    return "\n".join([*lines, summary(plan)])


def _cell(value: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown(plan: Plan) -> str:
    """The plan as a Markdown table, for a pull request or a CI job summary."""
    title = plan.meta.get("experiment", "plan")
    out = [f"### Plan for `{title}`", "", "| action | resource | name | details |", "|---|---|---|---|"]
    for row in plan.rows:
        details = "<br>".join(_cell(d) for d in row.action.details) or ""
        out.append(f"| {MARKS.get(row.action.verb, '')} {row.action.verb} | `{row.resource.id}` | `{_cell(row.name)}` "
                   f"| {details} |")
    out += [""] + [f"> note: {_cell(n)}" for n in plan.notes]
    if plan.costs is not None:
        out += ["", "```", *plan.costs.lines, "```"]
    out += ["", f"**{summary(plan)}**"]
    return "\n".join(out) + "\n"


def _plain(value: Any) -> Any:
    """A JSON-safe copy of `value` (anything else becomes its text)."""
    return json.loads(json.dumps(value, default=str, allow_nan=False)) if value is not None else None


def _row(row: ResourcePlan) -> dict[str, Any]:
    """The resource's entry in the plan's JSON."""
    action = row.action
    return {"id": row.resource.id, "kind": row.resource.kind, "name": row.name, "action": str(action.verb),
            "reason": str(action.reason) if action.reason else None, "details": list(action.details),
            "changes": [{"path": c.path, "before": _plain(c.before), "after": _plain(c.after),
                         "updatable": c.updatable} for c in action.changes],
            "observed": _plain(action.observed), "deferred": action.deferred,
            "depends_on": list(row.resource.depends_on)}


def document(plan: Plan) -> dict[str, Any]:
    """The plan's JSON document (docs/plan.schema.json)."""
    costs, budget = plan.costs, plan.budget
    return {"format_version": FORMAT_VERSION, **_plain(plan.meta),
            "resource_changes": [_row(row) for row in plan.rows], "notes": list(plan.notes),
            "summary": {verb.value: plan.count(verb) for verb in Verb},
            "applyable": plan.applyable, "changes": plan.changes, "offline": plan.offline or None,
            "estimate": None if costs is None else {"lines": list(costs.lines), "upper_usd": costs.upper_usd,
                                                   "unknown": costs.unknown or None},
            "budget": None if budget is None else {"max_usd": budget.max_usd, "upper_usd": budget.upper_usd,
                                                   "verdict": budget.verdict, "checked": budget.checked,
                                                   "refuses": budget.refuses, "why": budget.why or None},
            "routes": _plain(costs.routes) if costs is not None else None}


def render(plan: Plan, output_format: str) -> str:
    """The plan as `output_format` (text, markdown or json), ready to print."""
    if output_format == "json":
        return json.dumps(document(plan), indent=2, allow_nan=False) + "\n"
    if output_format == "markdown":
        return markdown(plan)
    return text(plan) + "\n"
