"""The pipeline job: submitted once per name (bump experiment.run to train again), attached to when running."""

from __future__ import annotations

import re
import time
from typing import Any

from generator.runner.experiment import Resource
from generator.runner.explain import RunnerError
from generator.runner.output import elapsed
from generator.runner.plan import Action, FieldChange, Reason, Verb
from generator.runner.steps.common import RUNNING, Context, fixed_changes, job_status, not_found, with_fixed


def plan_job(ctx: Context, res: Resource) -> Action:
    """Absent → submit; running → attach; completed → unchanged; other inputs or a failed job → refuse."""
    current = not_found(lambda: ctx.ml.jobs.get(res.name))
    if current is None:
        return Action(Verb.CREATE, [f"submit pipeline job {res.name}"], reason=Reason.ABSENT)
    status = job_status(current)
    observed = {"status": status}
    link = ctx.target.job_link(current)
    changes = job_input_changes(ctx, res, current)
    if changes:
        running = status in RUNNING
        why = f"the job is {status} with the old values and cannot change" if running else \
            "the job finished with the old values"
        differ = "; ".join(f"{c.path} {c.before} -> {c.after}" for c in changes)
        return Action(Verb.REFUSE, [f"pipeline-job {res.name}: {differ} ({why}): "
                                    f"bump experiment.run in {ctx.experiment.spec} and render to train again"],
                      current, Reason.JOB_RUNNING_INPUTS_DIFFER if running else Reason.JOB_DONE_INPUTS_DIFFER,
                      changes, observed)
    fixed = job_setting_changes(ctx, res, current)
    if status in RUNNING:
        return with_fixed(Action(Verb.ATTACH, [f"job {res.name} is {status}: wait for it (nothing is submitted again)"],
                                 current, Reason.JOB_RUNNING, [], observed), fixed)
    if status == "Completed":
        return with_fixed(Action(Verb.UNCHANGED, [f"job {res.name} completed with these inputs (bump experiment.run "
                                                  "to train again)"], current, Reason.JOB_COMPLETED, [], observed),
                          fixed)
    return Action(Verb.REFUSE, [f"job {res.name} is {status}; a finished job is not re-submitted: bump "
                                f"experiment.run in {ctx.experiment.spec} and render to train again. {link}".strip()],
                  current, Reason.JOB_ENDED, [], observed)


_ASSET_ID = re.compile(r"^(?:azureml:)?(?:/subscriptions/.*/(?:data|models)/)?([^/:]+)(?:/versions/|:)([^/:]+)$")


def input_value(value: Any) -> str:
    """A node input as the REST body holds it, with asset ids and `name:version` written alike."""
    raw = value.get("value", value.get("uri")) if isinstance(value, dict) else value
    match = _ASSET_ID.match(str(raw)) if isinstance(raw, str) and ("/versions/" in raw or raw.count(":") == 1) \
        and not raw.startswith("azureml://") else None
    return f"{match.group(1)}:{match.group(2)}" if match else str(raw)


def job_input_changes(ctx: Context, res: Resource, current: Any) -> list[FieldChange]:
    """Every node input of the existing job that the rendered file now sets otherwise (a job cannot change)."""
    from azure.ai.ml import load_job

    try:
        desired = ctx.load(res, load_job)._to_rest_object().as_dict()["properties"]["jobs"]
        existing = current._to_rest_object().as_dict()["properties"]["jobs"]
    except Exception:  # a job this tool did not submit (another shape): nothing to compare
        return []
    changes = []
    for node, spec in desired.items():
        ours, theirs = spec.get("inputs") or {}, (existing.get(node) or {}).get("inputs") or {}
        for name in sorted(set(ours) | set(theirs)):
            old, new = (input_value(theirs[name]) if name in theirs else "(unset)",
                        input_value(ours[name]) if name in ours else "(unset)")
            if old != new:
                changes.append(FieldChange(name, old, new, updatable=False))
    return changes


