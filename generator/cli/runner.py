"""`python -m generator plan|apply|status|invoke|destroy|metrics|compare SPEC`: options → session → call → print.

The work is in `generator.runner` (session, planner, apply, status, destroy); errors are raised there
and become exit codes in `generator.cli.handle`.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from generator.cli.handle import at_terminal
from generator.cli.target import offline_session, open_session, spec_options, workspace_options
from generator.errors import UsageError
from generator.runner.experiment import SERVERLESS, Experiment
from generator.runner.offline import Observer
from generator.runner.plan import Plan
from generator.runner.targets import Target

if TYPE_CHECKING:
    from generator.runner.session import Session


def _model_lines(experiment: Experiment, target: Target) -> None:
    """The foundation model's pin, what the target says about it (a model that stands in for it), and the parameters
    its defaults supplied, as plan prints them."""
    click.echo(f"foundation model {experiment.foundation_model}: {experiment.foundation_model_pin}")
    for line in target.plan_lines(experiment):
        click.echo(line)
    if experiment.parameters_from_model:
        click.echo("parameters from the model's model_specific_defaults: "
                   + ", ".join(f"{k}={v}" for k, v in experiment.parameters_from_model.items()))


def _refuse(planned: Plan) -> None:
    """After plan printed it: raise what apply would raise on it (the same type, so the same exit code)."""
    from generator.runner.explain import OverBudget, StepRefused

    refused = f"apply would refuse {', '.join(row.resource.id for row in planned.refused)} (see above)"
    budget = planned.budget if planned.budget is not None and planned.budget.refuses else None
    if budget is not None:
        if planned.refused:
            click.echo(f"error: {refused}", err=True)
        raise OverBudget(f"apply would refuse (without --over-budget): {budget.why}")
    if planned.refused:
        raise StepRefused(refused)


@click.command()
@spec_options
@click.option("--offline", is_flag=True, help="Plan without connecting: each resource's action is unknown; the order, "
                                              "the az ml commands and the estimate (prices cached for the spec's "
                                              "region) are shown. Never applied.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 when there is nothing to change, 2 when there are changes (or, offline, may be), 1 on any "
                   "error or refusal.")
@click.option("--format", "output_format", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="json: the versioned document of docs/plan.schema.json (what --out saves).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Save the plan (its JSON document) for `apply --plan FILE`, which applies exactly it.")
@click.pass_context
def plan(ctx: click.Context, spec: str, root: Path, config: Path | None, subscription: str | None,
         resource_group: str | None, workspace: str | None, target: str, offline: bool, detailed_exitcode: bool,
         output_format: str, out_file: Path | None) -> None:
    """Show what apply would do to each resource, against the live workspace (or offline), with its cost."""
    from generator.runner.plan_view import render
    from generator.runner.planner import make_plan, save, with_costs

    session: Observer = (offline_session(ctx, spec, root, target) if offline else
                         open_session(ctx, spec, root, config, subscription, resource_group, workspace, target,
                                      extras=True))
    if output_format == "text":
        _model_lines(session.experiment, session.target)
    planned = with_costs(session, make_plan(session, session.context()))
    click.echo(render(planned, output_format), nl=False)
    if out_file:
        save(planned, out_file)
        click.echo(f"plan saved to {out_file}: " + (f"made offline, it cannot be applied ({planned.offline})"
                                                    if planned.offline else
                                                    f"`apply {spec} --plan {out_file}` applies exactly it"), err=True)
    _refuse(planned)
    ctx.exit(planned.exit_code(detailed_exitcode))


@click.command()
@spec_options
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Apply exactly this saved plan (`plan --out FILE`); refused if anything moved since.")
@click.option("--stream-logs/--no-stream-logs", default=True, show_default=True,
              help="Stream the pipeline job's logs (jobs.stream) while it runs.")
@click.option("--yes", is_flag=True, help="Do not ask before starting billed resources (required without a "
                                          "terminal when apply would start any).")
@click.option("--over-budget", is_flag=True, help="Apply even when the upper estimate exceeds budget.max_usd or "
                                                  "cannot be made.")
@click.option("--skip-evaluation-gate", is_flag=True, help="Give the tuned model traffic even when it does not beat "
                                                           "its base by evaluation.gate.min_gain (the figures are "
                                                           "still printed and tagged).")
@click.option("--keep-failed-deployment", is_flag=True,
              help="Keep a deployment whose model then fails (the smoke test, a rollout stage), at 0 % of live "
                   "traffic and still billing, to read its logs; by default it is deleted.")
@click.pass_context
def apply(ctx: click.Context, spec: str, root: Path, config: Path | None, subscription: str | None,
          resource_group: str | None, workspace: str | None, target: str, plan_file: Path | None, stream_logs: bool,
          yes: bool, over_budget: bool, skip_evaluation_gate: bool, keep_failed_deployment: bool) -> None:
    """Plan once, show it, confirm, then execute that plan in dependency order (or a saved plan, unchanged)."""
    from generator.runner.apply import apply_plan, refuse_if_refused
    from generator.runner.explain import OverBudget
    from generator.runner.plan_view import text
    from generator.runner.planner import check_saved, load_saved, make_plan, with_costs

    saved = load_saved(plan_file) if plan_file else None
    session = open_session(ctx, spec, root, config, subscription, resource_group, workspace, target, validate=True,
                           extras=True)
    if session.target.plan_lines(session.experiment):
        _model_lines(session.experiment, session.target)
    context = session.context(stream_logs=stream_logs, skip_evaluation_gate=skip_evaluation_gate,
                              keep_failed_deployment=keep_failed_deployment)
    planned = make_plan(session, context)
    if saved is not None:
        check_saved(saved, planned)
        click.echo(f"applying the saved plan {plan_file}: nothing moved since it was made")
    if planned.refused:
        click.echo(text(planned))
        refuse_if_refused(planned)
    if session.target.bills and planned.billed:
        planned = with_costs(session, planned)
        if planned.budget is not None and planned.budget.refuses and not over_budget:
            raise OverBudget(planned.budget.why)
    if session.target.bills and planned.billed and not yes and saved is None:
        what = ", ".join(f"{row.action.verb} {row.resource.id}" for row in planned.billed)
        if not at_terminal():
            raise UsageError(f"apply would start billed resources ({what}); pass --yes to confirm without a "
                             "terminal (or apply a reviewed `plan --out` file)")
        click.echo(text(planned))
        if not click.confirm(f"Start these billed resources ({what})?", default=False):
            click.echo("apply cancelled: nothing was created")
            return
    result = apply_plan(session, planned, context)
    click.echo(result.summary())
    for line in result.closing:
        click.echo(line)
    ctx.exit(result.exit_code())


@click.command()
@spec_options
@click.pass_context
def status(ctx: click.Context, spec: str, root: Path, config: Path | None, subscription: str | None,
           resource_group: str | None, workspace: str | None, target: str) -> None:
    """What exists, the job's state, the endpoint's scoring URI and traffic."""
    from generator.runner.status import status_rows

    session = open_session(ctx, spec, root, config, subscription, resource_group, workspace, target)
    for row in status_rows(session):
        click.echo(row.line())


@click.command()
@spec_options
@click.option("--request", "request_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Request file (default: generated/<experiment>/sample-request.json).")
@click.option("--parity", is_flag=True, help="Instead: serving parity, the first evaluation.parity evaluation prompts "
                                             "sent to the deployment, each answer against the tuned evaluation's.")
@click.pass_context
def invoke(ctx: click.Context, spec: str, root: Path, config: Path | None, subscription: str | None,
           resource_group: str | None, workspace: str | None, target: str, request_file: Path | None,
           parity: bool) -> None:
    """Send the sample request (or --request FILE) to the deployment and print the answer."""
    from generator.runner.steps.traffic import invoke as send

    if parity and request_file:
        raise UsageError("--parity sends the evaluation's own prompts; drop --request")
    session = open_session(ctx, spec, root, config, subscription, resource_group, workspace, target)
    if parity:
        from generator.runner.steps.parity import ParityFailed, check

        step = next((r for r in session.experiment.resources if r.kind == "parity"), None)
        if step is None:
            raise UsageError(f"{spec} has no parity check (it needs an evaluation: section with evaluation.parity "
                             "above 0)")
        result = check(session.context(), step)
        if not result.passed:
            raise ParityFailed(result)
        click.echo(result.line())
        return
    if session.experiment.route == SERVERLESS:
        from generator.runner.steps.chat_completion import Chat, read_chat_request, reply_text

        chat = session.experiment.by_kind("chat_completion")
        assert chat.file is not None  # the manifest names chat-request.json
        click.echo(reply_text(Chat(session.ml, session.endpoint_name).ask(read_chat_request(request_file or
                                                                                             chat.file))))
        return
    smoke = session.experiment.by_kind("invoke")
    request = request_file or smoke.file
    if request is None:
        raise UsageError(f"the manifest names no request file for {smoke.id}: pass --request FILE")
    click.echo(send(session.context(), smoke.extra["deployment"], request))


def _confirmed(command: str, what: str, asked: str, yes: bool) -> bool:
    """--yes, or a person's yes at a terminal (False, after saying so, when the answer is no); without a terminal
    and without --yes, refuse."""
    if yes:
        return True
    if not at_terminal():
        raise UsageError(f"{command} would delete {what}; pass --yes to confirm without a terminal")
    if not click.confirm(f"Delete {asked}?", default=False):
        click.echo("nothing was deleted")
        return False
    return True


@click.command()
@spec_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--compute", "delete_compute", is_flag=True, help="Also delete the compute cluster.")
@click.option("--expired", is_flag=True, help="Instead: delete every endpoint of the workspace whose "
                                              "endpoint.expires_after has passed (only endpoints this tool tagged).")
@click.pass_context
def destroy(ctx: click.Context, spec: str, root: Path, config: Path | None, subscription: str | None,
            resource_group: str | None, workspace: str | None, target: str, yes: bool, delete_compute: bool,
            expired: bool) -> None:
    """Delete the endpoint (and its deployments); --compute also the cluster. Models and data stay."""
    from generator.runner import destroy as deleting
    from generator.runner.cost import describe_age

    session = open_session(ctx, spec, root, config, subscription, resource_group, workspace, target,
                           names_only=True, shared_ok=expired)
    if expired:
        expiry = deleting.expired_endpoints(session)
        found = expiry.expired
        for name, why in expiry.unreadable:
            click.echo(f"warning: skipped endpoint {name}: {why}; fix or remove the tag, or delete it by hand",
                       err=True)
        if not found:
            click.echo(f"no expired endpoints among the workspace's {expiry.total} (only endpoints this tool created "
                       "with endpoint.expires_after can expire)")
            return
        for name, age in found:
            click.echo(f"expired   {name:<32} {describe_age(age, None)}")
        if _confirmed("destroy --expired", f"{len(found)} endpoint(s)",
                      f"these {len(found)} endpoint(s) and their deployments", yes):
            deleted = deleting.delete_endpoints(session, [name for name, _ in found], click.echo)
            click.echo(f"deleted {deleted} expired endpoint(s)")
        return
    if session.experiment.route == SERVERLESS:
        _destroy_serverless(session, delete_compute, yes)
        return
    doomed = deleting.doomed(session, delete_compute, spec)
    if not _confirmed("destroy", doomed.describe(), doomed.describe(), yes):
        return
    deleting.destroy(session, doomed, click.echo)
    click.echo("registered models and data assets were kept")


def _destroy_serverless(session: Session, delete_compute: bool, yes: bool) -> None:
    """destroy on the serverless route: its serverless endpoints (there is no compute)."""
    from generator.runner import serverless_route

    if delete_compute:
        raise UsageError(f"{session.experiment.spec} takes the serverless route, which creates no compute: drop "
                         "--compute")
    names = serverless_route.doomed(session)
    what = "serverless endpoint " + ", ".join(names)
    if not _confirmed("destroy", what, what, yes):
        return
    serverless_route.destroy(session, names, click.echo)
    click.echo("no serverless endpoint of this experiment exists now, so nothing of it bills by the hour; the "
               "registered model, the FineTuning job and the data assets were kept")


@click.command()
@spec_options
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path),
              help="Loss curves PNG (default: metrics/<job>.png).")
@click.pass_context
def metrics(ctx: click.Context, spec: str, root: Path, config: Path | None, subscription: str | None,
            resource_group: str | None, workspace: str | None, target: str, png: Path | None) -> None:
    """Review training and evaluation metrics of the experiment's job (MLflow): a table and loss curves."""
    import mlflow.tracking  # noqa: F401 - a missing extra is named before anything connects

    from generator.runner import metrics as review
    from generator.runner.sweep import reviewed_job

    session = open_session(ctx, spec, root, config, subscription, resource_group, workspace, target)
    job = reviewed_job(session, spec)
    client = session.metrics_client()
    run = review.find_run(client, session.experiment.name, job)
    histories = review.curves(client, run.info.run_id)
    click.echo(f"run {run.info.run_name} ({run.info.run_id}) of job {job}")
    click.echo(review.table(run, histories))
    out = png or root / "metrics" / f"{job}.png"
    review.plot(histories, out, f"{job}: loss")
    click.echo(f"loss curves: {out}")


