"""plan --out / apply --plan FILE, plan's formats and --detailed-exitcode, with the real MLClient and the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from click.testing import CliRunner

from generator.cli import main
from tests.emulator.harness import Emulator
from tests.conftest import REPO
from tests.e2e.test_runner_e2e import SPEC, run, workspace  # noqa: F401 - the fixture
from tests.emulator.harness import EmulatorCredential


def test_a_saved_plan_is_applied_exactly(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    saved = run("plan", "--out", "plan.json")
    assert saved.exit_code == 0, saved.output
    document = json.loads((project / "plan.json").read_text())
    jsonschema.validate(document, json.loads((REPO / "docs" / "plan.schema.json").read_text()))
    assert emulator.count("PUT") == 0  # planning wrote nothing
    applied = run("apply", "--plan", "plan.json", "--no-yes")  # a reviewed plan needs no --yes
    assert applied.exit_code == 0, applied.output
    assert "applying the saved plan plan.json: nothing moved since it was made" in applied.stdout
    assert emulator.count("PUT", "/jobs/") == 3  # training and the two evaluations


def test_a_saved_plan_is_refused_when_the_workspace_moved_and_nothing_is_touched(
        workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    assert run("plan", "--out", "plan.json").exit_code == 0
    assert run("apply").exit_code == 0  # someone applied in between
    puts = emulator.count("PUT")
    stale = run("apply", "--plan", "plan.json")
    assert stale.exit_code == 1
    assert "the saved plan no longer matches what it was made from" in stale.stderr
    assert "compute: planned create, now unchanged" in stale.stderr
    assert "nothing was applied" in stale.stderr
    assert emulator.count("PUT") == puts


def test_a_saved_plan_is_refused_when_a_generated_file_changed(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    assert run("plan", "--out", "plan.json").exit_code == 0
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("instance_count: 1", "instance_count: 2", 1))
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    stale = run("apply", "--plan", "plan.json")
    assert stale.exit_code == 1
    assert "generated/phi4-ultrachat/deployment.yml changed since the plan was made" in stale.stderr
    assert emulator.count("PUT") == 0


def test_plan_json_and_markdown(workspace: tuple[Path, Emulator]) -> None:
    as_json = run("plan", "--format", "json")
    assert as_json.exit_code == 0
    document = json.loads(as_json.stdout)  # nothing but the document on stdout
    assert document["summary"]["create"] == 10 and document["estimate"]
    markdown = run("plan", "--format", "markdown")
    assert markdown.stdout.startswith("### Plan for `phi4-ultrachat`")
    assert "| + create | `pipeline-job` |" in markdown.stdout


def test_detailed_exitcode_is_2_only_for_changes_and_1_for_every_error(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    assert run("plan", "--detailed-exitcode").exit_code == 2  # changes
    assert run("apply").exit_code == 0
    assert run("plan", "--detailed-exitcode").exit_code == 0  # nothing to change
    credential = {"credential": EmulatorCredential()}
    missing = CliRunner().invoke(main, ["plan", "specs/missing.yaml", "--detailed-exitcode"], obj=credential)
    assert missing.exit_code == 1, missing.output
    bad_option = CliRunner().invoke(main, ["plan", SPEC, "--detailed-exitcode", "--no-such-option"], obj=credential)
    assert bad_option.exit_code == 1
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("run: 1", "run: 0", 1))
    invalid = run("plan", "--detailed-exitcode")
    assert invalid.exit_code == 1 and "experiment.run" in invalid.stderr
    assert run("plan").exit_code == 2  # the same invalid input without the flag
    spec.write_text(spec.read_text().replace("run: 0", "run: 1", 1))
    (project / "config.json").unlink()
    nowhere = run("plan", "--detailed-exitcode")
    assert nowhere.exit_code == 1 and "no workspace given" in nowhere.stderr
