"""The serverless route renders a fine-tuning job, a serverless endpoint (and a marketplace subscription first for a
partner model) that load with azure-ai-ml offline, with REST bodies that carry the spec's values; one spec takes
either route."""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

warnings.filterwarnings("ignore")
sdk = pytest.importorskip("azure.ai.ml", reason="azure-ai-ml is a core dependency; install requirements.txt")
logging.getLogger("azure.ai.ml").setLevel(logging.ERROR)

SPEC = REPO / "specs" / "phi4-ultrachat-serverless.yaml"
EXPERIMENT = "phi4-ultrachat-serverless"


@pytest.fixture
def serverless_project(tmp_path: Path) -> Path:
    """A project holding only the serverless example."""
    (tmp_path / "specs").mkdir()
    shutil.copy(SPEC, tmp_path / "specs" / SPEC.name)
    return tmp_path


@pytest.fixture
def rendered(serverless_project: Path, cli) -> Path:
    result = cli("render", root=serverless_project)
    assert result.exit_code == 0, result.stderr
    return serverless_project / "generated" / EXPERIMENT


def _llama(project: Path) -> Path:
    """The example turned to a partner model, which needs a marketplace subscription (in West US 3, its only
    serverless fine-tuning region)."""
    data = yaml.safe_load(SPEC.read_text())
    data["foundation_model"] = {"registry": "azureml-meta", "name": "Meta-Llama-3.1-8B-Instruct", "version": "2"}
    data["region"] = "westus3"
    data["experiment"]["name"] = "llama-serverless"
    data["registered_model"]["name"] = "llama-serverless-tuned"
    data["endpoint"]["name"] = "llama-serverless"
    (project / "specs" / SPEC.name).write_text(yaml.safe_dump(data, sort_keys=False))
    return project / "generated" / "llama-serverless"


def test_the_route_renders_its_files_and_no_compute_or_deployment(rendered: Path) -> None:
    assert sorted(p.name for p in rendered.iterdir()) == [
        "chat-request.json", "data-test.yml", "data-train.yml", "finetuning-job.yml", "manifest.yml",
        "serverless-endpoint.yml"]


def test_finetuning_job_rest_body(rendered: Path) -> None:
    job = sdk.load_job(rendered / "finetuning-job.yml")
    assert type(job).__name__ == "CustomModelFineTuningJob" and job.compute is None  # serverless: no compute
    rest = job._to_rest_object().as_dict()
    assert rest["name"] == "phi4-ultrachat-serverless-run1"
    props = rest["properties"]
    assert props["jobType"] == "FineTuning" and props["experimentName"] == EXPERIMENT
    details = props["fineTuningDetails"]
    assert details["taskType"] == "chatCompletion" and details["modelProvider"] == "Custom"
    assert details["model"] == {"uri": "azureml://registries/azureml/models/Phi-4/versions/8",
                                "jobInputType": "mlflow_model"}
    assert details["trainingData"] == {"uri": "phi4-ultrachat-serverless-train_sft:1", "jobInputType": "uri_file"}
    assert details["validationData"] == {"uri": "phi4-ultrachat-serverless-test_sft:1", "jobInputType": "uri_file"}
    assert details["hyperParameters"] == {"num_train_epochs": "3", "per_device_train_batch_size": "1",
                                          "learning_rate": "5.0e-06"}
    assert props["outputs"]["registered_model"] == {"assetName": "Phi-4-ultrachat-serverless",
                                                    "jobOutputType": "mlflow_model"}


def test_serverless_endpoint_rest_body_names_the_registered_model(rendered: Path) -> None:
    endpoint = sdk.load_serverless_endpoint(rendered / "serverless-endpoint.yml")
    assert endpoint.name == "ultrachat-serverless"
    body = endpoint._to_rest_object().as_dict()
    assert body["sku"] == {"name": "Consumption"}
    assert body["properties"]["modelSettings"]["modelId"] == (
        "azureml://locations/{AI_PROJECT_LOCATION}/workspaces/{WORKSPACE_ID}/models/Phi-4-ultrachat-serverless/"
        "versions/{VERSION}")


def test_chat_request_is_what_v1_chat_completions_takes(rendered: Path) -> None:
    body = json.loads((rendered / "chat-request.json").read_text())
    assert body == {"messages": [{"role": "user",
                                  "content": "What are three good ways to stay focused while studying at home?"}],
                    "temperature": 0.6, "top_p": 0.9, "max_tokens": 200}


