"""Issue 31 against the emulator: the serving model keeps serving until a new one has passed every gate, and every
apply converges to the deployments the spec names, with live traffic summing to 0 or 100."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from generator.cli import main
from tests.emulator.harness import Emulator
from tests.e2e.test_rollout_e2e import ENDPOINT, _deployments, _endpoint, _render, blue  # noqa: F401 - fixture
from tests.e2e.test_runner_e2e import SPEC, answer, run, workspace  # noqa: F401 - the fixture

MODEL = "Phi-4-ultrachat-200k"


def _edit(project: Path, old: str, new: str) -> None:
    spec = project / SPEC
    text = spec.read_text()
    assert old in text, old
    spec.write_text(text.replace(old, new, 1))
    rendered = CliRunner().invoke(main, ["render", "--root", str(project)])
    assert rendered.exit_code == 0, rendered.output


def _deployed_model(emulator: Emulator, name: str) -> str:
    props = emulator.resources[f"{emulator.workspace_path}/onlineendpoints/{ENDPOINT}/deployments/{name}".lower()]
    return str(props["properties"]["model"]).rsplit("/models/", 1)[-1].replace("/versions/", ":")


def _live(emulator: Emulator) -> dict[str, int]:
    return {k: int(v) for k, v in _endpoint(emulator)["traffic"].items() if int(v)}


def _plan_rows(text: str) -> dict[str, str]:
    """Each plan line's resource id and verb."""
    return {m.group(2): m.group(1) for m in re.finditer(r"^(\w+)\s+(\S+)\s+\S+$", text, re.M)}


