"""The spec's `evaluation:` as Azure ML entities: an evaluation pipeline job per model (base and tuned) and the
command component that turns the held-out conversations into model_prediction's rows.

The registry components are pinned, with their interfaces in generator/components/ (model_prediction 0.0.37,
compute_metrics 0.0.36, Azure/azureml-assets assets/training/model_evaluation/components/*/spec.yaml @4b41f8cc).
chat_completion_pipeline 0.0.82 runs no evaluation of its own (its model_prediction / compute_metrics block is
commented out since 0.0.79, azureml-assets 7e4bfd9b4f), so this is the only evaluation the flow runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from generator import naming
from generator.component import load_interface
from generator.diagnostics import Problem
from generator.evaldata.eval_data import INPUT_COLUMN, LABEL_COLUMN
from generator.paths import PROJECT_DIR
from generator.rules import rule
from generator.source import Located

PREDICTION = ("model_prediction", "0.0.37")
METRICS = ("compute_metrics", "0.0.36")
REGISTRY = "azureml"
# eval_data.py needs only Python; it runs in the environment of the registry components beside it, pinned.
# azureml-assets deleted the model-evaluation environment's definition as deprecated (3bead3311d, 2026-02-26,
# "delete deprecated environments (#4815)"), so no current, non-deprecated version of it exists; model_prediction
# 0.0.37 and compute_metrics 0.0.36 still name .../model-evaluation/labels/latest at @4b41f8cc. The pin is Microsoft's
# own chat-completion evaluation sample's (azureml-examples cli/foundation-models/system/evaluation/chat-completion/
# chat-completion-pipeline.yml @085cd6ea line 16): a version is still usable when archived ("You can still continue
# to reference and use an archived environment in your workflows", learn.microsoft.com/cli/azure/ml/environment,
# az ml environment archive), while an archived version is hidden from the listing a label is resolved against.
ENVIRONMENT = "azureml://registries/azureml/environments/model-evaluation/versions/24"
ENVIRONMENT_RISK = ("model-evaluation/versions/24 (pinned as azureml-examples' chat-completion evaluation sample "
                    "@085cd6ea pins it): azureml-assets deleted this environment's definition as deprecated "
                    "(3bead3311d, 2026-02-26), and model_prediction 0.0.37 and compute_metrics 0.0.36 still run in its "
                    "labels/latest; whether the registry still serves either is not known offline: if it does not, "
                    "the evaluation jobs fail, after the fine-tune has run (docs/evaluation.md)")
CODE_FILE = "eval_data.py"  # the component's code: a standalone script, copied into generated/<experiment>/ at
CODE_SOURCE = PROJECT_DIR / "generator" / "evaldata" / CODE_FILE  # render (what is reviewed is what runs); the
# component's `code:` is that one file, so the snapshot Azure uploads holds nothing else
# Each metric's range. compute_metrics computes them with azureml-metrics, whose rouge.py and bleu.py are its copies of
# Hugging Face evaluate's rouge and bleu scripts (docs/evaluation.md); their metric cards state the ranges:
# huggingface/evaluate metrics/rouge/README.md @0b7ed95a "The ROUGE values are in the range of 0 to 1" and
# metrics/bleu/README.md @00f2e233 "BLEU's output is always a number between 0 and 1".
ROUGE_SCALE = (0.0, 1.0, "huggingface/evaluate metrics/rouge/README.md @0b7ed95a")
BLEU_SCALE = (0.0, 1.0, "huggingface/evaluate metrics/bleu/README.md @00f2e233")
METRIC_SCALES = {**{m: ROUGE_SCALE for m in ("rouge1", "rouge2", "rougeL", "rougeLsum")},
                 **{f"bleu_{n}": BLEU_SCALE for n in (1, 2, 3, 4)}}
COMPONENT_FILE = "component-eval-data.yml"
COMPONENT_NAME = "chat_eval_data"
ROLES = ("base", "tuned")


def component_version() -> str:
    """The data component's version: a digest of its code, so a changed script is a new component version."""
    return "1." + hashlib.sha256(CODE_SOURCE.read_bytes()).hexdigest()[:12]


def registry_component(name_version: tuple[str, str]) -> str:
    """azureml:// URI of a pinned registry component."""
    return f"azureml://registries/{REGISTRY}/components/{name_version[0]}/versions/{name_version[1]}"


