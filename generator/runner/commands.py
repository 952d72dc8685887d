"""`python -m generator plan|apply|status|invoke|destroy SPEC` (exit: 0 done, 1 failed in the cloud, 2 bad input)."""

from __future__ import annotations

import sys
import time
from functools import wraps
from pathlib import Path
from typing import Any, Callable

import click

from generator.options import root_option
from generator.runner.errors import EXIT_INPUT, RunnerError, explain
from generator.runner.manifest import Experiment, load_experiment, workspace_suffix
from generator.runner.output import Printer, elapsed


def _options(func: Callable[..., Any]) -> Callable[..., Any]:
    return _workspace_options(click.argument("spec", type=click.Path(dir_okay=False)))(func)


def _workspace_options(spec_argument: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The SPEC argument (files complete in the shell) plus the options every runner command takes."""
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        return _with_options(func, spec_argument)
    return decorate


def _with_options(func: Callable[..., Any], spec_argument: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        spec_argument,
        root_option,
        click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
                     help="Azure ML config.json (default: found upwards from the working folder)."),
        click.option("--subscription", help="Subscription id (or AZURE_SUBSCRIPTION_ID)."),
        click.option("--resource-group", help="Resource group (or AZURE_RESOURCE_GROUP)."),
        click.option("--workspace", help="Workspace name (or AZUREML_WORKSPACE_NAME)."),
        click.option("--target", type=click.Choice(["azure", "local"]), envvar="AZML_TARGET", default="azure",
                     show_default=True,
                     help="azure: the workspace in config.json; local: this machine's local workspace."),
    ]):
        func = option(func)
    return func


def _guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn RunnerErrors and Azure exceptions into one paragraph and the right exit code."""
    @wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BrokenPipeError:  # `… | head` closed the pipe: stop quietly
            quiet_broken_pipe()
        except KeyboardInterrupt:
            where = "the local workspace" if kwargs.get("target") == "local" else "Azure"
            click.echo(f"\ninterrupted: operations already started continue in {where}; run the same command again "
                       "to resume (nothing is created twice)", err=True)
            sys.exit(130)
        except RunnerError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except ModuleNotFoundError:
            raise  # the entry point names the extra that provides it
        except Exception as exc:  # anything from the SDK: shown as code and message, not a traceback
            if debugging():
                raise
            error = explain(exc)
            click.echo(f"error: {error}", err=True)
            sys.exit(error.exit_code)
    return run


def at_terminal() -> bool:
    """Whether a person can answer a question (standard input is a terminal)."""
    return sys.stdin.isatty()


def debugging() -> bool:
    """Whether --debug was given (tracebacks are then shown instead of one paragraph)."""
    context = click.get_current_context(silent=True)
    return bool(context and isinstance(context.find_root().obj, dict) and context.find_root().obj.get("debug"))


def quiet_broken_pipe() -> None:
    """Exit quietly after the reader of stdout went away (Python's documented recipe)."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(1)


class Session:
    """A connected runner session for one experiment."""

    def __init__(self, ctx: click.Context, spec: str, root: Path, config: Path | None, subscription: str | None,
                 resource_group: str | None, workspace: str | None, *, target: str = "azure",
                 validate: bool = True):
        from generator.runner.connection import (default_credential, local_target, probe, resolve_target,
                                                 workspace_client)

        self.experiment = load_ready_experiment(spec, root, validate=validate)
        self.root = root
        self.local = target == "local"
        if self.local:
            self.target, local_credential = local_target(root)
        else:
            self.target = resolve_target(config, subscription, resource_group, workspace)
        injected = (ctx.obj or {}).get("credential")
        self.credential = injected if injected is not None else (
            local_credential if self.local else default_credential(self.target))
        probe(self.credential, self.target)
        self.ml = workspace_client(self.credential, self.target)
        self.region: str | None = None
        self._check_workspace()
        self.out = Printer()
        self.endpoint_name = self.experiment.by_kind("online_endpoint").name
        if self.experiment.endpoint_suffix == "workspace":
            self.endpoint_name += "-" + workspace_suffix(self.target.subscription_id, self.target.resource_group,
                                                         self.target.workspace_name)

    def _check_workspace(self) -> None:
        """Refuse a workspace that does not exist: otherwise every resource would look absent and plan 'create'."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.region = getattr(self.ml.workspaces.get(self.target.workspace_name), "location", None)
        except ResourceNotFoundError as exc:
            raise RunnerError(f"workspace {self.target.workspace_name} was not found in resource group "
                              f"{self.target.resource_group} of subscription {self.target.subscription_id} "
                              f"({explain(exc)}): check config.json or --subscription/--resource-group/--workspace",
                              EXIT_INPUT) from None

    def metrics_client(self) -> Any:
        """An MLflow client on where this workspace's jobs log their metrics."""
        from mlflow.tracking import MlflowClient

        from generator.runner.metrics import tracking_uri

        return MlflowClient(tracking_uri(self))

    def registry(self, name: str) -> Any:
        """MLClient for registry `name`."""
        from generator.runner.connection import registry_client

        return registry_client(self.credential, self.target, name)

    def context(self, **kwargs: Any) -> Any:
        """A reconcile Context for this session."""
        from generator.runner.reconcile import Context
        from generator.runner.sweep import Slots

        sweep = self.experiment.sweep
        slots = Slots([p.id for p in self.experiment.points], int(sweep["max_concurrent"])) if sweep else None
        return Context(ml=self.ml, experiment=self.experiment, out=self.out, endpoint_name=self.endpoint_name,
                       local=self.local, metrics_client=self.metrics_client, slots=slots,
                       poll_interval=self.target.poll_interval, heartbeat=max(60.0, self.target.poll_interval * 6)
                       if self.target.poll_interval >= 1 else self.target.poll_interval * 20, **kwargs)


def _exists(get: Callable[[], Any]) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        get()
    except ResourceNotFoundError:
        return False
    return True


def load_ready_experiment(spec: str, root: Path, *, validate: bool = True) -> Experiment:
    """The experiment of `spec`, refusing a stale or invalid generated/ folder."""
    from generator.options import load_specs_or_exit
    from generator.render import render_spec
    from generator.writer import diff

    loaded = load_specs_or_exit(root, [Path(spec)])[0]
    folder = root / "generated" / loaded.experiment
    stale = [c for c in diff(folder, render_spec(loaded)) if c.status != "unchanged"]
    if stale:
        raise RunnerError(f"generated/{loaded.experiment}/ does not match {loaded.file} "
                          f"({', '.join(c.path.name for c in stale)}): run `make render` first", EXIT_INPUT)
    if validate:
        from generator.validate import validate_experiment

        problems = [p for p in validate_experiment(folder, root, data_must_exist=True) if p.severity == "error"]
        if problems:
            raise RunnerError("generated files are not ready:\n  " + "\n  ".join(map(str, problems)), EXIT_INPUT)
    experiment = load_experiment(folder)
    experiment.source_spec = loaded
    return experiment


def _model_lines(experiment: Experiment, local: bool = False) -> None:
    """The foundation model's pin and the parameters its defaults supplied, as plan prints them (and, on the
    local target, the model that stands in for it)."""
    click.echo(f"foundation model {experiment.foundation_model}: {experiment.foundation_model_pin}")
    if local:
        from generator.local.standin import plan_line

        click.echo(plan_line(experiment))
    if experiment.parameters_from_model:
        click.echo("parameters from the model's model_specific_defaults: "
                   + ", ".join(f"{k}={v}" for k, v in experiment.parameters_from_model.items()))


def make_plan(session: Session, context: Any) -> Any:
    """The plan of every resource of the session's experiment (a value: printed by plan, shown by apply)."""
    from generator.runner.plan import Plan, ResourcePlan
    from generator.runner.reconcile import PLANNERS

    from generator.sweep import queueing

    queued = None if session.local else queueing(session.experiment.source_spec.data)  # the local one never queues
    return Plan([ResourcePlan(res, PLANNERS[res.kind](context, res),
                              session.endpoint_name if res.kind == "online_endpoint" else res.name)
                 for res in session.experiment.resources], notes=(queued,) if queued else ())


def print_plan(plan_value: Any, estimate_lines: list[str] | None = None) -> None:
    """Every resource's line and details, the estimate block, then the summary line."""
    for row in plan_value.rows:
        for line in row.lines():
            click.echo(line)
    for note in plan_value.notes:
        click.echo(f"note: {note}")
    for line in estimate_lines or []:
        click.echo(line)
    click.echo(plan_value.summary())


def session_costs(session: "Session") -> Any:
    """The cost report for the session's experiment: prices for the workspace's region (none locally)."""
    from generator.runner.cost import cost_report, price_book

    from generator.runner.metrics import calibration

    spec = session.experiment.source_spec

    def earlier_run(tokens_per_epoch: int) -> Any:
        return calibration(session, tokens_per_epoch)

    if session.local:
        return cost_report(spec, region=None, prices=None, calibration_source=earlier_run,
                           no_price="the local workspace bills nothing (prices are for Azure workspaces)")
    return cost_report(spec, region=session.region, prices=price_book(session.root, online=True),
                       no_price="the workspace did not say its region", calibration_source=earlier_run)


def estimate_block(spec: Any, report: Any) -> list[str]:
    """The estimate lines plus the budget line."""
    from generator.runner.cost import budget_lines

    return report.lines + budget_lines(spec, report)


@click.command()
@_options
@click.option("--offline", is_flag=True, help="Print the order and the az ml commands without connecting.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 when there is nothing to change, 2 when there are changes, 1 on errors or refusals.")
@click.pass_context
@_guarded
def plan(ctx: click.Context, spec: str, root: Path, config: Path | None, subscription: str | None,
         resource_group: str | None, workspace: str | None, target: str, offline: bool,
         detailed_exitcode: bool) -> None:
    """Show what apply would do to each resource, against the live workspace."""
    if offline:
        from generator.runner.cost import cost_report

        experiment = load_ready_experiment(spec, root, validate=False)
        _model_lines(experiment)
        for res in experiment.resources:
            deps = f" (after {', '.join(res.depends_on)})" if res.depends_on else ""
            click.echo(f"{res.id:<13} {res.kind:<18} {res.name}{deps}\n{'':14}{res.az}")
        from generator.sweep import queueing

        queued = queueing(experiment.source_spec.data)
        if queued:
            click.echo(f"note: {queued}")
        report = cost_report(experiment.source_spec, region=None, prices=None,
                             no_price="plan --offline does not connect, so the workspace's region is unknown")
        for line in estimate_block(experiment.source_spec, report):
            click.echo(line)
        return
    session = Session(ctx, spec, root, config, subscription, resource_group, workspace, target=target, validate=False)
    _model_lines(session.experiment, session.local)
    result = make_plan(session, session.context())
    print_plan(result, estimate_block(session.experiment.source_spec, session_costs(session)))
    code = result.exit_code(detailed_exitcode)
    if result.refused:
        click.echo(f"error: apply would refuse {', '.join(row.resource.id for row in result.refused)} (see above)",
                   err=True)
    if code:
        sys.exit(code)


@click.command()
@_options
@click.option("--stream-logs/--no-stream-logs", default=True, show_default=True,
              help="Stream the pipeline job's logs (jobs.stream) while it runs.")
@click.option("--yes", is_flag=True, help="Do not ask before starting billed resources (required without a "
                                          "terminal when apply would start any).")
@click.option("--over-budget", is_flag=True, help="Apply even when the upper estimate exceeds budget.max_usd or "
                                                  "cannot be made.")
@click.pass_context
@_guarded
def apply(ctx: click.Context, spec: str, root: Path, config: Path | None, subscription: str | None,
          resource_group: str | None, workspace: str | None, target: str, stream_logs: bool, yes: bool,
          over_budget: bool) -> None:
    """Pre-flight, then create or update everything in dependency order, side by side where possible."""
    from generator.runner.graph import Graph
    from generator.runner.preflight import run_preflight

    session = Session(ctx, spec, root, config, subscription, resource_group, workspace, target=target)
    start = time.monotonic()
    if session.local:
        _model_lines(session.experiment, local=True)
    context = session.context(stream_logs=stream_logs)
    planned = make_plan(session, context)
    if planned.refused:
        print_plan(planned)
        raise RunnerError("apply refuses " + "; ".join(row.action.details[0] for row in planned.refused
                                                       if row.action.details) + "\n  nothing was created", EXIT_INPUT)
    costs = None
    if not session.local and planned.billed:
        from generator.runner.cost import check_budget

        report = session_costs(session)
        costs = estimate_block(session.experiment.source_spec, report)
        if not over_budget:
            check_budget(session.experiment.source_spec, report)
    if not session.local and planned.billed and not yes:
        _confirm_billed(planned, costs)
    skip = {"deployment"} if any(row.resource.kind == "online_deployment" and row.action.verb == "unchanged"
                                 for row in planned.rows) else set()
    run_preflight(session.ml, session.experiment, session.registry, session.out, skip, local=session.local)
    outcomes = Graph(session.experiment.resources, context).run()
    failed = {rid: o for rid, o in outcomes.items() if o.status == "failed"}
    summary = ", ".join(f"{rid} {o.status}" for rid, o in outcomes.items())
    click.echo(f"apply {'failed' if failed else 'done'} in {elapsed(time.monotonic() - start)}: {summary}")
    if failed:
        sys.exit(min(o.error.exit_code for o in failed.values() if o.error))


def _confirm_billed(planned: Any, costs: list[str] | None) -> None:
    """Show the plan and its estimate and ask before starting billed resources; without a terminal, --yes is
    required."""
    what = ", ".join(f"{row.action.verb} {row.resource.id}" for row in planned.billed)
    if not at_terminal():
        raise RunnerError(f"apply would start billed resources ({what}); pass --yes to confirm without a terminal",
                          EXIT_INPUT)
    print_plan(planned, costs)
    if not click.confirm(f"Start these billed resources ({what})?", default=False):
        click.echo("apply cancelled: nothing was created")
        sys.exit(0)


@click.command()
@_options
@click.pass_context
@_guarded
def status(ctx: click.Context, spec: str, root: Path, config: Path | None, subscription: str | None,
           resource_group: str | None, workspace: str | None, target: str) -> None:
    """What exists, the job's state, the endpoint's scoring URI and traffic."""
    from generator.runner.cost import describe_age, endpoint_age
    from generator.runner.reconcile import PLANNERS, job_status

    session = Session(ctx, spec, root, config, subscription, resource_group, workspace, target=target, validate=False)
    context = session.context()
    for res in session.experiment.resources:
        if res.kind in ("invoke", "traffic", "select"):  # actions, not resources the workspace holds
            continue
        action = PLANNERS[res.kind](context, res)
        current = action.current
        state = "absent" if current is None else "present"
        if res.kind == "pipeline_job" and current is not None:
            state = f"{job_status(current)}  {getattr(current, 'studio_url', '')}"
        if res.kind == "online_endpoint" and current is not None:
            provisioning = getattr(current.provisioning_state, "value", current.provisioning_state)
            state = f"{provisioning}  scoring URI {current.scoring_uri}  traffic {dict(current.traffic or {})}"
            age = endpoint_age(current.tags)
            if age is not None:
                state += "\n" + " " * 14 + describe_age(age, _endpoint_hourly(session))
        name = session.endpoint_name if res.kind == "online_endpoint" else res.name
        click.echo(f"{res.id:<13} {name:<40} {state}")


@click.command()
@_options
@click.option("--request", "request_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Request file (default: generated/<experiment>/sample-request.json).")
@click.pass_context
@_guarded
def invoke(ctx: click.Context, spec: str, root: Path, config: Path | None, subscription: str | None,
           resource_group: str | None, workspace: str | None, target: str, request_file: Path | None) -> None:
    """Send the sample request (or --request FILE) to the deployment and print the answer."""
    from generator.runner.reconcile import invoke as send

    session = Session(ctx, spec, root, config, subscription, resource_group, workspace, target=target, validate=False)
    smoke = session.experiment.by_kind("invoke")
    answer = send(session.context(), smoke.extra["deployment"], request_file or smoke.file)
    click.echo(answer)


def _confirm_deletion(command: str, what: str, asked: str) -> bool:
    """Ask before deleting `what` at a terminal (False, after saying so, when the answer is no); without a terminal,
    refuse: the caller must pass --yes."""
    if not at_terminal():
        raise RunnerError(f"{command} would delete {what}; pass --yes to confirm without a terminal", EXIT_INPUT)
    if not click.confirm(f"Delete {asked}?", default=False):
        click.echo("nothing was deleted")
        return False
    return True


def _destroy_expired(session: "Session", yes: bool) -> None:
    """List the workspace's endpoints whose expiry has passed, confirm, delete them."""
    from generator.runner.cost import describe_age, endpoint_age
    from generator.runner.reconcile import wait_poller

    endpoints = list(session.ml.online_endpoints.list())
    doomed = [(endpoint.name, age) for endpoint in endpoints
              if (age := endpoint_age(endpoint.tags)) is not None and age.expired]
    if not doomed:
        click.echo(f"no expired endpoints among the workspace's {len(endpoints)} (only endpoints this tool created "
                   "with endpoint.expires_after can expire)")
        return
    for name, age in doomed:
        click.echo(f"expired   {name:<32} {describe_age(age, None)}")
    if not yes and not _confirm_deletion("destroy --expired", f"{len(doomed)} endpoint(s)",
                                         f"these {len(doomed)} endpoint(s) and their deployments"):
        return
    context = session.context()
    for name, _ in doomed:
        wait_poller(context, "destroy", session.ml.online_endpoints.begin_delete(name=name), f"delete endpoint {name}")
    click.echo(f"deleted {len(doomed)} expired endpoint(s)")


def _endpoint_hourly(session: "Session") -> float | None:
    """What the experiment's endpoint costs per hour (all its instances), or None without a price."""
    from generator.prices import PriceUnavailable
    from generator.runner.cost import price_book

    if session.local or not session.region:
        return None
    deployment = session.experiment.source_spec.data["deployment"]
    try:
        price = price_book(session.root, online=True).price(deployment["instance_type"], session.region)
    except PriceUnavailable:
        return None
    return price.usd_per_hour * int(deployment.get("instance_count", 1))


@click.command()
@_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--compute", "delete_compute", is_flag=True, help="Also delete the compute cluster.")
@click.option("--expired", is_flag=True, help="Instead: delete every endpoint of the workspace whose "
                                              "endpoint.expires_after has passed (only endpoints this tool tagged).")
@click.pass_context
@_guarded
def destroy(ctx: click.Context, spec: str, root: Path, config: Path | None, subscription: str | None,
            resource_group: str | None, workspace: str | None, target: str, yes: bool, delete_compute: bool,
            expired: bool) -> None:
    """Delete the endpoint (and its deployments); --compute also the cluster. Models and data stay."""
    from generator.runner.reconcile import wait_poller

    session = Session(ctx, spec, root, config, subscription, resource_group, workspace, target=target, validate=False)
    if expired:
        _destroy_expired(session, yes)
        return
    what = [f"endpoint {session.endpoint_name} and its deployments"]
    compute = session.experiment.by_kind("compute").name
    if delete_compute:
        what.append(f"compute {compute}")
    if not yes and not _confirm_deletion("destroy", " and ".join(what), " and ".join(what)):
        return
    context = session.context()
    if _exists(lambda: session.ml.online_endpoints.get(session.endpoint_name)):
        wait_poller(context, "destroy", session.ml.online_endpoints.begin_delete(name=session.endpoint_name),
                    f"delete endpoint {session.endpoint_name}")
    else:
        click.echo(f"[destroy] endpoint {session.endpoint_name} does not exist; nothing to delete")
    if delete_compute:
        if _exists(lambda: session.ml.compute.get(compute)):
            wait_poller(context, "destroy", session.ml.compute.begin_delete(compute), f"delete compute {compute}")
        else:
            click.echo(f"[destroy] compute {compute} does not exist; nothing to delete")
    click.echo("registered models and data assets were kept")


@click.command()
@_options
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path),
              help="Loss curves PNG (default: metrics/<job>.png).")
