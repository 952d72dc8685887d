"""The serverless route's evaluation through endpoints: the held-out prompts (the test split converted as the
pipeline route's evaluation data is, generator/evaldata/eval_data.py `convert`, the first evaluation.max_samples) sent
to the base model's serverless endpoint and to the tuned model's through /v1/chat/completions with the evaluation's
generation settings, scored with the pipeline route's metric code (generator/textmetrics.py) and judged by the same
gate (generator/runner/evaluation_answers.py `gate_evidence`: a seeded paired bootstrap over the conversations).

A tuned model whose weights a serverless fine-tune may not expose cannot run through model_prediction, so the
endpoints answer instead. A gate the tuned model does not pass leaves it not serving: its endpoint is deleted (it
would bill by the hour for a model that did not prove itself), unless apply was given --keep-failed-deployment.

As on the pipeline route, the figures and the evidence are tagged on the registered model version, with what they
were measured on (both endpoints, and a digest of the held-out data and the evaluation's settings): a re-apply reads
them and asks nothing again, and a model whose gate refused it is not served again (steps/serverless_endpoint.py).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from generator import textmetrics
from generator.evaldata.eval_data import INPUT_COLUMN, LABEL_COLUMN, convert
from generator.evidence import Evidence
from generator.runner import evaluation_figures as figures
from generator.runner.evaluation_answers import Answers, gate_evidence
from generator.runner.experiment import Resource
from generator.runner.explain import RunnerError
from generator.runner.output import elapsed
from generator.runner.plan import Action, Reason, Verb
from generator.runner.steps.chat_completion import Chat, reply_text
from generator.runner.steps.common import Context, not_found, wait_poller
from generator.runner.steps.finetuning_job import JOB_TAG, registered_version


def _rule(res: Resource) -> str:
    if "metric" not in res.extra:
        return "no gate: report only"
    return (f"the tuned endpoint stays only when the {float(res.extra['confidence']):.0%} paired bootstrap interval of "
            f"tuned - base {res.extra['metric']} lies at or above {float(res.extra['min_gain']):+g}")


def plan_endpoint_evaluation(ctx: Context, res: Resource) -> Action:
    """An action on every apply: both endpoints answer the held-out prompts, unless the registered model's tags hold
    the figures (and the evidence) of these endpoints on this data with these settings."""
    model = tuned_model(ctx)
    if model is not None and recorded(ctx, res, model)[0] is not None:
        return Action(Verb.RUN, [f"the figures are on {model.name}:{model.version}'s tags (nothing is asked again); "
                                 f"{_rule(res)}"], reason=Reason.ACTION)
    return Action(Verb.RUN, [f"send the first {res.extra['max_samples']} prompts of {res.extra['data_file']} to "
                             f"{res.extra['base']} and {res.name}; {_rule(res)}"], reason=Reason.ACTION)


def _job(ctx: Context) -> Resource:
    return next(r for r in ctx.experiment.resources if r.kind == "finetuning_job")


def tuned_model(ctx: Context) -> Any:
    """The model version this run's FineTuning job registered (azure-ai-ml's Model), or None before it has."""
    job = _job(ctx)
    version = registered_version(ctx, job)
    if version is None:
        return None
    return not_found(lambda: ctx.ml.models.get(job.extra["registered_model"], version=version))


def measured_on(ctx: Context, res: Resource) -> dict[str, str]:
    """What the figures are measured on, as the tags name it per role: the endpoint and a digest of the held-out
    data and the evaluation's settings (another file, max_samples, generation or metrics evaluates again)."""
    digest = hashlib.sha256(json.dumps({key: res.extra.get(key) for key in ("max_samples", "generation", "metrics")},
                                       sort_keys=True).encode())
    path = ctx.experiment.folder.parent.parent / str(res.extra["data_file"])
    digest.update(path.read_bytes() if path.is_file() else b"")
    return {"base": f"{res.extra['base']} ({digest.hexdigest()[:12]})",
            "tuned": f"{res.name} ({digest.hexdigest()[:12]})"}


def recorded(ctx: Context, res: Resource, model: Any) -> tuple[list[figures.Row] | None, Evidence | None]:
    """The figures, and the gate's evidence, a previous apply tagged `model` with for these endpoints, data and
    settings: (None, None) when there are none (or the gate's settings changed since)."""
    tags = dict(model.tags or {})
    result = figures.from_tags(tags, list(res.extra["metrics"]), measured_on(ctx, res))
    if result is None or "metric" not in res.extra:
        return result, None
    proof = Evidence.from_tags(tags, figures.GATE_PREFIX)
    wanted = (str(res.extra["metric"]), float(res.extra["min_gain"]), float(res.extra["confidence"]))
    if proof is None or (proof.metric, proof.min_gain, proof.confidence) != wanted:
        return None, None
    return result, proof


def refused_before(ctx: Context, res: Resource) -> str | None:
    """Why this run's model is not served again: its tags hold a gate that refused it (with these settings), and
    apply was not given --skip-evaluation-gate; None otherwise."""
    model = tuned_model(ctx)
    proof = recorded(ctx, res, model)[1] if model is not None else None
    if proof is None or proof.passed or ctx.skip_evaluation_gate:
        return None
    return (f"{model.name}:{model.version} did not pass its evaluation gate ({proof.why()}; the evidence is on its "
            "tags), so it is not served again: apply --skip-evaluation-gate serves it anyway; bump experiment.run "
            "and render to train again")


