"""A connected runner session: one experiment, its workspace client, and where its runs log.

`open_session` loads the experiment (refusing a stale or invalid generated/), connects with the
credential it is given, and checks that the workspace exists. Nothing here parses arguments or
exits: the commands in `generator.cli` build a session and call plan, apply, status or destroy on it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.diagnostics import Problem
from generator.errors import InvalidInput, StaleOutput, UsageError
from generator.runner.connection import probe, registry_client, workspace_client
from generator.runner.experiment import SERVERLESS, Experiment, load_experiment, workspace_suffix
from generator.runner.explain import RunnerError, explain
from generator.runner.output import Printer
from generator.runner.targets import Connection, Target

if TYPE_CHECKING:
    from generator.runner.steps.common import Context


def load_ready_experiment(spec: str, root: Path, *, validate: bool = True,
                          warn: Callable[[Problem], None] | None = None) -> Experiment:
    """The experiment of `spec`, refusing a stale or invalid generated/ folder (warnings go to `warn`)."""
    from generator.render import render_spec
    from generator.spec import load_specs
    from generator.writer import diff

    specs, warnings = load_specs(root, [Path(spec)])
    for problem in warnings:
        if warn is not None:
            warn(problem)
    loaded = specs[0]
    folder = root / "generated" / loaded.experiment
    stale = [c for c in diff(folder, render_spec(loaded)) if c.status != "unchanged"]
    if stale:
        names = [c.path.name for c in stale]
        raise StaleOutput(f"generated/{loaded.experiment}/ does not match {loaded.file} ({', '.join(names)}): run "
                          "`make render` first", names)
    if validate:
        check_generated(folder, root)
    experiment = load_experiment(folder)
    experiment.source_spec = loaded
    return experiment


def check_generated(folder: Path, root: Path) -> None:
    """Refuse generated files azure-ai-ml does not load, or whose data files do not exist yet."""
    from generator.validate import validate_experiment

    problems = [p for p in validate_experiment(folder, root, data_must_exist=True) if p.severity == "error"]
    if problems:
        raise UsageError("generated files are not ready:\n  " + "\n  ".join(map(str, problems)))


def cleanup_experiment(spec: str, root: Path, warn: Callable[[str], None], *, check_shared: bool = True) -> Experiment:
    """What `destroy` needs of `spec`: only the names. The loaded, fresh experiment when the spec still validates
    and generated/ matches it; else (the model retired since, a catalog moved, generated/ stale or missing) the
    names from the manifest apply last used, or from the spec's own YAML, saying so through `warn`. Refused when
    another spec names the same endpoint: whose it is cannot be known, so nothing is deleted."""
    from generator.paths import display_path

    file = display_path(Path(spec), root)
    experiment = _names_to_delete(spec, root, file, warn)
    endpoint = experiment.endpoint.name
    shared = others_naming(root, spec, "endpoint", endpoint) if check_shared else []
    if shared:
        raise InvalidInput([Problem(file, 0, 0, "endpoint.name", f"endpoint {endpoint} is also named by "
                                    f"{', '.join(shared)}: destroy of {file} could delete that experiment's endpoint, "
                                    "so nothing was deleted; give each spec its own endpoint.name, or delete the "
                                    "endpoint by name with `az ml online-endpoint delete`")])
    return experiment


def _names_to_delete(spec: str, root: Path, file: str, warn: Callable[[str], None]) -> Experiment:
    from generator.paths import display_path
    from generator.runner.experiment import Resource

    try:
        return load_ready_experiment(spec, root, validate=False)
    except (InvalidInput, StaleOutput, UsageError, RunnerError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, InvalidInput) and exc.problems:
            why = str(exc.problems[0]) + (f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else "")
    raw = _raw_names(Path(spec) if Path(spec).is_absolute() else root / spec, file)
    folder = root / "generated" / raw["experiment"]
    try:
        experiment = load_experiment(folder)
    except Exception:  # noqa: BLE001 - a missing or broken manifest: the spec's own names are what is left
        experiment = None
    if experiment is not None and experiment.spec == file:
        warn(f"{file} cannot be used as it is ({why}); destroy uses the names in {display_path(folder, root)}"
             "/manifest.yml, which apply last used")
        return experiment
    warn(f"{file} cannot be used as it is ({why}); destroy uses the names written in it")
    if raw["route"] == SERVERLESS:
        resources = [Resource("serverless-endpoint", "serverless_endpoint", raw["endpoint"], [], "")]
    else:
        resources = [Resource("endpoint", "online_endpoint", raw["endpoint"], [], ""),
                     Resource("compute", "compute", raw["compute"], [], "")]
    return Experiment(name=raw["experiment"], folder=folder, spec=file, foundation_model="", data_files={},
                      resources=resources, endpoint_suffix=raw["suffix"], route=raw["route"])


def others_naming(root: Path, spec: str, section: str, name: str) -> list[str]:
    """The project's other spec files whose `section.name` is `name` (Azure compares names case-insensitively),
    read as raw YAML so that a spec which no longer validates still counts."""
    import yaml

    from generator.paths import display_path

    mine = (Path(spec) if Path(spec).is_absolute() else root / spec).resolve()
    found = []
    for path in sorted((root / "specs").glob("*.y*ml")) if (root / "specs").is_dir() else []:
        if path.suffix not in (".yaml", ".yml") or path.resolve() == mine:
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        value = (data.get(section) or {}).get("name") if isinstance(data, dict) and isinstance(
            data.get(section), dict) else None
        if isinstance(value, str) and value.lower() == name.lower():
            found.append(display_path(path, root))
    return found


def _raw_names(path: Path, file: str) -> dict[str, str]:
    """experiment.name, endpoint.name, endpoint.name_suffix and compute.name as written in the spec's YAML."""
    import yaml

    from generator.rules import COMPUTE_NAME, ONLINE_NAME

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput([Problem(file, 0, 0, "", f"cannot be read, so destroy does not know what to delete "
                                                    f"({type(exc).__name__}); delete the endpoint by name with "
                                                    "`az ml online-endpoint delete -n NAME`")]) from None

    def name(section: str, key: str = "name", default: str | None = None) -> str:
        value = data.get(section) if isinstance(data, dict) else None
        value = value.get(key, default) if isinstance(value, dict) else default
        if not isinstance(value, str) or not value:
            raise InvalidInput([Problem(file, 0, 0, f"{section}.{key}", "is not a name, so destroy does not know what "
                                                                       "to delete; delete it by name with `az ml`")])
        return value

    route = SERVERLESS if isinstance(data, dict) and data.get("route") == SERVERLESS else "pipeline"
    names = {"experiment": name("experiment"), "endpoint": name("endpoint"),
             "suffix": name("endpoint", "name_suffix", "none"), "route": route,
             "compute": name("compute") if route != SERVERLESS else "none"}
    if not ONLINE_NAME.match(names["endpoint"]) or not COMPUTE_NAME.match(names["compute"]):
        raise InvalidInput([Problem(file, 0, 0, "endpoint.name", f"{names['endpoint']!r} or compute "
                                    f"{names['compute']!r} is no name Azure accepts, so nothing of that name exists "
                                    "to delete")])
    return names