@click.pass_context
@_guarded
def metrics(ctx: click.Context, spec: str, root: Path, config: Path | None, subscription: str | None,
            resource_group: str | None, workspace: str | None, target: str, png: Path | None) -> None:
    """Review training and evaluation metrics of the experiment's job (MLflow): a table and loss curves."""
    import mlflow.tracking  # noqa: F401 - a missing extra is named before anything connects
    from generator.runner import metrics as review

    session = Session(ctx, spec, root, config, subscription, resource_group, workspace, target=target, validate=False)
    job = session.experiment.by_kind("pipeline_job").name
    if session.experiment.points:
        from generator.runner.sweep import registered_from

        job = registered_from(session.ml, session.experiment) or ""
        if job not in {p.name for p in session.experiment.points}:
            raise RunnerError(f"{spec} is a sweep of {len(session.experiment.points)} points and none is registered "
                              f"yet: `compare {spec}` shows them side by side; metrics shows the point apply selects",
                              EXIT_INPUT)
    client = session.metrics_client()
    run = review.find_run(client, session.experiment.name, job)
    histories = review.curves(client, run.info.run_id)
    click.echo(f"run {run.info.run_name} ({run.info.run_id}) of job {job}")
    click.echo(review.table(run, histories))
    out = png or root / "metrics" / f"{job}.png"
    review.plot(histories, out, f"{job}: loss")
    click.echo(f"loss curves: {out}")


