"""Typed reads of a validated spec: the sections the runner, the estimate and the cost read, built once per spec.

specs/spec.schema.json validates the spec and fills its defaults (generator/schema.py apply_defaults), so every field
below is present with its type by the time `sections(data)` builds these; the runner and the cost read attributes,
not string keys. `compute` and `deployment` are None on the serverless route when the spec leaves them out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Experiment:
    """experiment: its name and run number."""

    name: str
    run: int


@dataclass(frozen=True)
class FoundationModel:
    """foundation_model: the registry model, by version or label."""

    registry: str
    name: str
    version: str | None
    label: str | None


@dataclass(frozen=True)
class Data:
    """data: where the prepared splits are and which they are."""

    dir: str
    dataset: str
    train_split: str
    test_split: str


@dataclass(frozen=True)
class Compute:
    """compute: the training cluster."""

    name: str
    size: str
    tier: str  # dedicated or low_priority
    min_instances: int
    max_instances: int
    gpus_per_node: int | None


@dataclass(frozen=True)
class Endpoint:
    """endpoint: its name and how long it may live."""

    name: str
    expires_after: str | None


@dataclass(frozen=True)
class Deployment:
    """deployment: its name, VM size and instance count."""

    name: str
    instance_type: str
    instance_count: int


@dataclass(frozen=True)
class Evaluation:
    """evaluation: where it runs and on how many held-out conversations."""

    instance_type: str | None  # None: on the training compute
    test_split: str
    max_samples: int
    max_new_tokens: int  # evaluation.generation.max_new_tokens


@dataclass(frozen=True)
class Sections:
    """The typed sections of one spec (or of one sweep point's view of it)."""

    experiment: Experiment
    foundation_model: FoundationModel
    data: Data
    compute: Compute | None
    endpoint: Endpoint
    deployment: Deployment | None
    evaluation: Evaluation | None
    parameters: Mapping[str, Any]  # finetune.parameters: the component's inputs, typed by its interface
    region: str | None
    serverless: bool
    sweep: bool


def _tier(value: object) -> str:
    return str(value or "dedicated")


def sections(data: Mapping[str, Any]) -> Sections:
    """The typed sections of a validated spec's data (defaults applied)."""
    model, files, endpoint = data["foundation_model"], data["data"], data["endpoint"]
    compute, deployment, evaluation = data.get("compute"), data.get("deployment"), data.get("evaluation")
    return Sections(
        experiment=Experiment(str(data["experiment"]["name"]), int(data["experiment"].get("run", 1))),
        foundation_model=FoundationModel(str(model.get("registry", "azureml")), str(model["name"]),
                                         None if model.get("version") is None else str(model["version"]),
                                         model.get("label")),
        data=Data(str(files["dir"]), str(files.get("dataset", "")), str(files.get("train_split", "train_sft")),
                  str(files.get("test_split", "test_sft"))),
        compute=None if compute is None else Compute(
            str(compute["name"]), str(compute["size"]), _tier(compute.get("tier")),
            int(compute.get("min_instances", 0)), int(compute.get("max_instances", 1)),
            None if compute.get("gpus_per_node") is None else int(compute["gpus_per_node"])),
        endpoint=Endpoint(str(endpoint["name"]), endpoint.get("expires_after") or None),
        deployment=None if deployment is None else Deployment(
            str(deployment.get("name", "demo")), str(deployment["instance_type"]),
            int(deployment.get("instance_count", 1))),
        evaluation=None if evaluation is None else Evaluation(
            evaluation.get("instance_type") or None, str(evaluation.get("test_split") or files.get("test_split")),
            int(evaluation.get("max_samples", 200)), int(evaluation["generation"]["max_new_tokens"])),
        parameters=dict((data.get("finetune") or {}).get("parameters") or {}),
        region=data.get("region") if isinstance(data.get("region"), str) else None,
        serverless=data.get("route") == "serverless",
        sweep=bool(data.get("sweep")))
