"""Issue 24 against the workspace emulator: clean-up that always works, odd tags, odd prices, one job listing."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from tests.emulator.harness import Emulator
from tests.e2e.test_cost_e2e import T0, _edit_spec, priced  # noqa: F401 - the fixture
from tests.e2e.test_runner_e2e import SPEC, run, workspace  # noqa: F401 - the fixture
from tests.unit.test_cost import FakePrices, fake_prices  # noqa: F401 - the fixture


def _endpoints(emulator: Emulator) -> list[str]:
    prefix = f"{emulator.workspace_path}/onlineendpoints".lower()
    return sorted(k.rsplit("/", 1)[1] for k in emulator.resources
                  if k.startswith(prefix + "/") and k.count("/") == prefix.count("/") + 1)


def _add_endpoint(emulator: Emulator, name: str, tags: dict[str, str]) -> None:
    """A copy of ours under another name, with `tags` (what another run, a person or another tool left)."""
    prefix = f"{emulator.workspace_path}/onlineendpoints".lower()
    ours = emulator.resources[f"{prefix}/ultrachat-completion"]
    other = copy.deepcopy(ours)
    other.update(name=name, id=ours["id"].rsplit("/", 1)[0] + "/" + name, tags=tags)
    emulator.resources[f"{prefix}/{name}"] = other


def _retire_every_model_in_2100(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the catalog had since announced that fine-tuning every model retires on 2100-01-01."""
    import datetime as dt

    from generator import catalog

    monkeypatch.setattr(catalog.Stage, "retired", lambda self, today: today >= dt.date(2100, 1, 1))


def _no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text