@click.command()
@_workspace_options(click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False)))
@click.option("--runs", help="Earlier experiment.run numbers of one SPEC to compare, e.g. 1,2,3.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path),
              help="Eval-loss curves PNG (default: metrics/compare-<first run>.png).")
@click.pass_context
@_guarded
def compare(ctx: click.Context, specs: tuple[str, ...], root: Path, config: Path | None, subscription: str | None,
            resource_group: str | None, workspace: str | None, target: str, runs: str | None,
            output_format: str, png: Path | None) -> None:
    """Compare fine-tune runs: several SPECs, a SPEC's sweep points, or one SPEC's earlier runs (--runs 1,2,3)."""
    import json

    import mlflow.tracking  # noqa: F401 - a missing extra is named before anything connects
    from generator import naming
    from generator.runner import compare as side_by_side

    if runs and len(specs) != 1:
        raise RunnerError("--runs compares the runs of one spec; give exactly one SPEC with it", EXIT_INPUT)
    experiments = [load_ready_experiment(spec, root, validate=False) for spec in specs]
    pairs = []
    for experiment in experiments:
        data = experiment.source_spec.data
        numbers = _run_numbers(runs) if runs else [int(data["experiment"]["run"])]
        slugs = [p.slug for p in experiment.source_spec.points] or [None]  # a sweep: each of its points
        pairs += [(experiment.name, naming.job_name({**data, "experiment": {**data["experiment"], "run": n}}, slug))
                  for n in numbers for slug in slugs]
    session = Session(ctx, specs[0], root, config, subscription, resource_group, workspace, target=target,
                      validate=False)
    rows = side_by_side.collect(session.metrics_client(), pairs)
    out = png or root / "metrics" / f"compare-{rows[0].job}.png"
    side_by_side.plot(rows, out)
    if output_format == "json":
        click.echo(json.dumps({**side_by_side.as_json(rows), "png": str(out)}, indent=2))
        return
    click.echo(side_by_side.table(rows))
    click.echo(f"eval-loss curves: {out}")


