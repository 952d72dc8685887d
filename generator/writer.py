"""Write generated/<experiment>/ atomically and defensively: write into a temp folder (`stage`), then swap it in.

A failure before the swap leaves the previous folder untouched and removes the temp folder; files the
spec no longer produces disappear with the old folder. Nothing here follows a symlink: a symlink in
generated/ is reported as stale and replaced by a real file, never read through or written through.
Renders take an exclusive lock on generated/ (checks a shared one), so two at once do not interleave.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from generator.errors import GeneratorError
from generator.render import MANIFEST

GENERATED_MARK = "# generated from "


class WriteError(GeneratorError):
    """generated/ could not be written or read safely; the message says what and where, `changes` what was done."""

    def __init__(self, message: str, changes: list[Change] | None = None):
        super().__init__(message)
        self.changes = changes or []


@dataclass(frozen=True)
class Change:
    """What happened to one file: created, updated, unchanged or removed (and why, when it is not plain)."""

    path: Path
    status: str
    reason: str = ""


def _entry(path: Path) -> str | None:
    """The text of a regular file at `path`, or None when it is anything else (symlink, folder, not UTF-8)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _kind(path: Path) -> str:
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if stat.S_ISLNK(mode):
        return "a symlink, never followed"
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return "unreadable or not UTF-8 text"


def read_folder(folder: Path) -> dict[str, str | None]:
    """File name → text of every entry directly in `folder` (None for entries that are not regular UTF-8 files).

    A `folder` that is itself a symlink reads as empty: its target is never read.
    """
    if folder.is_symlink() or not folder.is_dir():
        return {}
    return {p.name: _entry(p) for p in sorted(folder.iterdir())}


def diff(folder: Path, files: dict[str, str]) -> list[Change]:
    """How `folder` differs from `files`, one Change per file, sorted by name."""
    if folder.is_symlink():
        return [Change(folder / name, "updated", f"{folder.name}/ is a symlink, never followed")
                for name in sorted(files)]
    current = read_folder(folder)
    changes = []
    for name in sorted(set(files) | set(current)):
        if name not in current:
            changes.append(Change(folder / name, "created"))
        elif name not in files:
            changes.append(Change(folder / name, "removed"))
        elif current[name] is None:
            changes.append(Change(folder / name, "updated", _kind(folder / name)))
        else:
            changes.append(Change(folder / name, "unchanged" if current[name] == files[name] else "updated"))
    return changes


def _make_writable(function: Callable[..., Any], path: str, _exc: Any) -> None:
    """rmtree's error hook: a read-only folder inside a generated folder is made writable, then retried."""
    parent = os.path.dirname(path)
    os.chmod(parent, stat.S_IRWXU)
    function(path)


def remove_path(path: Path) -> None:
    """Remove a file, a symlink (not its target) or a folder tree, read-only parts included."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=_make_writable)


def _describe(exc: OSError, folder: Path) -> str:
    """`cannot write generated/<name>: <reason> (<file>)`, naming the file when the OS did."""
    detail = f" ({exc.filename})" if isinstance(exc.filename, str) else ""
    return f"cannot write {folder.parent.name}/{folder.name}: {exc.strerror or exc}{detail}"


def _create(path: Path, data: bytes) -> None:
    """A new file at `path` holding `data`, mode 0644 whatever the umask: four system calls, where Python's text
    `open` makes ten (it asks whether the file is a terminal, where it stands, its block size); a render of many
    experiments creates thousands of files."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if _umask() & 0o644:
            os.fchmod(fd, 0o644)
    finally:
        os.close(fd)


@lru_cache(maxsize=1)
def _umask() -> int:
    """This process's umask (reading it means setting it: done once, and set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def stage(folder: Path, files: dict[str, str]) -> tuple[list[Change], Path | None]:
    """How `folder` differs from `files` (one Change per file), and a hidden temp folder beside it that holds exactly
    `files`, ready for swap_in (None when `folder` already holds them: nothing is written).

    Raises WriteError, leaving no temp folder, when the files cannot be written.
    """
    changes = diff(folder, files)
    if all(change.status == "unchanged" for change in changes):
        return changes, None
    staging: Path | None = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=folder.parent))
        for name, text in files.items():
            _create(staging / name, text.encode("utf-8"))
        os.chmod(staging, 0o755)
    except OSError as exc:
        if staging is not None:
            remove_path(staging)
        raise WriteError(_describe(exc, folder) + "; the folder is unchanged") from exc
    return changes, staging


def swap_in(folder: Path, staging: Path) -> None:
    """Put the folder `stage` wrote in place of `folder` (two renames), then remove the old one.

    Raises WriteError, with the previous folder intact and the temp folder removed, when it cannot.
    """
    try:
        if folder.is_symlink() or folder.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            os.rmdir(retired)
            os.rename(folder, retired)
            try:
                os.rename(staging, folder)
            except OSError:
                os.rename(retired, folder)
                raise
        else:
            os.rename(staging, folder)
            return
    except OSError as exc:
        if staging.exists():
            remove_path(staging)
        raise WriteError(_describe(exc, folder) + "; the folder is unchanged") from exc
    try:
        remove_path(retired)
    except OSError:
        pass  # the new folder is in place; clean_staging removes this leftover at the next render


def is_generated_folder(folder: Path) -> bool:
    """True when `folder` is a real folder written by the generator (its manifest carries our header)."""
    if folder.is_symlink():
        return False
    text = _entry(folder / MANIFEST)
    return text is not None and text.startswith(GENERATED_MARK)


def orphans(generated_dir: Path, experiments: set[str]) -> list[Path]:
    """Generated experiment folders whose spec is gone."""
    if generated_dir.is_symlink() or not generated_dir.is_dir():
        return []
    return sorted(p for p in generated_dir.iterdir()
                  if p.name not in experiments and is_generated_folder(p))


def remove_folder(folder: Path) -> list[Change]:
    """Remove a generated folder whose spec is gone; report its files as removed."""
    changes = [Change(folder / name, "removed") for name in read_folder(folder)]
    try:
        remove_path(folder)
    except OSError as exc:
        raise WriteError(_describe(exc, folder)) from exc
    return changes


def clean_staging(generated_dir: Path) -> None:
    """Tidy what a crashed render left: drop half-written folders, restore a folder caught mid-swap."""
    if not generated_dir.is_dir():
        return
    try:
        for leftover in generated_dir.glob(".*.new-*"):
            remove_path(leftover)
        for retired in generated_dir.glob(".*.old-*"):
            original = generated_dir / retired.name[1:].rsplit(".old-", 1)[0]
            if original.is_symlink() or original.exists():
                remove_path(retired)
            else:
                os.rename(retired, original)
    except OSError as exc:
        raise WriteError(f"cannot tidy {generated_dir.name}/: {exc.strerror or exc}") from exc


def check_generated_dir(generated_dir: Path, root: Path) -> None:
    """Refuse a generated/ that is a symlink leading out of the project (writes would land elsewhere)."""
    if generated_dir.is_symlink():
        target = generated_dir.resolve()
        if not target.is_relative_to(root.resolve()):
            raise WriteError(f"{generated_dir.name}/ is a symlink to {target}, outside the project: replace it with "
                             "a folder (the generator never writes through a link out of the project)")


@contextmanager
def locked(generated_dir: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold generated/'s lock: exclusive for a render, shared for a check. Says so when it has to wait."""
    try:
        generated_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(generated_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise WriteError(f"cannot lock {generated_dir.name}/: {exc.strerror or exc}") from exc
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            print(f"waiting for another render to finish ({generated_dir.name}/ is locked)", file=sys.stderr,
                  flush=True)
            fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)
