"""Blue/green rollout end to end: the real MLClient against the emulator, which splits and mirrors traffic."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from generator.cli import main
from tests.emulator.harness import Emulator
from tests.e2e.test_runner_e2e import SPEC, run, workspace  # noqa: F401 - the fixture

ENDPOINT = "ultrachat-completion"
ROLLOUT = "\nrollout:\n  strategy: blue_green\n  mirror_percent: 10\n  traffic_steps: [10, 100]\n"


def _render(project: Path, run_number: int) -> None:
    spec = project / SPEC
    text = spec.read_text()
    if "rollout:" not in text:
        text += ROLLOUT
    spec.write_text(text.replace(f"run: {run_number - 1} ", f"run: {run_number} ", 1))
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0


@pytest.fixture
def blue(workspace: tuple[Path, Emulator]) -> Iterator[tuple[Path, Emulator]]:  # noqa: F811 - the fixture
    """Run 1 rolled out: demo-v1 serves all the traffic."""
    project, emulator = workspace
    _render(project, 1)
    first = run("apply")
    assert first.exit_code == 0, first.stdout + first.stderr
    assert _endpoint(emulator)["traffic"] == {"demo-v1": 100}
    yield project, emulator


def _endpoint(emulator: Emulator) -> dict:
    return emulator.resources[f"{emulator.workspace_path}/onlineendpoints/{ENDPOINT}".lower()]["properties"]


def _deployments(emulator: Emulator) -> set[str]:
    prefix = f"{emulator.workspace_path}/onlineendpoints/{ENDPOINT}/deployments/".lower()
    return {key.removeprefix(prefix) for key in emulator.resources if key.startswith(prefix)}


def test_run_2_goes_live_blue_green_and_retires_run_1(blue: tuple[Path, Emulator]) -> None:
    project, emulator = blue
    _render(project, 2)
    plan = run("plan")
    assert "update    rollout" in plan.stdout
    for stage in ("smoke: live demo-v1=100", "mirror-10: live demo-v1=100, mirror demo-v2=10", "mirror-off",
                  "live-10: live demo-v1=90 demo-v2=10", "live-100: live demo-v1=0 demo-v2=100", "delete demo-v1"):
        assert stage in plan.stdout, stage
    applied = run("apply")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    lines = [line for line in applied.stdout.splitlines() if line.startswith("[rollout]")]
    assert [line.split(":")[0] for line in lines if "answered through" in line] == [
        "[rollout] smoke", "[rollout] mirror-10", "[rollout] mirror-off", "[rollout] live-10", "[rollout] live-100"]
    assert _endpoint(emulator)["traffic"] == {"demo-v2": 100}
    assert not any(int(v) for v in (_endpoint(emulator).get("mirrorTraffic") or {}).values())
    assert _deployments(emulator) == {"demo-v2"}
    # every stage's smoke test went to green through the header, none of it to blue or to the mirror
    assert emulator.scored[(ENDPOINT, "demo-v2")] == 11  # parity's 5 prompts, five stages and the final smoke test
    assert emulator.mirrored[(ENDPOINT, "demo-v2")] == 0
    assert emulator.count("PUT", "/jobs/phi4-ultrachat-run2?") == 1  # the training job, submitted once
    again = run("apply")
    assert again.exit_code == 0 and "[rollout] unchanged" in again.stdout


def test_a_green_that_cannot_answer_fails_parity_before_any_stage(blue: tuple[Path, Emulator]) -> None:
    project, emulator = blue
    _render(project, 2)
    emulator.behaviour.failing_scoring.add("demo-v2")
    failed = run("apply")
    assert failed.exit_code == 1 and "[parity] FAILED: invoke ultrachat-completion/demo-v2: " in failed.stderr
    assert "[rollout] not run: parity did not succeed" in failed.stdout
    assert {k: v for k, v in _endpoint(emulator)["traffic"].items() if int(v)} == {"demo-v1": 100}
    assert _deployments(emulator) == {"demo-v1"}  # the unproven green is deleted


def test_a_failing_green_rolls_back_to_blue_and_a_reapply_after_the_fix_completes(
        blue: tuple[Path, Emulator]) -> None:
    project, emulator = blue
    spec = project / SPEC  # no parity check: green fails at the rollout's first stage, which rolls back
    spec.write_text(spec.read_text().replace("  max_samples: 50\n", "  max_samples: 50\n  parity: 0\n", 1))
    _render(project, 2)
    emulator.behaviour.failing_scoring.add("demo-v2")
    served_by_blue = emulator.scored[(ENDPOINT, "demo-v1")]
    failed = run("apply")
    assert failed.exit_code == 1
    assert "rollout stage smoke failed for demo-v2" in failed.stderr
    assert "rolled back: demo-v1 serves 100 % of live traffic, demo-v2 0 %, mirroring off" in failed.stderr
    assert {k: v for k, v in _endpoint(emulator)["traffic"].items() if int(v)} == {"demo-v1": 100}
    # the failed green is deleted (it would bill for nothing), so the deployments are as they were
    assert _deployments(emulator) == {"demo-v1"}
    assert ("delete demo-v2: its model Phi-4-ultrachat-200k:2 did not pass rollout and it serves no traffic "
            "(--keep-failed-deployment keeps it)") in failed.stdout
    assert failed.stdout.splitlines()[-5:-2] == [
        "serving: demo-v1 serves Phi-4-ultrachat-200k:1 with 100 % (as before this apply)",
        "serving: nothing that served changed",
        "still billing: deployment demo-v1 (Phi-4-ultrachat-200k:1, 1 x Standard_NC24ads_A100_v4, live 100 %)"]
    assert emulator.scored[(ENDPOINT, "demo-v1")] == served_by_blue  # the smoke tests named green, never blue
    kept = run("apply", "--keep-failed-deployment")  # to read its logs: kept at 0 %, and said to bill
    assert kept.exit_code == 1 and _deployments(emulator) == {"demo-v1", "demo-v2"}
    assert "kept demo-v2 (Phi-4-ultrachat-200k:2, 1 x Standard_NC24ads_A100_v4, live 0 %) (--keep-failed-deployment)" \
        in kept.stdout
    assert "still billing: deployment demo-v2 (Phi-4-ultrachat-200k:2, 1 x Standard_NC24ads_A100_v4, live 0 %)" \
        in kept.stdout.splitlines()
    emulator.behaviour.failing_scoring.clear()  # the fix
    jobs = emulator.count("PUT", "/jobs/")
    fixed = run("apply")
    assert fixed.exit_code == 0, fixed.stdout + fixed.stderr
    assert _endpoint(emulator)["traffic"] == {"demo-v2": 100}
    assert _deployments(emulator) == {"demo-v2"}
    assert emulator.count("PUT", "/jobs/") == jobs  # not trained again


def test_status_shows_live_and_mirrored_traffic(blue: tuple[Path, Emulator]) -> None:
    project, emulator = blue
    endpoint = _endpoint(emulator)
    endpoint["traffic"], endpoint["mirrorTraffic"] = {"demo-v1": 100}, {"demo-v1": 0}
    shown = run("status")
    assert "traffic {'demo-v1': 100}" in shown.stdout and "mirror" not in shown.stdout
    endpoint["mirrorTraffic"] = {"demo-v2": 10}
    assert "mirror {'demo-v2': 10}" in run("status").stdout


def test_live_requests_split_and_mirror_exactly(blue: tuple[Path, Emulator]) -> None:
    """Without the header, live traffic follows the shares and the mirror gets its share, deterministically."""
    import json
    import ssl
    import urllib.request

    project, emulator = blue
    endpoint = _endpoint(emulator)
    endpoint["traffic"], endpoint["mirrorTraffic"] = {"demo-v1": 70, "demo-v2": 30}, {"demo-v3": 20}
    url = f"{emulator.base_url}/score/{ENDPOINT}"
    context = ssl.create_default_context(cafile=__import__("os").environ["REQUESTS_CA_BUNDLE"])
    before = emulator.scored[(ENDPOINT, "demo-v1")]  # run 1's smoke tests
    body = json.dumps({"input_data": {"input_string": [[{"role": "user", "content": "hi"}]], "parameters": {}}})
    for _ in range(50):
        request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
            "Authorization": f"Bearer {emulator.behaviour.key}", "Content-Type": "application/json"})
        urllib.request.urlopen(request, context=context, timeout=30).read()
    assert (emulator.scored[(ENDPOINT, "demo-v1")] - before, emulator.scored[(ENDPOINT, "demo-v2")]) == (35, 15)
    assert emulator.mirrored[(ENDPOINT, "demo-v3")] == 10
