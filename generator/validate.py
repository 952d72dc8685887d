"""Offline validation of generated files with the azure-ai-ml loaders, plus our own checks.

`load_*` type-checks each file without a network but lets some mistakes through (DESIGN.md
lists them); we check those here. azure-ai-ml is imported only when this module runs a check,
never by `render`.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from generator.component import load_interface
from generator.diagnostics import WARNING, Problem
from generator.errors import InvalidInput
from generator.paths import display_path
from generator.render import MANIFEST
from generator.source import Located, read_located

KNOWN_SETTINGS = frozenset({"default_datastore", "default_compute", "continue_on_step_failure", "force_rerun",
                            "on_init", "on_finalize"})
KNOWN_NODE_KEYS = frozenset({"type", "component", "inputs", "outputs", "compute", "display_name", "description",
                             "tags", "properties", "comment", "settings", "name"})
BINDING = re.compile(r"\$\{\{\s*parent\.(inputs|outputs)\.([A-Za-z0-9_]+)\s*\}\}")
COMPONENT_URI = re.compile(r"^azureml://registries/[^/]+/components/([^/]+)/versions/([^/]+)$")
_BOILERPLATE = re.compile(r"\s*(Visit this link|The easiest way to author).*$", re.S)
_SDK_JSON = re.compile(r"failed:\s*(\{.*\})\s*$", re.S)


def _loaders() -> dict[str, Callable[..., Any]]:
    from azure.ai.ml import (
        load_compute,
        load_data,
        load_job,
        load_marketplace_subscription,
        load_model,
        load_online_deployment,
        load_online_endpoint,
        load_serverless_endpoint,
    )

    logging.getLogger("azure.ai.ml").setLevel(logging.ERROR)  # its import sets INFO: "experimental class" notices
    return {"compute": load_compute, "data": load_data, "pipeline_job": load_job, "evaluation_job": load_job,
            "model": load_model,
            "online_endpoint": load_online_endpoint, "online_deployment": load_online_deployment,
            "finetuning_job": load_job, "serverless_endpoint": load_serverless_endpoint,
            "marketplace_subscription": load_marketplace_subscription, "base_endpoint": load_serverless_endpoint}


def _flatten(errors: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(errors, dict):
        for key, value in errors.items():
            yield from _flatten(value, path + ((int(key) if str(key).isdigit() else key),))
    elif isinstance(errors, list):
        for item in errors:
            yield from _flatten(item, path)
    else:
        yield path, str(errors)


def sdk_problems(exc: Exception, located: Located) -> list[Problem]:
    """The SDK's validation error as located problems, without its boilerplate links."""
    text = _BOILERPLATE.sub("", str(exc)).strip()
    match = _SDK_JSON.search(text)
    if match:
        try:
            fields = list(_flatten(json.loads(match.group(1))))
        except json.JSONDecodeError:
            fields = []
        if fields:
            return [located.problem(path, f"azure-ai-ml: {message}") for path, message in fields]
    return [located.problem((), f"azure-ai-ml: {text}")]


