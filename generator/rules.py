"""Layer 2 and 3 of spec validation: cross-field rules and the pinned component interface.

Each rule reads some top-level sections; it runs only when the JSON Schema found those
sections well-formed, so rules never see data of the wrong type.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from generator import catalog, clock, naming
from generator.catalog import checks
from generator.component import FILE_TYPES, URI_PREFIXES, interface_file, known_versions, load_interface
from generator.diagnostics import WARNING, Problem
from generator.paths import PROJECT_DIR, display_path
from generator.source import Located

Rule = Callable[[dict[str, Any], Located, Path], Iterable[Problem]]

ONLINE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")
COMPUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$")
JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")

SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
COMPONENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")

_RULES: list[tuple[tuple[str, ...], Rule]] = []


def rule(*sections: str) -> Callable[[Rule], Rule]:
    """Register a rule that reads `sections` of the spec."""
    def register(func: Rule) -> Rule:
        _RULES.append((sections, func))
        return func
    return register


def _overlaps(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return a[:len(b)] == b[:len(a)]


def _present(data: dict[str, Any], section: tuple[str, ...]) -> bool:
    node: Any = data
    for part in section:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def check_rules(data: dict[str, Any], located: Located, root: Path, broken: set[tuple[str, ...]]) -> list[Problem]:
    """Run every rule whose sections are present and free of schema errors (paths in `broken`)."""
    problems: list[Problem] = []
    for sections, func in _RULES:
        paths = [tuple(section.split(".")) for section in sections]
        if all(_present(data, path) for path in paths) and not any(
                _overlaps(path, bad) for path in paths for bad in broken):
            problems.extend(func(data, located, root))
    return problems


def _online_name(kind: str, name: str) -> str | None:
    if ONLINE_NAME.fullmatch(name):
        return None
    return (f"{kind} name must be 3-32 characters of letters, digits and '-', start with a letter and not end "
            f"with '-', got {name!r} ({len(name)} characters)")


@rule("compute")
def _compute(data: dict[str, Any], located: Located, root: Path) -> Iterable[Problem]:
    compute = data["compute"]
    if not COMPUTE_NAME.fullmatch(compute["name"]):
        yield located.problem(("compute", "name"), "compute name must be 3-24 characters of letters, digits and '-', "
                                                   f"start with a letter and not end with '-', got {compute['name']!r}")
    if compute["min_instances"] > compute["max_instances"]:
        yield located.problem(("compute", "min_instances"),
                              f"min_instances ({compute['min_instances']}) is greater than max_instances "
                              f"({compute['max_instances']}); lower min_instances or raise max_instances")
    size = compute["size"]
    known = catalog.vm_size(size)
    gpus = compute.get("gpus_per_node")
    retired = checks.retired_size(size, clock.today(), ("compute", "size"))
    yield from _located(located, checks.announced_retirement(size, clock.today(), ("compute", "size")))
    if retired:
        yield from _located(located, retired, "; fine-tuning needs a current GPU size, e.g. Standard_NC24ads_A100_v4")
    elif known is not None and known.gpus == 0:
        yield located.problem(("compute", "size"), f"{known.name} is a CPU size (no GPU) and fine-tuning runs only "
                                                   "on GPU compute; use e.g. Standard_NC24ads_A100_v4")
    elif known is None and gpus is None:
        yield located.problem(("compute", "size"), f"unknown VM size {size!r}{_did_you_mean(size)}; if the name "
                                                   "is right, set compute.gpus_per_node to its GPUs per node")
    elif known is not None and known.gpus is not None and gpus is not None and gpus != known.gpus:
        yield located.problem(("compute", "gpus_per_node"), f"{known.name} has {known.gpus} GPU(s) per node, "
                                                            f"not {gpus}; set {known.gpus} or remove gpus_per_node")


def _did_you_mean(size: str) -> str:
    close = catalog.suggest_sizes(size)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def _located(located: Located, findings: Iterable[checks.Finding], suffix: str = "") -> Iterable[Problem]:
    for finding in findings:
        yield located.problem(finding.field, finding.message + suffix, severity=finding.severity)


@rule("foundation_model")
def _foundation_model(data: dict[str, Any], located: Located, root: Path) -> Iterable[Problem]:
    model = data["foundation_model"]
    if ("label" in model) == ("version" in model):
        which = "both" if "label" in model else "neither"
        yield located.problem(("foundation_model",), f"give exactly one of label or version ({which} given); "
                                                     "e.g. label: latest, or version: \"8\"")
        return
    facts = catalog.model(model["registry"], model["name"])
    if facts is None:
        if "label" in model:
            yield located.problem(("foundation_model", "label"),
                                  f"the catalog does not know {model['name']} in registry {model['registry']}, so "
                                  f"label {model['label']!r} cannot be pinned to a version at render: give version: "
                                  f"N, or run `python -m generator catalog refresh --model {model['name']}`")
        else:
            yield located.problem(("foundation_model", "name"),
                                  f"{model['name']} is not in the catalog (generator/catalog/models.yml): it is not "
                                  "checked offline; apply's pre-flight checks it against the live registry",
                                  severity=WARNING)
        return
    if model.get("label", "latest") != "latest":
        yield located.problem(("foundation_model", "label"),
                              f"the catalog knows only the latest version of {facts.name} ({facts.version}); use "
                              "label: latest or give version: N")
    yield from _located(located, checks.model_status(facts, clock.today()))


@rule("foundation_model", "compute")
def _model_compute(data: dict[str, Any], located: Located, root: Path) -> Iterable[Problem]:
    facts = catalog.model(data["foundation_model"]["registry"], data["foundation_model"]["name"])
    size = catalog.vm_size(data["compute"]["size"])
    refused = size is not None and (size.gpus == 0 or size.is_retired(clock.today()))  # _compute says why
    if facts is not None and not refused:
        yield from _located(located, checks.finetune_size(facts, data["compute"]["size"]))


@rule("foundation_model", "deployment")
def _model_deployment(data: dict[str, Any], located: Located, root: Path) -> Iterable[Problem]:
    facts = catalog.model(data["foundation_model"]["registry"], data["foundation_model"]["name"])
    size = catalog.vm_size(data["deployment"]["instance_type"])
    if facts is not None and not (size is not None and size.is_retired(clock.today())):  # _deployment says why
        yield from _located(located, checks.inference_size(facts, data["deployment"]["instance_type"]))


@rule("endpoint")
def _endpoint(data: dict[str, Any], located: Located, root: Path) -> Iterable[Problem]:
    endpoint = data["endpoint"]
    message = _online_name("endpoint", endpoint["name"])
    if message:
        yield located.problem(("endpoint", "name"), message)
    elif endpoint["name_suffix"] == "workspace" and len(endpoint["name"]) > 25:
        yield located.problem(("endpoint", "name"), f"with name_suffix: workspace the name gets 7 more characters; "
                                                    f"shorten it to 25 at most (it has {len(endpoint['name'])})")


ENDPOINT_YAML = "MicrosoftDocs/azure-ai-docs articles/machine-learning/reference-yaml-endpoint-online.md @c3ecdba9"
DEPLOY_MODEL_TIMEOUT_MS = 90_000  # the deploy_model registry component's stated maximum (0.0.12)


@rule("deployment")
def _deployment(data: dict[str, Any], located: Located, root: Path) -> Iterable[Problem]:
    deployment = data["deployment"]
    message = _online_name("deployment", deployment["name"])
    if message:
        yield located.problem(("deployment", "name"), message)
    if deployment["traffic_percent"] == 0:
        yield located.problem(("deployment", "traffic_percent"), "the deployment gets no traffic; the smoke test "
                                                                 "still calls it by name", severity=WARNING)
    elif deployment["traffic_percent"] != 100 and not data.get("rollout"):
        yield located.problem(("deployment", "traffic_percent"),
                              f"without rollout: the deployment is the endpoint's only one, and \"Total traffic has to "
                              f"either be 0 or sum up to 100\" ({ENDPOINT_YAML}); azure-ai-ml refuses only a sum over "
                              f"100 (1.35.2 validate_traffic), so {deployment['traffic_percent']} would reach the "
                              "service: set 100 (or 0), or "
                              "add a rollout: section to share traffic with the previous version")
    if deployment["request_timeout_ms"] > DEPLOY_MODEL_TIMEOUT_MS:
        yield located.problem(("deployment", "request_timeout_ms"), f"above {DEPLOY_MODEL_TIMEOUT_MS}: the sources "
                              "disagree: the deployment YAML reference (MicrosoftDocs/azure-ai-docs reference-yaml-"
                              "deployment-managed-online.md @ecec4d11) allows up to 180000, the azureml registry's "
                              "deploy_model component (0.0.12) says 'Max limit is 90000'; Microsoft's LLM samples use "
                              "90000", severity=WARNING)
    known = catalog.vm_size(deployment["instance_type"])
    retired = checks.retired_size(deployment["instance_type"], clock.today(), ("deployment", "instance_type"))
    yield from _located(located, checks.announced_retirement(deployment["instance_type"], clock.today(),
                                                             ("deployment", "instance_type")))
    if retired:
        yield from _located(located, retired)
    elif known is not None and known.gpus == 0:
        yield located.problem(("deployment", "instance_type"), f"{known.name} is a CPU size (no GPU); "
                                                               "foundation-model serving needs a GPU size",
                              severity=WARNING)
    elif known is None:
        yield located.problem(("deployment", "instance_type"),
                              f"unknown VM size {deployment['instance_type']!r}"
                              f"{_did_you_mean(deployment['instance_type'])}",
                              severity=WARNING)


@rule("experiment")
def _experiment(data: dict[str, Any], located: Located, root: Path) -> Iterable[Problem]:
    job = naming.job_name(data)
    if not JOB_NAME.fullmatch(job):
        yield located.problem(("experiment", "name"), f"the derived job name {job!r} is not a valid Azure ML job name")


def _relative_path_problem(value: str, root: Path | None = None) -> str | None:
    path = PurePosixPath(value.replace("\\", "/"))
    if path.is_absolute() or re.match(r"^[A-Za-z]:", value):
        return "must be a path relative to the project root, not an absolute path"
    if ".." in path.parts:
        return "must stay inside the project root (no '..')"
    if root is not None:
        resolved, top = (root / value).resolve(), root.resolve()
        if resolved != top and top not in resolved.parents:
            return f"leads outside the project root through a symbolic link (to {resolved})"
    return None


@rule("data")
def _data(data: dict[str, Any], located: Located, root: Path) -> Iterable[Problem]:
    section = data["data"]
    if section["train_split"] == section["test_split"]:
        yield located.problem(("data", "test_split"), f"test_split is the same split as train_split "
                                                      f"({section['train_split']!r}); evaluate on held-out data, "
                                                      "e.g. test_sft")
    message = _relative_path_problem(section["dir"], root)
    if message:
        yield located.problem(("data", "dir"), message)
    for key in ("train_split", "test_split"):
        if not SPLIT_NAME.fullmatch(section[key]) or ".." in section[key]:
            yield located.problem(("data", key), f"a split name becomes a file name ({section['dir']}/<split>.jsonl): "
                                                 f"use letters, digits, '_', '-' and '.', got {section[key]!r}")


@rule("smoke_test")
def _smoke_test(data: dict[str, Any], located: Located, root: Path) -> Iterable[Problem]:
    first = data["smoke_test"]["messages"][0]["role"]
    if first == "assistant":
        yield located.problem(("smoke_test", "messages", 0, "role"),
                              "a conversation starts with a user or system message, not assistant")


@rule("finetune.component", "finetune.parameters")
def _finetune(data: dict[str, Any], located: Located, root: Path) -> Iterable[Problem]:
    if data.get("route") == "serverless":
        return  # no component on that route: generator/serverless.py checks its parameters
    component = data["finetune"]["component"]
    bad = [key for key in ("name", "version") if not COMPONENT_NAME.fullmatch(str(component[key]))
           or ".." in str(component[key])]
    for key in bad:
        yield located.problem(("finetune", "component", key), f"a component {key} uses letters, digits, '_', '-' and "
                                                              f"'.', got {component[key]!r}")
    if bad:
        return
    interface = load_interface(component["name"], component["version"])
    if interface is None:
        path = display_path(interface_file(component["name"], component["version"]), PROJECT_DIR)
        yield located.problem(("finetune", "component", "version"),
                              f"no interface on file for {component['name']} {component['version']}: pin a version "
                              f"the generator knows ({', '.join(known_versions(component['name'])) or 'none'}) "
                              f"or add {path} from `az ml component show "
                              f"--registry-name {component['registry']} --name {component['name']} "
                              f"--version {component['version']}`")
        return
    params = data["finetune"]["parameters"]
    yield from interface.check_parameters(params, located, ("finetune", "parameters"))
    for name, value in params.items():
        spec = interface.inputs.get(name)
        if spec is None or spec.type not in FILE_TYPES or not isinstance(value, str) or value.startswith(URI_PREFIXES):
            continue
        message = _relative_path_problem(value, root)
        if message:
            yield located.problem(("finetune", "parameters", name), message)
        elif not (root / value).is_file():
            yield located.problem(("finetune", "parameters", name), f"file {value!r} does not exist "
                                                                    "(paths are relative to the project root)")


def evaluation_split(data: dict[str, Any]) -> str:
    """The split evaluation runs on: evaluation.test_split, else data.test_split."""
    return str(data["evaluation"].get("test_split") or data["data"]["test_split"])


@rule("evaluation", "data")
def _evaluation(data: dict[str, Any], located: Located, root: Path) -> Iterable[Problem]:
    section = data["evaluation"]
    split = evaluation_split(data)
    if "test_split" in located_keys(located, ("evaluation",)):
        if not SPLIT_NAME.fullmatch(split) or ".." in split:
            yield located.problem(("evaluation", "test_split"), f"a split name becomes a file name "
                                                                f"({data['data']['dir']}/<split>.jsonl): use letters, "
                                                                f"digits, '_', '-' and '.', got {split!r}")
        elif split == data["data"]["train_split"]:
            yield located.problem(("evaluation", "test_split"), f"the model trains on {split!r} (data.train_split): "
                                                                "evaluate on held-out conversations, e.g. "
                                                                f"{data['data']['test_split']}")
    gate = section.get("gate")
    if gate is not None and gate["metric"] not in section["metrics"]:
        yield located.problem(("evaluation", "gate", "metric"), f"the gate's metric {gate['metric']!r} is not "
                                                                f"computed: add it to evaluation.metrics "
                                                                f"({', '.join(section['metrics'])})")
    generation = section["generation"]
    if generation["do_sample"] and generation["temperature"] == 0:
        yield located.problem(("evaluation", "generation", "temperature"),
                              "sampling (do_sample: true) needs a temperature above 0; or leave do_sample false "
                              "for greedy decoding")
    elif not generation["do_sample"]:
        for key in ("temperature", "top_p"):
            if key in located_keys(located, ("evaluation", "generation")) and (key != "temperature"
                                                                               or generation[key] != 0):
                yield located.problem(("evaluation", "generation", key), f"{key} has no effect with greedy "
                                                                         "decoding (do_sample: false)",
                                      severity=WARNING)


def located_keys(located: Located, path: tuple[str, ...]) -> set[str]:
    """The keys the spec file itself writes at `path` (before defaults)."""
    node: Any = located.data
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return set(node) if isinstance(node, dict) else set()


@rule("evaluation", "foundation_model", "compute")
def _evaluation_compute(data: dict[str, Any], located: Located, root: Path) -> Iterable[Problem]:
    """Prediction loads the model and generates, as a deployment does: its size is checked against the model's
    inference list and minimum spec (the catalog checks of deployment.instance_type)."""
    instance_type = data["evaluation"].get("instance_type")
    size = instance_type or data["compute"]["size"]
    field = ("evaluation", "instance_type") if instance_type else ("evaluation",)
    if instance_type:
        retired = checks.retired_size(size, clock.today(), field)
        yield from _located(located, retired + checks.announced_retirement(size, clock.today(), field))
        if retired:
            return
        if catalog.vm_size(size) is None:
            yield located.problem(field, f"unknown VM size {size!r}{_did_you_mean(size)}", severity=WARNING)
    facts = catalog.model(data["foundation_model"]["registry"], data["foundation_model"]["name"])
    known = catalog.vm_size(size)
    if facts is None or (known is not None and (known.gpus == 0 and not instance_type or known.is_retired(
            clock.today()))):
        return  # no facts to check against, or _compute already refuses the cluster's size
    where = "" if instance_type else \
        "compute.size (prediction runs on the compute cluster; set evaluation.instance_type for another size): "
    for finding in checks.inference_size(facts, size):
        yield located.problem(field, where + finding.message, severity=finding.severity, key=not instance_type)
