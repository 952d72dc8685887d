"""What the serverless route renders into generated/<experiment>/, and its manifest.

The files: the data assets (shared with the pipeline route), a marketplace subscription first for a model that
needs one, a `type: finetuning` job (azureml-examples cli/jobs/finetuning/standalone/model-as-a-service/
chat-completion/chat-completion-finetuning.yaml @d22c1ae9: task chat_completion, model_provider custom, the pinned
registry model as an mlflow_model input, training and validation data, hyperparameters as strings,
outputs.registered_model), a serverless endpoint for the registered model, and the chat request the smoke test
sends to `{scoring_uri}/v1/chat/completions` (chat_completion_with_model_as_service.ipynb @04e1ccde: `messages`,
`max_tokens`). Every YAML file loads with azure-ai-ml's load_job / load_serverless_endpoint /
load_marketplace_subscription (generator/validate.py).
"""

from __future__ import annotations

import json
from typing import Any

from generator import catalog, naming
from generator.entities import Entity, data_asset, data_file, registry_model_uri
from generator.manifest import resource_row
from generator.spec import Spec

JOB_FILE = "finetuning-job.yml"
ENDPOINT_FILE = "serverless-endpoint.yml"
SUBSCRIPTION_FILE = "marketplace-subscription.yml"
REQUEST_FILE = "chat-request.json"
BASE_FILE = "base-endpoint.yml"
# The model id of a workspace's registered model, as azureml-examples writes it for a serverless endpoint
# (cli/foundation-models/system/distillation/conversation/serverless_endpoint.yaml @3ee82b8e); the notebook fills
# the same form from the workspace (chat_completion_with_model_as_service.ipynb @04e1ccde:
# f"azureml://locations/{workspace.location}/workspaces/{workspace._workspace_id}/models/{name}/versions/1").
WORKSPACE_MODEL_ID = ("azureml://locations/{AI_PROJECT_LOCATION}/workspaces/{WORKSPACE_ID}/models/{name}/versions/"
                      "{VERSION}")
# The chat request's fields from the spec's smoke_test.parameters (max_new_tokens is the pipeline's name for it).
REQUEST_NAMES = {"max_new_tokens": "max_tokens"}
NOT_SENT = frozenset({"do_sample"})


def subscription_name(model_name: str) -> str:
    """The marketplace subscription's name: the model's, dots as dashes, plus -sub (the notebook's
    f"{normalized_model_name}-sub" with normalized_model_name = model_name.replace(".", "-"))."""
    return f"{model_name.replace('.', '-')}-sub"


def offer_id(spec: Spec) -> str:
    """The model id a marketplace subscription names: the registry model without its version (the notebook's
    "/".join(model_to_finetune.id.split("/")[:-2]))."""
    model = spec.data["foundation_model"]
    return f"azureml://registries/{model['registry']}/models/{model['name']}"


def needs_subscription(spec: Spec) -> bool:
    """Whether the model needs a marketplace subscription before it is fine-tuned (serverless.yml)."""
    model = spec.data["foundation_model"]
    facts = catalog.serverless_model(model["registry"], model["name"])
    return facts is not None and facts.marketplace_subscription


def hyperparameters(data: dict[str, Any]) -> dict[str, str]:
    """finetune.parameters as the job's hyperparameters: strings, as the schema wants them. A float keeps a dot in
    its mantissa (5.0e-06, not 5e-06), so that every value reads as a number to any YAML reader and is written
    quoted: no reader can take the string for a float."""
    def text(value: Any) -> str:
        shown = repr(value) if isinstance(value, float) else str(value)
        mantissa, _, exponent = shown.partition("e")
        return f"{mantissa}.0e{exponent}" if exponent and "." not in mantissa else shown

    return {name: text(value) for name, value in data["finetune"]["parameters"].items()}


