"""Checks before anything costs money (the seed's, plus quota): a failure here creates nothing."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

from generator import catalog, clock
from generator.catalog import ModelFacts, checks
from generator.catalog.checks import Finding
from generator.catalog.rest import LiveFacts, from_rest
from generator.diagnostics import ERROR
from generator.runner.compat import registry_model_properties
from generator.runner.experiment import Experiment
from generator.runner.explain import NotRunnable, explain
from generator.runner.output import Printer
from generator.runner.targets import Target

MODEL_URI = re.compile(r"^azureml://registries/([^/]+)/models/([^/]+)/(labels|versions)/([^/]+)$")
# Managed online deployments reserve 20 % extra quota for upgrades: MicrosoftDocs/azure-ai-docs
# articles/machine-learning/how-to-manage-quotas.md@0c509fa9, note 4 ("if you request 10 instances in a deployment,
# you must have a quota for 12 ... Some VM SKUs are exempt"). Which SKUs are exempt is a per-size fact of the catalog
# (vm_sizes.yml skip_reservation, read from the managed online endpoints SKU list). The page gives no rounding rule
# beyond 10 -> 12; a fraction of an instance is counted as a whole one.
UPGRADE_RESERVE = 0.2
SKU_LIST = ("MicrosoftDocs/azure-ai-docs articles/machine-learning/reference-managed-online-endpoints-vm-sku-list.md"
            "@1d987e37")


def deployment_instances(instance_type: str, count: int) -> tuple[int, str]:
    """Instances of `instance_type` the quota must hold for a deployment of `count`, and why."""
    known = catalog.vm_size(instance_type)
    if known is not None and known.skip_reservation:
        return count, (f"deployment size {known.name} is exempt from the 20 % upgrade reservation "
                       f"(\"Skip 20% Reservation\": Yes in {known.sku_list}): {count} instance(s) need quota for "
                       f"{count}")
    reserved = math.ceil(count * (1 + UPGRADE_RESERVE))
    if known is None or known.skip_reservation is None:
        return reserved, (f"whether deployment size {instance_type} is exempt from the 20 % upgrade reservation was "
                          f"not read (it is not on {SKU_LIST}): counting the reservation, {count} instance(s) need "
                          f"quota for {reserved}")
    return reserved, (f"deployment size {known.name} carries the 20 % upgrade reservation (\"Skip 20% Reservation\": "
                      f"- in {known.sku_list}): {count} instance(s) need quota for {reserved}")


def vcpus(size: Any) -> int:
    """vCPUs of a VmSize (the SDK fills `vCPUs` from the REST body, not `v_cp_us`)."""
    return int(getattr(size, "v_cp_us", None) or size.__dict__.get("vCPUs") or 0)


def _yaml(experiment: Experiment, rid: str) -> dict[str, Any]:
    path = experiment.resource(rid).file
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path else {}


def _no_active_version(registry: str, name: str, exc: Exception) -> NotRunnable:
    facts = catalog.model(registry, name)
    today = clock.today()
    # Azure lists no version both for a model the registry never held and for an archived one (recording
    # test_create_get_download_model_registry, Azure/azure-sdk-assets @0e2fb6b0: 200 with an empty list).
    why = (f"registry {registry} lists no active version of {name} ({exc}): the registry does not hold it, or the "
           "model is archived or withdrawn")
    if facts is not None:
        status = checks.model_status(facts, today)
        if status:
            why += f"; the catalog says: {status[0].message}"
    return NotRunnable(why + ". Choose another foundation_model in the spec and render.")


def _get_label(client: Any, registry: str, name: str, label: str) -> Any:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return client.models.get(name, label=label)
    except ResourceNotFoundError:
        raise NotRunnable(f"foundation model {name} is not in registry {registry}: check foundation_model in the "
                          "spec") from None
    except Exception as exc:
        if type(exc).__name__ == "ValidationException":  # azure-ai-ml's _get_latest: no version is listed
            raise _no_active_version(registry, name, exc) from None
        raise explain(exc, f"look up {name} ({label}) in registry {registry}") from None


def read_live_model(experiment: Experiment, registry_factory: Any, out: Printer) -> LiveFacts:
    """The registry's facts about the pinned model version; warn when the label has moved past the pin."""
    from azure.core.exceptions import ResourceNotFoundError

    match = MODEL_URI.match(experiment.foundation_model)
    if not match or match.group(3) != "versions":
        raise NotRunnable(f"the manifest's foundation model {experiment.foundation_model} is not pinned to a "
                          "version: run `make render`")
    registry, name, _, version = match.groups()
    try:
        client = registry_factory(registry)
    except Exception as exc:
        raise explain(exc, f"connect to registry {registry}") from None
    label = experiment.foundation_model_label
    if label:
        latest = _get_label(client, registry, name, label)
        if str(latest.version) != version:
            out.line("preflight", f"warning: registry {registry} now resolves {name} label {label} to version "
                                  f"{latest.version}; render pinned version {version} "
                                  f"({experiment.foundation_model_pin}). This run uses the pinned version; to move, "
                                  f"run `python -m generator catalog refresh --model {name}`, then `make render` and "
                                  "review the diff")
    try:
        properties = registry_model_properties(client, name, version)
    except ResourceNotFoundError:
        raise NotRunnable(f"foundation model {name} version {version} is not in registry {registry}: pin another "
                          "version in the spec") from None
    except Exception as exc:
        raise explain(exc, f"look up {name} version {version} in registry {registry}") from None
    live = from_rest(registry, name, version, properties, {"registry": registry, "date": clock.today().isoformat()})
    shapes = " and ".join(live.shapes) or "neither system metadata nor legacy tags"
    out.line("preflight", f"foundation model {name} version {version}, pinned at render: "
                          f"{experiment.foundation_model_pin}; the registry publishes its facts as {shapes}")
    return live