def test_destroy_works_after_the_model_retired(workspace: tuple[Path, Emulator],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    project, emulator = workspace
    assert run("apply").exit_code == 0
    _retire_every_model_in_2100(monkeypatch)
    monkeypatch.setenv("AZML_TODAY", "2199-01-01")
    assert run("plan").exit_code == 2  # the spec no longer validates
    result = run("destroy", "--yes")
    assert result.exit_code == 0, result.stderr
    _no_traceback(result.stdout, result.stderr)
    assert "destroy uses the names in generated/phi4-ultrachat/manifest.yml" in result.stderr
    assert _endpoints(emulator) == []
    assert emulator.count("DELETE") == 1  # only the endpoint: no compute without --compute


def test_destroy_works_with_a_stale_generated_folder_and_with_none(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    assert run("apply").exit_code == 0
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("run: 1 ", "run: 7 ", 1))  # not rendered: generated/ is stale
    stale = run("destroy", "--yes")
    assert stale.exit_code == 0, stale.stderr
    assert "does not match" in stale.stderr and _endpoints(emulator) == []
    assert run("apply", "--no-yes").exit_code != 0  # apply still refuses a stale generated/
    import shutil

    shutil.rmtree(project / "generated")
    gone = run("destroy", "--yes")
    assert gone.exit_code == 0, gone.stderr
    assert "destroy uses the names written in it" in gone.stderr
    assert "endpoint ultrachat-completion does not exist; nothing to delete" in gone.stdout


def test_one_odd_tag_is_reported_and_skipped_and_the_others_still_go(
        priced: tuple[Path, Emulator], monkeypatch: pytest.MonkeyPatch) -> None:
    project, emulator = priced
    _edit_spec(project, "  name: ultrachat-completion", "  expires_after: 8h\n  name: ultrachat-completion")
    assert run("apply").exit_code == 0
    odd = {"naive-date": {"azml-gen.expires-after": "8h", "azml-gen.created-at": "2026-11-25T08:00:00"},
           "huge-duration": {"azml-gen.expires-after": "9" * 30 + "d", "azml-gen.created-at": T0},
           "not-a-date": {"azml-gen.expires-after": "8h", "azml-gen.created-at": "yesterday"},
           "also-expired": {"azml-gen.expires-after": "1h", "azml-gen.created-at": T0}}
    for name, tags in odd.items():
        _add_endpoint(emulator, name, tags)
    monkeypatch.setenv("AZML_NOW", "2026-11-25T17:00:00+00:00")
    # status survives the same tags on the experiment's own endpoint
    prefix = f"{emulator.workspace_path}/onlineendpoints".lower()
    emulator.resources[f"{prefix}/ultrachat-completion"]["tags"] = dict(odd["naive-date"])
    status = run("status")
    assert status.exit_code == 0, status.stderr
    assert "age and expiry unknown: tag azml-gen.created-at='2026-11-25T08:00:00' has no timezone" in status.stdout
    emulator.resources[f"{prefix}/ultrachat-completion"]["tags"] = {"azml-gen.expires-after": "8h",
                                                                    "azml-gen.created-at": T0}
    result = run("destroy", "--expired", "--yes")
    assert result.exit_code == 0, result.stderr
    _no_traceback(result.stdout, result.stderr)
    for name in ("naive-date", "huge-duration", "not-a-date"):
        assert f"warning: skipped endpoint {name}: " in result.stderr
    assert "deleted 2 expired endpoint(s)" in result.stdout
    assert _endpoints(emulator) == ["huge-duration", "naive-date", "not-a-date"]


def test_destroy_expired_needs_no_valid_spec(priced: tuple[Path, Emulator], monkeypatch: pytest.MonkeyPatch) -> None:
    project, emulator = priced
    _edit_spec(project, "  name: ultrachat-completion", "  expires_after: 8h\n  name: ultrachat-completion")
    assert run("apply").exit_code == 0
    monkeypatch.setenv("AZML_NOW", "2026-11-26T17:00:00+00:00")
    _retire_every_model_in_2100(monkeypatch)
    monkeypatch.setenv("AZML_TODAY", "2199-01-01")
    result = run("destroy", "--expired", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "deleted 1 expired endpoint(s)" in result.stdout and _endpoints(emulator) == []


def test_looking_for_earlier_runs_lists_the_jobs_once(priced: tuple[Path, Emulator]) -> None:
    project, emulator = priced
    assert run("apply").exit_code == 0  # run 1 finishes in the emulator
    _edit_spec(project, "run: 1 ", "run: 3000 ")
    before = emulator.count("GET", "/jobs")
    result = run("plan")
    assert result.exit_code == 0, result.stderr
    assert "phi4-ultrachat-run1 finished" in result.stdout  # found by the listing (its metrics are not served)
    # the plan's own GET of phi4-ultrachat-run3000 plus one listing: not one request per run number
    assert emulator.count("GET", "/jobs") - before <= 4


def test_plan_shows_what_a_job_and_a_model_version_keep_as_drift(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    assert run("apply").exit_code == 0
    spec = project / SPEC
    text = spec.read_text()
    for old, new in (("  description: Fine-tune Phi-4 for chat completion on ultrachat_200k",
                      "  description: Fine-tune Phi-4, second try"),
                     ("    force_rerun: true", "    force_rerun: false"),
                     ("  description: Phi-4 fine tuned model for ultrachat 200k chat-completion",
                      "  description: a better description")):
        assert old in text
        text = text.replace(old, new, 1)
    spec.write_text(text)
    from click.testing import CliRunner

    from generator.cli import main

    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    plan = run("plan", "--format", "json")
    assert plan.exit_code == 0, plan.stderr
    rows = {row["id"]: row for row in json.loads(plan.stdout)["resource_changes"]}
    job = {c["path"]: c for c in rows["pipeline-job"]["changes"]}
    assert job["description"]["after"] == "Fine-tune Phi-4, second try" and not job["description"]["updatable"]
    assert job["settings.force_rerun"]["before"] is True and job["settings.force_rerun"]["after"] is False
    model = {c["path"]: c for c in rows["model"]["changes"]}
    assert model["description"]["after"] == "a better description" and not model["description"]["updatable"]
    text_plan = run("plan")
    assert "settings.force_rerun: True -> False (cannot change): cannot change in place" in text_plan.stdout


def test_destroy_never_deletes_what_another_spec_names(workspace: tuple[Path, Emulator]) -> None:
    import shutil

    project, emulator = workspace
    assert run("apply").exit_code == 0
    other = project / "specs" / "other.yaml"
    shutil.copy(project / SPEC, other)
    text = other.read_text().replace("name: phi4-ultrachat", "name: other", 1)
    other.write_text(text.replace("  name: ultrachat-completion", "  name: ULTRACHAT-completion", 1))
    # the two specs now share an endpoint (case-insensitively): phi4-ultrachat no longer validates
    result = run("destroy", "--yes")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "is also named by specs/other.yaml" in result.stderr or "other.yaml" in result.stderr
    assert emulator.count("DELETE") == 0 and _endpoints(emulator) == ["ultrachat-completion"]
    other.unlink()
    shutil.copy(project / SPEC, other)
    other.write_text(other.read_text().replace("name: phi4-ultrachat", "name: other", 1)
                     .replace("  name: ultrachat-completion", "  name: other-ep", 1)
                     .replace("name: Phi-4-ultrachat-200k", "name: Phi-4-other", 1))
    shared = run("destroy", "--compute", "--yes")
    assert shared.exit_code == 2 and "compute gpu-cluster-big is also used by specs/other.yaml" in shared.stderr
    assert emulator.count("DELETE") == 0


def test_plan_says_apply_would_refuse_on_the_budget(priced: tuple[Path, Emulator]) -> None:
    project, emulator = priced
    _edit_spec(project, "registered_model:", "budget:\n  max_usd: 50\n\nregistered_model:")
    plan = run("plan", "--detailed-exitcode")
    assert plan.exit_code == 1, plan.stdout + plan.stderr
    assert "error: apply would refuse (without --over-budget): the upper estimate $105.34 exceeds" in plan.stderr
    document = run("plan", "--format", "json")
    assert document.exit_code == 1 and json.loads(document.stdout)["applyable"] is False
    assert run("apply").exit_code == 1 and emulator.count("PUT") == 0


def test_a_nan_price_with_a_budget_means_apply_refuses(priced: tuple[Path, Emulator],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.unit.test_cost as fake
    from tests.unit.test_cost import item

    monkeypatch.setattr(fake, "PAGE_2", [item("Virtual Machines NCads A100 v4 Series", "NC24ads A100 v4", math.nan)])
    project, emulator = priced
    _edit_spec(project, "registered_model:", "budget:\n  max_usd: 500\n\nregistered_model:")
    plan = run("plan")
    assert plan.exit_code == 1 and "no usable price" in plan.stdout
    refused = run("apply")
    assert refused.exit_code == 1 and "cannot be held against it: nothing was created" in refused.stderr
    assert emulator.count("PUT") == 0