def chat_request(data: dict[str, Any]) -> dict[str, Any]:
    """The smoke test's body for /v1/chat/completions: the messages and the sampling parameters."""
    smoke = data["smoke_test"]
    body: dict[str, Any] = {"messages": [{"role": m["role"], "content": m["content"]} for m in smoke["messages"]]}
    for name, value in smoke["parameters"].items():
        if name not in NOT_SENT:
            body[REQUEST_NAMES.get(name, name)] = value
    return body


def check_chat_request(text: str) -> str | None:
    """What is wrong with a chat request file, or None: a JSON object with a non-empty list of messages, each a
    role and a string content."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        return f"not JSON: {exc}"
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        return "needs a non-empty list of messages"
    if not all(isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
               and isinstance(m.get("content"), str) for m in messages):
        return "each message needs a role (system, user or assistant) and a string content"
    return None


def _job(spec: Spec) -> dict[str, Any]:
    data = spec.data
    version = naming.model_version(data)
    return {
        "name": naming.job_name(data),
        "display_name": f"{data['foundation_model']['name']}-{naming.dataset_tag(data)}-serverless",
        "experiment_name": spec.experiment,
        "description": data["experiment"]["description"],
        "model_uri": registry_model_uri(spec),
        "training_data": f"azureml:{naming.data_asset_name(data, data['data']['train_split'])}:{version}",
        "validation_data": f"azureml:{naming.data_asset_name(data, data['data']['test_split'])}:{version}",
        "hyperparameters": hyperparameters(data),
        "registered_model": data["registered_model"]["name"],
    }


def entities(spec: Spec) -> list[Entity]:
    """Every file of a serverless-route experiment, in manifest order."""
    data = spec.data
    subscription = [Entity(SUBSCRIPTION_FILE, "marketplace-subscription.yml.j2",
                           {"name": subscription_name(data["foundation_model"]["name"]), "model_id": offer_id(spec)})
                    ] if needs_subscription(spec) else []
    return [
        Entity("data-train.yml", "data.yml.j2", data_asset(data, "training", data["data"]["train_split"])),
        Entity("data-test.yml", "data.yml.j2", data_asset(data, "validation", data["data"]["test_split"])),
        *subscription,
        Entity(JOB_FILE, "finetuning-job.yml.j2", _job(spec)),
        Entity(ENDPOINT_FILE, "serverless-endpoint.yml.j2",
               {"name": data["endpoint"]["name"],
                "model_id": WORKSPACE_MODEL_ID.replace("{name}", data["registered_model"]["name"])}),
        Entity(REQUEST_FILE, "chat-request.json.j2", {"request": chat_request(data)}),
        *([Entity(BASE_FILE, "base-endpoint.yml.j2", {"name": base_endpoint_name(data), "model_id": offer_id(spec)})]
          if data.get("evaluation") else []),
    ]


def resources(spec: Spec) -> list[dict[str, Any]]:
    """The route's resources in an order that respects depends_on: data, (subscription,) job, endpoint, smoke test.
    No compute and no deployment: the job runs where Azure puts it, the endpoint serves the one tuned model."""
    data = spec.data
    folder = f"generated/{spec.experiment}"
    version = naming.model_version(data)
    train, test = data["data"]["train_split"], data["data"]["test_split"]
    endpoint, model_name = data["endpoint"]["name"], data["registered_model"]["name"]
    subscription = needs_subscription(spec)
    job_inputs = ["data-train", "data-test"] + (["marketplace-subscription"] if subscription else [])
    model_id = WORKSPACE_MODEL_ID.replace("{name}", model_name).replace("{AI_PROJECT_LOCATION}", "<location>") \
        .replace("{WORKSPACE_ID}", "<workspace id>").replace("{VERSION}", "<version>")
    return [
        resource_row("data-train", "data", naming.data_asset_name(data, train), [],
                  f"az ml data create --file {folder}/data-train.yml", "data-train.yml", version=version),
        resource_row("data-test", "data", naming.data_asset_name(data, test), [],
                  f"az ml data create --file {folder}/data-test.yml", "data-test.yml", version=version),
        *([resource_row("marketplace-subscription", "marketplace_subscription",
                     subscription_name(data["foundation_model"]["name"]), [],
                     f"az ml marketplace-subscription create --file {folder}/{SUBSCRIPTION_FILE}", SUBSCRIPTION_FILE,
                     model=offer_id(spec))] if subscription else []),
        resource_row("finetuning-job", "finetuning_job", naming.job_name(data), job_inputs,
                  f"az ml job create --file {folder}/{JOB_FILE} --stream", JOB_FILE, registered_model=model_name),
        resource_row("serverless-endpoint", "serverless_endpoint", endpoint, ["finetuning-job"],
                  f"az ml serverless-endpoint create --file {folder}/{ENDPOINT_FILE} --set model_id={model_id}  "
                  "# the workspace's location and id, and the version the job registered", ENDPOINT_FILE,
                  model=model_name),
        *_evaluation(spec, folder),
        resource_row("smoke-test", "chat_completion", endpoint,
                  ["serverless-endpoint"] + (["evaluation"] if data.get("evaluation") else []),
                  f"curl -X POST <scoring uri>/v1/chat/completions -H 'Authorization: <key>' -H 'Content-Type: "
                  f"application/json' -d @{folder}/{REQUEST_FILE}  # the key: az ml serverless-endpoint "
                  f"get-credentials --name {endpoint}", REQUEST_FILE),
    ]


def base_endpoint_name(data: dict[str, Any]) -> str:
    """The serverless endpoint of the base (registry) model that the evaluation asks beside the tuned one."""
    return f"{data['endpoint']['name']}-base"


def _evaluation(spec: Spec, folder: str) -> list[dict[str, Any]]:
    """With `evaluation:`, the base model's serverless endpoint and the evaluation through both endpoints: the
    held-out prompts (the test split, converted as the pipeline route's evaluation data, the first max_samples) sent
    to both with the evaluation's generation settings, judged by the gate before the tuned endpoint is kept."""
    data = spec.data
    section = data.get("evaluation")
    if not section:
        return []
    base, endpoint = base_endpoint_name(data), data["endpoint"]["name"]
    split = section.get("test_split") or data["data"]["test_split"]
    generation = {k: v for k, v in (section.get("generation") or {}).items()}
    gate = section.get("gate") or {}
    return [
        resource_row("base-endpoint", "base_endpoint", base, ["finetuning-job"],
                  f"az ml serverless-endpoint create --file {folder}/{BASE_FILE}", BASE_FILE, model=offer_id(spec)),
        resource_row("evaluation", "endpoint_evaluation", endpoint, ["serverless-endpoint", "base-endpoint"],
                  f"# no az ml command: send the first {section['max_samples']} prompts of {data_file(data, split)} "
                  f"to {base} and {endpoint} (/v1/chat/completions) and compare the answers",
                  data_file=data_file(data, split), base=base, max_samples=section["max_samples"],
                  generation=generation, metrics=list(section["metrics"]),
                  **({"metric": gate["metric"], "min_gain": gate["min_gain"], "confidence": gate["confidence"]}
                     if gate else {})),
    ]


def manifest(spec: Spec) -> dict[str, Any]:
    """The route's manifest: the pipeline manifest's fields (no model defaults apply here) plus `route`."""
    data = spec.data
    return {
        "experiment": spec.experiment,
        "spec": spec.file,
        "route": "serverless",
        "foundation_model": registry_model_uri(spec),
        "foundation_model_pin": spec.pin,
        "foundation_model_label": data["foundation_model"].get("label"),
        "parameters_from_model": {},
        "endpoint_name_suffix": data["endpoint"]["name_suffix"],
        "data_files": {"data-train": data_file(data, data["data"]["train_split"]),
                       "data-test": data_file(data, data["data"]["test_split"])},
        "sweep": None,
        "resources": resources(spec),
    }