def check_model(live: LiveFacts, compute_size: str, instance_type: str, out: Printer) -> None:
    """The catalog's checks on the live facts; print warnings and drift, raise on errors (exit 2)."""
    facts, today = live.facts, clock.today()
    findings = checks.model_status(facts, today)
    if live.has_size_lists:
        findings += checks.finetune_size(facts, compute_size) + checks.inference_size(facts, instance_type)
    else:
        out.line("preflight", f"warning: registry {facts.registry} publishes no fine-tune or inference size list for "
                              f"{facts.name} {facts.version}: compute.size and deployment.instance_type are not "
                              "checked against the model")
    for line in drift(catalog.model(facts.registry, facts.name), facts):
        out.line("preflight", f"drift from the catalog: {line}")
    refuse_or_warn(findings, out)
    if live.has_size_lists:
        out.line("preflight", f"compute size {compute_size} and deployment size {instance_type} are on "
                              f"{facts.name}'s lists and meet its minimum specs")


def drift(known: ModelFacts | None, live: ModelFacts) -> list[str]:
    """How the live registry's facts differ from the catalog's (empty for a model the catalog lacks)."""
    if known is None:
        return [f"{live.name} is not in the catalog; run `python -m generator catalog refresh --model {live.name}` "
                "to add it"]
    pairs = [("latest version", known.version, live.version), ("archived", known.archived, live.archived)]
    for stage in ("finetune", "inference"):
        ours, theirs = getattr(known, stage), getattr(live, stage)
        if theirs.computes:
            pairs.append((f"{stage} sizes", list(ours.computes), list(theirs.computes)))
        if theirs.min_sku_spec:
            pairs.append((f"{stage} minimum", ours.min_sku_spec, theirs.min_sku_spec))
        for kind in ("deprecation_date", "retirement_date"):
            if getattr(theirs, kind) is not None:
                pairs.append((f"{stage} {kind.replace('_', ' ')}", getattr(ours, kind), getattr(theirs, kind)))
    if live.model_specific_defaults:
        pairs.append(("model_specific_defaults", known.model_specific_defaults, live.model_specific_defaults))
    lines = [f"{what}: catalog {ours} -> registry {theirs}" for what, ours, theirs in pairs if ours != theirs]
    return lines + (["run `python -m generator catalog refresh` and `make render` to take the registry's facts"]
                    if lines else [])


def run_preflight(ml: Any, experiment: Experiment, registry_factory: Any, out: Printer,
                  skip_existing: set[str], target: Target) -> None:
    """Every check; raise NotRunnable (exit 2) on the first that fails, after printing what passed."""
    live = read_live_model(experiment, registry_factory, out)
    compute_file = _yaml(experiment, "compute")
    job = _yaml(experiment, experiment.by_kind("pipeline_job").id)  # a sweep's points share the GPU count
    node = next(iter(job["jobs"].values()))
    gpus_wanted = int(node["inputs"]["number_of_gpu_to_use_finetuning"])
    nodes = max(finetune_nodes(_yaml(experiment, resource.id)) for resource in experiment.resources
                if resource.kind == "pipeline_job")
    deployment = _yaml(experiment, "deployment")

    from azure.core.exceptions import ResourceNotFoundError

    try:
        existing = ml.compute.get(compute_file["name"])
    except ResourceNotFoundError:
        existing = None
    if existing is not None and (existing.provisioning_state or "").lower() == "failed":
        raise NotRunnable(f"compute {existing.name} is in Failed state: delete it (destroy --compute) or choose "
                          "another compute.name")
    size = existing.size if existing is not None else compute_file["size"]
    check_model(live, size, deployment["instance_type"], out)

    listed = _read("the region's VM sizes (compute.list_sizes)", ml.compute.list_sizes, out)
    if listed is None:
        out.line("preflight", "warning: GPUs per node and quota were not checked either: both need the VM sizes")
        return
    sizes = {s.name.lower(): s for s in listed}
    found = sizes.get(size.lower())
    if found is None:
        raise NotRunnable(f"VM size {size} is not available in the workspace's region (available GPU sizes: "
                          f"{', '.join(sorted(s.name for s in sizes.values() if s.gpus))})")
    if found.gpus != gpus_wanted:
        raise NotRunnable(f"{size} has {found.gpus} GPU(s) per node but the job uses number_of_gpu_to_use_finetuning="
                          f"{gpus_wanted}: set compute.gpus_per_node to {found.gpus} and render")
    out.line("preflight", f"GPUs per node of {size}: {found.gpus} (matches number_of_gpu_to_use_finetuning)")
    if experiment.parameters_from_model:
        shown = ", ".join(f"{k}={v}" for k, v in experiment.parameters_from_model.items())
        out.line("preflight", f"parameters from {live.facts.name}'s model_specific_defaults (rendered into the job): "
                              f"{shown}")
    check_quota(ml, experiment, compute_file, deployment, sizes, existing, skip_existing, out, target, nodes)


