"""Load an experiment spec and validate it in layers, reporting every problem at once."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from generator import catalog, evaluation_jobs, rollout_stages, serverless, sweep_points  # noqa: F401 - they register their rules on import
from generator.catalog import ModelFacts
from generator.catalog.defaults import ModelDefaults, apply_model_defaults
from generator.component import ComponentInterface, load_interface
from generator.diagnostics import ERROR, Problem
from generator.errors import InvalidInput
from generator.paths import display_path
from generator.rules import check_rules
from generator.schema import apply_defaults, check_schema
from generator.source import Located, read_located
from generator.spec_sections import Sections, sections
from generator.startup import check_startup
from generator.workers import map_over_cores


@dataclass
class Spec:
    """A valid spec: its file, the project root, the data with defaults, the component interface.

    `data["finetune"]["parameters"]` holds the spec's parameters plus the model's defaults for the
    ones it leaves unset (`model_defaults` says which); `model_version` is the version that runs.
    """

    path: Path
    file: str
    root: Path
    data: dict[str, Any]
    interface: ComponentInterface
    model_facts: ModelFacts | None = None
    model_defaults: ModelDefaults = field(default_factory=ModelDefaults)
    warnings: list[Problem] = field(default_factory=list)
    located: Located | None = None

    @cached_property
    def sections(self) -> Sections:
        """The typed sections the runner, the estimate and the cost read (built once, from the validated data)."""
        return sections(self.data)

    @property
    def experiment(self) -> str:
        """The experiment name (also the folder under generated/)."""
        return self.sections.experiment.name

    @property
    def points(self) -> list[sweep_points.Point]:
        """The sweep's points (empty for a single run)."""
        return sweep_points.points(self.data)

    def at(self, point: sweep_points.Point) -> Spec:
        """This spec as the single job of a sweep point sees it."""
        return replace(self, data=sweep_points.at_point(self.data, point))

    @property
    def model_version(self) -> str:
        """The foundation model's version: the spec's, or the catalog's for a label (pinned at render)."""
        model = self.data["foundation_model"]
        if "version" in model:
            return str(model["version"])
        assert self.model_facts is not None, "a label without catalog facts is refused by the rules"
        return self.model_facts.version

    @property
    def pin(self) -> str:
        """How the version was chosen, for the manifest and plan."""
        model = self.data["foundation_model"]
        if "label" in model and self.model_facts is not None:
            return f"label {model['label']} -> version {self.model_version} (catalog: {self.model_facts.source_text()})"
        return f"version {self.model_version} (given in the spec)"


def _defaults(facts: ModelFacts | None, interface: ComponentInterface | None, data: dict[str, Any],
              located: Located) -> tuple[ModelDefaults, list[Problem]]:
    """The model's defaults for the parameters neither finetune.parameters nor a sweep sets."""
    if facts is None or interface is None:
        return ModelDefaults(), []
    swept = {name: values[0] for name, values in (sweep_points.section(data) or {}).get("parameters", {}).items()}
    result = apply_model_defaults(facts, interface, {**data["finetune"]["parameters"], **swept})
    return result, [located.problem(f.field, f.message, severity=f.severity) for f in result.findings
                    if f.field[:2] != ("finetune", "parameters") or f.field[2:3] == () or f.field[2] not in swept]


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
    if serverless.chosen(data) and not {bad[0] for bad in broken} & serverless.READS:
        problems += serverless.check_spec(data, located)
    if any(p.severity == ERROR for p in problems):
        raise InvalidInput(problems)
    if serverless.chosen(data):
        return _serverless_spec(path, file, root, data, located, problems)
    component = data["finetune"]["component"]
    interface = load_interface(component["name"], component["version"])
    if interface is None:  # check_rules reports this; kept for a rule skipped by a schema error elsewhere
        raise InvalidInput([located.problem(("finetune", "component"), "no interface on file for this component")])
    facts = catalog.model(data["foundation_model"]["registry"], data["foundation_model"]["name"])
    defaults, found = _defaults(facts, interface, data, located)
    problems += found + sweep_points.check_sweep(data, located, interface, facts)
    if any(p.severity == ERROR for p in problems):
        raise InvalidInput(problems)
    data["finetune"]["parameters"] = {**data["finetune"]["parameters"], **defaults.applied}
    problems += check_startup(data, located, interface, facts, root)
    if any(p.severity == ERROR for p in problems):
        raise InvalidInput(problems)
    if "evaluation" in data:  # a default that is another field's value: evaluate on the spec's test split
        data["evaluation"].setdefault("test_split", data["data"]["test_split"])
    return Spec(path=path, file=file, root=root, data=data, interface=interface, model_facts=facts,
                model_defaults=defaults, warnings=sorted(p for p in problems if p.severity != ERROR), located=located)


def _serverless_spec(path: Path, file: str, root: Path, data: dict[str, Any], located: Located,
                     problems: list[Problem]) -> Spec:
    """A valid spec on the serverless route (generator/serverless.py checked it instead of the pipeline's component,
    model defaults, sweep and memory checks). The interface is the default component's, for pricing the pipeline
    route beside this one."""
    component = data["finetune"]["component"]
    interface = load_interface(component["name"], component["version"])
    assert interface is not None, "the default component's interface is on file"
    facts = catalog.model(data["foundation_model"]["registry"], data["foundation_model"]["name"])
    return Spec(path=path, file=file, root=root, data=data, interface=interface, model_facts=facts,
                warnings=sorted(p for p in problems if p.severity != ERROR), located=located)