def request_body(messages: list[dict[str, Any]], generation: dict[str, Any]) -> dict[str, Any]:
    """A chat completions request with the evaluation's generation settings: greedy (temperature 0) unless
    do_sample, as model_prediction's generator_config reads them; max_new_tokens as max_tokens."""
    body: dict[str, Any] = {"messages": messages, "max_tokens": int(generation.get("max_new_tokens", 256))}
    if generation.get("do_sample"):
        body["temperature"] = float(generation.get("temperature", 1.0))
        if generation.get("top_p") is not None:
            body["top_p"] = float(generation["top_p"])
    else:
        body["temperature"] = 0.0
    return body


def held_out(ctx: Context, res: Resource) -> list[dict[str, Any]]:
    """The evaluation rows: the prepared test split's first max_samples conversations, cut before the last answer."""
    path = ctx.experiment.folder.parent.parent / str(res.extra["data_file"])
    try:
        with path.open(encoding="utf-8") as lines:
            rows = list(convert(lines, int(res.extra["max_samples"])))
    except OSError as exc:
        raise RunnerError(f"cannot read the evaluation's held-out data {res.extra['data_file']}: {exc.strerror} "
                          "(python -m generator data prepare SPEC writes it)") from None
    if not rows:
        raise RunnerError(f"{res.extra['data_file']} holds no conversation to evaluate on")
    return rows


def answers(ctx: Context, endpoint: str, rows: list[dict[str, Any]], generation: dict[str, Any]) -> Answers:
    """The endpoint's answers to every row, with the rows' reference answers."""
    chat = Chat(ctx.ml, endpoint)
    ctx.out.line("evaluation", f"asking {endpoint} {len(rows)} held-out prompt(s)")
    start = last = time.monotonic()
    replies = []
    for row in rows:
        replies.append(reply_text(chat.ask(request_body(row[INPUT_COLUMN], generation))))
        if time.monotonic() - last >= ctx.heartbeat:
            last = time.monotonic()
            ctx.out.line("evaluation", f"{endpoint}: {len(replies)} of {len(rows)} answered "
                                       f"({elapsed(last - start)})")
    return Answers(f"serverless endpoint {endpoint}", replies, [str(row[LABEL_COLUMN]) for row in rows])


def apply_endpoint_evaluation(ctx: Context, res: Resource, action: Action) -> None:
    """Ask both endpoints, print base against tuned and the evidence; a refused gate deletes the tuned endpoint
    (unless --keep-failed-deployment) and raises EvaluationGateFailed (exit 1)."""
    model = tuned_model(ctx)
    result, proof = recorded(ctx, res, model) if model is not None else (None, None)
    if result is not None:
        ctx.out.line(res.id, f"figures from {model.name}:{model.version}'s tags (nothing asked again)")
        for line in figures.table(result).splitlines():
            ctx.out.line(res.id, line)
    else:
        result, proof = _ask_both(ctx, res)
        written = (figures.tags(result, measured_on(ctx, res)) | (proof.tags(figures.GATE_PREFIX) if proof else {})
                   | {JOB_TAG: _job(ctx).name})
        if model is not None:
            model.tags = {**dict(model.tags or {}), **written}
            ctx.ml.models.create_or_update(model)
            ctx.out.line(res.id, f"tagged {model.name}:{model.version} with its evaluation figures")
    if proof is None:
        return
    ctx.out.line(res.id, proof.line())
    if proof.passed:
        ctx.out.line(res.id, f"gate passed: {proof.why()}")
        return
    if ctx.skip_evaluation_gate:
        ctx.out.line(res.id, f"gate NOT met ({proof.why()}); the tuned endpoint stays: --skip-evaluation-gate")
        return
    kept = _not_kept(ctx, res)
    raise figures.EvaluationGateFailed(f"evaluation gate: {proof.why()}: {kept}\n  {proof.line()}\n"
                                       f"{figures.table(result)}\n  apply --skip-evaluation-gate keeps it anyway",
                                       result, proof)


def _ask_both(ctx: Context, res: Resource) -> tuple[list[figures.Row], Evidence | None]:
    """Both endpoints' answers to the held-out prompts, scored: the figures (printed with the first prompt's two
    answers) and, with a gate, the evidence on its metric."""
    rows = held_out(ctx, res)
    generation = dict(res.extra.get("generation") or {})
    base, tuned = (answers(ctx, name, rows, generation) for name in (res.extra["base"], res.name))
    names = list(res.extra["metrics"])
    result = figures.rows(names, textmetrics.compute_metrics(base.predictions, base.references, names),
                          textmetrics.compute_metrics(tuned.predictions, tuned.references, names))
    for line in figures.table(result).splitlines():
        ctx.out.line(res.id, line)
    example = next(iter(rows))[INPUT_COLUMN][-1]["content"]
    ctx.out.line(res.id, f"first prompt: {example[:200]}")
    ctx.out.line(res.id, f"  base:  {base.predictions[0][:300]}")
    ctx.out.line(res.id, f"  tuned: {tuned.predictions[0][:300]}")
    if "metric" not in res.extra:
        return result, None
    return result, gate_evidence(base, tuned, str(res.extra["metric"]), float(res.extra["min_gain"]),
                                 float(res.extra["confidence"]))


def _not_kept(ctx: Context, res: Resource) -> str:
    """Delete the tuned endpoint after a refused gate (unless --keep-failed-deployment); say what became of it."""
    if ctx.keep_failed_deployment:
        return (f"serverless endpoint {res.name} was kept (--keep-failed-deployment) and bills by the hour while it "
                "exists: destroy deletes it")
    wait_poller(ctx, res.id, ctx.ml.serverless_endpoints.begin_delete(res.name),
                f"delete serverless endpoint {res.name}: its model did not pass the gate")
    return f"serverless endpoint {res.name} was deleted, so it does not serve nor bill"

