"""Load an experiment spec and validate it in layers, reporting every problem at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.component import ComponentInterface, load_interface
from generator.diagnostics import ERROR, InvalidInput, Problem
from generator.paths import display_path
from generator.rules import check_rules
from generator.schema import apply_defaults, check_schema
from generator.source import Located, read_located


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
    broken = {str(p.path).split(".")[0].split("[")[0] for p in problems if p.severity == ERROR}
    if "" in broken:
        broken = set(located.data)
    data = apply_defaults(located.data)
    problems += check_rules(data, located, root, broken)
    errors = [p for p in problems if p.severity == ERROR]
    if errors:
        raise InvalidInput(problems)
    component = data["finetune"]["component"]
    interface = load_interface(component["name"], component["version"])
    assert interface is not None  # check_rules reported a missing interface
    return Spec(path=path, file=file, root=root, data=data, interface=interface,
                warnings=sorted(p for p in problems if p.severity != ERROR))