def job_name(data: dict[str, Any], role: str) -> str:
    """The evaluation job of `role` (base or tuned): `<experiment>-run<run>-eval-<role>`, and `-a<attempt>` from
    evaluation.attempt 2 on (a finished job is never submitted again: a new attempt evaluates again, alone)."""
    attempt = int(data["evaluation"].get("attempt", 1))
    return f"{naming.job_name(data)}-eval-{role}" + (f"-a{attempt}" if attempt > 1 else "")


def job_file(role: str) -> str:
    """The evaluation job's file in generated/<experiment>/."""
    return f"evaluation-{role}.yml"


def resource_id(role: str) -> str:
    """The evaluation job's id in the manifest."""
    return f"eval-{role}"


def prediction_config(evaluation: dict[str, Any]) -> str:
    """model_prediction's evaluation_config_params: the generation settings as its `generator_config`
    (src/utils.py filter_pipeline_params reads generator_config; src/task_factory/text/chat_completion.py passes it
    as the request's `parameters`). Greedy: only max_new_tokens and do_sample=false; sampling adds temperature and
    top_p."""
    generation = evaluation["generation"]
    config: dict[str, Any] = {"max_new_tokens": generation["max_new_tokens"], "do_sample": generation["do_sample"]}
    if generation["do_sample"]:
        config["temperature"] = generation["temperature"]
        if "top_p" in generation:
            config["top_p"] = generation["top_p"]
    return json.dumps({"generator_config": config}, separators=(",", ":"))


def metrics_config(evaluation: dict[str, Any]) -> str:
    """compute_metrics' evaluation_config_params: the metrics to compute (azureml-examples
    sdk/python/foundation-models/system/evaluation/chat-completion/eval-config.json @085cd6ea uses the same key)."""
    return json.dumps({"metrics": list(evaluation["metrics"])}, separators=(",", ":"))


def component_context(spec: Any, schema_base: str) -> dict[str, Any]:
    """The values of templates/component-eval-data.yml.j2."""
    return {
        "schema": f"{schema_base}/commandComponent.schema.json",
        "name": COMPONENT_NAME,
        "version": component_version(),
        "display_name": "Chat conversations to model_prediction rows",
        "description": "Each conversation cut before its last assistant turn (messages), that turn as the reference "
                       "answer (ground_truth), for model_prediction's chat-completion task",
        "code": f"./{CODE_FILE}",
        "environment": ENVIRONMENT,
        "command": f"python {CODE_FILE} --conversations ${{{{inputs.conversations}}}} "
                   f"--max_samples ${{{{inputs.max_samples}}}} --output ${{{{outputs.test_data}}}}",
    }


def test_data_asset(data: dict[str, Any]) -> str:
    """The data asset evaluation reads (the test split's, or the evaluation split's own)."""
    return f"azureml:{naming.data_asset_name(data, data['evaluation']['test_split'])}:{naming.model_version(data)}"


ANSWER_OUTPUTS = ("predictions", "ground_truth")  # model_prediction's outputs, as the evaluation job's outputs


def answer_paths(job: str) -> dict[str, str]:
    """Where the evaluation job writes its answers and references: `azureml/<job>/<output>/` on the default datastore.

    azure-ai-ml 1.35.2's `jobs.download(job, output_name=…)` finds a pipeline output there (`_get_named_output_uri`
    searches `azureml/<job>/<output>/` and `dataset/<job>/<output>/` on the default datastore when run history's
    answer does not resolve it, which for a uri_file output it does not: its type check compares run history's
    PascalCase `UriFile` with `uri_file`). By default a step's output would land at
    `paths/${{name}}/${{output_name}}` with `${{name}}` the step job's name (MicrosoftDocs/azure-ai-docs
    articles/machine-learning/how-to-manage-inputs-outputs-pipeline.md, "Customize output paths"; the expressions
    `${{default_datastore}}` and `${{name}}` "work for all jobs", reference-yaml-core-syntax.md), where the
    download never looks; so the path names the pipeline job, which render knows."""
    return {output: f"azureml://datastores/${{{{default_datastore}}}}/paths/azureml/{job}/{output}/{output}.jsonl"
            for output in ANSWER_OUTPUTS}


