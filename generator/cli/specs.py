"""The spec commands: render, validate, check, new and schema (exit codes: generator.errors.ExitCode)."""

from __future__ import annotations

from pathlib import Path

import click

from generator import writer
from generator.build import render_project
from generator.cli.options import load_specs, report, root_option
from generator.diagnostics import ERROR
from generator.errors import InvalidFiles, ProblemsFound, StaleOutput, UsageError
from generator.paths import PROJECT_DIR, SCHEMA_PATH, display_path
from generator.render import render_spec
from generator.spec import Spec


def discover_specs(root: Path) -> list[Path]:
    """Every spec in <root>/specs/ (*.yaml and *.yml), sorted."""
    folder = root / "specs"
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def _spec_paths(root: Path, specs: tuple[str, ...]) -> list[Path]:
    if specs:
        return [Path(s) if Path(s).is_absolute() else Path.cwd() / s for s in specs]
    found = discover_specs(root)
    if not found:
        raise UsageError(f"no specs found in {display_path(root / 'specs', root)}/; copy specs/phi4-ultrachat.yaml")
    return found


def model_defaults_line(spec: Spec) -> str:
    """Which parameters of `spec` came from its model's model_specific_defaults, and which the spec kept."""
    used = ", ".join(f"{k}={v}" for k, v in spec.model_defaults.applied.items())
    kept = f" (the spec's own values win: {', '.join(spec.model_defaults.kept)})" if spec.model_defaults.kept else ""
    return f"{spec.experiment}: from {spec.sections.foundation_model.name}'s model_specific_defaults: {used}{kept}"


@click.command()
@click.argument("specs", nargs=-1)
@root_option
def render(specs: tuple[str, ...], root: Path) -> None:
    """Render SPECS (default: every spec in specs/) into generated/<experiment>/."""
    try:
        loaded, changes = render_project(root, _spec_paths(root, specs), all_specs=not specs, on_loaded=report)
    except writer.WriteError as exc:
        _echo_changes(exc.changes, root)
        raise
    _echo_changes(changes, root)
    for spec in loaded:
        if spec.model_defaults.applied:
            click.echo(model_defaults_line(spec))


def _echo_changes(changes: list[writer.Change], root: Path) -> None:
    folders: dict[Path, str] = {}  # display_path once per folder, not once per file: a render may write thousands
    lines = []
    for change in changes:
        if change.status != "unchanged":
            was = f" (was {change.reason})" if change.reason else ""
            folder = change.path.parent
            if folder not in folders:
                folders[folder] = display_path(folder, root)
            lines.append(f"{change.status:<9} {folders[folder]}/{change.path.name}{was}")
    if lines:
        click.echo("\n".join(lines))
    unchanged = sum(1 for change in changes if change.status == "unchanged")
    if unchanged:
        click.echo(f"{unchanged} file(s) unchanged")


@click.command()
@click.argument("specs", nargs=-1)
@root_option
@click.option("--data-must-exist", is_flag=True, help="Treat missing prepared data files as errors (as apply does).")
def validate(specs: tuple[str, ...], root: Path, data_must_exist: bool) -> None:
    """Validate SPECS and load their generated files with azure-ai-ml, offline."""
    from generator.validate import validate_experiment

    loaded = load_specs(root, _spec_paths(root, specs))
    problems = []
    for spec in loaded:
        problems += validate_experiment(root / "generated" / spec.experiment, root, data_must_exist=data_must_exist)
    report(problems)
    errors = [p for p in problems if p.severity == ERROR]
    if errors:
        raise InvalidFiles(f"{len(errors)} error(s) in generated files")
    click.echo(f"valid: {', '.join(spec.experiment for spec in loaded)}")


@click.command()
@root_option
def check(root: Path) -> None:
    """Fail when generated/ is stale (differs from a fresh render) or any generated file is invalid."""
    from generator.validate import validate_experiment

    loaded = load_specs(root, _spec_paths(root, ()))
    generated = root / "generated"
    stale, fresh = [], []
    writer.check_generated_dir(generated, root)
    with writer.locked(generated, shared=True):
        for spec in loaded:
            changes = [c for c in writer.diff(generated / spec.experiment, render_spec(spec))
                       if c.status != "unchanged"]
            stale += changes
            if not changes:
                fresh.append(spec)
        for folder in writer.orphans(generated, {spec.experiment for spec in loaded}):
            stale.append(writer.Change(folder, "orphaned (its spec is gone)"))
    if root.resolve() == PROJECT_DIR.resolve() and not _schema_current():
        stale.append(writer.Change(SCHEMA_PATH, "out of date (run `python -m generator schema`)"))
    for change in stale:
        verb = change.reason or {"created": "missing", "updated": "out of date",
                                 "removed": "no longer produced"}.get(change.status, change.status)
        click.echo(f"stale: {display_path(change.path, root)}: {verb}", err=True)
    problems = []
    for spec in fresh:  # a stale folder is re-rendered before it is worth validating (it may hold anything)
        problems += validate_experiment(generated / spec.experiment, root)
    report(problems)
    errors = [p for p in problems if p.severity == ERROR]
    if stale:
        raise StaleOutput("generated/ is stale: run `make render` and commit the result",
                          [display_path(c.path, root) for c in stale])
    if errors:
        raise ProblemsFound(f"{len(errors)} error(s) in generated files")
    click.echo(f"generated/ is up to date and valid ({len(loaded)} experiment(s))")


@click.command("new")
@click.argument("name")
@click.option("--from", "source", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The spec to start from.")
@root_option
def new(name: str, source: Path, root: Path) -> None:
    """Create specs/NAME.yaml from another spec, with the experiment's own names (endpoint, model, run 1)."""
    from generator.new import new_spec

    target = new_spec(root, name, source if source.is_absolute() else Path.cwd() / source)
    click.echo(f"created {display_path(target, root)} from {display_path(source, root)}")
    click.echo(f"next: edit it, then `make render SPEC={display_path(target, root)}`")


def _schema_current() -> bool:
    from generator.component import known_versions, load_interface
    from generator.schema import schema_text

    versions = known_versions("chat_completion_pipeline")
    return SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(load_interface("chat_completion_pipeline",
                                                                                 versions[-1]))


@click.command("schema")
@click.option("--check", "only_check", is_flag=True, help="Fail when specs/spec.schema.json is out of date.")
def schema_command(only_check: bool) -> None:
    """Regenerate finetune.parameters in specs/spec.schema.json from the pinned component interface."""
    from generator.component import known_versions, load_interface
    from generator.schema import schema_text

    versions = known_versions("chat_completion_pipeline")
    text = schema_text(load_interface("chat_completion_pipeline", versions[-1]))
    if SCHEMA_PATH.read_text(encoding="utf-8") == text:
        click.echo(f"{SCHEMA_PATH.name} is up to date")
        return
    if only_check:
        raise StaleOutput(f"{SCHEMA_PATH.name} is out of date: run `python -m generator schema`", [SCHEMA_PATH.name])
    from generator.files import write_atomically

    write_atomically(SCHEMA_PATH, text)
    click.echo(f"{SCHEMA_PATH.name}: finetune.parameters generated from chat_completion_pipeline {versions[-1]}")


COMMANDS = [render, validate, check, new, schema_command]
