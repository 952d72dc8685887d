"""Checks before anything costs money (the seed's, plus quota): a failure here creates nothing."""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from generator.runner.errors import EXIT_INPUT, RunnerError, explain
from generator.runner.manifest import Experiment
from generator.runner.output import Printer
from generator.skus import UNSUPPORTED_FINETUNE_SIZES

MODEL_URI = re.compile(r"^azureml://registries/([^/]+)/models/([^/]+)/(labels|versions)/([^/]+)$")
# Managed online deployments reserve extra quota for rolling upgrades (20 % on most sizes).
DEPLOYMENT_RESERVE = 1.2


@dataclass
class PreflightResult:
    """What pre-flight learnt: the pinned foundation model and the notes printed."""

    foundation_model_id: str
    notes: list[str] = field(default_factory=list)


def _tag_list(tags: dict[str, Any], name: str) -> list[str] | None:
    if name not in (tags or {}):
        return None
    value = ast.literal_eval(tags[name]) if isinstance(tags[name], str) else tags[name]
    return [str(v) for v in value]


def _usage_family(usage: Any) -> str:
    """The VM family a Usage counts (the SDK leaves `name` as the REST dict)."""
    name = usage.name
    return str(name.get("value") if isinstance(name, dict) else getattr(name, "value", name))


def vcpus(size: Any) -> int:
    """vCPUs of a VmSize (the SDK fills `vCPUs` from the REST body, not `v_cp_us`)."""
    return int(getattr(size, "v_cp_us", None) or size.__dict__.get("vCPUs") or 0)


def _yaml(experiment: Experiment, rid: str) -> dict[str, Any]:
    path = experiment.resource(rid).file
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path else {}


def resolve_foundation_model(experiment: Experiment, registry_factory: Any, out: Printer) -> Any:
    """Get the registry model (a label resolved to a version) and print what was pinned."""
    match = MODEL_URI.match(experiment.foundation_model)
    if not match:
        raise RunnerError(f"unexpected foundation model URI {experiment.foundation_model}", EXIT_INPUT)
    registry, name, kind, ref = match.groups()
    try:
        client = registry_factory(registry)
        model = client.models.get(name, label=ref) if kind == "labels" else client.models.get(name, version=ref)
    except Exception as exc:
        from azure.core.exceptions import ResourceNotFoundError

        if isinstance(exc, ResourceNotFoundError):
            raise RunnerError(f"foundation model {name} ({kind[:-1]} {ref}) is not in registry {registry}: check "
                              "foundation_model in the spec", EXIT_INPUT) from None
        raise explain(exc, f"look up {name} in registry {registry}") from None
    how = f"label {ref} -> version {model.version}" if kind == "labels" else f"version {model.version}"
    out.line("preflight", f"foundation model {name}: {how} (pinned for this run), id {model.id}")
    return model


