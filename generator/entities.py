"""Turn a valid spec into the values of each Azure ML entity the templates lay out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from generator import naming, rollout_stages
from generator.component import FILE_TYPES, URI_PREFIXES, literal
from generator.spec import Spec
from generator.sweep_points import Point

SCHEMA_BASE = "https://azuremlschemas.azureedge.net/latest"


@dataclass(frozen=True)
class Entity:
    """One generated file: its name, the template that lays it out, and the template's values."""

    file: str
    template: str  # "" for a verbatim copy of `context["source"]` (a component's code)
    context: dict[str, Any]


def registry_model_uri(spec: Spec) -> str:
    """azureml:// URI of the foundation model at its pinned version (a label is resolved at render)."""
    model = spec.data["foundation_model"]
    return f"azureml://registries/{model['registry']}/models/{model['name']}/versions/{spec.model_version}"


def component_uri(data: dict[str, Any]) -> str:
    """azureml:// URI of the pinned pipeline component."""
    component = data["finetune"]["component"]
    return (f"azureml://registries/{component['registry']}/components/{component['name']}"
            f"/versions/{component['version']}")


def model_output_uri(data: dict[str, Any], point: Point | None = None) -> str:
    """Where the pipeline job (of a sweep `point`) leaves the fine-tuned model."""
    return f"azureml://jobs/{naming.job_name(data, point.slug if point else None)}/outputs/trained_model"


def data_file(data: dict[str, Any], split: str) -> str:
    """Project-relative path of a prepared split."""
    return f"{data['data']['dir'].rstrip('/')}/{split}.jsonl"


def relative_to_output(project_path: str, experiment: str) -> str:
    """`project_path` as seen from generated/<experiment>/ (paths in Azure ML YAML are relative to the file)."""
    return os.path.relpath(project_path, f"generated/{experiment}").replace(os.sep, "/")


def _compute(data: dict[str, Any]) -> dict[str, Any]:
    return {"schema": f"{SCHEMA_BASE}/amlCompute.schema.json", "compute": data["compute"]}


def data_asset(data: dict[str, Any], role: str, split: str) -> dict[str, Any]:
    dataset = data["data"]
    return {
        "schema": f"{SCHEMA_BASE}/data.schema.json",
        "name": naming.data_asset_name(data, split),
        "version": naming.model_version(data),
        "path": relative_to_output(data_file(data, split), data["experiment"]["name"]),
        "description": f"{role} data: {split} split, first "
                       f"{(dataset.get('split_percent_overrides') or {}).get(split, dataset['split_percent']):g} % of "
                       f"{dataset['dataset']}",
    }


def _pipeline_job(spec: Spec, point: Point | None = None) -> dict[str, Any]:
    """The pipeline job's values. On more than one node both outputs of the component are mounted read-write:
    "Set output mode to mount instead of upload, multinode setting does not work with upload mode" (azureml-examples
    sdk/python/foundation-models/system/finetune/Llama-notebooks/multinode-text-classification/
    emotion-detection-llama-multinode.ipynb @334bb09d, which sets pytorch_model_folder and mlflow_model_folder to
    InputOutputModes.RW_MOUNT)."""
    data = spec.data
    slug = point.slug if point else None
    version = naming.model_version(data)
    parameters = {name: literal(spec.interface.inputs[name], value)
                  for name, value in data["finetune"]["parameters"].items()}
    file_inputs = {name: relative_to_output(value, spec.experiment) for name, value in parameters.items()
                   if spec.interface.inputs[name].type in FILE_TYPES and not value.startswith(URI_PREFIXES)}
    return {
        "schema": f"{SCHEMA_BASE}/pipelineJob.schema.json",
        "name": naming.job_name(data, slug),
        "display_name": naming.display_name(data, spec.interface) + (f"-{slug}" if slug else ""),
        "experiment_name": spec.experiment,
        "description": data["experiment"]["description"],
        "settings": data["finetune"]["settings"],
        "node": data["finetune"]["component"]["name"],
        "component": component_uri(data),
        "model_uri": registry_model_uri(spec),
        "compute": data["compute"]["name"],
        "gpus": naming.gpus_per_node(data),
        "train_data": f"azureml:{naming.data_asset_name(data, data['data']['train_split'])}:{version}",
        "test_data": f"azureml:{naming.data_asset_name(data, data['data']['test_split'])}:{version}",
        "parameters": {name: value for name, value in parameters.items() if name not in file_inputs},
        "file_parameters": {name: {"type": spec.interface.inputs[name].type, "path": path}
                            for name, path in file_inputs.items()},
        "output_binding": "${{parent.outputs.trained_model}}",
        "rw_mount": int(data["finetune"]["parameters"].get("num_nodes_finetune")
                        or spec.interface.default("num_nodes_finetune") or 1) > 1,
    }


