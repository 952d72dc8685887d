"""One plan document: `plan --format json` prints what `plan --out` saves, estimate and budget included; offline the
same value is made with the workspace unknown, in every format, and it validates against docs/plan.schema.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import jsonschema
import pytest

from generator.runner.cost import CostReport, cost_report
from tests.conftest import REPO
from tests.unit.test_exit_codes import SPEC, FakeSession, run, session  # noqa: F401 - the fixture

SCHEMA = json.loads((REPO / "docs" / "plan.schema.json").read_text(encoding="utf-8"))


def validate(document: dict[str, object]) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(document)


def priced(upper: float) -> Callable[[FakeSession], CostReport]:
    """session_costs as if the workspace's prices gave `upper` as the upper estimate (the rest: the real report)."""
    def report(session: FakeSession) -> CostReport:
        made = cost_report(session.experiment.source_spec, region=None, prices=None, no_price="a test's prices")
        made.lines.append(f"  upper estimate   ${upper:.2f}")
        made.upper_usd, made.no_upper = upper, ""
        return made
    return report


def test_plan_json_is_the_saved_plan_estimate_and_budget_included(session: FakeSession, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    session.experiment.source_spec.data["budget"] = {"max_usd": 500}
    monkeypatch.setattr("generator.runner.cost.session_costs", priced(80.0))
    saved = tmp_path / "plan.json"
    printed = run("plan", SPEC, "--format", "json", "--out", str(saved))
    assert printed.exit_code == 0, printed.stderr
    document = json.loads(printed.stdout)
    assert document == json.loads(saved.read_text(encoding="utf-8"))
    validate(document)
    assert document["estimate"]["upper_usd"] == 80.0 and "  upper estimate   $80.00" in document["estimate"]["lines"]
    assert document["budget"] == {"max_usd": 500, "upper_usd": 80.0, "verdict": "within", "checked": True,
                                  "refuses": False, "why": None}
    assert document["applyable"] is True and document["offline"] is None


def test_a_plan_over_budget_is_not_applyable_in_the_document_either(session: FakeSession,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    session.experiment.source_spec.data["budget"] = {"max_usd": 50}
    monkeypatch.setattr("generator.runner.cost.session_costs", priced(80.0))
    printed = run("plan", SPEC, "--format", "json")
    assert printed.exit_code == 1
    document = json.loads(printed.stdout)
    validate(document)
    assert document["budget"]["verdict"] == "over" and document["budget"]["refuses"]
    assert document["applyable"] is False


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Both example specs rendered in a project of their own, no data prepared, no workspace anywhere."""
    (tmp_path / "specs").mkdir()
    for name in ("phi4-ultrachat.yaml", "phi4-ultrachat-serverless.yaml"):
        shutil.copy(REPO / "specs" / name, tmp_path / "specs" / name)
    monkeypatch.chdir(tmp_path)
    assert run("render", "--root", str(tmp_path)).exit_code == 0
    return tmp_path


@pytest.mark.parametrize("spec", ["specs/phi4-ultrachat.yaml", "specs/phi4-ultrachat-serverless.yaml"])
def test_plan_offline_prints_a_document_of_the_schema_with_every_read_unknown(project: Path, spec: str) -> None:
    printed = run("plan", spec, "--offline", "--format", "json", "--root", str(project))
    assert printed.exit_code == 0, printed.stderr
    document = json.loads(printed.stdout)
    validate(document)
    assert document["workspace"] is None and document["applyable"] is False
    assert document["offline"] == "plan --offline: the workspace was not read"
    rows = {row["id"]: row for row in document["resource_changes"]}
    compute_or_data = rows.get("compute") or rows["data-train"]
    assert compute_or_data["action"] == "unknown" and compute_or_data["reason"] == "live_state_unknown"
    assert compute_or_data["details"][-1].startswith("az ml ")  # the order and the command, not a guess
    assert document["summary"]["unknown"] >= 3 and document["estimate"]["lines"][0].startswith("estimate")
    assert document["routes"]["chosen"] in ("pipeline", "serverless")


def test_plan_offline_in_markdown_and_a_saved_offline_plan_is_never_applied(project: Path) -> None:
    markdown = run("plan", SPEC, "--offline", "--format", "markdown", "--root", str(project))
    assert markdown.exit_code == 0 and markdown.stdout.startswith("### Plan for `phi4-ultrachat`")
    assert "| ? unknown | `pipeline-job` |" in markdown.stdout
    assert "unknown (plan --offline: the workspace was not read)**" in markdown.stdout
    assert run("plan", SPEC, "--offline", "--out", "offline.json", "--root", str(project)).exit_code == 0
    validate(json.loads((project / "offline.json").read_text(encoding="utf-8")))
    applied = run("apply", SPEC, "--plan", "offline.json", "--yes", "--root", str(project))
    assert applied.exit_code == 2  # refused before anything connects (there is no workspace here at all)
    assert ("offline.json was made offline (plan --offline: the workspace was not read), so apply has nothing to "
            "check it against") in applied.stderr
    assert run("plan", SPEC, "--offline", "--detailed-exitcode", "--root", str(project)).exit_code == 2  # may change
