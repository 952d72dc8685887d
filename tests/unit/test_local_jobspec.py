"""What a submitted job asks the local runtime to run, read only through the workspace store's read API.

The store here implements WorkspaceStore and nothing else (no resources or blobs dictionaries to reach into), so
these tests fail if the runtime reads the emulator's internals instead of the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.emulator.backend import Resource
from generator.local.jobspec import JobInputs
from generator.local.layout import Layout

WS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
TRAIN = f"{WS}/data/train/versions/1"
TEST = f"{WS}/data/test/versions/1"
MODEL = f"{WS}/models/tuned/versions/3"


class Store:
    """A WorkspaceStore over two data assets, their blobs and a registered model."""

    def __init__(self) -> None:
        self._resources: dict[str, Resource] = {
            TRAIN.lower(): {"properties": {"dataUri": "azureml://datastores/workspaceblobstore/paths/LocalUpload/a/"
                                                      "train.jsonl"}},
            TEST.lower(): {"properties": {"dataUri": "azureml://datastores/workspaceblobstore/paths/LocalUpload/b/"
                                                     "test.jsonl"}},
            MODEL.lower(): {"properties": {"modelUri": "azureml://jobs/exp-run1/outputs/trained_model"}}}
        self._blobs = {"/azureml-blobstore/LocalUpload/a/train.jsonl": b'{"messages": []}\n',
                       "/azureml-blobstore/LocalUpload/b/test.jsonl": b'{"messages": [1]}\n'}

    def resource(self, arm_id: str) -> Resource | None:
        found = self._resources.get(arm_id.lower())
        return json.loads(json.dumps(found)) if found is not None else None

    def blob(self, path: str) -> bytes | None:
        return self._blobs.get(path)

    def endpoint(self, name: str) -> Resource | None:
        return None

    @property
    def scoring_key(self) -> str:
        return "key"


def _finetune(model_uri: str = "azureml://registries/azureml/models/Phi-4/versions/7") -> dict[str, object]:
    return {"experimentName": "exp", "jobs": {"finetune": {"inputs": {
        "mlflow_model_path": {"job_input_type": "mlflow_model", "uri": model_uri},
        "train_file_path": {"job_input_type": "uri_file", "uri": TRAIN},
        "test_file_path": {"job_input_type": "uri_file", "uri": TEST},
        "learning_rate": {"job_input_type": "literal", "value": "0.0002"}}}}}


def test_a_fine_tune_gets_its_data_files_parameters_and_folders(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.job("exp-run1").mkdir(parents=True)
    module, spec, first = JobInputs(layout, Store()).finetune("exp-run1", _finetune())
    assert module == "generator.local.finetune"
    assert Path(spec["train_file"]).read_bytes() == b'{"messages": []}\n'
    assert Path(spec["test_file"]).read_bytes() == b'{"messages": [1]}\n'
    assert Path(spec["train_file"]).parent == layout.job("exp-run1")
    assert spec["parameters"] == {"learning_rate": "0.0002"} and spec["foundation_model"] == "Phi-4"
    assert (spec["model_dir"], spec["output_dir"]) == (None, str(layout.trained_model("exp-run1")))
    assert spec["tracking_uri"] == f"sqlite:///{tmp_path / 'mlflow.db'}" and spec["experiment"] == "exp"
    assert first == "fine-tuning on this CPU; Phi-4 is stood in for by SmolLM2-135M-Instruct on this machine"


def test_a_model_named_by_local_start_replaces_the_stand_in(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.job("exp-run1").mkdir(parents=True)
    layout.models_file.write_text(json.dumps({"Phi-4": str(tmp_path / "tiny")}))
    _, spec, first = JobInputs(layout, Store()).finetune("exp-run1", _finetune())
    assert spec["model_dir"] == str(tmp_path / "tiny") and first == "fine-tuning on this CPU; tiny (local start --model)"


def test_a_registered_model_is_its_jobs_trained_model_output(tmp_path: Path) -> None:
    assert JobInputs(Layout(tmp_path), Store()).model_dir(MODEL) == tmp_path / "jobs" / "exp-run1" / "outputs" / \
        "trained_model"


def test_a_missing_data_file_or_model_is_named(tmp_path: Path) -> None:
    store = Store()
    store._blobs.clear()
    layout = Layout(tmp_path)
    layout.job("exp-run1").mkdir(parents=True)
    with pytest.raises(KeyError, match="no blob /azureml-blobstore/LocalUpload/a/train.jsonl"):
        JobInputs(layout, store).finetune("exp-run1", _finetune())
    with pytest.raises(KeyError, match=f"no resource {WS}/models/gone/versions/1"):
        JobInputs(layout, store).model_dir(f"{WS}/models/gone/versions/1")


def test_the_emulators_store_hands_out_copies(tmp_path: Path) -> None:
    """The workspace's own read API: what the runtime gets is a copy, so nothing it does changes the stored resource."""
    from tests.emulator.harness import Emulator

    workspace = Emulator("unused", "unused")
    workspace.load(Store()._resources, {path: (content, {}) for path, content in Store()._blobs.items()})
    found = workspace.resource(MODEL.upper())
    assert found == {"properties": {"modelUri": "azureml://jobs/exp-run1/outputs/trained_model"}}
    found["properties"]["modelUri"] = "changed"
    assert JobInputs(Layout(tmp_path), workspace).model_dir(MODEL) == Layout(tmp_path).trained_model("exp-run1")
    assert workspace.blob("/azureml-blobstore/LocalUpload/a/train.jsonl") == b'{"messages": []}\n'
    assert workspace.resource(f"{WS}/data/none/versions/1") is None and workspace.blob("/none") is None


