"""Write generated/<experiment>/ atomically: render into a temp folder, then swap it in.

A failure before the swap leaves the previous folder untouched; files the spec no longer
produces disappear with the old folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from generator.render import MANIFEST

GENERATED_MARK = "# generated from "


@dataclass(frozen=True)
class Change:
    """What happened to one file: created, updated, unchanged or removed."""

    path: Path
    status: str


def read_folder(folder: Path) -> dict[str, str]:
    """File name → text of every file directly in `folder` (empty when it does not exist)."""
    if not folder.is_dir():
        return {}
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()) if p.is_file()}


def diff(folder: Path, files: dict[str, str]) -> list[Change]:
    """How `folder` differs from `files`, one Change per file, sorted by name."""
    current = read_folder(folder)
    changes = []
    for name in sorted(set(files) | set(current)):
        if name not in current:
            status = "created"
        elif name not in files:
            status = "removed"
        else:
            status = "unchanged" if current[name] == files[name] else "updated"
        changes.append(Change(folder / name, status))
    return changes


def write_experiment(folder: Path, files: dict[str, str]) -> list[Change]:
    """Make `folder` hold exactly `files`; nothing is touched when it already does."""
    changes = diff(folder, files)
    if all(change.status == "unchanged" for change in changes):
        return changes
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=folder.parent))
    try:
        for name, text in files.items():
            with open(staging / name, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            os.chmod(staging / name, 0o644)
        os.chmod(staging, 0o755)
        if folder.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            os.rmdir(retired)
            os.rename(folder, retired)
            os.rename(staging, folder)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return changes


def is_generated_folder(folder: Path) -> bool:
    """True when `folder` was written by the generator (its manifest carries our header)."""
    manifest = folder / MANIFEST
    try:
        return manifest.is_file() and manifest.read_text(encoding="utf-8").startswith(GENERATED_MARK)
    except OSError:
        return False


def orphans(generated_dir: Path, experiments: set[str]) -> list[Path]:
    """Generated experiment folders whose spec is gone."""
    if not generated_dir.is_dir():
        return []
    return sorted(p for p in generated_dir.iterdir()
                  if p.is_dir() and p.name not in experiments and is_generated_folder(p))


def remove_folder(folder: Path) -> list[Change]:
    """Remove a generated folder whose spec is gone; report its files as removed."""
    changes = [Change(folder / name, "removed") for name in read_folder(folder)]
    shutil.rmtree(folder)
    return changes


def clean_staging(generated_dir: Path) -> None:
    """Tidy what a crashed render left: drop half-written folders, restore a folder caught mid-swap."""
    if not generated_dir.is_dir():
        return
    for leftover in generated_dir.glob(".*.new-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for retired in generated_dir.glob(".*.old-*"):
        original = generated_dir / retired.name[1:].rsplit(".old-", 1)[0]
        if original.exists():
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(retired, original)