def finetune_nodes(job: dict[str, Any]) -> int:
    """The nodes a pipeline job's fine-tune step runs on at once: its num_nodes_finetune, else the pinned component's
    default (generator/components/)."""
    from generator.component import load_interface

    node = next(iter(job["jobs"].values()))
    given = node["inputs"].get("num_nodes_finetune")
    if given is None:
        name, version = str(node["component"]).rstrip("/").split("/")[-3::2]
        interface = load_interface(name, version)
        given = interface.default("num_nodes_finetune") if interface else None
    return int(given or 1)


_FAMILY_NOISE = re.compile(r"standard|family|cluster|dedicated|lowpriority|low priority|vcpus|[^a-z0-9]")
SUBSCRIPTION_ROW = "/vmfamily/usages"
REGIONAL_TOTAL = {"dedicated": "total cluster dedicated regional vcpus",
                  "low_priority": "total cluster lowpriority regional vcpus"}


def family_key(text: str) -> str:
    """A VM family as both `list_sizes()` ("standardNCADSA100v4Family") and the usages list
    ("Standard NCADSA100v4 Family Cluster Dedicated vCPUs") name it, reduced to one key ("ncadsa100v4")."""
    return _FAMILY_NOISE.sub("", text.lower())


@dataclass(frozen=True)
class UsageRow:
    """One row of `compute.list_usage()`: its level (type), names, and figures."""

    type: str
    name: str
    localized: str
    current: int
    limit: int

    @classmethod
    def of(cls, usage: Any) -> UsageRow:
        """A row from the SDK's Usage (whose `name` may be a UsageName or the REST dict)."""
        name = usage.name
        value = name.get("value") if isinstance(name, dict) else getattr(name, "value", name)
        localized = name.get("localizedValue") if isinstance(name, dict) else getattr(name, "localized_value", None)
        current = getattr(usage, "current_value", None)
        return cls(str(getattr(usage, "type", "") or ""), str(value or ""), str(localized or value or ""),
                   int(current if current is not None else usage.__dict__.get("currentValue", 0) or 0),
                   int(usage.limit if usage.limit is not None else -1))

    def tier(self) -> str:
        """dedicated or low_priority, from the row's name."""
        text = f"{self.name} {self.localized}".lower()
        return "low_priority" if "lowpriority" in text.replace(" ", "") else "dedicated"


def _subscription_row(rows: list[UsageRow], family: str, tier: str) -> UsageRow | None:
    key = family_key(family)
    return next((r for r in rows if r.type.lower().endswith(SUBSCRIPTION_ROW) and r.tier() == tier
                 and key in (family_key(r.name), family_key(r.localized))), None)


def _read(what: str, call: Any, out: Printer) -> Any:
    """`call()`, or None with a warning when the identity may not read it (403 on subscription-scope reads)."""
    from azure.core.exceptions import HttpResponseError

    try:
        return call()
    except HttpResponseError as exc:
        if exc.status_code not in (401, 403):
            raise
        out.line("preflight", f"warning: could not read {what} ({exc.status_code}: {explain(exc)}); that check was "
                              "not made: ask for Reader on the subscription, or check the quota in the portal")
        return None