def _finetuning_job(model_uri: str = "azureml://registries/azureml/models/Phi-4/versions/8") -> dict[str, object]:
    """A FineTuning job's properties as azure-ai-ml 1.35.2 PUTs the generated finetuning-job.yml."""
    return {"experimentName": "exp", "jobType": "FineTuning", "fineTuningDetails": {
        "taskType": "ChatCompletion", "modelProvider": "Custom",
        "model": {"uri": model_uri, "jobInputType": "mlflow_model"},
        "trainingData": {"uri": TRAIN, "jobInputType": "uri_file"},
        "validationData": {"uri": TEST, "jobInputType": "uri_file"},
        "hyperParameters": {"num_train_epochs": "3", "per_device_train_batch_size": "1", "learning_rate": "5.0e-06"}},
        "outputs": {"registered_model": {"assetName": "tuned", "jobOutputType": "mlflow_model"}}}


def test_a_finetuning_job_runs_the_local_fine_tune_with_its_hyperparameters_over_the_models_defaults(
        tmp_path: Path) -> None:
    """The route's three hyperparameters win; the rest is the catalog's Phi-4 model_specific_defaults (LoRA on, the
    pipeline route's values for that model); its validation data is the fine-tune's test data."""
    from generator import catalog
    from generator.local.finetune import typed_parameters

    layout = Layout(tmp_path)
    layout.job("exp-run1").mkdir(parents=True)
    module, spec, first = JobInputs(layout, Store()).spec("exp-run1", _finetuning_job())
    assert module == "generator.local.finetune" and spec["foundation_model"] == "Phi-4"
    assert Path(spec["train_file"]).read_bytes() == b'{"messages": []}\n'
    assert Path(spec["test_file"]).read_bytes() == b'{"messages": [1]}\n'
    assert spec["output_dir"] == str(layout.trained_model("exp-run1"))
    phi4 = catalog.model("azureml", "Phi-4")
    assert phi4 is not None and phi4.model_specific_defaults["apply_lora"] == "true"
    used = typed_parameters(spec["parameters"])
    assert (used["num_train_epochs"], used["per_device_train_batch_size"], used["learning_rate"]) == (3, 1, 5e-6)
    assert used["apply_lora"] is True and used["lr_scheduler_type"] == phi4.model_specific_defaults["lr_scheduler_type"]
    assert used["lora_r"] == 8  # neither the job nor the model says: chat_completion_pipeline 0.0.82's default
    assert first.startswith("fine-tuning on this CPU (FineTuning job: hyperparameters num_train_epochs=3, "
                            "per_device_train_batch_size=1, learning_rate=5.0e-06; the rest from Phi-4's "
                            "model_specific_defaults and chat_completion_pipeline's defaults); Phi-4 is stood in for")
    # a pipeline job is still a pipeline job, an evaluation an evaluation
    assert JobInputs(layout, Store()).spec("exp-run1", _finetune())[2].startswith("fine-tuning on this CPU; Phi-4")