def _walk_strings(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk_strings(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk_strings(item, path + (i,))
    elif isinstance(value, str):
        yield path, value


def check_pipeline_job(located: Located) -> list[Problem]:
    """What load_job lets through: settings keys, node keys, node inputs, parent bindings, empty jobs."""
    job, problems = located.data, []
    for key in job.get("settings") or {}:
        if key not in KNOWN_SETTINGS:
            problems.append(located.problem(("settings", key), f"unknown pipeline setting '{key}' (the SDK sends it "
                                                               "as-is and the service rejects it)", key=True))
    jobs = job.get("jobs") or {}
    if not jobs:
        problems.append(located.problem(("jobs",), "the pipeline has no jobs"))
    declared = {"inputs": set(job.get("inputs") or {}), "outputs": set(job.get("outputs") or {})}
    for node_name, node in jobs.items():
        if not isinstance(node, dict):
            continue
        for key in node:
            if key not in KNOWN_NODE_KEYS:
                problems.append(located.problem(("jobs", node_name, key), f"unknown key '{key}' in pipeline node",
                                                key=True))
        problems += _check_node_inputs(located, node_name, node)
        for path, text in _walk_strings(node, ("jobs", node_name)):
            for kind, name in BINDING.findall(text):
                if name not in declared[kind]:
                    problems.append(located.problem(path, f"binds to parent.{kind}.{name}, which the pipeline "
                                                          f"does not declare under {kind}:"))
    return problems


def _check_node_inputs(located: Located, node_name: str, node: dict[str, Any]) -> list[Problem]:
    match = COMPONENT_URI.match(str(node.get("component", "")))
    interface = load_interface(*match.groups()) if match else None
    if interface is None:
        return []
    problems = []
    for name in node.get("inputs") or {}:
        if name not in interface.inputs:
            problems.append(located.problem(("jobs", node_name, "inputs", name),
                                            f"{interface.name} {interface.version} has no input '{name}'", key=True))
    for name in node.get("outputs") or {}:
        if name not in interface.outputs:
            problems.append(located.problem(("jobs", node_name, "outputs", name),
                                            f"{interface.name} {interface.version} has no output '{name}'", key=True))
    return problems


def _check_entity(kind: str, located: Located, folder: Path, root: Path, data_must_exist: bool) -> list[Problem]:
    body, problems = located.data, []
    if kind in ("pipeline_job", "evaluation_job"):
        problems += check_pipeline_job(located) + check_local_components(located, folder, root)
    elif kind == "compute":
        low, high = body.get("min_instances", 0), body.get("max_instances", 1)
        if isinstance(low, int) and isinstance(high, int) and low > high:
            problems.append(located.problem(("min_instances",), f"min_instances ({low}) > max_instances ({high})"))
    elif kind == "online_deployment":
        count = body.get("instance_count")
        if isinstance(count, int) and count < 1:
            problems.append(located.problem(("instance_count",), f"instance_count must be at least 1, got {count}"))
    elif kind == "model" and not body.get("path"):
        problems.append(located.problem(("path",), "a model needs a path"))
    elif kind == "data":
        path = str(body.get("path", ""))
        if path and "://" not in path and not path.startswith("azureml:") and not (folder / path).is_file():
            where = display_path(folder / path, root)
            problems.append(located.problem(
                ("path",), f"prepared data file {where} does not exist yet; run `make data` first",
                severity="error" if data_must_exist else WARNING))
    return problems


def check_local_components(located: Located, folder: Path, root: Path) -> list[Problem]:
    """Each node's component file of our own (`component: ./component-*.yml`): it loads with load_component, and the
    code folder it uploads exists."""
    from azure.ai.ml import load_component

    problems = []
    for node_name, node in (located.data.get("jobs") or {}).items():
        ref = node.get("component") if isinstance(node, dict) else None
        if not isinstance(ref, str) or not ref.startswith("./"):
            continue
        path = folder / ref[2:]
        if not _regular_file(path) or path.parent != folder:
            problems.append(located.problem(("jobs", node_name, "component"), f"{ref} is not a file of "
                                                                              "this folder: run `make render`"))
            continue
        component_file = read_located(path, display_path(path, root))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                load_component(str(path))
            except Exception as exc:  # as for the other loaders: every SDK complaint is reported
                problems += sdk_problems(exc, component_file)
                continue
        code = component_file.data.get("code") if isinstance(component_file.data, dict) else None
        if isinstance(code, str) and not (folder / code).exists():
            problems.append(component_file.problem(("code",), f"the component's code {code} does not exist"))
    return problems


def check_sample_request(path: Path, file: str) -> list[Problem]:
    """The sample request follows the scoring contract (generator/request.py)."""
    from generator.request import parse_request

    try:
        parse_request(path.read_bytes())
    except OSError as exc:
        return [Problem(file, 0, 0, "", f"cannot read: {exc.strerror}")]
    except ValueError as exc:
        return [Problem(file, 0, 0, "input_data", f"not a scoring request: {exc}")]
    return []


def check_chat_request(path: Path, file: str) -> list[Problem]:
    """The serverless route's chat request is a /v1/chat/completions body (generator/serverless_render.py)."""
    from generator.serverless_render import check_chat_request as check

    try:
        wrong = check(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(file, 0, 0, "", f"cannot read: {exc}")]
    return [Problem(file, 0, 0, "messages", f"not a chat completions request: {wrong}")] if wrong else []


# What a manifest must look like before anything in it is trusted (a hand edit can make it anything).
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_KINDS = frozenset({"compute", "data", "pipeline_job", "select", "model", "online_endpoint", "online_deployment",
                    "traffic", "rollout", "invoke", "evaluation_job", "evaluation_gate", "leftover_deployments",
                    "parity", "finetuning_job", "serverless_endpoint", "marketplace_subscription", "chat_completion",
                    "base_endpoint", "endpoint_evaluation"})


def _regular_file(path: Path) -> bool:
    return not path.is_symlink() and path.is_file()


def _manifest_resources(folder: Path, root: Path) -> list[dict[str, Any]]:
    """The manifest's resources, each with a known kind and, when it has one, a plain file name in `folder`."""
    path = folder / MANIFEST
    if not _regular_file(path):
        raise InvalidInput([Problem(display_path(path, root), 0, 0, "", "not a regular file: run `make render`")])
    located = read_located(path, display_path(path, root))
    resources = located.data.get("resources") if isinstance(located.data, dict) else None
    if not isinstance(resources, list):
        raise InvalidInput([located.problem(("resources",), "the manifest needs a list of resources: "
                                                            "run `make render`")])
    problems = []
    for i, resource in enumerate(resources):
        if not isinstance(resource, dict) or resource.get("kind") not in _KINDS:
            problems.append(located.problem(("resources", i), f"not a resource of a known kind "
                                                              f"({', '.join(sorted(_KINDS))})"))
        elif "file" in resource and not (isinstance(resource["file"], str) and _FILE_NAME.fullmatch(resource["file"])):
            problems.append(located.problem(("resources", i, "file"), "must be a file name in the experiment's "
                                                                      "folder (no path)"))
        elif "candidates" in resource and not (isinstance(resource["candidates"], dict) and all(
                isinstance(name, str) and _FILE_NAME.fullmatch(name) for name in resource["candidates"].values())):
            problems.append(located.problem(("resources", i, "candidates"), "must map sweep points to file names in "
                                                                            "the experiment's folder (no path)"))
    if problems:
        raise InvalidInput(problems)
    return resources


def validate_experiment(folder: Path, root: Path, *, data_must_exist: bool = False) -> list[Problem]:
    """Load every file of generated/<experiment>/ with the SDK and run our checks; return all problems."""
    manifest_file = folder / MANIFEST
    if folder.is_symlink() or not manifest_file.is_file():
        return [Problem(display_path(folder, root), 0, 0, "", "not rendered yet; run `make render`")]
    try:
        resources = _manifest_resources(folder, root)
    except InvalidInput as exc:
        return exc.problems
    loaders = _loaders()
    problems: list[Problem] = []
    files = [(resource["kind"], name) for resource in resources
             for name in ([resource["file"]] if "file" in resource else [])
             + list(resource.get("candidates", {}).values())]
    for kind, name in files:
        path = folder / name
        file = display_path(path, root)
        if not _regular_file(path):
            problems.append(Problem(file, 0, 0, "", "not a regular file (a symlink, a folder or missing): "
                                                    "run `make render`"))
            continue
        if kind in ("invoke", "rollout"):  # both send the sample request
            problems += check_sample_request(path, file)
            continue
        if kind == "chat_completion":  # the serverless route's smoke test: a /v1/chat/completions body
            problems += check_chat_request(path, file)
            continue
        try:
            located = read_located(path, file)
        except InvalidInput as exc:
            problems += exc.problems
            continue
        if not isinstance(located.data, dict):
            problems.append(located.problem((), f"expected a mapping (an Azure ML {kind} document), "
                                                f"got {type(located.data).__name__}"))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                loaders[kind](str(path))
            except Exception as exc:  # the SDK raises ValidationError and a few others; all are reported
                problems += sdk_problems(exc, located)
        problems += _check_entity(kind, located, folder, root, data_must_exist)
    return problems