def job_context(spec: Any, role: str, model_uri: str, schema_base: str) -> dict[str, Any]:
    """The values of templates/evaluation-job.yml.j2 for the `role` model at `model_uri`."""
    data = spec.data
    evaluation = data["evaluation"]
    for node, pinned in (("model_prediction", PREDICTION), ("compute_metrics", METRICS)):
        assert load_interface(*pinned) is not None, f"{node}: no interface on file for {pinned}"
    what = "the foundation model (pinned registry version)" if role == "base" else "the fine-tuned, registered model"
    return {
        "schema": f"{schema_base}/pipelineJob.schema.json",
        "name": job_name(data, role),
        "display_name": job_name(data, role),
        "experiment_name": spec.experiment,
        "description": f"Evaluate {what} on the first {evaluation['max_samples']} conversations of "
                       f"{evaluation['test_split']}: {', '.join(evaluation['metrics'])}",
        "compute": f"azureml:{data['compute']['name']}",
        "data_component": f"./{COMPONENT_FILE}",
        "test_data": test_data_asset(data),
        "max_samples": evaluation["max_samples"],
        "prediction_component": registry_component(PREDICTION),
        "metrics_component": registry_component(METRICS),
        "instance_type": evaluation.get("instance_type"),
        "model": model_uri,
        "input_column": INPUT_COLUMN,
        "label_column": LABEL_COLUMN,
        "prediction_config": prediction_config(evaluation),
        "metrics_config": metrics_config(evaluation),
        "output_paths": answer_paths(job_name(data, role)),
        "bindings": {
            "test_data": "${{parent.jobs.eval_data.outputs.test_data}}",
            "ground_truth": "${{parent.jobs.model_prediction.outputs.ground_truth}}",
            "predictions": "${{parent.jobs.model_prediction.outputs.predictions}}",
            "prediction_probabilities": "${{parent.jobs.model_prediction.outputs.prediction_probabilities}}",
            "evaluation_result": "${{parent.outputs.evaluation_result}}",
            "parent_predictions": "${{parent.outputs.predictions}}",
            "parent_ground_truth": "${{parent.outputs.ground_truth}}",
        },
    }


@rule("evaluation")
def _gain_on_the_metrics_scale(data: dict[str, Any], located: Located, root: Path) -> Iterable[Problem]:
    """A gate's min_gain is a difference of two figures on the metric's scale: beyond its width no model passes (or
    none is refused)."""
    gate = data["evaluation"].get("gate")
    if not gate or gate["metric"] not in METRIC_SCALES:
        return
    low, high, source = METRIC_SCALES[gate["metric"]]
    width, gain = high - low, float(gate["min_gain"])
    if -width <= gain <= width:
        return
    what = "no tuned model can pass the gate" if gain > 0 else "the gate can refuse no tuned model"
    hint = f"; for {gain:g} %, write {gain / 100:g}" if 0 < gain <= 100 * width else ""
    yield located.problem(("evaluation", "gate", "min_gain"), f"{gate['metric']} lies between {low:g} and {high:g} "
                                                              f"({source}), so tuned - base lies between {-width:g} "
                                                              f"and {width:g}: with min_gain {gain:g} {what}{hint}")


@rule("evaluation")
def _enough_to_decide(data: dict[str, Any], located: Located, root: Path) -> Iterable[Problem]:
    """A gate on fewer conversations than any paired test could be significant on can never pass (generator/evidence.py
    `minimum_n`): refused before a GPU is billed. Parity compares at most the evaluated conversations."""
    from generator.evidence import minimum_n

    section = data["evaluation"]
    gate = section.get("gate")
    if gate:
        least = minimum_n(float(gate["confidence"]))
        if section["max_samples"] < least:
            yield located.problem(("evaluation", "max_samples"),
                                  f"{section['max_samples']} conversation(s) cannot decide the gate: a paired test on "
                                  f"n conversations has no p below 2 / 2**n, so at {gate['confidence']:.0%} "
                                  f"confidence it needs at least {least}; evaluate more, or drop evaluation.gate")
    if section["parity"] > section["max_samples"]:
        yield located.problem(("evaluation", "parity"), f"parity compares the deployment's answers with the "
                                                        f"evaluation's, which answers {section['max_samples']} "
                                                        f"conversation(s) (max_samples): at most that many")
