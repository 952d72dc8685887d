"""README's exit-code table is true: one test per row, and plan and apply exit alike for the same situation.

The runner commands run in-process against the fake workspace of test_plan.py (no HTTP): `open_session` is the one
seam replaced, so everything after it (planning, the budget, the refusal, the error handler) is the product's.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result

from generator.cli import main
from generator.errors import ExitCode
from generator.runner.cost import CostReport
from generator.runner.evaluation_figures import EvaluationGateFailed
from generator.runner.azure_target import AzureTarget
from generator.runner.experiment import load_experiment
from generator.runner.output import Printer
from generator.runner.steps.common import Context
from generator.spec import load_specs
from tests.conftest import EXAMPLE_SPEC, REPO
from tests.unit.test_plan import FakeWorkspace, _rest_job

SPEC = "specs/phi4-ultrachat.yaml"


def _table() -> dict[int, str]:
    """README's exit-code table: code -> meaning."""
    text = (REPO / "README.md").read_text(encoding="utf-8").split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.+) \|$", text, re.M)}


def test_the_readme_table_lists_every_exit_code_once() -> None:
    assert sorted(_table()) == sorted({int(code) for code in ExitCode})


class FakeSession(SimpleNamespace):
    """What the runner commands read of a session: the committed example planned against a fake workspace."""

    def context(self, **kwargs: Any) -> Context:
        return Context(ml=self.ml, experiment=self.experiment, out=Printer(), endpoint_name=self.endpoint_name,
                       target=self.target, **kwargs)


def _session() -> FakeSession:
    spec = load_specs(REPO, [EXAMPLE_SPEC], check_data=False)[0][0]
    experiment = load_experiment(REPO / "generated" / spec.experiment)
    experiment.source_spec = spec
    endpoint = experiment.by_kind("online_endpoint").name
    identity = {"kind": "azure", "subscription_id": "s", "resource_group": "rg", "workspace": "ws", "region": None,
                "endpoint": endpoint}
    return FakeSession(experiment=experiment, target=AzureTarget(), ml=FakeWorkspace(), identity=lambda: identity,
                       endpoint_name=endpoint, root=REPO, region=None, offline="",
                       no_price="the workspace did not say its region")


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> FakeSession:
    """The fake session every runner command of the test gets; the cost report is an empty one unless a test says."""
    made = _session()
    monkeypatch.setattr("generator.cli.runner.open_session", lambda *args, **kwargs: made)
    monkeypatch.setattr("generator.runner.cost.session_costs", lambda session: CostReport())
    return made


def run(*args: str) -> Result:
    return CliRunner().invoke(main, [*args], catch_exceptions=False)


def _plan_and_apply(*extra: str) -> tuple[Result, Result]:
    return run("plan", SPEC, *extra), run("apply", SPEC, "--yes")


# Row 0: done (plan: nothing to change).

def test_row_0_a_plan_and_a_render_that_succeed_exit_0(session: FakeSession, tmp_path: Path) -> None:
    plan = run("plan", SPEC)  # it creates everything: without --detailed-exitcode, changes are no error
    assert plan.exit_code == ExitCode.OK, plan.stdout + plan.stderr
    (tmp_path / "specs").mkdir()
    shutil.copy(EXAMPLE_SPEC, tmp_path / "specs")
    assert run("render", "--root", str(tmp_path)).exit_code == ExitCode.OK


# Row 1: an error or a refusal, the same code from plan and apply.

