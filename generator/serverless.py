"""The serverless route (`route: serverless`): what render refuses or warns about in a spec, and the region check.

The route is a `type: finetuning` job with no compute (Azure fine-tunes the registry model and registers the tuned
one) and a serverless endpoint for the tuned model. Its facts (models, regions, hyperparameters, the pipeline
parameters that mean nothing here, the warnings before paying) are data in generator/catalog/serverless.yml, read
through generator.catalog; this module turns them into located problems. `region_problem` is what a pre-flight calls
with the workspace's live region. Never imports azure-ai-ml.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from generator import catalog
from generator.component import MANAGED_INPUTS
from generator.diagnostics import WARNING, Problem
from generator.source import Located

ROUTE = "serverless"
# The sections check_spec reads: it runs only when the JSON Schema found them well-formed.
READS = frozenset({"route", "region", "foundation_model", "finetune", "registered_model", "endpoint", "smoke_test",
                   "evaluation"})
SERVERLESS_DOC = "MicrosoftDocs/azure-ai-docs articles/ai-foundry/how-to/fine-tune-serverless.md @00fd7acc"
NOTEBOOK = ("azureml-examples sdk/python/jobs/finetuning/standalone/model-as-a-service/chat-completion/"
            "chat_completion_with_model_as_service.ipynb @04e1ccde")
# Sections of a spec that the serverless route cannot honour today, and why.
REFUSED_SECTIONS = {
    "sweep": "a sweep renders one pipeline job per point; the serverless route has no sweep yet: remove sweep: or "
             "use route: pipeline",
    "rollout": f"\"Only one deployment is permitted for a custom model\" ({SERVERLESS_DOC}), so a blue/green rollout "
               "beside the previous version cannot exist on the serverless route: remove rollout:",
}
# evaluation: keys the route's evaluation through endpoints has no use for, and why.
REFUSED_EVALUATION = {
    "instance_type": "the serverless route evaluates through serverless endpoints (the base model's and the tuned "
                     "one's), on no compute of yours: remove evaluation.instance_type",
    "parity": "the serverless route evaluates the tuned model's own serverless endpoint, so there is no deployment "
              "to compare with the evaluated model: remove evaluation.parity",
    "attempt": "the serverless route runs no evaluation jobs: its evaluation asks both endpoints again on every "
               "apply: remove evaluation.attempt",
}
REFUSED_FINETUNE = {
    "component": "the serverless route runs no pipeline component: the service fine-tunes the registry model itself "
                 "(type: finetuning): remove finetune.component",
    "settings": "pipeline job settings (force_rerun, continue_on_step_failure): a fine-tuning job has none: remove "
                "finetune.settings",
}


def chosen(data: dict[str, Any]) -> bool:
    """Whether the spec takes the serverless route."""
    return data.get("route") == ROUTE


def _written(located: Located, path: tuple[str, ...]) -> set[str]:
    """The keys the spec file itself writes at `path` (before defaults)."""
    node: Any = located.data
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return set(node) if isinstance(node, dict) else set()


def offered_models() -> str:
    """The models serverless.yml says fine-tune on this route, for messages."""
    return ", ".join(f"{m.name} ({m.registry})" for m in catalog.serverless_route().models)


def model_problem(registry: str, name: str) -> str | None:
    """Why `name` in `registry` cannot fine-tune on the serverless route (with the source), or None when it can."""
    route = catalog.serverless_route()
    if catalog.serverless_model(registry, name) is not None:
        return None
    if name in route.not_offered:
        return (f"{name} does not fine-tune on the serverless route ({route.not_offered_source}); the route "
                f"fine-tunes {offered_models()}; or use route: pipeline")
    return (f"{name} ({registry}) is not in generator/catalog/serverless.yml, so no source here says it fine-tunes on "
            f"the serverless route (which fine-tunes {offered_models()}); add a row with its source, or use "
            "route: pipeline")


def region_problem(registry: str, name: str, region: str) -> str | None:
    """Why a workspace in `region` cannot fine-tune `name` serverless (with the source), or None when it can or the
    model has no row (model_problem says so). Render calls it with the spec's `region`, pre-flight with the live one."""
    facts = catalog.serverless_model(registry, name)
    if facts is None or region.lower() in facts.finetune_regions:
        return None
    return (f"{name} does not fine-tune serverless in {region}: a workspace in {', '.join(facts.finetune_regions)} "
            f"can ({facts.source})")


