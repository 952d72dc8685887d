"""The FineTuning job of the serverless route: submitted once per name (bump experiment.run to train again), attached
to while it runs, and the model version it registered.

azure-ai-ml 1.35.2's jobs.stream fails on a FineTuning job (the service answers its `services` null, as recorded:
azure-sdk-assets test_maap_finetuning_job_yaml @a049636e; tests/e2e/test_serverless_e2e.py), so the job is waited for
by polling jobs.get.
"""

from __future__ import annotations

from typing import Any

from generator.runner.experiment import Resource
from generator.runner.explain import RunnerError
from generator.runner.plan import Action, FieldChange, Reason, Verb
from generator.runner.steps.common import RUNNING, Context, job_status, not_found
from generator.runner.steps.job import input_value, job_error, wait_for_job

WHAT = "FineTuning job"


def plan_finetuning_job(ctx: Context, res: Resource) -> Action:
    """Absent → submit; running → attach; completed → unchanged; other inputs, or a failed or canceled job → refuse."""
    current = not_found(lambda: ctx.ml.jobs.get(res.name))
    if current is None:
        return Action(Verb.CREATE, [f"submit {WHAT} {res.name} (registers {res.extra['registered_model']})"],
                      reason=Reason.ABSENT)
    status = job_status(current)
    observed = {"status": status}
    changes = input_changes(ctx, res, current)
    again = f"bump experiment.run in {ctx.experiment.spec} and render to train again"
    if changes:
        running = status in RUNNING
        differ = "; ".join(c.text() for c in changes)
        why = f"the job is {status} with the old values" if running else "the job finished with the old values"
        return Action(Verb.REFUSE, [f"{WHAT} {res.name}: {differ} ({why}): {again}"], current,
                      Reason.JOB_RUNNING_INPUTS_DIFFER if running else Reason.JOB_DONE_INPUTS_DIFFER, changes,
                      observed)
    if status in RUNNING:
        return Action(Verb.ATTACH, [f"job {res.name} is {status}: wait for it (nothing is submitted again)"], current,
                      Reason.JOB_RUNNING, [], observed)
    if status == "Completed":
        version = registered_version(ctx, res)
        model = f"; it registered {res.extra['registered_model']}:{version}" if version else ""
        return Action(Verb.UNCHANGED, [f"job {res.name} completed with these inputs{model} (bump experiment.run to "
                                       "train again)"], current, Reason.JOB_COMPLETED, [], observed)
    link = ctx.target.job_link(current)
    return Action(Verb.REFUSE, [f"job {res.name} is {status} ({job_error(ctx, res.name)}); a finished job is not "
                                f"re-submitted: {again}. {link}".strip()], current, Reason.JOB_ENDED, [], observed)


def _details(job: Any) -> dict[str, Any]:
    """The REST fineTuningDetails of a job entity (empty for a job of another type)."""
    try:
        return dict(job._to_rest_object().as_dict()["properties"].get("fineTuningDetails") or {})
    except Exception:  # a job this tool did not submit (another shape): nothing to compare
        return {}


def input_changes(ctx: Context, res: Resource, current: Any) -> list[FieldChange]:
    """The model, data and hyperparameters of the existing job that the rendered file now sets otherwise (a job
    cannot change)."""
    from azure.ai.ml import load_job

    desired, existing = _details(ctx.load(res, load_job)), _details(current)
    if not existing:
        return []
    pairs = [(name, input_value(existing.get(key) or "(unset)"), input_value(desired.get(key) or "(unset)"))
             for name, key in (("model", "model"), ("training_data", "trainingData"),
                               ("validation_data", "validationData"))]
    ours, theirs = desired.get("hyperParameters") or {}, existing.get("hyperParameters") or {}
    pairs += [(f"hyperparameters.{name}", str(theirs.get(name, "(unset)")), str(ours.get(name, "(unset)")))
              for name in sorted(set(ours) | set(theirs))]
    return [FieldChange(name, old, new, updatable=False) for name, old, new in pairs if old != new]


def apply_finetuning_job(ctx: Context, res: Resource, action: Action) -> None:
    """Submit the job (unless it runs already), wait for it to end by polling its state, and say what it registered."""
    from azure.ai.ml import load_job

    if action.verb == Verb.CREATE:
        try:
            submitted = ctx.ml.jobs.create_or_update(ctx.load(res, load_job))
        except Exception:  # a retried submission may find the job the first one created: never submit twice
            existing = not_found(lambda: ctx.ml.jobs.get(res.name))
            if existing is None or input_changes(ctx, res, existing):
                raise
            ctx.out.line(res.id, f"{res.name} was created by an earlier attempt of this submission: waiting for it")
        else:
            link = ctx.target.job_link(submitted)
            ctx.out.line(res.id, f"submitted {WHAT} {submitted.name}" + (f", {link}" if link else ""))
    wait_for_job(ctx, res, what=WHAT, follow=False)
    version = registered_version(ctx, res)
    if version is None:
        raise RunnerError(f"{WHAT} {res.name} completed but no version of model {res.extra['registered_model']} "
                          "names it as its job: nothing to serve")
    ctx.out.line(res.id, f"registered model {res.extra['registered_model']}:{version}")


JOB_TAG = "finetuning.job"  # written with the evaluation's tags: a model version's PUT carries no jobName


def registered_version(ctx: Context, res: Resource) -> str | None:
    """The version of the job's outputs.registered_model that the job registered (the model version whose jobName is
    the job, or, once the runner has tagged it, whose JOB_TAG is: azure-ai-ml 1.35.2's Model sends no job_name
    in the PUT that updates its tags), or None before it has."""
    for model in ctx.ml.models.list(res.extra["registered_model"]):
        if res.name in (getattr(model, "job_name", None), dict(getattr(model, "tags", None) or {}).get(JOB_TAG)):
            return str(model.version)
    return None
