"""The root command group (`python -m generator`); its subcommands are added by `generator.cli`."""

from __future__ import annotations

import click

from generator.cli.handle import Commands


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("azureml-finetune-generator")
    except PackageNotFoundError:  # run from a checkout without `pip install -e .`
        return "unknown (not installed)"


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="azml-gen", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show a traceback instead of a one-paragraph error.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Turn experiment specs into Azure ML YAML and apply them."""
    ctx.ensure_object(dict)["debug"] = debug
