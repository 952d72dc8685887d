"""A FineTuning job (azure-ai-ml's `CustomModelFineTuningJob`, `type: finetuning`) as the emulated workspace answers
it: what the service adds to an accepted job, the refusals of a serverless one, and the model version it registers
once it has completed.

azure-ai-ml 1.35.2 PUTs it to `…/jobs/<name>?api-version=2024-10-01-preview` (operations/_job_operations.py
`_FINE_TUNING_JOB_TYPE`: service_client_10_2024_preview) and reads it back with a GET at 2024-01-01-preview, then at
2024-10-01-preview once the first says `jobType: FineTuning` (`_get_job`). What the service answers is from
Azure/azure-sdk-assets python/sdk/ml/azure-ai-ml/tests/recordings/finetuning_job/e2e_tests/:
test_maap_finetuning_job_yaml.pyTestFineTuningJob_MaaP_Yamltest_using_aml_compute.json @a049636e (a job on managed
compute: its 201 and both GETs) and test_custom_model_finetuning_job.pyTestCustomModelFineTuningJobtest_custom_model_
finetuning_job.json @d0dbcead (a serverless job refused: 400). Fixtures: tests/contract/fixtures/finetuning_job_*.json.
"""

from __future__ import annotations

import re
from typing import Any

from generator import catalog, clock
from generator.emulator.answers import error_body

FINE_TUNING = "FineTuning"
# the output the route's YAML names (azureml-examples chat-completion-finetuning.yaml)
REGISTERED_OUTPUT = "registered_model"
REGISTRY_MODEL_RE = re.compile(r"^azureml://registries/([^/]+)/models/([^/]+)(?:/versions/([^/]+))?$")
# The one inner code the refusal recording carries (additionalInfo InnerError), and its message's form:
# "Meta-Llama-3-8B : Serverless FineTuning not supported in westus."
NOT_SUPPORTED_CODE = "ModelNotSupportedByMaaS"


def is_finetuning(props: dict[str, Any]) -> bool:
    """Whether a job's properties are a FineTuning job's."""
    return props.get("jobType") == FINE_TUNING


def is_serverless(props: dict[str, Any]) -> bool:
    """A FineTuning job with no compute and no instance types: Azure runs it (the route's YAML); with either it runs
    on managed compute (azureml-examples …/model-as-a-platform/chat-completion/chat-completion-finetuning-
    {amlcompute,instance-types}.yaml)."""
    return not props.get("computeId") and not ((props.get("resources") or {}).get("instanceTypes"))


def registry_model(uri: str) -> tuple[str, str] | None:
    """(registry, model name) of `azureml://registries/<registry>/models/<name>[/versions/<version>]`, else None."""
    match = REGISTRY_MODEL_RE.match(uri or "")
    return (match.group(1), match.group(2)) if match else None


def subscription_refusal(registry: str, name: str, subscribed: set[str]) -> str | None:
    """Why a partner model cannot be fine-tuned or served yet (no marketplace subscription to it in the workspace),
    or None. Partner models "are offered through Azure Marketplace … you must create a subscription before you can
    deploy them" (MicrosoftDocs/azure-ai-docs articles/ai-foundry/how-to/deploy-models-serverless.md @8acd0515); which
    models: generator/catalog/serverless.yml. No public record shows the service's words: these are the emulator's."""
    facts = catalog.serverless_model(registry, name)
    offer = f"azureml://registries/{registry}/models/{name}"
    if facts is None or not facts.marketplace_subscription or offer in subscribed:
        return None
    return (f"{name} is offered through Azure Marketplace: create a marketplace subscription with model_id {offer} "
            "in this workspace first.")


def refusal(props: dict[str, Any], location: str, subscribed: set[str], check_region: bool) -> dict[str, Any] | None:
    """The 400 answer to a FineTuning job the service refuses, or None. A serverless job for a model the route does
    not fine-tune in the workspace's region is refused as recorded (test_custom_model_finetuning_job @d0dbcead:
    UserError "<model> : Serverless FineTuning not supported in <region>.", inner code ModelNotSupportedByMaaS); which
    models where is generator/catalog/serverless.yml (a model it has no row for is refused too). A partner model
    without a marketplace subscription is refused in the emulator's words. A job on managed compute is not checked."""
    details = props.get("fineTuningDetails") or {}
    model = registry_model(str((details.get("model") or {}).get("uri") or ""))
    if not is_serverless(props) or model is None:
        return None
    facts = catalog.serverless_model(*model)
    if check_region and (facts is None or location.lower() not in facts.finetune_regions):
        body = error_body("UserError", f"{model[1]} : Serverless FineTuning not supported in {location}.")
        body["error"]["additionalInfo"] = [{"type": "InnerError", "info": {"value": {"code": NOT_SUPPORTED_CODE,
                                                                                     "innerError": None}}}]
        return body
    refused = subscription_refusal(*model, subscribed)
    return error_body("UserError", refused) if refused else None


