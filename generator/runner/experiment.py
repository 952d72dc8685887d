"""Read generated/<experiment>/manifest.yml into the resources the runner walks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from generator.errors import StaleOutput

if TYPE_CHECKING:
    from generator.spec import Spec


ENDPOINT_KINDS = ("online_endpoint", "serverless_endpoint")
SERVERLESS = "serverless"  # the manifest's route of a FineTuning job and a serverless endpoint


@dataclass
class Resource:
    """One entry of the manifest."""

    id: str
    kind: str
    name: str
    depends_on: list[str]
    az: str
    file: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Experiment:
    """The manifest of one experiment: its resources in dependency order, and where its files are."""

    name: str
    folder: Path
    spec: str
    foundation_model: str
    data_files: dict[str, str]
    resources: list[Resource]
    endpoint_suffix: str = "none"
    foundation_model_label: str | None = None
    foundation_model_pin: str = ""
    parameters_from_model: dict[str, Any] = field(default_factory=dict)
    source_spec: Spec | None = None  # the loaded spec it was rendered from, when the runner has it
    sweep: dict[str, Any] | None = None  # {points, max_concurrent} of a sweep
    route: str = "pipeline"  # the manifest's route: pipeline, or serverless (a FineTuning job, a serverless endpoint)

    @property
    def loaded(self) -> Spec:
        """The spec it was rendered from (loaded by every command that plans; destroy may have only the names)."""
        if self.source_spec is None:
            raise RuntimeError(f"experiment {self.name} was read from its manifest without its spec")
        return self.source_spec

    @property
    def points(self) -> list[Resource]:
        """A sweep's pipeline jobs, in the manifest's order (empty for a single run)."""
        return [r for r in self.resources if r.kind == "pipeline_job" and "sweep_point" in r.extra]

    @property
    def endpoint(self) -> Resource:
        """The endpoint the experiment serves from: its online endpoint, or its serverless endpoint."""
        return next(r for r in self.resources if r.kind in ENDPOINT_KINDS)

    def resource(self, rid: str) -> Resource:
        """The resource with id `rid`."""
        return next(r for r in self.resources if r.id == rid)

    def by_kind(self, kind: str) -> Resource:
        """The (first) resource of `kind`."""
        return next(r for r in self.resources if r.kind == kind)


def load_experiment(folder: Path) -> Experiment:
    """Read the manifest in `folder`; a missing one means the spec was not rendered."""
    path = folder / "manifest.yml"
    if not path.is_file():
        raise StaleOutput(f"{path} does not exist: run `make render` first", [path.name])
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    known = {"id", "kind", "file", "name", "depends_on", "az"}
    resources = [Resource(id=r["id"], kind=r["kind"], name=str(r["name"]), depends_on=list(r["depends_on"]),
                          az=r["az"], file=folder / r["file"] if r.get("file") else None,
                          extra={k: v for k, v in r.items() if k not in known}) for r in raw["resources"]]
    return Experiment(name=raw["experiment"], folder=folder, spec=raw["spec"],
                      foundation_model=raw["foundation_model"], data_files=raw["data_files"], resources=resources,
                      endpoint_suffix=raw.get("endpoint_name_suffix", "none"),
                      foundation_model_label=raw.get("foundation_model_label"),
                      foundation_model_pin=raw.get("foundation_model_pin", ""),
                      parameters_from_model=dict(raw.get("parameters_from_model") or {}),
                      sweep=raw.get("sweep"), route=raw.get("route", "pipeline"))


def workspace_suffix(subscription: str, resource_group: str, workspace: str) -> str:
    """A short deterministic suffix derived from the workspace (endpoint names are unique per region)."""
    digest = hashlib.sha256(f"{subscription}/{resource_group}/{workspace}".lower().encode()).hexdigest()
    return digest[:6]
