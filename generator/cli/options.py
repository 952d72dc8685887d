"""Command-line options and helpers shared by every command group."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from generator.diagnostics import Problem

if TYPE_CHECKING:
    from generator.spec import Spec

root_option = click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
                           show_default=True, help="Project root: holds specs/, generated/ and the data folders.")


def report(problems: Iterable[Problem]) -> None:
    """Print problems (warnings, usually) to stderr, one per line."""
    for problem in problems:
        click.echo(str(problem), err=True)


def load_specs(root: Path, paths: Iterable[Path], *, check_data: bool = True) -> list[Spec]:
    """Load and validate the specs and print their warnings (every problem is raised as InvalidInput)."""
    from generator.spec import load_specs as load

    specs, warnings = load(root, paths, check_data=check_data)
    report(warnings)
    return specs