def _pascal(value: Any) -> Any:
    """`chatCompletion` (what azure-ai-ml sends) as the service answers it, `ChatCompletion` (the recording: sent
    `textCompletion`, answered `TextCompletion`)."""
    return value[:1].upper() + value[1:] if isinstance(value, str) else value


def accept(props: dict[str, Any], location: str) -> None:
    """What the service adds to an accepted FineTuning job (the 201 of test_maap_finetuning_job_yaml @a049636e):
    its run properties (PipelineType, original_model_id, azureml.ModelName, azureml.PipelineType,
    azureml.original_model_id, azureml.trainingData.assetId, azureml.validationData.assetId, _outputModelName,
    StartTimeUtc), the task type in PascalCase, each input's `mode: ReadOnlyMount` and `description`, each output's
    `mode: ReadWriteMount`, `description` and `uri` null, and null or empty for what was not sent. The recorded job
    ran on managed compute and says `_fineTuningJobType: MaaP`; what a serverless job says there is not recorded,
    so the emulator leaves that key out for one."""
    details = props.setdefault("fineTuningDetails", {})
    model_uri = str((details.get("model") or {}).get("uri") or "")
    found = registry_model(model_uri)
    outputs = props.get("outputs") or {}
    service = {"PipelineType": FINE_TUNING, "original_model_id": model_uri,
               "azureml.ModelName": found[1] if found else model_uri.rstrip("/").rsplit("/", 1)[-1],
               "azureml.PipelineType": FINE_TUNING, "azureml.original_model_id": model_uri}
    for key, field in (("azureml.trainingData.assetId", "trainingData"),
                       ("azureml.validationData.assetId", "validationData")):
        if isinstance(details.get(field), dict):
            service[key] = details[field].get("uri")
    if not is_serverless(props):
        service["_fineTuningJobType"] = "MaaP"
    if isinstance(outputs.get(REGISTERED_OUTPUT), dict):
        service["_outputModelName"] = outputs[REGISTERED_OUTPUT].get("assetName")
    service["StartTimeUtc"] = clock.now().strftime("%Y-%m-%d %H:%M:%S")
    props["properties"] = {**(props.get("properties") or {}), **service}
    details["taskType"] = _pascal(details.get("taskType"))
    for field in ("trainingData", "validationData", "model"):
        if isinstance(details.get(field), dict):
            details[field] = {"description": None, **details[field], "mode": details[field].get("mode")
                              or "ReadOnlyMount"}
    for name, output in outputs.items():
        if isinstance(output, dict):
            outputs[name] = {"description": None, "uri": None, **output, "mode": output.get("mode") or "ReadWriteMount"}
    for key in ("description", "services", "computeId", "identity", "componentId", "notificationSetting",
                "queueSettings"):
        props.setdefault(key, None)
    props.setdefault("isArchived", False)
    props.setdefault("resources", {"instanceTypes": []})


def model_output(props: dict[str, Any]) -> tuple[str, str] | None:
    """(model name, type) of the job's `registered_model` output, or None when it names none."""
    output = (props.get("outputs") or {}).get(REGISTERED_OUTPUT) or {}
    name = output.get("assetName")
    return (str(name), str(output.get("jobOutputType") or "mlflow_model")) if name else None


def next_version(versions: list[str]) -> str:
    """The version a job registers under a name that has `versions`: 1 for a new name (the route's own notebook
    deploys `…/models/<name>/versions/1` right after its job: azureml-examples sdk/python/jobs/finetuning/standalone/
    model-as-a-service/chat-completion/chat_completion_with_model_as_service.ipynb @085cd6ea), else one more than the
    highest integer version (no public source says what the service does then: the workspace's usual
    auto-increment)."""
    numbers = [int(v) for v in versions if v.isdigit()]
    return str(max(numbers) + 1) if numbers else "1"


def registered_model(workspace_path: str, job: str, props: dict[str, Any], version: str) -> dict[str, Any]:
    """The model version a completed FineTuning job registers, as a model version GET answers one (the keys of
    recording test_crud_file @0f205ad0, as routes_arm.py stores a model PUT): `modelUri` the job's output
    (`azureml://jobs/<job>/outputs/registered_model`, which the local runtime resolves to the job's folder), `jobName`
    the job, `modelType` the output's type. No public recording shows a model a FineTuning job registered."""
    found = model_output(props)
    assert found is not None
    name, kind = found
    return {"id": f"{workspace_path}/models/{name}/versions/{version}", "name": version,
            "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
            "properties": {"description": None, "tags": {}, "properties": {}, "isArchived": False,
                           "autoDeleteSetting": None, "intellectualProperty": None, "flavors": {},
                           "modelType": kind, "modelUri": f"azureml://jobs/{job}/outputs/{REGISTERED_OUTPUT}",
                           "jobName": job, "stage": "Development", "provisioningState": "Succeeded"}}