def test_run_2_without_rollout_keeps_run_1_serving_when_refused_or_failed(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    assert run("apply").exit_code == 0
    assert (_live(emulator), _deployed_model(emulator, "demo")) == ({"demo": 100}, f"{MODEL}:1")
    _edit(project, "run: 1 ", "run: 2 ")
    plan = run("plan")
    assert ("          model: 'Phi-4-ultrachat-200k:1' -> 'Phi-4-ultrachat-200k:2'\n          in place: "
            "Phi-4-ultrachat-200k:1 serves until the update ends; a failed smoke test puts it back\n"
            "          waits for the evaluation gate: nothing is deployed for a model the gate refuses; it costs the "
            "deployment's provisioning time after the tuned evaluation instead of beside it") in plan.stdout
    answer(emulator, project, "phi4-ultrachat-run2-eval-tuned", "off")  # run 2's model: worse than its base
    deployment_puts = emulator.count("PUT", "/deployments/")
    refused = run("apply")
    assert refused.exit_code == 1
    assert "[deployment] not run: gate did not succeed" in refused.stdout
    assert emulator.count("PUT", "/deployments/") == deployment_puts
    assert (_live(emulator), _deployed_model(emulator, "demo")) == ({"demo": 100}, f"{MODEL}:1")
    assert refused.stdout.splitlines()[-5:-2] == [
        "serving: demo serves Phi-4-ultrachat-200k:1 with 100 % (as before this apply)",
        "serving: nothing that served changed",
        "still billing: deployment demo (Phi-4-ultrachat-200k:1, 1 x Standard_NC24ads_A100_v4, live 100 %)"]
    # the same when the evaluation job fails: run 3's tuned evaluation never completes
    _edit(project, "run: 2 ", "run: 3 ")
    emulator.behaviour.failing_jobs.add("phi4-ultrachat-run3-eval-tuned")
    failed = run("apply")
    assert failed.exit_code == 1 and "[deployment] not run: gate did not succeed" in failed.stdout
    assert (_live(emulator), _deployed_model(emulator, "demo")) == ({"demo": 100}, f"{MODEL}:1")
    assert "serving: nothing that served changed" in failed.stdout.splitlines()


def test_a_failed_smoke_test_deletes_a_new_deployment_and_puts_an_updated_model_back(
        workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    emulator.behaviour.failing_scoring.add("demo")
    first = run("apply")
    assert first.exit_code == 1
    assert "[parity] not run: smoke-test did not succeed" in first.stdout
    assert "[traffic] not run: parity did not succeed" in first.stdout
    assert _deployments(emulator) == set() and _live(emulator) == {}  # created, smoke-tested at 0 %, deleted
    assert "still billing: no deployment on endpoint ultrachat-completion" in first.stdout.splitlines()
    emulator.behaviour.failing_scoring.clear()
    assert run("apply").exit_code == 0 and _live(emulator) == {"demo": 100}
    # run 2 updates demo in place once its gate passed; its smoke test fails: run 1's model goes back
    _edit(project, "run: 1 ", "run: 2 ")
    emulator.behaviour.failing_scoring.add("demo")
    second = run("apply")
    assert second.exit_code == 1
    assert ("[settle] the smoke test failed after demo was updated in place to Phi-4-ultrachat-200k:2: putting "
            "Phi-4-ultrachat-200k:1 back") in second.stdout
    assert (_live(emulator), _deployed_model(emulator, "demo")) == ({"demo": 100}, f"{MODEL}:1")
    assert "serving: nothing that served changed" in second.stdout.splitlines()


def test_leftovers_are_planned_as_deletions_and_deleted(blue: tuple[Path, Emulator]) -> None:  # noqa: F811
    """A refused green left by an earlier version of the runner, and a rollout interrupted after its last stage."""
    import copy

    project, emulator = blue
    prefix = f"{emulator.workspace_path}/onlineendpoints/{ENDPOINT}/deployments".lower()
    refused = copy.deepcopy(emulator.resources[f"{prefix}/demo-v1"])
    refused.update(name="demo-v2", id=refused["id"].rsplit("/", 1)[0] + "/demo-v2")
    emulator.resources[f"{prefix}/demo-v2"] = refused  # at 0 %: it served nothing, and bills
    shown = run("status").stdout
    assert re.search(r"deployment +demo-v2 +Phi-4-ultrachat-200k:1, 1 x Standard_NC24ads_A100_v4, live 0 %  leftover",
                     shown), shown
    _edit(project, "run: 1 ", "run: 3 ")
    plan = run("plan")
    assert _plan_rows(plan.stdout)["leftovers"] == "delete"
    assert ("delete demo-v2 (Phi-4-ultrachat-200k:1, 1 x Standard_NC24ads_A100_v4, live 0 %): serves no traffic and "
            "the spec does not name it") in plan.stdout
    assert "to delete" in plan.stdout.splitlines()[-1] and " 1 to delete" in plan.stdout.splitlines()[-1]
    applied = run("apply")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert _deployments(emulator) == {"demo-v3"} and _live(emulator) == {"demo-v3": 100}
    # a rollout interrupted after its live-100 stage: the previous deployment at 0 %, not deleted yet
    demo_v3 = emulator.resources[f"{prefix}/demo-v3"]
    emulator.resources[f"{prefix}/demo-v2"] = refused
    _endpoint(emulator)["traffic"] = {"demo-v2": 0, "demo-v3": 100}
    again = run("plan")
    assert _plan_rows(again.stdout)["leftovers"] == "delete"
    assert _plan_rows(again.stdout)["rollout"] == "unchanged"
    assert run("apply").exit_code == 0
    assert _deployments(emulator) == {"demo-v3"} and emulator.resources[f"{prefix}/demo-v3"] is demo_v3


def test_keep_previous_true_then_false_then_no_rollout_converge(blue: tuple[Path, Emulator]) -> None:  # noqa: F811
    project, emulator = blue
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("traffic_steps: [10, 100]\n",
                                             "traffic_steps: [10, 100]\n  keep_previous: true\n"))
    _render(project, 2)
    assert run("apply").exit_code == 0
    assert _deployments(emulator) == {"demo-v1", "demo-v2"} and _live(emulator) == {"demo-v2": 100}
    shown = run("status").stdout
    assert re.search(r"deployment +demo-v1 +Phi-4-ultrachat-200k:1, 1 x Standard_NC24ads_A100_v4, live 0 %  kept at "
                     r"0 % by rollout.keep_previous", shown), shown
    assert re.search(r"deployment +demo-v2 +Phi-4-ultrachat-200k:2, .*live 100 %  the spec's deployment", shown)
    assert _plan_rows(run("plan").stdout)["leftovers"] == "unchanged"
    # keep_previous true -> false: the kept deployment is a leftover
    _edit(project, "keep_previous: true", "keep_previous: false")
    plan = run("plan")
    assert ("delete demo-v1 (Phi-4-ultrachat-200k:1, 1 x Standard_NC24ads_A100_v4, live 0 %): the previous deployment "
            "a rollout kept at 0 %, and rollout.keep_previous is not true") in plan.stdout
    assert run("apply").exit_code == 0 and _deployments(emulator) == {"demo-v2"}
    # the rollout removed: the whole live traffic moves to deployment.name, never 200 %, and demo-v2 is retired
    spec.write_text(spec.read_text().split("\nrollout:\n")[0] + "\n")
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    plan = run("plan")
    assert "traffic: {'demo-v2': 100} -> {'demo-v2': 0, 'demo': 100}" in plan.stdout
    assert "then delete demo-v2: it served until demo took its traffic, and the spec does not name it" in plan.stdout
    applied = run("apply")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    traffic = {k: int(v) for k, v in _endpoint(emulator)["traffic"].items()}
    assert sum(traffic.values()) == 100 and _live(emulator) == {"demo": 100}
    assert _deployments(emulator) == {"demo"}


def test_a_green_name_that_serves_another_model_is_refused_before_anything(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    _edit(project, "  name: demo\n", "  name: demo-v2\n")  # without rollout, deployment demo-v2 serves run 1
    assert run("apply").exit_code == 0 and _live(emulator) == {"demo-v2": 100}
    _edit(project, "  name: demo-v2\n", "  name: demo\n")
    _render(project, 2)  # with rollout, run 2's green is demo-v2: the serving deployment's name
    puts = emulator.count("PUT")
    plan = run("plan")
    assert plan.exit_code == 1 and _plan_rows(plan.stdout)["deployment"] == "refuse"
    refused = run("apply")
    assert refused.exit_code == 1
    assert ("the rollout's new deployment for Phi-4-ultrachat-200k:2 has the name of the deployment that serves "
            "100 % of live traffic (0 % mirrored) with Phi-4-ultrachat-200k:1") in refused.stdout + refused.stderr
    assert emulator.count("PUT") == puts and _deployed_model(emulator, "demo-v2") == f"{MODEL}:1"
