"""`render` of a project: every experiment loaded, checked, rendered and written in one pass over the cores.

Each worker (generator/workers.py) takes one spec from file to a hidden temp folder beside its generated folder
(writer.stage), so one experiment's disk writes overlap the next one's loading and rendering. Nothing becomes
visible until every spec has loaded and the checks that span experiments (shared names) have passed: only then
are the temp folders swapped in, one rename each. On any error they are removed, and generated/ is as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from generator import writer
from generator.diagnostics import ERROR, Problem
from generator.render import render_spec
from generator.spec import Spec, load_one, settle
from generator.workers import map_over_cores


@dataclass
class Staged:
    """One spec after its worker: the spec (None when it does not load), its problems, how its folder differs from
    the render, the temp folder holding the render (None when nothing needs writing or it could not be written)
    and why it could not."""

    spec: Spec | None
    problems: list[Problem]
    changes: list[writer.Change] = field(default_factory=list)
    staging: Path | None = None
    error: str = ""


def _stage_one(path: Path, root: Path, generated: Path) -> Staged:
    """Load, check, render and stage one spec (a spec with errors is only loaded)."""
    spec, problems = load_one(path, root)
    if spec is None or any(p.severity == ERROR for p in problems):
        return Staged(spec, problems)
    try:
        changes, staging = writer.stage(generated / spec.experiment, render_spec(spec))
    except writer.WriteError as exc:
        return Staged(spec, problems, error=str(exc))
    return Staged(spec, problems, changes, staging)


def render_project(root: Path, paths: list[Path], *, all_specs: bool,
                   on_loaded: Callable[[list[Problem]], None]) -> tuple[list[Spec], list[writer.Change]]:
    """Render the specs at `paths` into `root`/generated/ and return them with what changed on disk.

    `on_loaded` gets the specs' warnings once all have loaded and passed the checks that span experiments, before
    anything is written. With `all_specs`, folders of specs that are gone are removed as well. Raises InvalidInput
    (nothing written) for any spec's error, and WriteError naming every folder that could not be written, after
    the others are, with `changes` holding what was done.
    """
    generated = root / "generated"
    writer.check_generated_dir(generated, root)
    new = not generated.exists()
    with writer.locked(generated):
        writer.clean_staging(generated)
        try:
            staged = map_over_cores(partial(_stage_one, root=root, generated=generated), paths)
            specs, warnings = settle(root, ((one.spec, one.problems) for one in staged))
        except BaseException:
            writer.clean_staging(generated)  # the lock is ours: every temp folder in generated/ is this render's
            if new:  # the lock made it: a refused first render leaves no trace
                with contextlib.suppress(OSError):
                    generated.rmdir()
            raise
        on_loaded(warnings)
        changes: list[writer.Change] = []
        errors: list[str] = []
        for one in staged:
            assert one.spec is not None, "settle raised for every spec that did not load"
            try:
                if one.error:
                    raise writer.WriteError(one.error)
                if one.staging is not None:
                    writer.swap_in(generated / one.spec.experiment, one.staging)
                changes += one.changes
            except writer.WriteError as exc:
                errors.append(str(exc))
        if all_specs:
            for folder in writer.orphans(generated, {spec.experiment for spec in specs}):
                try:
                    changes += writer.remove_folder(folder)
                except writer.WriteError as exc:
                    errors.append(str(exc))
        if errors:
            raise writer.WriteError("\n".join(errors), changes=changes)
    return specs, changes
