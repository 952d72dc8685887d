"""Load an experiment spec and validate it in layers, reporting every problem at once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.component import ComponentInterface, load_interface
from generator.diagnostics import ERROR, InvalidInput, Problem
from generator.paths import display_path
from generator.rules import check_rules
from generator.schema import apply_defaults, check_schema
from generator.source import read_located


@dataclass
class Spec:
    """A valid spec: its file, the project root, the data with defaults, the component interface."""

    path: Path
    file: str
    root: Path
    data: dict[str, Any]
    interface: ComponentInterface
    warnings: list[Problem] = field(default_factory=list)

    @property
    def experiment(self) -> str:
        """The experiment name (also the folder under generated/)."""
        return self.data["experiment"]["name"]


def load_spec(path: Path, root: Path) -> Spec:
    """Read, validate and default the spec at `path`; raise InvalidInput with all problems."""
    file = display_path(path, root)
    located = read_located(path, file)
    if not isinstance(located.data, dict):
        raise InvalidInput([located.problem((), "a spec is a mapping of sections (experiment, compute, ...)")])
    problems = check_schema(located)
    broken = {tuple(re.sub(r"\[\d+\]", "", p.path).split(".")) for p in problems if p.severity == ERROR}
    data = apply_defaults(located.data)
    problems += check_rules(data, located, root, broken)
    errors = [p for p in problems if p.severity == ERROR]
    if errors:
        raise InvalidInput(problems)
    component = data["finetune"]["component"]
    interface = load_interface(component["name"], component["version"])
    if interface is None:  # check_rules reports this; kept for a rule skipped by a schema error elsewhere
        raise InvalidInput([located.problem(("finetune", "component"), "no interface on file for this component")])
    return Spec(path=path, file=file, root=root, data=data, interface=interface,
                warnings=sorted(p for p in problems if p.severity != ERROR))
