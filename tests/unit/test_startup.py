"""Will it start (issue 30): finetune.py's runtime-only rules, multi-node and memory as render rules, the multi-node
output mode, and quota pre-flight counting every node."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from generator import startup
from generator.runner.output import Printer
from generator.runner.preflight import UsageRow, _node_count, finetune_nodes

ZERO3_MESSAGE = ("is a ZeRO-3 config without \"stage3_gather_16bit_weights_on_model_save\": true: the fine-tune fails "
                 "with \"stage3_gather_16bit_weights_on_model_save should be `true` in deepspeed stage 3 config.\"")


def _config(tmp_path: Path, body: object) -> Path:
    path = tmp_path / "ds.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


def test_a_custom_zero3_config_must_gather_16_bit_weights_on_save(tmp_path: Path) -> None:
    found, stage = startup._custom_config(_config(tmp_path, {"zero_optimization": {"stage": 3}}), "ds.json", "2")
    assert stage == "3" and len(found) == 1 and found[0][0] == ("finetune", "parameters", "deepspeed")
    assert found[0][1].startswith(f"ds.json {ZERO3_MESSAGE}") and "finetune.py @4b41f8cc lines 742-756" in found[0][1]
    good = {"zero_optimization": {"stage": 3, "stage3_gather_16bit_weights_on_model_save": True}}
    assert startup._custom_config(_config(tmp_path, good), "ds.json", "2") == ([], "3")


def test_a_custom_config_without_a_stage_or_json_fails_as_finetune_py_would(tmp_path: Path) -> None:
    found, _ = startup._custom_config(_config(tmp_path, {"zero_optimization": {}}), "ds.json", "2")
    assert "has no zero_optimization.stage" in found[0][1] and "lines 628-643" in found[0][1]
    found, _ = startup._custom_config(_config(tmp_path, "{not json"), "ds.json", "2")
    assert "is not a JSON object" in found[0][1]
    assert startup._custom_config(_config(tmp_path, {"zero_optimization": {"stage": 2}}), "ds.json", "3") == ([], "2")


def test_zero3_model_type_rules_warn_for_a_model_whose_type_is_unknown_and_never_refuse() -> None:
    params = {"apply_deepspeed": "true", "deepspeed_stage": "3", "apply_lora": "true"}
    found = startup._runtime_rules(params, None, Path("."))
    assert [(field[-1], severity) for field, _, severity in found] == [("apply_lora", "warning")]
    assert ("ZeRO-3 fails for model type mixformer-sequential" in found[0][1]
            and "llama, falcon, mistral, mixtral, phi_longrope, phi3mini, llama4" in found[0][1])
    phi4 = SimpleNamespace(name="Phi-4", model_specific_defaults={"deepspeed_stage": 3, "apply_lora": "true"})
    assert startup._runtime_rules(params, phi4, Path(".")) == []  # Microsoft's own default for the model


def test_a_sweep_reports_a_problem_of_one_point_with_the_point(project: Path, cli) -> None:
    spec = project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text() + "sweep:\n  parameters:\n    apply_lora: [true, false]\n")
    result = cli("render", root=project)
    assert result.exit_code == 2
    assert "compute.size: sweep point(s) apply_lora=false: a full fine-tune of Phi-4" in result.stderr
    assert "apply_lora=true" not in result.stderr


def test_two_nodes_mount_both_outputs_and_the_job_loads_with_the_sdk(project: Path, cli) -> None:
    from azure.ai.ml import load_job

    spec = project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("    apply_deepspeed: true\n",
                                             "    apply_deepspeed: true\n    num_nodes_finetune: 2\n"))
    assert cli("render", root=project).exit_code == 0
    job = load_job(project / "generated" / "phi4-ultrachat" / "pipeline-job.yml")
    node = job._to_rest_object().as_dict()["properties"]["jobs"]["chat_completion_pipeline"]
    assert node["outputs"]["pytorch_model_folder"]["mode"] == "ReadWriteMount"
    assert node["outputs"]["mlflow_model_folder"] == {"value": "${{parent.outputs.trained_model}}", "type": "literal",
                                                      "mode": "ReadWriteMount"}
    assert finetune_nodes(__import__("yaml").safe_load(
        (project / "generated" / "phi4-ultrachat" / "pipeline-job.yml").read_text())) == 2


def test_one_node_keeps_the_upload_binding(project: Path, cli) -> None:
    assert cli("render", root=project).exit_code == 0
    text = (project / "generated" / "phi4-ultrachat" / "pipeline-job.yml").read_text()
    assert "rw_mount" not in text and 'mlflow_model_folder: "${{parent.outputs.trained_model}}"' in text


def _row(limit: int, current: int) -> UsageRow:
    return UsageRow("Microsoft.MachineLearningServices/vmFamily/usages", "standardNCADSA100v4Family",
                    "Standard NCADSA100v4 Family Cluster Dedicated vCPUs", current, limit)


NC24 = SimpleNamespace(name="Standard_NC24ads_A100_v4", family="standardNCADSA100v4Family", v_cp_us=24)


@pytest.mark.parametrize("limit, current, counted, refused, warned", [
    (72, 0, False, True, False),   # 4 nodes x 24 = 96 > the limit of 72: can never start
    (96, 24, False, False, True),  # fits the limit; 72 free on an existing cluster: it waits
    (96, 24, True, False, False),  # a new cluster's max_instances are counted by the family check already
    (96, 0, False, False, False),
])
def test_quota_counts_every_node_of_the_fine_tune(limit: int, current: int, counted: bool, refused: bool,
                                                  warned: bool) -> None:
    printed = io.StringIO()
    short = _node_count([_row(limit, current)], NC24, "dedicated", 4, counted, "in region westeurope",
                        Printer(printed))
    assert bool(short) == refused
    if refused:
        assert short[0].startswith("the fine-tune runs on 4 node(s) of Standard_NC24ads_A100_v4 at once: 96 vCPUs of "
                                   f"family standardNCADSA100v4Family, over the family's limit of {limit}")
    assert ("[preflight] warning: quota: the fine-tune runs on 4 node(s)" in printed.getvalue()) == warned
