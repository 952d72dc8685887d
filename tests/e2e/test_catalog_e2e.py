"""Pre-flight and `catalog refresh` against the local workspace's registry, with the real MLClient."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import yaml
from click.testing import CliRunner

from generator import catalog
from generator.catalog.rest import LEGACY_TAGS
from generator.cli import main
from generator.emulator.workspace import registry_models
from tests.emulator.harness import Emulator, EmulatorCredential
from tests.e2e.test_runner_e2e import run, workspace  # noqa: F401 - the fixture is used by name

JOB_URI = "azureml://registries/azureml/models/Phi-4/versions/8"


def _job_model_uri(emulator: Emulator) -> str:
    job = emulator.resources[emulator.workspace_path.lower() + "/jobs/phi4-ultrachat-run1"]["properties"]
    return job["jobs"]["chat_completion_pipeline"]["inputs"]["mlflow_model_path"]["uri"]


def test_preflight_reads_the_legacy_tag_shape(workspace: tuple[Path, Emulator]) -> None:
    _, emulator = workspace
    emulator.behaviour.registry_models = registry_models(LEGACY_TAGS)
    result = run("apply")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "the registry publishes its facts as legacy tags" in result.stdout
    assert "are on Phi-4's lists and meet its minimum specs" in result.stdout
    assert "drift from the catalog" not in result.stdout


def test_registry_ahead_of_the_pin_warns_and_runs_the_pinned_version(workspace: tuple[Path, Emulator]) -> None:
    _, emulator = workspace
    phi4 = emulator.behaviour.registry_models["Phi-4"]
    phi4["versions"] = ["8", "9"]
    phi4["system_metadata"]["supportedComputes"]["inferenceComputes"].append("Standard_NC24s_v3")
    result = run("apply")
    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.stdout
    assert ("warning: registry azureml now resolves Phi-4 label latest to version 9; render pinned version 8 "
            "(label latest -> version 8 (catalog: ") in out
    assert "run `python -m generator catalog refresh --model Phi-4`, then `make render` and review the diff" in out
    assert "drift from the catalog: inference sizes: catalog [" in out and "'Standard_NC24s_v3'] " not in out
    assert "'Standard_NC80adis_H100_v5', 'Standard_NC24s_v3']" in out
    assert _job_model_uri(emulator) == JOB_URI  # never switched silently


def test_archived_in_the_registry_stops_apply_with_exit_2(workspace: tuple[Path, Emulator]) -> None:
    _, emulator = workspace
    emulator.behaviour.registry_models["Phi-4"]["archived"] = True
    result = run("apply")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert ("error: registry azureml lists no active version of Phi-4 (Asset Phi-4 does not exist in registry "
            "azureml.): the registry does not hold it, or the model is archived or withdrawn") in result.stderr
    assert "Traceback" not in result.stderr and emulator.count("PUT") == 0


def test_a_model_the_registry_does_not_hold_stops_apply_with_exit_2(workspace: tuple[Path, Emulator]) -> None:
    _, emulator = workspace
    del emulator.behaviour.registry_models["Phi-4"]  # Azure answers its latest-version list with no version
    result = run("apply")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "error: registry azureml lists no active version of Phi-4" in result.stderr
    assert "the registry does not hold it" in result.stderr
    assert "Traceback" not in result.stderr and emulator.count("PUT") == 0


def test_registry_facts_that_refuse_the_sizes_stop_apply_before_any_put(workspace: tuple[Path, Emulator]) -> None:
    _, emulator = workspace
    computes = emulator.behaviour.registry_models["Phi-4"]["system_metadata"]["supportedComputes"]
    computes["finetuneComputes"] = ["Standard_NC96ads_A100_v4"]
    result = run("apply")
    assert result.exit_code == 2
    assert ("error: the registry's facts refuse this experiment:\n  compute.size: Standard_NC24ads_A100_v4 is not on "
            "Phi-4's fine-tune list: Standard_NC96ads_A100_v4") in result.stderr
    assert "drift from the catalog: finetune sizes: catalog [" in result.stdout
    assert emulator.count("PUT") == 0


def test_a_registry_with_neither_shape_is_said_plainly(workspace: tuple[Path, Emulator]) -> None:
    _, emulator = workspace
    emulator.behaviour.registry_models["Phi-4"].update(tags={}, properties={}, system_metadata=None)
    result = run("apply")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "the registry publishes its facts as neither system metadata nor legacy tags" in result.stdout
    assert ("warning: registry azureml publishes no fine-tune or inference size list for Phi-4 8: compute.size and "
            "deployment.instance_type are not checked against the model") in result.stdout


def test_the_sdk_drops_system_metadata_so_the_runner_reads_the_raw_answer(workspace: tuple[Path, Emulator]) -> None:
    import json

    from generator.runner.compat import registry_model_properties
    from generator.runner.connection import registry_client, workspace_from_config

    project, _ = workspace
    client = registry_client(EmulatorCredential(), workspace_from_config(json.loads((project / "config.json").read_text())),
                             "azureml")
    assert client.models.get("Phi-4", version="8")._system_metadata is None  # azure-ai-ml 1.35.2
    properties = registry_model_properties(client, "Phi-4", "8")
    assert properties["system_metadata"]["SKU"]["finetuneMinSkuSpec"] == "24|1|220|64"


def test_catalog_refresh_rewrites_from_the_registry_and_prints_the_diff(workspace: tuple[Path, Emulator],
                                                                        tmp_path: Path) -> None:
    _, emulator = workspace
    target = tmp_path / "models.yml"
    shutil.copy(catalog.MODELS_FILE, target)
    phi4 = emulator.behaviour.registry_models["Phi-4"]
    phi4["versions"] = ["8", "9"]
    phi4["system_metadata"] = copy.deepcopy(phi4["system_metadata"])
    phi4["system_metadata"]["deprecation"] = {"finetuneDeprecationDate": "2027-01-31T00:00:00.000000Z"}
    args = ["catalog", "refresh", "--model", "Phi-4", "--model", "Phi-3-mini-4k-instruct", "--file", str(target)]
    result = CliRunner().invoke(main, args, obj={"credential": EmulatorCredential()}, catch_exceptions=False)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "-  version: '8'\n+  version: '9'\n" in result.stdout
    assert "-    deprecation_date: null\n+    deprecation_date: '2027-01-31'\n" in result.stdout
    assert result.stdout.rstrip().endswith("models.yml: rewritten from registry azureml (2026-11-25); review the diff, "
                                           "then `make render`")
    assert ("Phi-3-mini-4k-instruct: registry azureml lists no active version: Asset Phi-3-mini-4k-instruct does not "
            "exist in registry azureml. (kept the catalog's entry)") in result.stderr
    written = {m.name: m for m in catalog.load_models(target)}
    assert written["Phi-4"].version == "9" and written["Phi-4"].source == {"registry": "azureml", "date": "2026-11-25"}
    assert written["Phi-3-mini-4k-instruct"] == catalog.model("azureml", "Phi-3-mini-4k-instruct")
    assert yaml.safe_load(target.read_text())["models"][0]["name"] == "Llama-2-7b-chat"  # order kept
    again = CliRunner().invoke(main, args, obj={"credential": EmulatorCredential()}, catch_exceptions=False)
    assert again.stdout.splitlines()[-1] == "models.yml: unchanged"
