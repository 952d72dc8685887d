"""What a submitted job asks the local runtime to run: the program (fine-tune or evaluation), the job.json it
reads, and the first line of its log. A FineTuning job (the serverless route) runs the same local fine-tune as the
pipeline route's chat_completion_pipeline job.

Read from the job's resource and, through the workspace's store (generator/emulator/backend.py WorkspaceStore),
the data assets and registered models it names: the data files are written into the job's folder, a registered
model is the trained_model output of the job that made it (generator/local/layout.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator import catalog
from generator.catalog import local_stand_in
from generator.emulator.backend import Resource, WorkspaceStore
from generator.emulator.finetuning import registry_model
from generator.local.layout import Layout

JobSpec = tuple[str, dict[str, Any], str]  # (module run as `python -m`, job.json, first log line)


@dataclass(frozen=True)
class JobInputs:
    """Resolves what a job names (data assets, registry and registered models) into files on this machine."""

    layout: Layout
    store: WorkspaceStore

    def resource(self, arm_id: str) -> Resource:
        """The stored resource at `arm_id`; KeyError naming it when there is none."""
        if (found := self.store.resource(arm_id)) is None:
            raise KeyError(f"no resource {arm_id} in the local workspace")
        return found

    def data_file(self, uri: str, target: Path) -> Path:
        """Materialise a data asset (ARM id or azureml: reference) as a local file."""
        data = self.resource(uri) if uri.startswith("/subscriptions/") else None
        data_uri = data["properties"]["dataUri"] if data else uri
        blob_path = f"/azureml-blobstore/{data_uri.split('/paths/', 1)[1]}"
        if (content := self.store.blob(blob_path)) is None:
            raise KeyError(f"no blob {blob_path} in the local workspace")
        target.write_bytes(content)
        return target

    def foundation_model_dir(self, uri: str) -> Path | None:
        """The local folder of a registry model that the user named (`local start --model`), else None: the job
        then fine-tunes the catalog's stand-in (generator/local/standin.py), converting it on first use."""
        name = uri.split("/models/", 1)[1].split("/", 1)[0]
        chosen = self.layout.models_file
        if chosen.is_file():
            folder = json.loads(chosen.read_text(encoding="utf-8")).get(name)
            if folder:
                return Path(folder)
        return None

    def model_dir(self, model_arm_id: str) -> Path:
        """The MLflow folder of a registered model (its path is a job output)."""
        uri = self.resource(model_arm_id)["properties"]["modelUri"]
        return self.layout.trained_model(uri.split("azureml://jobs/", 1)[1].split("/", 1)[0])

    def spec(self, name: str, props: dict[str, Any]) -> JobSpec:
        """(module, job.json, first log line) of job `name`: an evaluation pipeline job (it has a compute_metrics
        node), a FineTuning job, or a fine-tuning pipeline job."""
        if props.get("jobType") == "FineTuning":
            return self.finetuning(name, props)
        return (self.evaluation if "compute_metrics" in (props.get("jobs") or {}) else self.finetune)(name, props)

    def finetuning(self, name: str, props: dict[str, Any]) -> JobSpec:
        """(module, job.json, first log line) of a FineTuning job (`type: finetuning`): the local fine-tune of the
        stand-in (or the `local start --model` folder), with the job's hyperparameters (strings, as the route sends
        them: num_train_epochs, per_device_train_batch_size, learning_rate are chat_completion_pipeline's own names)
        over the registry model's model_specific_defaults (the catalog's: Phi-4's turn LoRA on), then the component's
        defaults, as the pipeline route would fine-tune that model. What Azure itself runs for the route is not
        public. Its validation data is the fine-tune's test data (the training data when the job gives none); the
        model it writes is the job's registered_model (the workspace registers it)."""
        folder = self.layout.job(name)
        details = props["fineTuningDetails"]
        model_uri = str(details["model"]["uri"])
        registry, model = registry_model(model_uri) or ("", model_uri.rstrip("/").rsplit("/", 1)[-1])
        facts = catalog.model(registry, model)
        defaults = {k: str(v).lower() if isinstance(v, bool) else str(v)
                    for k, v in (facts.model_specific_defaults if facts else {}).items()}
        hyperparameters = {k: str(v) for k, v in (details.get("hyperParameters") or {}).items()}
        chosen = self.foundation_model_dir(model_uri) if registry else None
        train = self.data_file(details["trainingData"]["uri"], folder / "train.jsonl")
        validation = details.get("validationData") or details["trainingData"]
        spec = {
            "model_dir": str(chosen) if chosen else None,
            "foundation_model": model,
            "train_file": str(train),
            "test_file": str(self.data_file(validation["uri"], folder / "validation.jsonl")),
            "parameters": {**defaults, **hyperparameters},
            "output_dir": str(self.layout.trained_model(name)),
            "checkpoint_dir": str(folder / "outputs" / "pytorch_model_folder"),
            "tracking_uri": self.layout.tracking_uri,
            "experiment": props.get("experimentName") or name,
            "run_name": name,
        }
        what = (f"{chosen.name} (local start --model)" if chosen else
                local_stand_in().stands_in_line(model).split(" (")[0])
        given = ", ".join(f"{k}={v}" for k, v in hyperparameters.items()) or "none"
        origin = f"{model}'s model_specific_defaults" if defaults else "no model_specific_defaults"
        return "generator.local.finetune", spec, (f"fine-tuning on this CPU (FineTuning job: hyperparameters {given}; "
                                                  f"the rest from {origin} and chat_completion_pipeline's defaults); "
                                                  f"{what}")

    def finetune(self, name: str, props: dict[str, Any]) -> JobSpec:
        """(module, job.json, first log line) of a fine-tuning pipeline job."""
        folder = self.layout.job(name)
        node = next(iter(props["jobs"].values()))
        inputs = node["inputs"]
        parameters = {k: v["value"] for k, v in inputs.items() if v.get("job_input_type") == "literal"}
        registry_model = inputs["mlflow_model_path"]["uri"].split("/models/", 1)[1].split("/", 1)[0]
        chosen = self.foundation_model_dir(inputs["mlflow_model_path"]["uri"])
        spec = {
            "model_dir": str(chosen) if chosen else None,  # None: the stand-in, converted in the job if needed
            "foundation_model": registry_model,
            "train_file": str(self.data_file(inputs["train_file_path"]["uri"], folder / "train.jsonl")),
            "test_file": str(self.data_file(inputs["test_file_path"]["uri"], folder / "test.jsonl")),
            "parameters": parameters,
            "output_dir": str(self.layout.trained_model(name)),
            "checkpoint_dir": str(self.layout.job_output(name, "pytorch_model_folder")),
            "tracking_uri": self.layout.tracking_uri,
            "experiment": props.get("experimentName") or name,
            "run_name": name,
        }
        what = (f"{chosen.name} (local start --model)" if chosen else
                local_stand_in().stands_in_line(registry_model).split(" (")[0])
        return "generator.local.finetune", spec, f"fine-tuning on this CPU; {what}"

    def evaluation(self, name: str, props: dict[str, Any]) -> JobSpec:
        """(module, job.json, first log line) of an evaluation pipeline job (eval_data → model_prediction →
        compute_metrics, generated/<experiment>/evaluation-*.yml): its model is a registry model (the stand-in, or
        the folder `local start --model` names) or a registered model (its job's trained_model output)."""
        folder = self.layout.job(name)
        nodes = props["jobs"]
        data, prediction = nodes["eval_data"]["inputs"], nodes["model_prediction"]["inputs"]
        model_uri = prediction["mlflow_model"]["uri"]
        spec: dict[str, Any] = {"model_dir": None, "mlflow_model": None}
        if "/registries/" in model_uri:  # the base model: the pinned registry version
            model = model_uri.split("/models/", 1)[1].split("/", 1)[0]
            chosen = self.foundation_model_dir(model_uri)
            spec["model_dir"] = str(chosen) if chosen else None
            what = (f"{model}: {chosen.name} (local start --model)" if chosen else
                    local_stand_in().stands_in_line(model).split(" (")[0])
            spec["model_name"] = f"{chosen.name} (for {model})" if chosen else f"{local_stand_in().name} (for {model})"
        else:  # the registered model
            spec["mlflow_model"] = str(self.model_dir(model_uri))
            what = spec["model_name"] = ":".join(model_uri.rstrip("/").split("/")[-3::2])
        literal = {k: v.get("value") for node in nodes.values() for k, v in node["inputs"].items()
                   if v.get("job_input_type") == "literal"}
        spec.update({
            "conversations": str(self.data_file(data["conversations"]["uri"], folder / "conversations.jsonl")),
            "max_samples": int(data["max_samples"]["value"]),
            "generator_config": json.loads(prediction["evaluation_config_params"]["value"] or "{}").get(
                "generator_config", {}),
            "metrics": json.loads(nodes["compute_metrics"]["inputs"]["evaluation_config_params"]["value"])["metrics"],
            "task": literal.get("task"),
            "output_dir": str(self.layout.job_outputs(name)),
            "tracking_uri": self.layout.tracking_uri,
            "experiment": props.get("experimentName") or name,
            "run_name": name,
        })
        return "generator.local.evaluate", spec, f"evaluating on this CPU; {what}"
