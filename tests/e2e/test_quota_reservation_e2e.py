"""Quota pre-flight counts the 20 % upgrade reservation only for SKUs the published SKU list does not exempt
(issue 19): the example needs 2 x 24 vCPUs for the cluster and 1 x 24 for the deployment, 72 in all."""

from __future__ import annotations

from pathlib import Path

from tests.emulator.harness import Emulator
from generator.runner.preflight import deployment_instances
from tests.e2e.test_runner_e2e import run, workspace  # noqa: F401  (the fixture)

SKU_LIST = ("MicrosoftDocs/azure-ai-docs articles/machine-learning/reference-managed-online-endpoints-vm-sku-list.md"
            "@1d987e37")


def test_exactly_72_free_vcpus_pass_preflight(workspace: tuple[Path, Emulator]) -> None:  # noqa: F811
    project, emulator = workspace
    emulator.behaviour.quota["standardNCADSA100v4Family"] = (24, 96)
    applied = run("apply")
    assert "quota: family standardNCADSA100v4Family in region westeurope: need 72, have 72 of 96 vCPUs" in applied.stdout
    assert "not enough quota" not in applied.stderr


def test_71_free_vcpus_refuse_naming_the_sku_list(workspace: tuple[Path, Emulator]) -> None:  # noqa: F811
    project, emulator = workspace
    emulator.behaviour.quota["standardNCADSA100v4Family"] = (25, 96)
    result = run("apply")
    assert result.exit_code == 2
    assert "family standardNCADSA100v4Family in region westeurope: need 72, have 71 of 96 vCPUs" in result.stderr
    assert f"is exempt from the 20 % upgrade reservation (\"Skip 20% Reservation\": Yes in {SKU_LIST})" in result.stderr
    assert emulator.count("PUT") == 0


def test_the_reservation_is_counted_where_the_list_says_so_or_was_not_read() -> None:
    assert deployment_instances("Standard_NC24ads_A100_v4", 10)[0] == 10
    count, why = deployment_instances("Standard_NC4as_T4_v3", 10)
    assert count == 12 and "carries the 20 % upgrade reservation" in why
    count, why = deployment_instances("Standard_NC24rs_v3", 1)
    assert count == 2 and why.startswith("whether deployment size Standard_NC24rs_v3 is exempt from the 20 % upgrade "
                                         "reservation was not read (it is not on " + SKU_LIST)


def test_a_probe_initial_delay_of_0_is_refused_by_the_schema(tmp_path: Path, cli) -> None:
    from tests.conftest import REPO

    (tmp_path / "specs").mkdir()
    text = (REPO / "specs" / "phi4-ultrachat.yaml").read_text().replace("initial_delay: 600", "initial_delay: 0")
    (tmp_path / "specs" / "x.yaml").write_text(text)
    result = cli("render", root=tmp_path)
    assert result.exit_code == 2 and "deployment.liveness_probe.initial_delay" in result.stderr
    assert "deployment.liveness_probe.initial_delay: must be at least 1, got 0" in result.stderr
