"""The registry catalog offline: its data and sources, the checks at render, label pinning, model defaults."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import yaml

from generator import catalog, clock
from generator.catalog import SkuSpec, checks
from generator.catalog.rest import LEGACY_TAGS, SHAPES, SYSTEM_METADATA, from_rest, to_rest
from generator.emulator.quota import vm_sizes_body
from generator.emulator.workspace import registry_models
from tests.conftest import EXAMPLE_SPEC


def _render(project: Path, cli, text: str) -> tuple[int, str, str]:
    (project / "specs" / EXAMPLE_SPEC.name).write_text(text)
    result = cli("render", root=project)
    return result.exit_code, result.stdout, result.stderr


def test_every_model_and_size_names_its_source() -> None:
    for model in catalog.models():
        assert model.source.get("repository") == "Azure/azureml-assets", model.name
        assert model.source["path"].startswith("assets/models/system/") and len(model.source["commit"]) == 40
    for size in catalog.vm_sizes():
        assert size.source.startswith("MicrosoftDocs/"), size.name
        assert (size.retired is None) == (size.retirement_source is None), size.name


def test_catalog_file_is_written_deterministically() -> None:
    text = catalog.MODELS_FILE.read_text(encoding="utf-8")
    assert catalog.dump_models(catalog.load_models()) == text


def test_the_local_workspace_serves_nothing_the_catalog_lacks() -> None:
    served = registry_models()
    assert set(served) == {m.name for m in catalog.models()}
    for name, entry in served.items():
        assert entry["versions"] == [catalog.model("azureml", name).version]
    for row in vm_sizes_body():
        known = catalog.vm_size(row["name"])
        assert known is not None and (row["vCPUs"], row["gpus"]) == (known.vcpus, known.gpus)
        assert row.get("memoryGB") == known.memory_gib and row["family"] == known.quota_family


@pytest.mark.parametrize("shape", SHAPES)
def test_both_registry_shapes_read_back_as_the_catalog_facts(shape: str) -> None:
    for facts in catalog.models():
        body = {**to_rest(facts, shape), "isArchived": facts.archived}
        live = from_rest(facts.registry, facts.name, facts.version, body, facts.source)
        assert live.shapes == (shape,)
        expected = facts if shape == SYSTEM_METADATA else dataclasses.replace(facts, inference_tasks=(),
                                                                              text_context_window=None)
        assert live.facts == expected, facts.name


def test_legacy_tags_are_the_python_literal_strings_the_seed_reads() -> None:
    import ast

    rest = to_rest(catalog.model("azureml", "Phi-3-mini-4k-instruct"), LEGACY_TAGS)
    assert ast.literal_eval(rest["tags"]["finetune_compute_allow_list"])[0] == "Standard_NC24ads_A100_v4"
    assert rest["tags"]["FinetuneRetirementDate"] == "2025-08-30"
    assert rest["properties"]["inference-min-sku-spec"] == "6|1|112|64"


def test_the_clock_is_pinned_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert clock.today() == dt.date(2026, 11, 25)
    monkeypatch.setenv("AZML_TODAY", "2025-07-01")
    assert clock.today() == dt.date(2025, 7, 1)
    monkeypatch.setenv("AZML_TODAY", "yesterday")
    with pytest.raises(clock.ClockError, match="AZML_TODAY='yesterday' is not a date; use YYYY-MM-DD"):
        clock.today()


def test_a_deprecation_announced_but_not_yet_due_is_a_warning(project: Path, cli,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZML_TODAY", "2025-07-01")
    text = EXAMPLE_SPEC.read_text().replace("name: Phi-4\n", "name: Phi-3-mini-4k-instruct\n")
    code, _, stderr = _render(project, cli, text)
    assert code == 2  # archived all the same: the registry lists no version of it
    assert ("foundation_model.name: Phi-3-mini-4k-instruct is archived in registry azureml (no version is listed); "
            "live chat-completion models in the catalog: Phi-3-small-8k-instruct, Phi-4") in stderr
    text = EXAMPLE_SPEC.read_text().replace("name: Phi-4\n", "name: Phi-3-small-8k-instruct\n").replace(
        "Standard_NC24ads_A100_v4", "Standard_NC96ads_A100_v4")
    code, _, stderr = _render(project, cli, text)
    assert code == 0, stderr
    assert ("foundation_model.name: warning: fine-tuning of Phi-3-small-8k-instruct is being retired (deprecated "
            "from 2025-06-30, retires on 2025-08-30); live chat-completion models in the catalog: Phi-4") in stderr
    monkeypatch.setenv("AZML_TODAY", "2025-08-30")
    code, _, stderr = _render(project, cli, text)
    assert code == 2
    assert ("fine-tuning of Phi-3-small-8k-instruct was retired on 2025-08-30; its inference was retired on "
            "2025-08-30; live chat-completion models in the catalog: Phi-4") in stderr


def test_a_model_the_catalog_does_not_know_is_a_warning_with_a_version(project: Path, cli) -> None:
    text = EXAMPLE_SPEC.read_text().replace("name: Phi-4\n", "name: My-Own-Llama\n").replace(
        "label: latest", 'version: "3"')
    code, _, stderr = _render(project, cli, text)
    assert code == 0, stderr
    assert ("foundation_model.name: warning: My-Own-Llama is not in the catalog (generator/catalog/models.yml): it is "
            "not checked offline; apply's pre-flight checks it against the live registry") in stderr
    job = (project / "generated" / "phi4-ultrachat" / "pipeline-job.yml").read_text()
    assert "path: azureml://registries/azureml/models/My-Own-Llama/versions/3\n" in job


def test_below_the_minimum_spec_is_refused() -> None:
    phi4 = catalog.model("azureml", "Phi-4")
    bigger = dataclasses.replace(phi4, finetune=dataclasses.replace(phi4.finetune, min_sku_spec="48|2|440|128"))
    [finding] = checks.finetune_size(bigger, "Standard_NC24ads_A100_v4")
    assert finding.field == ("compute", "size")
    assert finding.message == ("Standard_NC24ads_A100_v4 is below Phi-4's fine-tune minimum (48 vCPUs, 2 GPU(s), "
                               "440 GiB memory, 128 GiB disk): 24 vCPUs < 48, 1 GPU(s) < 2, 220 GiB memory < 440, "
                               "64 GiB disk < 128")
    assert SkuSpec.parse("24|1|220") is None and SkuSpec.parse(None) is None


def test_a_retired_deployment_size_is_refused_with_its_date(project: Path, cli) -> None:
    text = EXAMPLE_SPEC.read_text().replace("instance_type: Standard_NC24ads_A100_v4", "instance_type: Standard_NC6s_v3")
    code, _, stderr = _render(project, cli, text)
    assert code == 2
    assert ("deployment.instance_type: Standard_NC6s_v3 was retired on 2025-09-30; it still runs in Jio India West "
            "and China North 3 until 2027-06-30 only "
            "(MicrosoftDocs/azure-compute-docs articles/virtual-machines/ncv3-retirement.md@11277ad7)") in stderr


def test_a_size_typo_gets_did_you_mean(project: Path, cli) -> None:
    text = EXAMPLE_SPEC.read_text().replace("size: Standard_NC24ads_A100_v4", "size: Standard_NC24ads_A100_v5")
    code, _, stderr = _render(project, cli, text)
    assert code == 2
    assert "unknown VM size 'Standard_NC24ads_A100_v5'; did you mean Standard_NC24ads_A100_v4?" in stderr


def test_label_is_pinned_at_render_like_a_lock_file(project: Path, cli) -> None:
    code, _, stderr = _render(project, cli, EXAMPLE_SPEC.read_text())
    assert code == 0, stderr
    out = project / "generated" / "phi4-ultrachat"
    job = (out / "pipeline-job.yml").read_text()
    assert "path: azureml://registries/azureml/models/Phi-4/versions/8\n" in job and "/labels/" not in job
    manifest = yaml.safe_load((out / "manifest.yml").read_text())
    assert manifest["foundation_model"] == "azureml://registries/azureml/models/Phi-4/versions/8"
    assert manifest["foundation_model_label"] == "latest"
    assert manifest["foundation_model_pin"] == ("label latest -> version 8 (catalog: Azure/azureml-assets "
                                                "assets/models/system/Phi-4/spec.yaml @4b41f8cc (2026-07-23))")


def test_model_defaults_fill_only_what_the_spec_leaves_unset(project: Path, cli) -> None:
    text = EXAMPLE_SPEC.read_text().replace("    apply_deepspeed: true\n",
                                            "    apply_deepspeed: true\n    logging_steps: 50\n")
    code, stdout, stderr = _render(project, cli, text)
    assert code == 0, stderr
    assert ("phi4-ultrachat: from Phi-4's model_specific_defaults: deepspeed_stage=3, apply_ort=false, precision=16, "
            "ignore_mismatched_sizes=false, gradient_accumulation_steps=1, logging_strategy=steps, "
            "save_total_limit=1 (the spec's own values win: apply_deepspeed, apply_lora, num_train_epochs, "
            "per_device_train_batch_size, per_device_eval_batch_size, learning_rate, lr_scheduler_type, "
            "logging_steps)") in stdout
    out = project / "generated" / "phi4-ultrachat"
    inputs = yaml.safe_load((out / "pipeline-job.yml").read_text())["jobs"]["chat_completion_pipeline"]["inputs"]
    assert inputs["logging_steps"] == 50 and inputs["num_train_epochs"] == 3  # the user's, not the model's 10 and 1
    assert inputs["deepspeed_stage"] == "3" and inputs["precision"] == "16"
    manifest = yaml.safe_load((out / "manifest.yml").read_text())
    assert manifest["parameters_from_model"]["deepspeed_stage"] == 3 and "logging_steps" not in \
        manifest["parameters_from_model"]


def test_learning_rate_outside_the_models_range_is_a_warning() -> None:
    from generator.catalog.defaults import apply_model_defaults
    from generator.component import load_interface

    facts = catalog.model("azureml", "Phi-3.5-mini-instruct")  # publishes learning_rate_min/max 2e-6..2e-4
    interface = load_interface("chat_completion_pipeline", "0.0.82")
    assert apply_model_defaults(facts, interface, {"learning_rate": 5.0e-6}).findings == []
    result = apply_model_defaults(facts, interface, {"learning_rate": 1.0e-3})
    [finding] = result.findings
    assert finding.field == ("finetune", "parameters", "learning_rate") and finding.severity == "warning"
    assert finding.message == ("learning_rate 0.001 is outside Phi-3.5-mini-instruct's recommended range 2e-6..2e-4 "
                               "(model_specific_defaults learning_rate_min/max)")
    assert "learning_rate" in result.kept and "learning_rate_min" not in result.applied
    assert result.applied["max_seq_length"] == 16384 and result.applied["deepspeed_stage"] == 2


def test_catalog_models_lists_live_models_first() -> None:
    from click.testing import CliRunner

    from generator.cli import main

    result = CliRunner().invoke(main, ["catalog", "models"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "10 chat-completion model(s) in the catalog, 1 fine-tunable on 2026-11-25"
    assert lines[2] == "Phi-4  version 8  live"
    assert "Phi-3-mini-4k-instruct  version 15  retired on 2025-08-30 (archived)" in lines
    assert "  inference min    6 vCPUs, 1 GPU(s), 112 GiB memory, 64 GiB disk" in lines


def test_nc24rs_v3_is_retired_with_ncv3_and_its_regional_extensions_end_in_turn() -> None:
    field = ("deployment", "instance_type")
    assert checks.retired_size("Standard_NC24rs_v3", dt.date(2025, 9, 29), field) == []
    [on_the_day] = checks.retired_size("Standard_NC24rs_v3", dt.date(2026, 6, 30), field)
    assert on_the_day.message.startswith(
        "Standard_NC24rs_v3 was retired on 2025-09-30; it still runs in US Gov Virginia and US Gov Arizona until "
        "2026-06-30; Jio India West and China North 3 until 2027-06-30 only (MicrosoftDocs/azure-compute-docs "
        "articles/virtual-machines/ncv3-retirement.md@11277ad7)")
    [day_after] = checks.retired_size("Standard_NC24rs_v3", dt.date(2026, 7, 1), field)
    assert "US Gov" not in day_after.message and "Jio India West and China North 3 until 2027-06-30" in day_after.message
    [after_all] = checks.retired_size("Standard_NC24rs_v3", dt.date(2027, 7, 1), field)
    assert "still runs" not in after_all.message


RETIRED_LIST = "sizes/retirement/retired-sizes-list.md@0bdc5d34"


@pytest.mark.parametrize(("size", "date", "page"), [
    ("Standard_DS3_v2", "2028-05-01", RETIRED_LIST), ("Standard_D12_v2", "2028-05-01", RETIRED_LIST),
    ("Standard_D13_v2", "2028-05-01", RETIRED_LIST), ("Standard_F4s_v2", "2028-11-15", RETIRED_LIST),
    ("Standard_E4s_v3", "2029-11-15", "sizes/memory-optimized/ev3-esv3-series.md@680de971")])
def test_announced_retirements_warn_with_their_date_until_it_comes(size: str, date: str, page: str) -> None:
    field = ("compute", "size")
    [warning] = checks.announced_retirement(size, dt.date(2026, 11, 30), field)
    assert warning.severity == checks.WARNING
    assert warning.message.startswith(f"{size} is announced for retirement on {date} (MicrosoftDocs/azure-compute-docs "
                                      f"articles/virtual-machines/{page})")
    retired_on = dt.date.fromisoformat(date)
    assert checks.announced_retirement(size, retired_on, field) == []  # from that day on it is refused instead
    assert checks.retired_size(size, retired_on, field)


# Read from the managed online endpoints SKU list (azure-ai-docs reference-managed-online-endpoints-vm-sku-list.md
# @1d987e37): its "Family Name" and "Skip 20% Reservation" columns for the sizes on Phi-4's lists.
SKU_LIST_ROWS = {
    "Standard_NC24ads_A100_v4": ("standardNCADSA100v4Family", True),
    "Standard_NC40ads_H100_v5": ("standardNCADSH100v5Family", True),
    "Standard_ND96isr_H100_v5": ("standardNDv5H100Family", True),
    "Standard_ND96asr_v4": ("standardNDASv4_A100Family", True),
    "Standard_ND96amsr_A100_v4": ("standardNDAMSv4_A100Family", True),
    "Standard_DS3_v2": ("standardDSv2Family", False),
}


@pytest.mark.parametrize("size", sorted(SKU_LIST_ROWS))
def test_quota_family_and_reservation_are_the_sku_lists(size: str) -> None:
    known = catalog.vm_size(size)
    assert (known.quota_family, known.skip_reservation) == SKU_LIST_ROWS[size]
    assert known.sku_list.endswith("reference-managed-online-endpoints-vm-sku-list.md@1d987e37")
