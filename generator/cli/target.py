"""Which workspace a command talks to, and with which credential: Azure's (config.json) or the local one."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from generator.cli.options import report, root_option
from generator.runner.connection import Target


def workspace_options(spec_argument: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The SPEC argument (files complete in the shell) plus the options every runner command takes."""
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
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
    return decorate


spec_options = workspace_options(click.argument("spec", type=click.Path(dir_okay=False)))


def connect(ctx: click.Context, root: Path, target: str, config: Path | None = None, subscription: str | None = None,
            resource_group: str | None = None, workspace: str | None = None) -> tuple[Target, Any]:
    """The target and its credential: the local workspace (started if need be) or Azure's, signed in like the
    seed (a test may inject a credential as ctx.obj['credential'])."""
    from generator.runner.connection import default_credential, resolve_target, target_from_config

    ctx.meta["target"] = target
    injected = (ctx.find_root().obj or {}).get("credential")
    if target == "local":
        from generator.local.daemon import start_local

        config_body, credential, state_dir, tracking = start_local(root)
        where = target_from_config(config_body, local_state=state_dir, tracking_uri=tracking)
        return where, injected if injected is not None else credential
    where = resolve_target(config, subscription, resource_group, workspace)
    return where, injected if injected is not None else default_credential(where)


def open_session(ctx: click.Context, spec: str, root: Path, config: Path | None, subscription: str | None,
                 resource_group: str | None, workspace: str | None, target: str, *, validate: bool = False,
                 names_only: bool = False, shared_ok: bool = False, extras: bool = False) -> Any:
    """Load the spec's experiment (refusing a stale generated/), connect, and return the runner Session.
    `names_only` (destroy): an invalid spec or a stale generated/ still gives the names to delete (refused when
    another spec names the same endpoint, unless `shared_ok`: destroy --expired deletes by tags, not by the spec).
    `extras` (plan, apply): refuse, before anything connects, when a step of the manifest needs an optional extra
    that is not installed (generator/extras.py require_for)."""
    from generator.extras import require_for
    from generator.runner.session import Session, check_generated, cleanup_experiment, load_ready_experiment
    from generator.serverless import refuse_runner

    ctx.meta["target"] = target
    refuse_runner(Path(spec))
    if names_only:
        experiment = cleanup_experiment(spec, root, lambda text: click.echo(f"warning: {text}", err=True),
                                        check_shared=not shared_ok)
    else:
        experiment = load_ready_experiment(spec, root, validate=False, warn=lambda p: report([p]))
    if extras:
        require_for([resource.kind for resource in experiment.resources], target)
    if validate:
        check_generated(experiment.folder, root)
    where, credential = connect(ctx, root, target, config, subscription, resource_group, workspace)
    return Session(experiment, where, credential, root)
