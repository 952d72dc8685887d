"""`python -m generator catalog models|refresh`: read the catalog, or rewrite it from the live registry."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import click

from generator import catalog, clock
from generator.catalog import MODELS_FILE, SkuSpec
from generator.cli.options import root_option
from generator.files import write_atomically


@click.group("catalog")
def catalog_group() -> None:
    """The registry catalog: models with their sizes, dates and defaults (generator/catalog/)."""


def _minimum(spec: str | None) -> str:
    parsed = SkuSpec.parse(spec)
    return str(parsed) if parsed else "not published"


@catalog_group.command("models")
@click.option("--task", default="chat-completion", show_default=True, help="Fine-tuning task to list models for.")
def models_command(task: str) -> None:
    """For choosing a model: status, fine-tune and inference sizes, minimum specs, context window."""
    today = clock.today()
    chosen = sorted((m for m in catalog.models() if task in m.fine_tuning_tasks),
                    key=lambda m: (not m.live(today), m.name.lower()))
    live = sum(m.live(today) for m in chosen)
    click.echo(f"{len(chosen)} {task} model(s) in the catalog, {live} fine-tunable on {today}")
    for m in chosen:
        click.echo(f"\n{m.name}  version {m.version}  {m.status(today)}")
        click.echo(f"  fine-tune sizes  {', '.join(m.finetune.computes) or 'not published'}")
        click.echo(f"  inference sizes  {', '.join(m.inference.computes) or 'not published'}")
        click.echo(f"  fine-tune min    {_minimum(m.finetune.min_sku_spec)}")
        click.echo(f"  inference min    {_minimum(m.inference.min_sku_spec)}")
        click.echo(f"  context window   {m.text_context_window or 'not published'}")
        click.echo(f"  source           {m.source_text()}")
    stand_in = catalog.local_stand_in()
    click.echo(f"\n--target local: {stand_in.stands_in_line('each model above')}; source: {stand_in.source}")


@catalog_group.command("refresh")
@root_option
@click.option("--registry", default="azureml", show_default=True, help="Registry to read.")
@click.option("--model", "names", multiple=True,
              help="Model to refresh or add (default: every catalog model of the registry).")
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path), default=MODELS_FILE,
              help="Catalog file to rewrite (default: the project's generator/catalog/models.yml).")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), help="Azure ML config.json.")
@click.option("--target", type=click.Choice(["azure", "local"]), envvar="AZML_TARGET", default="azure",
              show_default=True,
              help="azure: the cloud named by config.json; local: this machine's local workspace.")
@click.pass_context
def refresh_command(ctx: click.Context, root: Path, registry: str, names: tuple[str, ...], path: Path,
                    config: Path | None, target: str) -> None:
    """Read the live registry through MLClient, rewrite the catalog deterministically, print the diff."""
    from generator.cli.target import connect, target_named
    from generator.runner.catalog_refresh import refresh
    from generator.runner.connection import probe, registry_client
    from generator.runner.explain import explain
    from generator.runner.targets import WorkspaceIds

    connection = connect(ctx, target_named(ctx, target, root), WorkspaceIds(config))
    probe(connection.credential, connection.workspace)
    try:
        client = registry_client(connection.credential, connection.workspace, registry)
        before = path.read_text(encoding="utf-8") if path.is_file() else ""
        after, notes = refresh(client, registry, list(names), path)
    except Exception as exc:  # anything from the SDK: one paragraph naming the registry, not a traceback
        raise explain(exc, f"read registry {registry}") from None
    for note in notes:
        click.echo(note, err=True)
    if before == after:
        click.echo(f"{path.name}: unchanged")
        return
    write_atomically(path, after)
    sys.stdout.writelines(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                               f"a/{path.name}", f"b/{path.name}"))
    click.echo(f"{path.name}: rewritten from registry {registry} ({clock.today()}); review the diff, then "
               "`make render`")