def job_setting_changes(ctx: Context, res: Resource, current: Any) -> list[FieldChange]:
    """The job's description, display name, tags and settings (finetune.settings) that the rendered file now sets
    otherwise: a submitted job keeps them, so plan shows them as drift that cannot change."""
    from azure.ai.ml import load_job

    try:
        desired = ctx.load(res, load_job)._to_rest_object().as_dict()["properties"]
        existing = current._to_rest_object().as_dict()["properties"]
    except Exception:  # a job this tool did not submit (another shape): nothing to compare
        return []
    pairs = [(name, existing.get(key) or "", desired.get(key) or "")
             for name, key in (("description", "description"), ("display_name", "displayName"))]
    pairs += [(f"tags.{key}", (existing.get("tags") or {}).get(key, "(unset)"), value)
              for key, value in sorted((desired.get("tags") or {}).items())]
    pairs += [(f"settings.{key}", (existing.get("settings") or {}).get(key, "(unset)"), value)
              for key, value in sorted((desired.get("settings") or {}).items()) if not key.startswith("_")]
    return fixed_changes(pairs)


def apply_job(ctx: Context, res: Resource, action: Action, retry: str | None = None) -> None:
    """Submit the job (unless it runs already) and wait for it to end (`retry`: how to run it again when it fails,
    if not by bumping experiment.run)."""
    from azure.ai.ml import load_job

    if action.verb == Verb.CREATE:
        job = ctx.load(res, load_job)
        try:
            submitted = ctx.ml.jobs.create_or_update(job)
        except Exception:  # a retried submission may find the job the first one created: never submit twice
            submitted = _submitted_before(ctx, res)
            if submitted is None:
                raise
            ctx.out.line(res.id, f"{res.name} was created by an earlier attempt of this submission (same inputs): "
                                 "waiting for it")
        else:
            ctx.out.line(res.id, f"submitted {submitted.name}" + (f", {link}" if (link := ctx.target.job_link(
                submitted)) else ""))
    wait_for_job(ctx, res, retry)


def _submitted_before(ctx: Context, res: Resource) -> Any:
    """The job `res` when the workspace holds it with the inputs the files give (so it is this submission's);
    None otherwise."""
    existing = not_found(lambda: ctx.ml.jobs.get(res.name))
    if existing is None or job_input_changes(ctx, res, existing):
        return None
    return existing


def wait_for_job(ctx: Context, res: Resource, retry: str | None = None, what: str = "pipeline job",
                 follow: bool = True) -> None:
    """Wait until the job ends, printing each state change and a heartbeat; fail with its error. `follow`: print its
    log as it grows (when ctx.stream_logs)."""
    start = last_print = time.monotonic()
    status = None
    side_by_side = "sweep_point" in res.extra and ctx.slots is not None and ctx.slots.capacity > 1
    if follow and ctx.stream_logs and not side_by_side:  # the logs of points running side by side would interleave
        ctx.target.follow_job_log(ctx.ml, res.name, ctx.out, res.id, ctx.poll_interval)
    while True:
        job = ctx.ml.jobs.get(res.name)
        now = time.monotonic()
        if job_status(job) != status or now - last_print >= ctx.heartbeat:
            status, last_print = job_status(job), now
            ctx.out.line(res.id, f"{res.name}: {status} ({elapsed(now - start)})")
        if status not in RUNNING:
            break
        time.sleep(ctx.poll_interval)
    if status != "Completed":
        again = retry or f"bump experiment.run in {ctx.experiment.spec}, render and apply again"
        raise RunnerError(f"{what} {res.name} {status}: {job_error(ctx, res.name)}\n  "
                          f"{ctx.target.job_link(job)}\n  nothing downstream was created; fix the cause, {again}")


def job_error(ctx: Context, name: str) -> str:
    """The failed job's error from run history (the job entity itself does not carry it)."""
    try:
        details = ctx.ml.jobs._runs_operations.get_run_details(name)  # no public API exposes the run's error
        root = details.error.error
        return f"{root.code}: {root.message}"
    except Exception:  # no run history answer: the Studio link below still leads to the logs
        return "no error detail from run history; see the job's logs in Studio"