# What two experiments must not share: (what, spec path, error unless these settings are equal too)
SHARED_NAMES = [("experiment", ("experiment", "name"), None),
                ("endpoint", ("endpoint", "name"), None),
                ("registered model", ("registered_model", "name"), None),
                ("compute", ("compute", "name"), ("size", "tier", "min_instances", "max_instances",
                                                 "idle_time_before_scale_down", "gpus_per_node"))]


def _neighbours(root: Path, loaded: list[Spec]) -> list[Spec]:
    """The project's other specs (specs/*.yaml) that load, to compare names with even when one spec is named."""
    folder = root / "specs"
    mine = {spec.path.resolve() for spec in loaded}
    others = []
    for path in sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml")) if folder.is_dir() else []:
        if path.resolve() in mine:
            continue
        try:
            others.append(load_spec(path, root))
        except InvalidInput:  # an invalid neighbour is reported when it is rendered itself
            continue
    return others


def _value(spec: Spec, path: tuple[str, ...]) -> Any:
    node: Any = spec.data
    for part in path:
        node = node[part]
    return node


def _where(spec: Spec, path: tuple[str, ...]) -> str:
    line = spec.located.where(path)[0] if spec.located else 0
    return f"{spec.file}:{line}" if line else spec.file


def collisions(specs: list[Spec], others: list[Spec]) -> list[Problem]:
    """Names experiments share (an endpoint, a registered model, an experiment, a compute with other settings): one
    experiment's apply or destroy would change the others' resources. Linear in the number of specs: an index by name
    (compared case-insensitively, as Azure compares resource names), and one problem per shared name, on the first
    named spec that uses it."""
    named = {id(spec) for spec in specs}
    problems = []
    for what, path, settings in SHARED_NAMES:
        groups: dict[str, list[Spec]] = {}
        for spec in specs + others:
            if path[0] in spec.data:  # a serverless spec may have no compute
                groups.setdefault(str(_value(spec, path)).lower(), []).append(spec)
        for group in groups.values():
            first = next((spec for spec in group if id(spec) in named), None)
            if first is None or len(group) < 2:
                continue
            problem = _shared(first, [spec for spec in group if spec is not first], what, path, settings)
            if problem is not None:
                problems.append(problem)
    return problems


def _shared(spec: Spec, users: list[Spec], what: str, path: tuple[str, ...],
            settings: tuple[str, ...] | None) -> Problem | None:
    detail = ""
    if settings is not None:
        mine = spec.data["compute"]
        users = [u for u in users if any(u.data["compute"].get(k) != mine.get(k) for k in settings)]
        if not users:
            return None
        theirs = users[0].data["compute"]
        pairs = [f"{k}: {mine.get(k)} vs {theirs.get(k)}" for k in settings if mine.get(k) != theirs.get(k)]
        detail = f" with other settings ({', '.join(pairs)})"
        fix = "share a compute only with the same settings, or give this one its own compute.name"
    else:
        fix = f"each experiment needs its own (`python -m generator new NAME --from {users[0].file}` derives them)"
    shown = ", ".join(_where(u, path) for u in users[:3]) + (f" (and {len(users) - 3} more)" if len(users) > 3 else "")
    line, col = spec.located.where(path) if spec.located else (0, 0)
    return Problem(spec.file, line, col, ".".join(path),
                   f"{what} {_value(spec, path)!r} is also used by {shown}{detail}: {fix}")


def load_one(path: Path, root: Path, check_data: bool = True) -> tuple[Spec | None, list[Problem]]:
    """load_spec and (when `check_data`) the check of its prepared data files: the spec (None when it does not load)
    and its problems, returned rather than raised, so that workers can load many (generator/workers.py)."""
    from generator.data.evaluation_split import check_prepared_data

    try:
        spec = load_spec(path, root)
    except InvalidInput as exc:
        return None, list(exc.problems)
    return spec, spec.warnings + (check_prepared_data(spec.root, spec.data) if check_data else [])


def settle(root: Path, loaded: Iterable[tuple[Spec | None, list[Problem]]]) -> tuple[list[Spec], list[Problem]]:
    """The specs load_one loaded and their warnings, once the checks that span experiments (collisions, also with
    the project's other specs) have passed; raises InvalidInput with every problem of every spec when any of them
    is an error."""
    specs, problems = [], []
    for spec, found in loaded:
        problems += found
        if spec is not None:
            specs.append(spec)
    problems += collisions(specs, _neighbours(root, specs))
    errors = [p for p in problems if p.severity == ERROR]
    if errors:
        raise InvalidInput(problems, f"{len(errors)} error(s) in {len({p.file for p in errors})} spec file(s); "
                                     "nothing was written")
    return specs, problems


def load_specs(root: Path, paths: Iterable[Path], *, check_data: bool = True) -> tuple[list[Spec], list[Problem]]:
    """Load every spec (and check its prepared data files, when `check_data` and they exist), on every core when
    there are many.

    Returns the specs and their warnings; raises InvalidInput with every problem of every spec
    when any of them is an error.
    """
    return settle(root, map_over_cores(partial(load_one, root=root, check_data=check_data), list(paths)))
