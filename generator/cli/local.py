"""`python -m generator local start|stop|status`: the project's local workspace (`--target local`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from generator.cli.options import root_option


@click.group()
def local() -> None:
    """The local workspace (`--target local`): a background process per project."""


@local.command("start")
@root_option
@click.option("--model", "models", multiple=True, metavar="NAME=DIR",
              help="Serve registry model NAME from a local Hugging Face model folder instead of the stand-in.")
def local_start(root: Path, models: tuple[str, ...]) -> None:
    """Start the local workspace (apply --target local starts it too)."""
    from generator.local.daemon import ensure_running, local_state_dir
    from generator.local.layout import MODELS_FILE

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
    from generator.local.daemon import local_state_dir, stop
    from generator.paths import display_path

    folder = display_path(local_state_dir(root), root)
    click.echo(f"local workspace stopped; its resources are kept in {folder}/ and come back with `local start`"
               if stop(local_state_dir(root)) else "local workspace was not running")


@local.command("status")
@root_option
def local_status(root: Path) -> None:
    """Say whether the local workspace runs, and where."""
    from generator.local.daemon import local_state_dir, read_state

    state = read_state(local_state_dir(root))
    click.echo(f"local workspace on https://127.0.0.1:{state['port']} (pid {state['pid']})" if state
               else "local workspace is not running")
