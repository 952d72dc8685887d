"""Where the project's own files live: schema, templates, component interfaces."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
TEMPLATES_DIR = PROJECT_DIR / "templates"
SCHEMA_PATH = PROJECT_DIR / "specs" / "spec.schema.json"
COMPONENTS_DIR = PACKAGE_DIR / "components"


def display_path(path: Path, root: Path) -> str:
    """Return `path` relative to `root` in POSIX form when it lies below it, else as given.

    Compared as written first (a symlink is shown where it is, not where it points), then resolved.
    """
    pairs: tuple[Callable[[], tuple[Path, Path]], ...] = (
             lambda: (Path(os.path.abspath(path)), Path(os.path.abspath(root))),
             lambda: (path.resolve(), root.resolve()))  # resolved only when needed: it costs a syscall per part
    for pair in pairs:
        shown, base = pair()
        try:
            return shown.relative_to(base).as_posix()
        except ValueError:
            continue
    return path.as_posix()