def _run_numbers(text: str) -> list[int]:
    """`1,2,3` as [1, 2, 3]; a clear error for anything else."""
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        numbers = []
    if not numbers or any(n < 1 for n in numbers):
        raise RunnerError(f"--runs {text!r}: give run numbers such as 1,2,3", EXIT_INPUT)
    return numbers


@click.group()
def local() -> None:
    """The local workspace (`--target local`): a background process per project."""


@local.command("start")
@root_option
@click.option("--model", "models", multiple=True, metavar="NAME=DIR",
              help="Serve registry model NAME from a local Hugging Face model folder instead of the stand-in.")
def local_start(root: Path, models: tuple[str, ...]) -> None:
    """Start the local workspace (apply --target local starts it too)."""
    import json

    from generator.local.daemon import ensure_running
    from generator.local.executor import MODELS_FILE
    from generator.runner.connection import local_state_dir

    state_dir = local_state_dir(root).resolve()
    chosen = {}
    for item in models:
        name, _, folder = item.partition("=")
        path = Path(folder).resolve()
        if not name or not (path / "config.json").is_file():
            raise click.BadParameter(f"{item!r}: expected NAME=DIR with a Hugging Face model folder (config.json)",
                                     param_hint="--model")
        chosen[name] = str(path)
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / MODELS_FILE).write_text(json.dumps(chosen, indent=2))
    state = ensure_running(state_dir)
    click.echo(f"local workspace on https://127.0.0.1:{state['port']} (pid {state['pid']})"
               + "".join(f"\n  {name}: {folder}" for name, folder in chosen.items()))


@local.command("stop")
@root_option
def local_stop(root: Path) -> None:
    """Stop the local workspace and every scoring server it runs."""
    from generator.local.daemon import stop
    from generator.paths import display_path
    from generator.runner.connection import local_state_dir

    folder = display_path(local_state_dir(root), root)
    click.echo(f"local workspace stopped; its resources are kept in {folder}/ and come back with `local start`"
               if stop(local_state_dir(root)) else "local workspace was not running")


@local.command("status")
@root_option
def local_status(root: Path) -> None:
    """Say whether the local workspace runs, and where."""
    from generator.local.daemon import read_state
    from generator.runner.connection import local_state_dir

    state = read_state(local_state_dir(root))
    click.echo(f"local workspace on https://127.0.0.1:{state['port']} (pid {state['pid']})" if state
               else "local workspace is not running")


COMMANDS = [plan, apply, status, invoke, destroy, metrics, compare, local]
