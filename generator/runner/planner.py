"""Make the plan of a session (connected, or offline), add its costs, save it, and check a saved plan against the
workspace before applying it.

A saved plan (`plan --out FILE`, the document `plan --format json` prints) records where it was made (the
workspace's identity), what it was made from (the hash of every generated file and of every data file it uploads)
and what each planner read (`observed`). `apply --plan FILE` plans again only to compare: if anything moved, it
refuses before doing anything and says what. A plan made offline read nothing, so it is never applied.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from generator.errors import PlanMoved, UsageError
from generator.files import sha256
from generator.runner.experiment import Experiment, Resource
from generator.runner.offline import LiveStateUnknown, Observer
from generator.runner.plan import FORMAT_VERSION, Action, Costs, Plan, Reason, ResourcePlan, Verb
from generator.runner.plan_view import document
from generator.runner.steps.common import Context
from generator.runner.steps.registry import PLANNERS


def generated_hashes(experiment: Experiment) -> dict[str, str]:
    """sha256 of every file in the experiment's generated folder, by name."""
    folder = experiment.folder
    return {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


def data_hashes(root: Path, experiment: Experiment) -> dict[str, str | None]:
    """sha256 of every data file the experiment uploads (its manifest's data_files, relative to the project root),
    None for one that does not exist yet."""
    files = sorted(set(experiment.data_files.values()))
    return {name: sha256(root / name) if (root / name).is_file() else None for name in files}


def _order(res: Resource) -> list[str]:
    """Where a resource comes in the order, and the command that makes it by hand."""
    return ([f"after {', '.join(res.depends_on)}"] if res.depends_on else []) + [res.az]


def planned(context: Context, res: Resource) -> Action:
    """The resource's action: its planner's, or `unknown` (with its order and az ml command) when the workspace's
    state is not read. Every kind a manifest may hold has a planner (tests/unit/test_steps_registry.py)."""
    try:
        return PLANNERS[res.kind](context, res)
    except LiveStateUnknown:
        return Action(Verb.UNKNOWN, _order(res), reason=Reason.LIVE_STATE_UNKNOWN)


def make_plan(session: Observer, context: Context) -> Plan:
    """The plan of every resource of the session's experiment (a value: printed by plan, executed by apply)."""
    from generator import __version__

    experiment = session.experiment
    queued = session.target.queueing_note(experiment.loaded.data)
    rows = [ResourcePlan(res, planned(context, res), session.endpoint_name if res.kind == "online_endpoint"
                         else res.name) for res in experiment.resources]
    meta = {"tool": f"azml-gen {__version__}", "spec": str(experiment.spec), "experiment": experiment.name,
            "workspace": session.identity(), "generated": generated_hashes(experiment),
            "data": data_hashes(session.root, experiment)}
    return Plan(rows, notes=(queued,) if queued else (), meta=meta, offline=session.offline)


def with_costs(session: Observer, plan: Plan) -> Plan:
    """`plan` with its estimate and the budget's verdict: held to the budget when the target bills and the plan
    starts something billed (as apply then checks it)."""
    from generator.runner.cost import budget_verdict, estimate_block, session_costs

    spec = session.experiment.loaded
    report = session_costs(session)
    lines = tuple(estimate_block(spec, report))
    costs = Costs(lines, report.upper_usd, report.no_upper, report.routes)
    return replace(plan, costs=costs, budget=budget_verdict(spec, report, session.target.bills and bool(plan.billed)))


def save(plan: Plan, path: Path) -> None:
    """Write the plan's JSON document to `path` (atomically): what `plan --format json` prints."""
    from generator.files import write_atomically

    write_atomically(path, json.dumps(document(plan), indent=2, allow_nan=False) + "\n")


def load_saved(path: Path) -> dict[str, Any]:
    """A saved plan's JSON, checked against docs/plan.schema.json's required shape and version."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the plan {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not a plan saved by `plan --out` (not JSON: {exc})") from None
    if not isinstance(saved, dict) or saved.get("format_version") != FORMAT_VERSION \
            or not isinstance(saved.get("resource_changes"), list):
        raise UsageError(f"{path} is not a plan of format {FORMAT_VERSION} saved by `plan --out`; plan again")
    if saved.get("offline"):
        raise UsageError(f"{path} was made offline ({saved['offline']}), so apply has nothing to check it against: "
                         "run `plan --out FILE` connected to the workspace, review it, then apply it")
    return saved


def moved_since(saved: dict[str, Any], fresh: Plan) -> list[str]:
    """What differs between a saved plan and a fresh one of the same spec: workspace, files, each resource."""
    now = document(fresh)
    moved = []
    if saved.get("experiment") != now["experiment"]:
        moved.append(f"the plan is for experiment {saved.get('experiment')}, not {now['experiment']}")
        return moved
    if saved.get("workspace") != now["workspace"]:
        moved.append(f"workspace: planned for {_where(saved.get('workspace'))}, now {_where(now['workspace'])}")
    before, after = saved.get("generated") or {}, now["generated"]
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            what = "added" if name not in before else "removed" if name not in after else "changed"
            moved.append(f"generated/{now['experiment']}/{name} {what} since the plan was made")
    before_data, after_data = saved.get("data"), now.get("data") or {}
    if not isinstance(before_data, dict):
        moved.append("the plan records no hash of the data it uploads (made by an older version): plan again")
        before_data = after_data
    for name in sorted(set(before_data) | set(after_data)):
        if before_data.get(name) != after_data.get(name):
            what = ("created" if before_data.get(name) is None else "deleted" if after_data.get(name) is None
                    else "changed")
            moved.append(f"data file {name} {what} since the plan was made (apply would upload other data than "
                         "was reviewed)")
    old_rows = {row.get("id"): row for row in saved["resource_changes"] if isinstance(row, dict)}
    for row in now["resource_changes"]:
        old = old_rows.pop(row["id"], None)
        if old is None:
            moved.append(f"{row['id']}: not in the saved plan")
            continue
        if (old.get("action"), old.get("changes")) != (row["action"], row["changes"]):
            moved.append(f"{row['id']}: planned {old.get('action')}, now {row['action']}"
                         + (f" ({'; '.join(row['details'])})" if row["details"] else ""))
        elif old.get("observed") != row["observed"]:
            moved.append(f"{row['id']}: the workspace changed ({_delta(old.get('observed'), row['observed'])})")
    moved += [f"{rid}: in the saved plan, no longer in the manifest" for rid in old_rows]
    return moved


def check_saved(saved: dict[str, Any], fresh: Plan) -> None:
    """Raise PlanMoved, naming what moved, unless the fresh plan is the saved one."""
    moved = moved_since(saved, fresh)
    if moved:
        raise PlanMoved(moved)


def _where(identity: Any) -> str:
    if not isinstance(identity, dict):
        return "an unknown workspace"
    return f"{identity.get('kind')} workspace {identity.get('workspace')} ({identity.get('resource_group')})"


def _delta(before: Any, after: Any) -> str:
    """The observed fields that differ, as `field: old -> new`."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return f"{before!r} -> {after!r}"
    keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return "; ".join(f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in keys)