def run_preflight(ml: Any, experiment: Experiment, registry_factory: Any, out: Printer,
                  skip_existing: set[str]) -> PreflightResult:
    """Every check; raise RunnerError (exit 2) on the first that fails, after printing what passed."""
    model = resolve_foundation_model(experiment, registry_factory, out)
    tags = model.tags or {}
    compute_file = _yaml(experiment, "compute")
    job = _yaml(experiment, "pipeline-job")
    node = next(iter(job["jobs"].values()))
    gpus_wanted = int(node["inputs"]["number_of_gpu_to_use_finetuning"])
    deployment = _yaml(experiment, "deployment")

    from azure.core.exceptions import ResourceNotFoundError

    try:
        existing = ml.compute.get(compute_file["name"])
    except ResourceNotFoundError:
        existing = None
    if existing is not None and (existing.provisioning_state or "").lower() == "failed":
        raise RunnerError(f"compute {existing.name} is in Failed state: delete it (destroy --compute) or choose "
                          "another compute.name", EXIT_INPUT)
    size = existing.size if existing is not None else compute_file["size"]

    allow = _tag_list(tags, "finetune_compute_allow_list")
    if allow is not None:
        if size.lower() not in {a.lower() for a in allow}:
            raise RunnerError(f"compute size {size} is not in the model's finetune_compute_allow_list: "
                              f"{', '.join(allow)}; change compute.size", EXIT_INPUT)
        out.line("preflight", f"compute size {size} is in the model's finetune_compute_allow_list")
    elif size.lower() in UNSUPPORTED_FINETUNE_SIZES:
        raise RunnerError(f"compute size {size} is not supported for fine-tuning; change compute.size", EXIT_INPUT)

    sizes = {s.name.lower(): s for s in ml.compute.list_sizes()}
    found = sizes.get(size.lower())
    if found is None:
        raise RunnerError(f"VM size {size} is not available in the workspace's region (available GPU sizes: "
                          f"{', '.join(sorted(s.name for s in sizes.values() if s.gpus))})", EXIT_INPUT)
    if found.gpus != gpus_wanted:
        raise RunnerError(f"{size} has {found.gpus} GPU(s) per node but the job uses number_of_gpu_to_use_finetuning="
                          f"{gpus_wanted}: set compute.gpus_per_node to {found.gpus} and render", EXIT_INPUT)
    out.line("preflight", f"GPUs per node of {size}: {found.gpus} (matches number_of_gpu_to_use_finetuning)")

    instance_type = deployment["instance_type"]
    inference_allow = _tag_list(tags, "inference_compute_allow_list")
    if inference_allow is not None and instance_type.lower() not in {a.lower() for a in inference_allow}:
        raise RunnerError(f"deployment instance_type {instance_type} is not in the model's "
                          f"inference_compute_allow_list: {', '.join(inference_allow)}; change "
                          "deployment.instance_type", EXIT_INPUT)

    defaults = tags.get("model_specific_defaults")
    if defaults:
        overrides = ast.literal_eval(defaults) if isinstance(defaults, str) else defaults
        shown = ", ".join(f"{k}={v} (job: {node['inputs'].get(k, 'component default')})" for k, v in overrides.items())
        out.line("preflight", f"model_specific_defaults override these parameters in the cloud: {shown}")

    check_quota(ml, experiment, compute_file, deployment, sizes, existing, skip_existing, out)
    return PreflightResult(model.id)


def check_quota(ml: Any, experiment: Experiment, compute_file: dict[str, Any], deployment: dict[str, Any],
                sizes: dict[str, Any], existing_compute: Any, skip_existing: set[str], out: Printer) -> None:
    """Compare the vCPUs the cluster and the deployment need with the family's free quota."""
    needs: dict[str, int] = {}
    if existing_compute is None or int(compute_file["max_instances"]) > int(existing_compute.max_instances or 0):
        found = sizes[compute_file["size"].lower()]
        needs[found.family] = needs.get(found.family, 0) + int(compute_file["max_instances"]) * vcpus(found)
    if "deployment" not in skip_existing:
        found = sizes.get(deployment["instance_type"].lower())
        if found is None:
            raise RunnerError(f"deployment instance_type {deployment['instance_type']} is not available in the "
                              "workspace's region", EXIT_INPUT)
        instances = math.ceil(int(deployment.get("instance_count", 1)) * DEPLOYMENT_RESERVE)
        needs[found.family] = needs.get(found.family, 0) + instances * vcpus(found)
    if not needs:
        return
    usage = {_usage_family(u).lower(): u for u in ml.compute.list_usage()}
    location = getattr(ml.workspaces.get(ml.workspace_name), "location", None) or "the workspace's region"
    short = []
    for family, need in needs.items():
        entry = usage.get(family.lower())
        if entry is None:
            out.line("preflight", f"quota: no usage figures for {family}; not checked")
            continue
        current = getattr(entry, "current_value", None)
        free = int(entry.limit) - int(current if current is not None else entry.__dict__.get("currentValue", 0))
        line = f"family {family} in region {location}: need {need}, have {free} of {entry.limit} vCPUs"
        (short if need > free else []).append(line)
        out.line("preflight", f"quota: {line}")
    if short:
        raise RunnerError("not enough quota:\n  " + "\n  ".join(short) + "\n  what to do: request more quota for "
                          "that family in the Azure portal (Quotas), or lower compute.max_instances / "
                          "deployment.instance_count", EXIT_INPUT)
