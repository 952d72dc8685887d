"""Issue 31 against the emulator: evaluation data checked before anything is billed, a failed evaluation run again
alone, and a saved plan refused when the data it uploads moved."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from generator.cli import main
from tests.emulator.harness import Emulator
from tests.conftest import REPO
from tests.e2e.test_runner_e2e import SPEC, answer, run, workspace  # noqa: F401 - the fixture

TEST_SPLIT = Path("data") / "ultrachat_200k" / "test_sft.jsonl"


def test_broken_or_overlapping_evaluation_data_is_refused_at_plan_before_anything_is_billed(
        workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    test = project / TEST_SPLIT
    lines = test.read_text().splitlines()
    test.write_text("\n".join(lines[:4] + ['{"messages": '] + lines[5:]) + "\n")  # a line cut short after render
    broken = run("plan")
    assert broken.exit_code == 2
    assert "data/ultrachat_200k/test_sft.jsonl:5: invalid JSON: Expecting value at column 14" in broken.stderr
    # the shipped sample's whole test split: its templated prompts repeat across the splits
    test.write_bytes((REPO / "samples" / "ultrachat_mini" / "test_sft.jsonl").read_bytes())
    overlap = ("data/ultrachat_200k/test_sft.jsonl:6: evaluation.max_overlap: 8 of the 50 evaluated conversation(s) "
               "(16.0%) have prompt messages that open a training conversation (line 6 opens "
               "data/ultrachat_200k/train_sft.jsonl:99")
    rendered = CliRunner().invoke(main, ["render", "--root", str(project)])
    assert rendered.exit_code == 2 and overlap in rendered.stderr
    overlapping = run("apply")  # the data is checked again before anything is billed
    assert overlapping.exit_code == 2 and overlap in overlapping.stderr
    assert emulator.count("PUT") == 0


def test_a_failed_evaluation_runs_again_alone_once_its_settings_are_fixed(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    emulator.behaviour.failing_jobs.add("phi4-ultrachat-run1-eval-tuned")
    failed = run("apply")
    assert failed.exit_code == 1
    assert ("fix the cause, set evaluation.attempt: 2 in specs/phi4-ultrachat.yaml and render: both evaluations run "
            "again under new names, alone (the training job and the registered model are not redone)") in failed.stderr
    assert "[deployment] not run: gate did not succeed" in failed.stdout
    plan = run("plan")
    assert plan.exit_code == 1
    assert ("evaluation job phi4-ultrachat-run1-eval-tuned is Failed (a finished job is never submitted again): "
            "fix the cause, then set evaluation.attempt: 2") in plan.stdout
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("  max_samples: 50\n", "  max_samples: 50\n  attempt: 2\n", 1))
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    for role in ("base", "tuned"):
        answer(emulator, project, f"phi4-ultrachat-run1-eval-{role}-a2", "reference" if role == "tuned" else "vague")
    jobs = emulator.count("PUT", "/jobs/")
    again = run("apply")
    assert again.exit_code == 0, again.stdout + again.stderr
    assert emulator.count("PUT", "/jobs/") == jobs + 2  # the two evaluations, nothing else
    assert emulator.count("PUT", "/jobs/phi4-ultrachat-run1?") == 1  # trained once
    assert "[pipeline-job] unchanged" in again.stdout and "[model] unchanged" in again.stdout
    assert "gate passed" in again.stdout


def test_a_saved_plan_is_refused_when_the_data_it_uploads_changed(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    assert run("plan", "--out", "plan.json").exit_code == 0
    recorded = json.loads((project / "plan.json").read_text())["data"]
    assert set(recorded) == {"data/ultrachat_200k/train_sft.jsonl", "data/ultrachat_200k/test_sft.jsonl"}
    train = project / "data" / "ultrachat_200k" / "train_sft.jsonl"
    lines = train.read_text().splitlines()
    train.write_text("\n".join(lines[1:]) + "\n")  # a training file edited between plan --out and apply --plan
    stale = run("apply", "--plan", "plan.json")
    assert stale.exit_code == 1
    assert ("data file data/ultrachat_200k/train_sft.jsonl changed since the plan was made (apply would upload other "
            "data than was reviewed)") in stale.stderr
    assert emulator.count("PUT") == 0
