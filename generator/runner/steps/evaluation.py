"""The evaluation jobs (base and tuned) and the gate before traffic.

An evaluation job is a pipeline job: submitted once per name, attached to while it runs (steps/job.py). When the
registered model already carries the figures of these very jobs (tags a previous apply wrote), nothing runs again.
The gate reads both jobs' figures, prints base against tuned, and judges on evidence: both jobs' answers to the same
conversations, scored per conversation, with a paired bootstrap interval on tuned minus base (generator/evidence.py).
It tags the registered model with the figures and the evidence, and refuses traffic unless the interval's lower bound
is at least `evaluation.gate.min_gain` (exit 1), unless apply was given --skip-evaluation-gate.
"""

from __future__ import annotations

from typing import Any

from generator import evidence
from generator.runner import evaluation_answers as answers
from generator.runner import evaluation_figures as figures
from generator.runner.experiment import Resource
from generator.runner.plan import Action, Reason, Verb
from generator.runner.steps.common import Context, not_found
from generator.runner.steps.job import apply_job, plan_job


def _gate(ctx: Context) -> Resource:
    return ctx.experiment.by_kind("evaluation_gate")


def _jobs(ctx: Context) -> dict[str, str]:
    """role → evaluation job name."""
    return {r.extra["role"]: r.name for r in ctx.experiment.resources if r.kind == "evaluation_job"}


def _tagged(ctx: Context) -> tuple[Any, list[figures.Row] | None]:
    """The registered model (or None) and the figures its tags hold for these jobs (or None)."""
    gate = _gate(ctx)
    model = not_found(lambda: ctx.ml.models.get(gate.name, version=str(gate.extra["version"])))
    if model is None:
        return None, None
    return model, figures.from_tags(dict(model.tags or {}), list(gate.extra["metrics"]), _jobs(ctx))


def _attempt(ctx: Context) -> int:
    spec = ctx.experiment.source_spec
    return int(((spec.data if spec is not None else {}).get("evaluation") or {}).get("attempt", 1))


def again(ctx: Context) -> str:
    """How to evaluate again without training again."""
    return (f"set evaluation.attempt: {_attempt(ctx) + 1} in {ctx.experiment.spec} and render: both evaluations run "
            "again under new names, alone (the training job and the registered model are not redone)")


def plan_evaluation_job(ctx: Context, res: Resource) -> Action:
    """As a pipeline job (a failed one, or one that ran with other settings, is refused with how to evaluate again
    alone); figures already on the model's tags → unchanged (nothing runs again)."""
    action = plan_job(ctx, res)
    if action.verb == Verb.REFUSE:
        status = (action.observed or {}).get("status", "")
        why = (f"ran with other settings ({'; '.join(c.text() for c in action.changes)})" if action.changes else
               f"is {status} (a finished job is never submitted again)")
        action.details = [f"evaluation job {res.name} {why}: fix the cause, then {again(ctx)}"]
        return action
    _, tagged = _tagged(ctx)
    if tagged is not None:
        return Action(Verb.UNCHANGED, [f"{res.name}: its figures are on the registered model's tags"],
                      reason=Reason.EQUAL, observed={"tagged": True})
    return action


def apply_evaluation_job(ctx: Context, res: Resource, action: Action) -> None:
    """Submit the evaluation job (unless it runs already) and wait for it to end."""
    apply_job(ctx, res, action, retry=again(ctx))


def _rule(res: Resource) -> str:
    """What the gate asks for, as plan prints it."""
    if "metric" not in res.extra:
        return "no gate: report only"
    confidence = float(res.extra.get("confidence", 0.95))
    return (f"traffic only when the {confidence:.0%} paired bootstrap interval of tuned - base {res.extra['metric']} "
            f"over the evaluated conversations lies at or above {float(res.extra['min_gain']):+g} "
            f"({evidence.RESAMPLES:,} resamples, seed {evidence.SEED}; fewer than {evidence.minimum_n(confidence)} "
            "conversations cannot decide)")


def plan_gate(ctx: Context, res: Resource) -> Action:
    """An action on every apply: compare the figures (from the model's tags when a previous apply wrote them)."""
    return Action(Verb.RUN, [f"compare base and tuned on {', '.join(res.extra['metrics'])}; {_rule(res)}"],
                  reason=Reason.ACTION)


def _evidence(ctx: Context, res: Resource, tags: dict[str, str], jobs: dict[str, str]) -> evidence.Evidence:
    """The gate's evidence: from the model's tags when a previous apply judged these jobs with these settings, else
    from both jobs' answers (downloaded and scored per conversation)."""
    metric, min_gain = res.extra["metric"], float(res.extra["min_gain"])
    confidence = float(res.extra.get("confidence", 0.95))
    found = evidence.Evidence.from_tags(tags, figures.GATE_PREFIX)
    if found is not None and (found.metric, found.min_gain, found.confidence) == (metric, min_gain, confidence):
        return found
    base, tuned = (answers.read_answers(ctx.ml, jobs[role]) for role in ("base", "tuned"))
    return answers.gate_evidence(base, tuned, metric, min_gain, confidence)


def apply_gate(ctx: Context, res: Resource, action: Action) -> None:
    """Print base against tuned and the evidence on the gate's metric, tag the registered model with both, and judge
    the gate by the evidence's interval."""
    names, jobs = list(res.extra["metrics"]), _jobs(ctx)
    model, result = _tagged(ctx)
    tags = dict(model.tags or {}) if model is not None else {}
    written: dict[str, str] = {}
    if result is None:
        client = ctx.metrics_client()
        base, tuned = (figures.find_metrics(client, ctx.experiment.name, jobs[role], names) for role in ("base",
                                                                                                          "tuned"))
        result = figures.rows(names, base, tuned)
        written.update(figures.tags(result, jobs))
    else:
        ctx.out.line(res.id, f"figures from {res.name}:{res.extra['version']}'s tags (nothing evaluated again)")
    for line in figures.table(result).splitlines():
        ctx.out.line(res.id, line)
    judged = tags if not written else {}  # evidence tags count only for the jobs the figures' tags name
    proof = _evidence(ctx, res, judged, jobs) if "metric" in res.extra else None
    if proof is not None:
        written.update(proof.tags(figures.GATE_PREFIX))
        ctx.out.line(res.id, proof.line())
    if model is not None and any(tags.get(key) != value for key, value in written.items()):
        model.tags = {**tags, **written}
        ctx.ml.models.create_or_update(model)
        ctx.out.line(res.id, f"tagged {res.name}:{res.extra['version']} with its evaluation figures")
    if proof is None:
        return
    if proof.passed:
        ctx.out.line(res.id, f"gate passed: {proof.why()}")
    elif ctx.skip_evaluation_gate:
        ctx.out.line(res.id, f"gate NOT met ({proof.why()}); traffic anyway: --skip-evaluation-gate")
    else:
        raise figures.EvaluationGateFailed(
            f"evaluation gate: {proof.why()}: the tuned model gets no traffic\n  {proof.line()}\n"
            f"{figures.table(result)}\n  apply --skip-evaluation-gate gives it traffic anyway", result, proof)