@click.command()
@workspace_options(click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False)))
@click.option("--runs", help="Earlier experiment.run numbers of one SPEC to compare, e.g. 1,2,3.")
@click.option("--evaluation", is_flag=True, help="Instead: base against tuned model on the evaluation metrics.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path),
              help="Eval-loss curves PNG (default: metrics/compare-<first run>.png; with --evaluation a bar chart, "
                   "metrics/evaluation-<first experiment>.png).")
@click.pass_context
def compare(ctx: click.Context, specs: tuple[str, ...], root: Path, config: Path | None, subscription: str | None,
            resource_group: str | None, workspace: str | None, target: str, runs: str | None, evaluation: bool,
            output_format: str, png: Path | None) -> None:
    """Compare fine-tune runs: several SPECs, a SPEC's sweep points, or one SPEC's earlier runs (--runs 1,2,3);
    --evaluation compares each SPEC's base and tuned model on the evaluation metrics."""
    import mlflow.tracking  # noqa: F401 - a missing extra is named before anything connects

    from generator.runner import compare as side_by_side
    from generator.runner.session import load_ready_experiment

    if evaluation:
        if runs:
            raise UsageError("--evaluation compares the base and tuned model of each SPEC's current run; drop --runs")
        _compare_evaluation(ctx, specs, root, (config, subscription, resource_group, workspace, target),
                            output_format, png)
        return
    if runs and len(specs) != 1:
        raise UsageError("--runs compares the runs of one spec; give exactly one SPEC with it")
    numbers = side_by_side.run_numbers(runs) if runs else None
    experiments = [load_ready_experiment(spec, root, validate=False) for spec in specs]
    pairs = side_by_side.job_pairs(experiments, numbers)
    session = open_session(ctx, specs[0], root, config, subscription, resource_group, workspace, target)
    rows = side_by_side.collect(session.metrics_client(), pairs)
    out = png or root / "metrics" / f"compare-{rows[0].job}.png"
    side_by_side.plot(rows, out)
    if output_format == "json":
        click.echo(json.dumps({**side_by_side.as_json(rows), "png": str(out)}, indent=2, allow_nan=False))
        return
    click.echo(side_by_side.table(rows))
    click.echo(f"eval-loss curves: {out}")


