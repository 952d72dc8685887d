"""Command-line options shared by every command group."""

from __future__ import annotations

from pathlib import Path

import click

root_option = click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
                           show_default=True, help="Project root: holds specs/, generated/ and the data folders.")