def test_row_1_a_stale_generated_folder_exits_1_from_plan_and_apply(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "specs").mkdir()
    shutil.copy(EXAMPLE_SPEC, tmp_path / "specs")
    assert run("render", "--root", str(tmp_path)).exit_code == 0
    spec = tmp_path / SPEC
    spec.write_text(spec.read_text(encoding="utf-8").replace("max_instances: 2", "max_instances: 1"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    plan, apply = run("plan", SPEC, "--root", str(tmp_path)), run("apply", SPEC, "--root", str(tmp_path), "--yes")
    for result in (plan, apply):
        assert result.exit_code == ExitCode.ERROR and "run `make render` first" in result.stderr, result.stderr


def test_row_1_a_refused_plan_step_exits_1_from_plan_and_apply(session: FakeSession) -> None:
    job = session.experiment.by_kind("pipeline_job")
    session.ml.jobs.items[job.name] = SimpleNamespace(status="Completed", name=job.name,
                                                      _to_rest_object=lambda: _rest_job(job, {"learning_rate": "1"}))
    plan, apply = _plan_and_apply()
    assert plan.exit_code == apply.exit_code == ExitCode.ERROR
    assert "error: apply would refuse pipeline-job (see above)" in plan.stderr
    assert "apply refuses pipeline-job phi4-ultrachat-run1: learning_rate" in apply.stderr
    assert run("plan", SPEC, "--detailed-exitcode").exit_code == ExitCode.ERROR


def test_row_1_a_plan_over_budget_exits_1_from_plan_and_apply(session: FakeSession,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    session.experiment.source_spec.data["budget"] = {"max_usd": 50}
    monkeypatch.setattr("generator.runner.cost.session_costs", lambda session: CostReport(upper_usd=80.0))
    plan, apply = _plan_and_apply()
    assert plan.exit_code == apply.exit_code == ExitCode.ERROR
    assert "the upper estimate $80.00 exceeds budget.max_usd $50.00" in plan.stderr
    assert "the upper estimate $80.00 exceeds budget.max_usd $50.00" in apply.stderr


def test_row_1_an_azure_error_exits_1(session: FakeSession) -> None:
    from azure.core.exceptions import HttpResponseError

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise HttpResponseError(message="(InternalServerError) the service failed")

    session.ml.compute.get = refuse
    plan, apply = _plan_and_apply()
    assert plan.exit_code == apply.exit_code == ExitCode.ERROR
    assert "the service failed" in plan.stderr


def test_row_1_a_saved_plan_that_moved_exits_1(session: FakeSession, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert run("plan", SPEC, "--out", str(saved)).exit_code == 0
    session.ml.compute.items["gpu-cluster-big"] = SimpleNamespace(size="Standard_NC24ads_A100_v4", min_instances=0,
                                                                  max_instances=2, idle_time_before_scale_down=900,
                                                                  tier="dedicated", provisioning_state="Succeeded")
    moved = run("apply", SPEC, "--plan", str(saved))
    assert moved.exit_code == ExitCode.ERROR and "the saved plan no longer matches" in moved.stderr


def test_row_1_an_evaluation_gate_not_met_is_a_refusal() -> None:
    assert EvaluationGateFailed("the tuned model does not beat its base", []).exit_code == ExitCode.ERROR


# Row 2: invalid input; with --detailed-exitcode only "there are changes".

def test_row_2_invalid_input_exits_2(session: FakeSession, tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "broken.yaml").write_text("experiment: {name: x}\n", encoding="utf-8")
    assert run("render", "--root", str(tmp_path)).exit_code == ExitCode.INVALID  # a spec
    assert run("plan", SPEC, "--format", "yaml").exit_code == ExitCode.INVALID  # a flag
    assert run("invoke", SPEC, "--request", str(tmp_path / "none.json")).exit_code == ExitCode.INVALID  # a file


def test_row_2_no_workspace_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    result = run("plan", str(REPO / SPEC), "--root", str(REPO))
    assert result.exit_code == ExitCode.INVALID and "no workspace given" in result.stderr


def test_row_2_with_detailed_exitcode_means_changes_and_errors_are_1(session: FakeSession) -> None:
    assert run("plan", SPEC, "--detailed-exitcode").exit_code == ExitCode.CHANGES
    assert run("plan", SPEC, "--detailed-exitcode", "--format", "yaml").exit_code == ExitCode.ERROR


# Row 130: interrupted.

def test_row_130_an_interrupted_command_exits_130(session: FakeSession, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("generator.runner.planner.make_plan", interrupted)
    result = run("plan", SPEC)
    assert result.exit_code == ExitCode.INTERRUPTED and "run the same command again" in result.stderr
