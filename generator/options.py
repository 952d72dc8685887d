"""Command-line options shared by every command group."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import click

from generator.diagnostics import ERROR, InvalidInput, Problem

if TYPE_CHECKING:
    from generator.spec import Spec

EXIT_INVALID = 2

root_option = click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
                           show_default=True, help="Project root: holds specs/, generated/ and the data folders.")


def report(problems: Iterable[Problem]) -> None:
    """Print problems to stderr, one per line."""
    for problem in problems:
        click.echo(str(problem), err=True)


def load_specs_or_exit(root: Path, paths: Iterable[Path], *, check_data: bool = True) -> list["Spec"]:
    """Load and validate the specs, print their warnings; on any error print every problem and exit 2."""
    from generator.spec import load_specs

    try:
        specs, warnings = load_specs(root, paths, check_data=check_data)
    except InvalidInput as exc:
        report(exc.problems)
        errors = [p for p in exc.problems if p.severity == ERROR]
        click.echo(f"{len(errors)} error(s) in {len({p.file for p in errors})} spec file(s); nothing was written",
                   err=True)
        sys.exit(EXIT_INVALID)
    report(warnings)
    return specs
