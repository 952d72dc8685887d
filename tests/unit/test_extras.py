"""A missing optional extra is named with the make target that installs it, before any work and without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, TESTS


def run_without(blocked: str, *args: str, cwd: Path = REPO,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m generator ARGS` as if the packages in `blocked` were not installed."""
    env = {**os.environ, **(env or {}), "PYTHONPATH": f"{TESTS / 'support'}{os.pathsep}{REPO}",
           "BLOCK_MODULES": blocked}
    return subprocess.run([sys.executable, "-m", "generator", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("blocked, args, group, target", [
    ("matplotlib", ["data", "stats", "specs/local-demo.yaml"], "data extra (requirements-data.txt)", "make data"),
    ("transformers", ["data", "stats", "specs/local-demo.yaml", "--tokenizer", "x"],
     "local extra (requirements-local.txt)", "make demo"),
    ("azure", ["plan", "specs/phi4-ultrachat.yaml", "--subscription", "s", "--resource-group", "r", "--workspace", "w"],
     "core requirements (requirements.txt)", "make render"),
])
def test_a_missing_package_names_its_extra_and_make_target(blocked: str, args: list[str], group: str,
                                                           target: str) -> None:
    result = run_without(blocked, *args)
    assert result.returncode == 2
    assert result.stdout == ""  # nothing printed before the refusal (no table, then a traceback)
    assert result.stderr == (f"error: the {blocked} package is missing: it comes with the {group}. `{target}` "
                             f"installs it into .venv (or run `.venv/bin/pip install -r {group.split('(')[1][:-1]}`); "
                             f"then run the command with .venv/bin/python (this one ran with {sys.executable})\n")


def test_debug_shows_the_import_error_itself() -> None:
    result = run_without("matplotlib", "--debug", "data", "stats", "specs/local-demo.yaml")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ModuleNotFoundError: No module named 'matplotlib'" in result.stderr


def _extra_refusal(step: str, module: str, extra: str, requirements: str, target: str) -> str:
    return (f"error: {step}, which needs the {module} package of the {extra} extra ({requirements}): `{target}` installs "
            f"it into .venv (or run `.venv/bin/pip install -r {requirements}`); nothing was started or created (this "
            f"ran with {sys.executable})\n")


@pytest.mark.parametrize("command", ["apply", "plan"])
def test_without_the_azure_extra_plan_and_apply_stop_before_connecting(command: str) -> None:
    """Issue 30: the evaluation gate reads MLflow metrics; without azureml-mlflow the flow would train, evaluate and
    deploy, then stop at the gate. The workspace named here does not exist: reaching it would fail differently."""
    result = run_without("mlflow,azureml", command, "specs/phi4-ultrachat.yaml", "--subscription", "s",
                         "--resource-group", "r", "--workspace", "w")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == _extra_refusal("the evaluation gate reads both evaluations' metrics from the workspace's "
                                           "MLflow", "mlflow", "azure", "requirements-azure.txt", "make apply")


def test_which_extras_a_manifest_needs_is_a_function_of_its_kinds_and_the_target() -> None:
    from generator.extras import AZURE, LOCAL, STEP_NEEDS

    assert {kind for target, kind in STEP_NEEDS if target == "azure"} == {"evaluation_gate", "select",
                                                                          "endpoint_evaluation"}
    assert {extra for _, extra, _ in STEP_NEEDS.values()} == {AZURE, LOCAL}
    kinds = ["compute", "data", "online_endpoint", "pipeline_job", "model", "online_deployment"]
    from generator.extras import missing_for

    assert missing_for(kinds, "azure") == []  # a manifest without evaluation or sweep needs the core only


def test_the_makefile_installs_the_azure_extra_for_plan_and_apply() -> None:
    rules = (REPO / "Makefile").read_text()
    assert "\nplan apply: $(AZURE)\n" in rules and "\nmetrics: $(AZURE)\n" in rules


def test_without_the_local_extra_the_local_target_stops_before_starting_its_workspace(tmp_path: Path) -> None:
    result = run_without("torch", "plan", "specs/local-demo.yaml", "--target", "local",
                         env={"AZML_LOCAL_WORKSPACE": str(tmp_path / "ws")})
    assert result.returncode == 2 and result.stdout == ""
    refusal = [line for line in result.stderr.splitlines() if ": warning: " not in line]  # a prepared data/ warns
    assert refusal == _extra_refusal("the local workspace fine-tunes on this machine", "torch", "local",
                                     "requirements-local.txt", "make demo").splitlines()
    assert not (tmp_path / "ws").exists()
