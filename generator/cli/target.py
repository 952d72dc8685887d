"""Which target a command talks to (`--target`: Azure's workspace in config.json, or the local one), and its session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from generator.cli.options import report, root_option
from generator.runner.azure_target import AzureTarget
from generator.runner.offline import OfflineSession
from generator.runner.session import Session
from generator.runner.targets import Connection, Target, WorkspaceIds


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


def _local(root: Path) -> Target:
    from generator.local.local_target import LocalTarget

    return LocalTarget(root)


def _azure(root: Path) -> Target:
    return AzureTarget()


TARGETS: dict[str, Callable[[Path], Target]] = {"azure": _azure, "local": _local}  # the --target choices


def target_named(ctx: click.Context, name: str, root: Path) -> Target:
    """The target `--target NAME` names, noted on the context (the error handler says where work goes on)."""
    target = TARGETS[name](root)
    ctx.meta["target"] = target
    return target


def connect(ctx: click.Context, target: Target, ids: WorkspaceIds) -> Connection:
    """Connect to the target (its workspace started if need be), with its credential or the one a test injected as
    ctx.obj['credential']."""
    return target.connect(ids, (ctx.find_root().obj or {}).get("credential"))


def offline_session(ctx: click.Context, spec: str, root: Path, target: str) -> OfflineSession:
    """The spec's experiment (refusing a stale generated/) on its target, for plan --offline: nothing connects."""
    from generator.runner.session import load_ready_experiment

    where = target_named(ctx, target, root)
    return OfflineSession(load_ready_experiment(spec, root, validate=False), where, root)


def open_session(ctx: click.Context, spec: str, root: Path, config: Path | None, subscription: str | None,
                 resource_group: str | None, workspace: str | None, target: str, *, validate: bool = False,
                 names_only: bool = False, shared_ok: bool = False, extras: bool = False) -> Session:
    """Load the spec's experiment (refusing a stale generated/), connect, and return the runner Session.
    `names_only` (destroy): an invalid spec or a stale generated/ still gives the names to delete (refused when
    another spec names the same endpoint, unless `shared_ok`: destroy --expired deletes by tags, not by the spec).
    `extras` (plan, apply): refuse, before anything connects, when a step of the manifest needs an optional extra
    that is not installed (the target's missing_extras)."""
    from generator.extras import refuse_missing
    from generator.runner.session import cleanup_experiment, load_ready_experiment

    where = target_named(ctx, target, root)
    if names_only:
        experiment = cleanup_experiment(spec, root, lambda text: click.echo(f"warning: {text}", err=True),
                                        check_shared=not shared_ok)
    else:
        experiment = load_ready_experiment(spec, root, validate=False, warn=lambda p: report([p]))
    if extras:
        refuse_missing(where.missing_extras(resource.kind for resource in experiment.resources))
    if validate:
        from generator.runner.session import check_generated

        check_generated(experiment.folder, root)
    connection = connect(ctx, where, WorkspaceIds(config, subscription, resource_group, workspace))
    return Session(experiment, where, connection, root)
