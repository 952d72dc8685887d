"""Where the project's own files live: schema, templates, component interfaces."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
TEMPLATES_DIR = PROJECT_DIR / "templates"
SCHEMA_PATH = PROJECT_DIR / "specs" / "spec.schema.json"
COMPONENTS_DIR = PACKAGE_DIR / "components"


def display_path(path: Path, root: Path) -> str:
    """Return `path` relative to `root` in POSIX form when it lies below it, else as given."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