def check_quota(ml: Any, experiment: Experiment, compute_file: dict[str, Any], deployment: dict[str, Any],
                sizes: dict[str, Any], existing_compute: Any, skip_existing: set[str], out: Printer,
                target: Target, nodes: int = 1) -> None:
    """Compare the vCPUs the cluster and the deployment need with the subscription's free quota in the region:
    the family's row at subscription level (not a workspace's or a cluster's), then the regional total. The
    fine-tune's `nodes` run at once: "The job will wait to acquire given number of nodes before it starts"
    (startup.MULTINODE), so more than the family's limit can never start, and more than is free waits."""
    tier = str(compute_file.get("tier", "dedicated")).replace("lowpriority", "low_priority")
    needs: dict[str, int] = {}
    basis = []
    cluster = sizes.get(compute_file["size"].lower())
    counted = existing_compute is None or int(compute_file["max_instances"]) > int(existing_compute.max_instances or 0)
    if counted and cluster is not None:
        needs[cluster.family] = needs.get(cluster.family, 0) + int(compute_file["max_instances"]) * vcpus(cluster)
    if "deployment" not in skip_existing:
        found = sizes.get(deployment["instance_type"].lower())
        if found is None:
            raise NotRunnable(f"deployment instance_type {deployment['instance_type']} is not available in the "
                              "workspace's region")
        instances, why = deployment_instances(deployment["instance_type"], int(deployment.get("instance_count", 1)))
        basis.append(why)
        needs[found.family] = needs.get(found.family, 0) + instances * vcpus(found)
    if not needs and nodes <= 1:
        return
    usages = _read("the subscription's quota (compute.list_usage)", ml.compute.list_usage, out)
    if usages is None:
        return
    rows = [UsageRow.of(u) for u in usages]
    for why in basis:
        out.line("preflight", f"quota: {why}")
    where = target.quota_scope(ml)
    short: list[str] = []
    for family, need in needs.items():
        row = _subscription_row(rows, family, tier)
        if row is None:
            out.line("preflight", f"warning: quota: the usages list has no subscription-level {tier} row for family "
                                  f"{family} {where}; that family's quota was not checked")
            continue
        if row.limit < 0:
            out.line("preflight", f"quota: family {family} ({tier}) has no family limit {where}; "
                                  "the regional total applies")
            continue
        line = f"family {family} {where}: need {need}, have {row.limit - row.current} of {row.limit} vCPUs"
        (short if need > row.limit - row.current else []).append(line)
        out.line("preflight", f"quota: {line}")
    if cluster is not None:
        short += _node_count(rows, cluster, tier, nodes, counted, where, out)
    total = next((r for r in rows if r.name.lower() == REGIONAL_TOTAL[tier] and r.limit >= 0), None)
    if total is not None:
        need = sum(needs.values())
        line = f"all {tier} cluster vCPUs {where}: need {need}, have {total.limit - total.current} of " \
               f"{total.limit}"
        (short if need > total.limit - total.current else []).append(line)
        out.line("preflight", f"quota: {line}")
    if short:
        raise NotRunnable("not enough quota:\n  " + "\n  ".join(short + basis) + "\n  what to do: request more "
                          "quota for that family in the Azure portal (Quotas), or lower compute.max_instances / "
                          "deployment.instance_count")


def _node_count(rows: list[UsageRow], cluster: Any, tier: str, nodes: int, counted: bool, where: str,
                out: Printer) -> list[str]:
    """The fine-tune's nodes against the family's quota: over its limit, a refusal line; over what is free on an
    existing cluster (a new or grown cluster's max_instances are counted already), a warning."""
    from generator.startup import MULTINODE

    row = _subscription_row(rows, cluster.family, tier)
    need = nodes * vcpus(cluster)
    line = f"the fine-tune runs on {nodes} node(s) of {cluster.name} at once: {need} vCPUs of family {cluster.family}"
    if row is None or row.limit < 0:
        return []
    if need > row.limit:
        return [f"{line}, over the family's limit of {row.limit} {where}: it can never start (\"The job will wait "
                f"to acquire given number of nodes before it starts\", {MULTINODE})"]
    if not counted and need > row.limit - row.current:
        out.line("preflight", f"warning: quota: {line}, and {row.limit - row.current} are free {where}: \"The job "
                              f"will wait to acquire given number of nodes before it starts\" ({MULTINODE}); nodes "
                              "the cluster holds now count as used here (how many it holds is not read)")
    elif nodes > 1:
        out.line("preflight", f"quota: {line}")
    return []


def refuse_or_warn(findings: list[Finding], out: Printer) -> None:
    """Print the registry's warnings about the model; refuse (NotRunnable, exit 2, before anything is created) when
    any finding is an error, naming them all."""
    for finding in findings:
        if finding.severity != ERROR:
            out.line("preflight", f"warning: {'.'.join(finding.field)}: {finding.message}")
    errors = [f"{'.'.join(f.field)}: {f.message}" for f in findings if f.severity == ERROR]
    if errors:
        raise NotRunnable("the registry's facts refuse this experiment:\n  " + "\n  ".join(errors))