def _compare_evaluation(ctx: click.Context, specs: tuple[str, ...], root: Path, where: tuple[Any, ...],
                        output_format: str, png: Path | None) -> None:
    """compare --evaluation: each spec's base and tuned figures as a table (or JSON) and a bar chart."""
    from generator.runner import evaluation_compare
    from generator.runner.steps.common import not_found

    session = open_session(ctx, specs[0], root, *where)
    client = session.metrics_client()
    models, evidence = [], []
    for spec in specs:
        experiment = session.experiment if spec == specs[0] else open_session(ctx, spec, root, *where).experiment
        if experiment.route == SERVERLESS:
            raise UsageError(f"{spec} takes the serverless route, which evaluates through endpoints on every apply "
                             "(apply prints base against tuned): compare --evaluation reads evaluation jobs")
        registered = experiment.by_kind("model")
        model = not_found(partial(session.ml.models.get, registered.name, version=str(registered.extra["version"])))
        models += evaluation_compare.collect(experiment, client, dict(model.tags or {}) if model else None)
        proof = evaluation_compare.gate_evidence(experiment, session.ml)
        evidence += [proof] if proof is not None else []
    out = png or root / "metrics" / f"evaluation-{models[0].experiment}.png"
    evaluation_compare.plot(models, out)
    spread = out.with_name(out.stem + "-differences.png")
    drawn = evaluation_compare.plot_differences(evidence, spread)
    if output_format == "json":
        click.echo(json.dumps({**evaluation_compare.as_json(models), "evidence": evaluation_compare.evidence_json(
            evidence), "png": str(out), "differences_png": str(spread) if drawn else None}, indent=2, allow_nan=False))
        return
    click.echo(evaluation_compare.table(models))
    for line in evaluation_compare.evidence_lines(evidence):
        click.echo(line)
    click.echo(f"bar chart: {out}" + (f"; per-conversation differences: {spread}" if drawn else ""))


COMMANDS = [plan, apply, status, invoke, destroy, metrics, compare]