def check_spec(data: dict[str, Any], located: Located) -> list[Problem]:
    """Every problem of a serverless-route spec that render refuses or warns about."""
    model = data["foundation_model"]
    problems = []
    refused = model_problem(model["registry"], model["name"])
    if refused:
        problems.append(located.problem(("foundation_model", "name"), refused))
    elif data.get("region"):
        wrong = region_problem(model["registry"], model["name"], data["region"])
        if wrong:
            problems.append(located.problem(("region",), wrong))
    problems += _parameters(data, located)
    for section, why in REFUSED_SECTIONS.items():
        if section in _written(located, ()):
            problems.append(located.problem((section,), why, key=True))
    for key, why in REFUSED_EVALUATION.items():
        if key in _written(located, ("evaluation",)):
            problems.append(located.problem(("evaluation", key), why, key=True))
    for key, why in REFUSED_FINETUNE.items():
        if key in _written(located, ("finetune",)):
            problems.append(located.problem(("finetune", key), why, key=True))
    return problems + list(_endpoint_and_request(data, located))


def _parameters(data: dict[str, Any], located: Located) -> list[Problem]:
    """finetune.parameters against the hyperparameters the route takes; a pipeline input is refused with why."""
    route = catalog.serverless_route()
    params = data.get("finetune", {}).get("parameters", {})
    accepted = ", ".join(route.hyperparameters)
    problems = []
    for name, value in params.items():
        path = ("finetune", "parameters", name)
        kind = route.hyperparameters.get(name)
        if kind is not None:
            message = _value_problem(kind, value)
            if message:
                problems.append(located.problem(path, message))
        elif name in route.refused:
            why, source = route.refused[name]
            problems.append(located.problem(path, f"{why} ({source}): remove it for route: serverless", key=True))
        elif name in MANAGED_INPUTS:
            problems.append(located.problem(path, "the serverless job takes the model and data from "
                                                  "foundation_model and data: remove it", key=True))
        else:
            problems.append(located.problem(path, f"not among the hyperparameters the serverless route's sources pass "
                                                  f"({accepted}: {route.hyperparameters_source}); a pipeline input "
                                                  "is refused here rather than sent and perhaps ignored", key=True))
    if "num_train_epochs" not in params:
        problems.append(located.problem(("finetune", "parameters"),
                                        f"num_train_epochs is not set, and {route.default_epochs_source}: plan "
                                        "cannot price training (tokens x epochs); set it", severity=WARNING))
    return problems


def _value_problem(kind: str, value: Any) -> str | None:
    """What is wrong with a hyperparameter's value, or None: integers at least 1, numbers above 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"must be {'an integer' if kind == 'integer' else 'a number'}, got {value!r}"
    if kind == "integer" and (not isinstance(value, int) or value < 1):
        return f"must be an integer of at least 1, got {value!r}"
    if value <= 0:
        return f"must be above 0, got {value!r}"
    return None


def _endpoint_and_request(data: dict[str, Any], located: Located) -> Iterable[Problem]:
    """What a serverless endpoint and its chat request cannot carry."""
    endpoint = _written(located, ("endpoint",))
    if "auth_mode" in endpoint and data["endpoint"]["auth_mode"] != "key":
        yield located.problem(("endpoint", "auth_mode"), "a serverless endpoint is called with its key "
                                                         f"({NOTEBOOK}), and azure-ai-ml 1.35.2 sends no auth_mode for "
                                                         "it (ServerlessEndpoint._to_rest_object): use key")
    if "description" in endpoint and data["endpoint"]["description"]:
        yield located.problem(("endpoint", "description"), "not sent: azure-ai-ml 1.35.2 sends only the model id, "
                                                           "tags and sku of a serverless endpoint "
                                                           "(ServerlessEndpoint._to_rest_object)", severity=WARNING)
    if "description" in _written(located, ("registered_model",)) and data["registered_model"]["description"]:
        yield located.problem(("registered_model", "description"),
                              "not sent: the fine-tuning job registers the model itself from outputs.registered_model "
                              "(name and type, azureml-examples cli/jobs/finetuning/standalone/model-as-a-service/"
                              "chat-completion/chat-completion-finetuning.yaml @d22c1ae9)", severity=WARNING)
    if "do_sample" in _written(located, ("smoke_test", "parameters")):
        yield located.problem(("smoke_test", "parameters", "do_sample"),
                              "not sent: /v1/chat/completions has no do_sample; temperature decides (0 for greedy)",
                              key=True, severity=WARNING)


def warnings_before_paying() -> list[tuple[str, str]]:
    """(what, source) a user must see before paying for this route."""
    return list(catalog.serverless_route().warnings)

