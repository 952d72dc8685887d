"""Every generated file loads with azure-ai-ml and its REST body carries the spec's values;
`validate` and `check` catch what the SDK lets through, and stale output."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
import yaml

from generator.validate import validate_experiment

warnings.filterwarnings("ignore")
sdk = pytest.importorskip("azure.ai.ml", reason="azure-ai-ml is a core dependency; install requirements.txt")
logging.getLogger("azure.ai.ml").setLevel(logging.ERROR)


@pytest.fixture
def rendered(project: Path, cli) -> Path:
    """generated/phi4-ultrachat/ rendered from the example spec."""
    assert cli("render", root=project).exit_code == 0
    return project / "generated" / "phi4-ultrachat"


def test_compute_rest_body(rendered: Path) -> None:
    body = sdk.load_compute(rendered / "compute.yml")._to_rest_object().as_dict()["properties"]["properties"]
    assert body["vmSize"] == "Standard_NC24ads_A100_v4" and body["vmPriority"] == "Dedicated"
    assert body["scaleSettings"] == {"maxNodeCount": 2, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT2M"}


def test_data_assets_point_at_the_prepared_files(rendered: Path, project: Path) -> None:
    for file, split in (("data-train.yml", "train_sft"), ("data-test.yml", "test_sft")):
        asset = sdk.load_data(rendered / file)
        assert (asset.name, asset.version, asset.type) == (f"phi4-ultrachat-{split}", "1", "uri_file")
        uri = asset._to_rest_object().as_dict()["properties"]["dataUri"]
        assert Path(uri) == (project / "data" / "ultrachat_200k" / f"{split}.jsonl").resolve()


def test_pipeline_job_rest_body(rendered: Path) -> None:
    job = sdk.load_job(rendered / "pipeline-job.yml")
    rest = job._to_rest_object().as_dict()
    assert rest["name"] == "phi4-ultrachat-run1"
    props = rest["properties"]
    assert props["experimentName"] == "phi4-ultrachat"
    assert props["settings"]["force_rerun"] is True and props["settings"]["continue_on_step_failure"] is False
    assert props["outputs"]["trained_model"]["jobOutputType"] == "mlflow_model"
    node = props["jobs"]["chat_completion_pipeline"]
    assert node["componentId"] == "azureml://registries/azureml/components/chat_completion_pipeline/versions/0.0.82"
    inputs = {name: value.get("value", value.get("uri")) for name, value in node["inputs"].items()}
    assert inputs == {
        "mlflow_model_path": "azureml://registries/azureml/models/Phi-4/versions/8",
        "compute_model_import": "gpu-cluster-big", "compute_preprocess": "gpu-cluster-big",
        "compute_finetune": "gpu-cluster-big",
        "number_of_gpu_to_use_finetuning": "1",
        "train_file_path": "phi4-ultrachat-train_sft:1", "test_file_path": "phi4-ultrachat-test_sft:1",
        "num_train_epochs": "3", "per_device_train_batch_size": "1", "per_device_eval_batch_size": "1",
        "learning_rate": "5e-06", "lr_scheduler_type": "cosine", "apply_lora": "true", "apply_deepspeed": "true",
        # Phi-4's model_specific_defaults, for the parameters the spec leaves unset:
        "deepspeed_stage": "3", "apply_ort": "false", "precision": "16", "ignore_mismatched_sizes": "false",
        "gradient_accumulation_steps": "1", "logging_strategy": "steps", "logging_steps": "10",
        "save_total_limit": "1",
    }
    assert node["inputs"]["mlflow_model_path"]["job_input_type"] == "mlflow_model"
    assert node["outputs"]["mlflow_model_folder"]["value"] == "${{parent.outputs.trained_model}}"


def test_model_endpoint_and_deployment_rest_bodies(rendered: Path) -> None:
    model = sdk.load_model(rendered / "model.yml")._to_rest_object().as_dict()["properties"]
    assert model["modelType"] == "mlflow_model"
    assert model["modelUri"] == "azureml://jobs/phi4-ultrachat-run1/outputs/trained_model"
    endpoint = sdk.load_online_endpoint(rendered / "endpoint.yml")
    body = endpoint._to_rest_online_endpoint("westeurope").as_dict()
    assert endpoint.name == "ultrachat-completion" and body["properties"]["authMode"] == "Key"
    deployment = sdk.load_online_deployment(rendered / "deployment.yml")
    body = deployment._to_rest_object("westeurope").as_dict()
    assert body["sku"]["capacity"] == 1
    props = body["properties"]
    assert props["instanceType"] == "Standard_NC24ads_A100_v4"
    assert props["model"] == "Phi-4-ultrachat-200k:1"  # the SDK drops "azureml:" offline
    assert props["livenessProbe"]["initialDelay"] == "PT10M"
    assert props["requestSettings"]["requestTimeout"] == "PT1M30S"
    assert deployment.endpoint_name == "ultrachat-completion"


def test_validate_accepts_fresh_output_and_warns_about_missing_data(project: Path, rendered: Path, cli) -> None:
    result = cli("validate", root=project)
    assert result.exit_code == 0, result.stderr
    assert "warning: prepared data file data/ultrachat_200k/train_sft.jsonl does not exist yet" in result.stderr
    strict = validate_experiment(rendered, project, data_must_exist=True)
    assert [p.severity for p in strict] == ["error", "error"]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def test_validate_catches_what_the_sdk_lets_through(project: Path, rendered: Path, cli) -> None:
    job = rendered / "pipeline-job.yml"
    _edit(job, "  force_rerun: true\n", "  force_rerun: true\n  force_rerunn: true\n")
    _edit(job, "      num_train_epochs: 3\n", "      num_train_epoch: 3\n      lr: ${{parent.inputs.lr}}\n")
    _edit(rendered / "compute.yml", "min_instances: 0", "min_instances: 5")
    _edit(rendered / "deployment.yml", "instance_count: 1", "instance_count: -1")
    _edit(rendered / "model.yml", "path: azureml://jobs/phi4-ultrachat-run1/outputs/trained_model\n", "")
    result = cli("validate", root=project)
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if "warning" not in line]
    folder = "generated/phi4-ultrachat"
    assert lines[:-1] == [
        f"{folder}/compute.yml:7:16: min_instances: min_instances (5) > max_instances (2)",
        f"{folder}/pipeline-job.yml:10:3: settings.force_rerunn: unknown pipeline setting 'force_rerunn' "
        "(the SDK sends it as-is and the service rejects it)",
        f"{folder}/pipeline-job.yml:33:7: jobs.chat_completion_pipeline.inputs.num_train_epoch: "
        "chat_completion_pipeline 0.0.82 has no input 'num_train_epoch'",
        f"{folder}/pipeline-job.yml:34:7: jobs.chat_completion_pipeline.inputs.lr: "
        "chat_completion_pipeline 0.0.82 has no input 'lr'",
        f"{folder}/pipeline-job.yml:34:11: jobs.chat_completion_pipeline.inputs.lr: binds to parent.inputs.lr, "
        "which the pipeline does not declare under inputs:",
        f"{folder}/model.yml:2:1: path: a model needs a path",
        f"{folder}/deployment.yml:7:17: instance_count: instance_count must be at least 1, got -1",
    ]
    assert lines[-1] == "7 error(s) in generated files"


def test_sdk_errors_are_located_and_stripped_of_links(project: Path, rendered: Path, cli) -> None:
    _edit(rendered / "compute.yml", "tier: dedicated", "tier: spot")
    _edit(rendered / "deployment.yml", "  initial_delay: 600\n", "  initial_delay: 600\n  delay: 1\n")
    result = cli("validate", root=project)
    assert result.exit_code == 2
    assert ("generated/phi4-ultrachat/compute.yml:6:7: tier: azure-ai-ml: Value 'spot' passed is not in set "
            "['low_priority', 'dedicated']") in result.stderr
    assert ("generated/phi4-ultrachat/deployment.yml:10:10: liveness_probe.delay: azure-ai-ml: Unknown field."
            in result.stderr)
    assert "https://" not in result.stderr and "Visit this link" not in result.stderr


def test_check_passes_on_fresh_output_and_fails_on_stale(project: Path, rendered: Path, cli) -> None:
    assert cli("check", root=project).exit_code == 0
    _edit(rendered / "endpoint.yml", "auth_mode: key", "auth_mode: aml_token")
    result = cli("check", root=project)
    assert result.exit_code == 1
    assert "stale: generated/phi4-ultrachat/endpoint.yml: out of date" in result.stderr
    assert "run `make render`" in result.stderr


def test_check_fails_when_the_spec_changed_but_was_not_rendered(project: Path, rendered: Path, cli) -> None:
    spec = project / "specs" / "phi4-ultrachat.yaml"
    _edit(spec, "traffic_percent: 100", "traffic_percent: 0")
    result = cli("check", root=project)
    assert result.exit_code == 1
    assert "stale: generated/phi4-ultrachat/manifest.yml: out of date" in result.stderr


def test_check_fails_on_an_orphaned_experiment_and_a_missing_file(project: Path, rendered: Path, cli) -> None:
    (rendered / "model.yml").unlink()
    orphan = project / "generated" / "gone"
    orphan.mkdir()
    (orphan / "manifest.yml").write_text((rendered / "manifest.yml").read_text())
    result = cli("check", root=project)
    assert result.exit_code == 1
    assert "stale: generated/phi4-ultrachat/model.yml: missing" in result.stderr
    assert "stale: generated/gone: orphaned (its spec is gone)" in result.stderr


def test_manifest_lists_resources_in_dependency_order(rendered: Path) -> None:
    manifest = yaml.safe_load((rendered / "manifest.yml").read_text())
    seen: set[str] = set()
    for resource in manifest["resources"]:
        assert set(resource["depends_on"]) <= seen, resource["id"]
        seen.add(resource["id"])
        # the gate is no Azure operation: its line says how to read the figures it compares
        assert resource["az"].startswith("az ml " if resource["kind"] not in ("evaluation_gate", "parity")
                                         else "python -m generator ")
        if "file" in resource:
            assert (rendered / resource["file"]).is_file()
            assert f"generated/phi4-ultrachat/{resource['file']}" in resource["az"]
    assert [r["id"] for r in manifest["resources"]] == [
        "compute", "data-train", "data-test", "endpoint", "leftovers", "pipeline-job", "model", "eval-base",
        "eval-tuned", "gate", "deployment", "smoke-test", "parity", "traffic"]
    resources = {r["id"]: r for r in manifest["resources"]}
    assert resources["eval-base"]["depends_on"] == ["compute", "data-test", "endpoint"]  # beside training
    assert "model" in resources["eval-tuned"]["depends_on"]  # after registration
    # nothing is deployed for a model the gate refuses; the smoke test (through the header) comes before traffic
    assert resources["deployment"]["depends_on"] == ["endpoint", "model", "gate"]
    assert resources["smoke-test"]["depends_on"] == ["deployment"]
    assert resources["traffic"]["depends_on"] == ["parity", "gate"]
    assert resources["parity"]["depends_on"] == ["smoke-test", "eval-tuned"]  # before any live traffic
    assert resources["leftovers"]["depends_on"] == ["endpoint"]  # early: leftovers stop billing first


def test_the_committed_generated_folder_is_up_to_date_and_valid(cli) -> None:
    from tests.conftest import REPO

    result = cli("check", root=REPO)
    assert result.exit_code == 0, result.stderr
    assert "generated/ is up to date and valid (5 experiment(s))" in result.stdout


def test_evaluation_files_load_with_the_sdk_and_use_the_pinned_registry_components(rendered: Path) -> None:
    from generator.component import load_interface

    component = sdk.load_component(rendered / "component-eval-data.yml")
    assert (component.name, component.code, str(component.environment)) == (
        "chat_eval_data", "./eval_data.py",
        "azureml://registries/azureml/environments/model-evaluation/versions/24")
    assert (rendered / "eval_data.py").is_file()
    models = {"base": "azureml://registries/azureml/models/Phi-4/versions/8", "tuned": "Phi-4-ultrachat-200k:1"}
    for role, model in models.items():
        props = sdk.load_job(rendered / f"evaluation-{role}.yml")._to_rest_object().as_dict()["properties"]
        assert props["settings"]["default_compute"] == "gpu-cluster-big"
        jobs = props["jobs"]
        assert list(jobs) == ["eval_data", "model_prediction", "compute_metrics"]
        prediction, metrics = jobs["model_prediction"], jobs["compute_metrics"]
        assert prediction["componentId"] == "azureml://registries/azureml/components/model_prediction/versions/0.0.37"
        assert metrics["componentId"] == "azureml://registries/azureml/components/compute_metrics/versions/0.0.36"
        for node, pinned in ((prediction, ("model_prediction", "0.0.37")), (metrics, ("compute_metrics", "0.0.36"))):
            interface = load_interface(*pinned)
            assert set(node["inputs"]) <= set(interface.inputs)
            assert {n for n, i in interface.inputs.items() if not i.optional} - {"device", "task"} <= set(node["inputs"])
        assert prediction["inputs"]["mlflow_model"]["uri"] == model
        assert prediction["inputs"]["label_column_name"]["value"] == "ground_truth"
        assert prediction["inputs"]["input_column_names"]["value"] == "messages"
        assert yaml.safe_load(prediction["inputs"]["evaluation_config_params"]["value"]) == {
            "generator_config": {"max_new_tokens": 256, "do_sample": False}}
        assert yaml.safe_load(metrics["inputs"]["evaluation_config_params"]["value"])["metrics"][2] == "rougeL"
        assert metrics["outputs"]["evaluation_result"]["value"] == "${{parent.outputs.evaluation_result}}"
    assert validate_experiment(rendered, rendered.parent.parent) == [] or all(
        p.severity == "warning" for p in validate_experiment(rendered, rendered.parent.parent))