def _model(spec: Spec, point: Point | None = None) -> dict[str, Any]:
    data = spec.data
    tags = {"foundation_model": registry_model_uri(spec),
            "pipeline_job": naming.job_name(data, point.slug if point else None)}
    if point:
        tags["sweep_point"] = point.describe()
    return {
        "schema": f"{SCHEMA_BASE}/model.schema.json",
        "name": data["registered_model"]["name"],
        "version": naming.model_version(data),
        "path": model_output_uri(data, point),
        "description": data["registered_model"]["description"],
        "tags": tags,
    }


def _endpoint(data: dict[str, Any]) -> dict[str, Any]:
    return {"schema": f"{SCHEMA_BASE}/managedOnlineEndpoint.schema.json", "endpoint": data["endpoint"]}


def _deployment(data: dict[str, Any]) -> dict[str, Any]:
    deployment = data["deployment"]
    return {
        "schema": f"{SCHEMA_BASE}/managedOnlineDeployment.schema.json",
        "deployment": deployment,
        "name": rollout_stages.deployment_name(data),
        "endpoint_name": data["endpoint"]["name"],
        "model": f"azureml:{data['registered_model']['name']}:{naming.model_version(data)}",
        "liveness_probe": deployment["liveness_probe"],
        "readiness_probe": deployment.get("readiness_probe") or {},
    }


def sample_request(data: dict[str, Any]) -> dict[str, Any]:
    """The seed's scoring request, built from the spec's smoke_test alone."""
    smoke = data["smoke_test"]
    return {
        "input_data": {
            "input_string": [[{"role": m["role"], "content": m["content"]} for m in smoke["messages"]]],
            "parameters": smoke["parameters"],
        },
        "params": {},
    }


def job_file_stem(point: Point) -> str:
    """A sweep point's pipeline job: its file (plus .yml) and its id in the manifest."""
    return f"pipeline-job-{point.slug}"


def entities(spec: Spec) -> list[Entity]:
    """Every Azure ML entity of the experiment, plus the sample request, in manifest order."""
    data = spec.data
    points = spec.points
    if points:  # one pipeline job per point, and the model file that registers it should it win
        jobs = [Entity(f"{job_file_stem(p)}.yml", "pipeline-job.yml.j2", _pipeline_job(spec.at(p), p)) for p in points]
        models = [Entity(f"model-{p.slug}.yml", "model.yml.j2", _model(spec.at(p), p)) for p in points]
    else:
        jobs = [Entity("pipeline-job.yml", "pipeline-job.yml.j2", _pipeline_job(spec))]
        models = [Entity("model.yml", "model.yml.j2", _model(spec))]
    return [
        Entity("compute.yml", "compute.yml.j2", _compute(data)),
        Entity("data-train.yml", "data.yml.j2", data_asset(data, "training", data["data"]["train_split"])),
        Entity("data-test.yml", "data.yml.j2", data_asset(data, "test", data["data"]["test_split"])),
        *_evaluation_data(data),
        *jobs,
        *models,
        *_evaluation(spec),
        Entity("endpoint.yml", "endpoint.yml.j2", _endpoint(data)),
        Entity("deployment.yml", "deployment.yml.j2", _deployment(data)),
        Entity("sample-request.json", "sample-request.json.j2", {"request": sample_request(data)}),
    ]


def evaluation_split_differs(data: dict[str, Any]) -> bool:
    """Whether evaluation reads a split of its own (not data.test_split), which then gets its own data asset."""
    return "evaluation" in data and data["evaluation"]["test_split"] != data["data"]["test_split"]


def _evaluation_data(data: dict[str, Any]) -> list[Entity]:
    if not evaluation_split_differs(data):
        return []
    return [Entity("data-eval.yml", "data.yml.j2", data_asset(data, "evaluation", data["evaluation"]["test_split"]))]


def tuned_model_ref(data: dict[str, Any]) -> str:
    """The registered (tuned) model as a job input: `azureml:<name>:<version>`."""
    return f"azureml:{data['registered_model']['name']}:{naming.model_version(data)}"


def _evaluation(spec: Spec) -> list[Entity]:
    """The evaluation data component and one evaluation pipeline job per model (base, tuned)."""
    from generator import evaluation_jobs

    if "evaluation" not in spec.data:
        return []
    models = {"base": registry_model_uri(spec), "tuned": tuned_model_ref(spec.data)}
    return [Entity(evaluation_jobs.CODE_FILE, "", {"source": evaluation_jobs.CODE_SOURCE}),
            Entity(evaluation_jobs.COMPONENT_FILE, "component-eval-data.yml.j2",
                   evaluation_jobs.component_context(spec, SCHEMA_BASE)),
            *(Entity(evaluation_jobs.job_file(role), "evaluation-job.yml.j2",
                     evaluation_jobs.job_context(spec, role, uri, SCHEMA_BASE))
              for role, uri in models.items())]