class Session:
    """A connected runner session for one experiment, on one target."""

    offline = ""  # the workspace's state is read (generator/runner/offline.py: an observer that reads nothing)

    def __init__(self, experiment: Experiment, target: Target, connection: Connection, root: Path, *,
                 out: Printer | None = None):
        self.experiment = experiment
        self.root = root
        self.target = target
        self.workspace = connection.workspace
        self.credential = connection.credential
        probe(self.credential, self.workspace)
        self.ml = workspace_client(self.credential, self.workspace)
        self.region: str | None = None
        self._check_workspace()
        self.out = out or Printer()
        self.endpoint_name = self.experiment.endpoint.name
        if self.experiment.endpoint_suffix == "workspace":
            self.endpoint_name += "-" + workspace_suffix(self.workspace.subscription_id, self.workspace.resource_group,
                                                         self.workspace.workspace_name)

    def _check_workspace(self) -> None:
        """Refuse a workspace that does not exist: otherwise every resource would look absent and plan 'create'."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.region = getattr(self.ml.workspaces.get(self.workspace.workspace_name), "location", None)
        except ResourceNotFoundError as exc:
            raise UsageError(f"workspace {self.workspace.workspace_name} was not found in resource group "
                             f"{self.workspace.resource_group} of subscription {self.workspace.subscription_id} "
                             f"({explain(exc)}): check config.json or --subscription/--resource-group/--workspace"
                             ) from None

    @property
    def no_price(self) -> str:
        """Why an estimate carries no price when the workspace says no region (or the target bills nothing)."""
        return self.target.no_price

    def metrics_client(self) -> Any:
        """An MLflow client on where this workspace's jobs log their metrics."""
        from generator.runner.metrics import open_store

        return open_store(self.target.tracking_uri(self.ml))

    def registry(self, name: str) -> Any:
        """MLClient for registry `name`."""
        return registry_client(self.credential, self.workspace, name)

    def identity(self) -> dict[str, Any]:
        """Which workspace this is, as a saved plan records it."""
        return {"kind": self.target.name, "subscription_id": self.workspace.subscription_id,
                "resource_group": self.workspace.resource_group, "workspace": self.workspace.workspace_name,
                "region": self.region, "endpoint": self.endpoint_name}

    def context(self, **kwargs: Any) -> Context:
        """A step Context for this session."""
        from generator.runner.steps.common import Context
        from generator.runner.sweep import Slots

        sweep = self.experiment.sweep
        slots = Slots([p.id for p in self.experiment.points], int(sweep["max_concurrent"])) if sweep else None
        poll = self.workspace.poll_interval
        return Context(ml=self.ml, experiment=self.experiment, out=self.out, endpoint_name=self.endpoint_name,
                       target=self.target, metrics_client=self.metrics_client, slots=slots, poll_interval=poll,
                       heartbeat=max(60.0, poll * 6) if poll >= 1 else poll * 20, **kwargs)