def test_manifest_lists_the_order_kinds_and_az_commands(rendered: Path) -> None:
    manifest = yaml.safe_load((rendered / "manifest.yml").read_text())
    assert manifest["route"] == "serverless"
    rows = [(r["id"], r["kind"], r["depends_on"]) for r in manifest["resources"]]
    assert rows == [("data-train", "data", []), ("data-test", "data", []),
                    ("finetuning-job", "finetuning_job", ["data-train", "data-test"]),
                    ("serverless-endpoint", "serverless_endpoint", ["finetuning-job"]),
                    ("smoke-test", "chat_completion", ["serverless-endpoint"])]
    az = {r["id"]: r["az"] for r in manifest["resources"]}
    assert az["finetuning-job"] == f"az ml job create --file generated/{EXPERIMENT}/finetuning-job.yml --stream"
    assert az["serverless-endpoint"].startswith(
        f"az ml serverless-endpoint create --file generated/{EXPERIMENT}/serverless-endpoint.yml --set model_id=")


def test_validate_loads_every_file_of_the_route(rendered: Path, serverless_project: Path, cli) -> None:
    result = cli("validate", root=serverless_project)
    assert result.exit_code == 0, result.stderr
    assert f"valid: {EXPERIMENT}" in result.stdout


def test_a_broken_chat_request_is_caught(rendered: Path, serverless_project: Path, cli) -> None:
    (rendered / "chat-request.json").write_text('{"messages": []}')
    result = cli("validate", root=serverless_project)
    assert result.exit_code == 2
    assert "chat-request.json: messages: not a chat completions request: needs a non-empty list of messages" \
        in result.stderr


def test_a_partner_model_gets_a_marketplace_subscription_first(serverless_project: Path, cli) -> None:
    folder = _llama(serverless_project)
    result = cli("render", root=serverless_project)
    assert result.exit_code == 0, result.stderr
    subscription = sdk.load_marketplace_subscription(folder / "marketplace-subscription.yml")
    assert subscription.name == "Meta-Llama-3-1-8B-Instruct-sub"
    assert subscription._to_rest_object().as_dict() == {
        "properties": {"modelId": "azureml://registries/azureml-meta/models/Meta-Llama-3.1-8B-Instruct"}}
    manifest = yaml.safe_load((folder / "manifest.yml").read_text())
    ids = [r["id"] for r in manifest["resources"]]
    assert ids.index("marketplace-subscription") < ids.index("finetuning-job")
    job = next(r for r in manifest["resources"] if r["id"] == "finetuning-job")
    assert "marketplace-subscription" in job["depends_on"]
    assert cli("validate", root=serverless_project).exit_code == 0


def test_a_microsoft_model_needs_no_subscription(rendered: Path) -> None:
    assert not (rendered / "marketplace-subscription.yml").exists()


def test_one_spec_takes_either_route(serverless_project: Path, cli) -> None:
    """The serverless example with route: pipeline renders the pipeline route from the same file."""
    path = serverless_project / "specs" / SPEC.name
    path.write_text(path.read_text().replace("route: serverless", "route: pipeline"))
    result = cli("render", root=serverless_project)
    assert result.exit_code == 0, result.stderr
    folder = serverless_project / "generated" / EXPERIMENT
    assert {"compute.yml", "pipeline-job.yml", "deployment.yml"} <= {p.name for p in folder.iterdir()}
    assert not (folder / "finetuning-job.yml").exists()
    node = sdk.load_job(folder / "pipeline-job.yml")._to_rest_object().as_dict()["properties"]["jobs"]
    assert node["chat_completion_pipeline"]["inputs"]["num_train_epochs"]["value"] == "3"


def test_every_serverless_fact_names_its_source() -> None:
    import re

    from generator import catalog

    route = catalog.serverless_route()
    cited = re.compile(r"@[0-9a-f]{8}|azure-ai-ml 1\.35\.2")  # a commit, or the pinned SDK's own source
    for model in route.models:
        assert cited.search(model.source) and cited.search(model.subscription_source), model.name
        assert model.finetune_regions and all(re.fullmatch(r"[a-z][a-z0-9]*", r) for r in model.finetune_regions)
        assert model.price_meters["product"] and model.price_meters["stem"], model.name
    assert cited.search(route.not_offered_source) and cited.search(route.hyperparameters_source)
    assert all(cited.search(source) and why for why, source in route.refused.values())
    assert len(route.warnings) == 5 and all(cited.search(source) for _, source in route.warnings)
    offered = {m.name for m in route.models}
    catalog_models = {m.name for m in catalog.models()}
    assert set(route.not_offered) <= catalog_models and not offered & set(route.not_offered)
    assert catalog_models <= offered | set(route.not_offered)  # every catalog model is either offered or refused
