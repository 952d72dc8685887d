"""The serverless route's runner end to end: plan, apply, status, invoke, metrics and destroy of
specs/phi4-ultrachat-serverless.yaml with the real MLClient against the emulator (gated backend, no wall-clock
margins): the FineTuning job submitted once (an interrupted apply attaches), the serverless endpoint made for the
version it registered, the smoke test through /v1/chat/completions with a key that is never printed or written, and
destroy leaving nothing that bills."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from generator.cli import main
from tests.conftest import REPO
from tests.emulator.harness import Emulator, EmulatorCredential, install_dns, start_emulator

NAME = "phi4-ultrachat-serverless"
SPEC = f"specs/{NAME}.yaml"
JOB, MODEL, ENDPOINT = f"{NAME}-run1", "Phi-4-ultrachat-serverless", "ultrachat-serverless"
ANSWER = "Set a timer, clear the desk, take breaks."


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Emulator]]:
    """The serverless example rendered with ten conversations per split, and an emulator in eastus2 (where the route
    fine-tunes Phi-4) that answers its smoke test with ANSWER."""
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    shutil.copy(REPO / SPEC, project / "specs")
    data = project / "data" / "ultrachat_200k"
    data.mkdir(parents=True)
    for split in ("train_sft", "test_sft"):
        lines = (REPO / "samples" / "ultrachat_mini" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()[:10]
        (data / f"{split}.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    emulator, cloud = start_emulator(tmp_path / "tls", location="eastus2")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "tls" / "ca.pem"))
    install_dns()
    (project / "config.json").write_text(json.dumps(cloud))
    monkeypatch.chdir(project)
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    request = json.loads((project / "generated" / NAME / "chat-request.json").read_text())
    emulator.behaviour.served_answers[json.dumps(request["messages"])] = ANSWER
    yield project, emulator
    emulator.stop()


def run(command: str, *args: str) -> Result:
    """A runner command in-process with the emulator's credential (apply and destroy confirmed with --yes)."""
    yes = ("--yes",) if command in ("apply", "destroy") else ()
    return CliRunner().invoke(main, [command, SPEC, *args, *yes], obj={"credential": EmulatorCredential()},
                              catch_exceptions=False)


def _written(project: Path) -> str:
    """Every file under the project (and the emulator's TLS folder beside it), as text."""
    return "\n".join(p.read_text(errors="replace") for p in project.parent.rglob("*") if p.is_file())


def test_apply_fine_tunes_serves_and_answers_then_nothing_to_do_then_destroy_leaves_nothing_billing(
        workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    planned = run("plan")
    assert planned.exit_code == 0, planned.stdout + planned.stderr
    for line in ("finetuning-job", "create", f"submit FineTuning job {JOB}",
                 f"serverless endpoint {ENDPOINT} for {MODEL} (the version the job registers)"):
        assert line in planned.stdout, planned.stdout
    first = run("apply")
    out = first.stdout
    assert first.exit_code == 0, out + first.stderr
    assert "Phi-4 fine-tunes serverless in eastus2; no VM quota is needed on this route" in out
    assert f"[finetuning-job] submitted FineTuning job {JOB}" in out
    assert f"[finetuning-job] {JOB}: Completed" in out
    assert f"[finetuning-job] registered model {MODEL}:1" in out
    assert f"[smoke-test] answer: {ANSWER}" in out
    assert emulator.count("PUT", "/jobs/") == 1 and emulator.chats[ENDPOINT] == 1
    ws = emulator.workspace_path.lower()
    endpoint = emulator.resources[f"{ws}/serverlessendpoints/{ENDPOINT}"]["properties"]
    assert endpoint["modelSettings"]["modelId"].endswith(f"/models/{MODEL}/versions/1")
    assert out.splitlines()[-2:] == [
        f"still billing: serverless endpoint {ENDPOINT} ({MODEL}:1), by the hour while it exists, called or not",
        f"stop it: python -m generator destroy {SPEC} (deletes the serverless endpoint(s))"]

    puts = emulator.count("PUT")
    second = run("apply")
    assert second.exit_code == 0, second.stdout + second.stderr
    assert emulator.count("PUT") == puts  # nothing submitted or created twice
    assert f"[serverless-endpoint] unchanged: {ENDPOINT} (serves {MODEL}:1)" in second.stdout
    assert f"[finetuning-job] unchanged: {JOB} (job {JOB} completed with these inputs; it registered " \
           f"{MODEL}:1" in second.stdout

    status = run("status")
    assert status.exit_code == 0, status.stderr
    assert f"{JOB}" in status.stdout and "Completed" in status.stdout
    assert f"version 1 (registered by {JOB})" in status.stdout
    assert f"serves {MODEL}:1" in status.stdout
    assert "incurs an hourly hosting cost whether or not calls are made" in status.stdout

    invoked = run("invoke")
    assert invoked.exit_code == 0, invoked.stderr
    assert invoked.stdout.strip() == ANSWER
    # past its rate limit the endpoint answers 429 (Retry-After: 0): the request is sent again, at most 5 times
    chats, emulator.behaviour.chat_throttled = emulator.chats[ENDPOINT], 2
    throttled = run("invoke")
    assert throttled.exit_code == 0 and throttled.stdout.strip() == ANSWER, throttled.stderr
    assert emulator.chats[ENDPOINT] == chats + 1 and emulator.behaviour.chat_throttled == 0
    emulator.behaviour.chat_throttled = 5
    refused = run("invoke")
    assert refused.exit_code == 1 and emulator.behaviour.chat_throttled == 0
    assert f"chat completions of {ENDPOINT}: HTTP 429 5 times (its rate limit is 200,000 tokens" in refused.stderr
    key = emulator.settings.key
    for result in (planned, first, second, status, invoked, throttled, refused):
        assert key not in result.stdout + result.stderr
    assert key not in _written(project)

    gone = run("destroy")
    assert gone.exit_code == 0, gone.stderr
    assert "nothing of it bills by the hour" in gone.stdout
    assert not [k for k in emulator.resources if "/serverlessendpoints/" in k]
    assert "absent: nothing bills" in run("status").stdout
    again = run("destroy")
    assert again.exit_code == 0 and f"serverless endpoint {ENDPOINT} does not exist" in again.stdout
    assert run("invoke").exit_code == 1


def test_an_apply_interrupted_while_the_job_runs_resumes_without_a_second_job(
        workspace: tuple[Path, Emulator], monkeypatch: pytest.MonkeyPatch) -> None:
    import _thread
    import signal
    import threading

    from generator.runner.steps import finetuning_job

    project, emulator = workspace
    held = emulator.gate("job", JOB)  # the job runs until the test lets it finish
    real_wait = finetuning_job.wait_for_job

    def interrupted(*args: Any, **kwargs: Any) -> None:
        _thread.interrupt_main()
        threading.Event().wait(30)

    monkeypatch.setattr(finetuning_job, "wait_for_job", interrupted)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        first = run("apply")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert first.exit_code == 130, first.stdout + first.stderr
    assert emulator.count("PUT", "/jobs/") == 1
    assert not [k for k in emulator.resources if "/serverlessendpoints/" in k]
    monkeypatch.setattr(finetuning_job, "wait_for_job", real_wait)
    planned = run("plan")
    assert f"job {JOB} is Running: wait for it (nothing is submitted again)" in planned.stdout, planned.stdout
    polls = emulator.count("GET", f"/jobs/{JOB}")

    def finish_once_the_second_apply_polls() -> None:
        emulator.wait_for_request("GET", f"/jobs/{JOB}", polls + 2)
        held.set()

    threading.Thread(target=finish_once_the_second_apply_polls, daemon=True).start()
    second = run("apply")
    assert second.exit_code == 0, second.stdout + second.stderr
    assert f"attach: job {JOB} is Running" in second.stdout
    assert emulator.count("PUT", "/jobs/") == 1  # attached: no second job
    assert f"[smoke-test] answer: {ANSWER}" in second.stdout


def test_a_failed_job_is_reported_with_its_error_and_never_resubmitted(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    emulator.behaviour.failing_jobs.add(JOB)
    first = run("apply")
    assert first.exit_code == 1
    assert f"FineTuning job {JOB} Failed:" in first.stderr
    assert "[serverless-endpoint] not run: finetuning-job did not succeed" in first.stdout
    again = run("apply")
    assert again.exit_code == 1 and "a finished job is not re-submitted" in again.stderr
    assert emulator.count("PUT", "/jobs/") == 1 and emulator.count("PUT", "/serverlessEndpoints/") == 0


def test_an_endpoint_serving_another_model_version_is_refused_before_a_second_run_trains(
        workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    assert run("apply").exit_code == 0
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("  run: 1 ", "  run: 2 ", 1))
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    planned = run("plan")
    assert planned.exit_code == 1
    assert f"serverless endpoint {ENDPOINT} serves {MODEL}:1, not this run's model" in planned.stdout
    refused = run("apply")
    assert refused.exit_code == 1 and "nothing was created" in refused.stderr
    assert emulator.count("PUT", "/jobs/") == 1  # run 2 never trained


EVALUATION = """
evaluation:
  max_samples: 10
  max_overlap: 1.0
  metrics: [rougeL, rouge1]
  generation:
    max_new_tokens: 64
  gate:
    metric: rougeL
    min_gain: 0.0
"""


def _with_evaluation(project: Path, emulator: Emulator, tuned: str) -> list[str]:
    """The spec with an evaluation (gate on rougeL), rendered; the base endpoint answers every held-out prompt
    vaguely and the tuned one with its reference (`tuned` "reference") or "No." (`tuned` "off"). The references."""
    from generator.evaldata.eval_data import convert

    spec = project / SPEC
    spec.write_text(spec.read_text() + EVALUATION)
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    with open(project / "data" / "ultrachat_200k" / "test_sft.jsonl", encoding="utf-8") as lines:
        rows = list(convert(lines, 10))
    vague = "Thank you for asking. It depends on many things, so there is no single answer to that."
    emulator.behaviour.endpoint_answers[f"{ENDPOINT}-base"] = {json.dumps(r["messages"]): vague for r in rows}
    emulator.behaviour.endpoint_answers[ENDPOINT] = {
        json.dumps(r["messages"]): r["ground_truth"] if tuned == "reference" else "No." for r in rows}
    return [r["ground_truth"] for r in rows]


def test_the_evaluation_through_endpoints_keeps_a_tuned_model_that_beats_its_base(
        workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    _with_evaluation(project, emulator, "reference")
    planned = run("plan")
    assert f"create    base-endpoint {ENDPOINT}-base" in planned.stdout, planned.stdout
    assert "send the first 10 prompts of data/ultrachat_200k/test_sft.jsonl" in planned.stdout
    applied = run("apply")
    out = applied.stdout
    assert applied.exit_code == 0, out + applied.stderr
    assert f"[evaluation] asking {ENDPOINT}-base 10 held-out prompt(s)" in out
    assert "[evaluation] rougeL  " in out and "[evaluation] gate passed: the interval's lower bound" in out
    assert "[evaluation] rougeL: n=10, tuned - base +" in out
    assert emulator.chats[ENDPOINT] == 11 and emulator.chats[f"{ENDPOINT}-base"] == 10  # the smoke test too
    model = emulator.resources[emulator.workspace_path.lower() + "/models/phi-4-ultrachat-serverless/versions/1"]
    tags = model["properties"]["tags"]
    assert (tags["evaluation.gate.n"], tags["evaluation.gate.verdict"]) == ("10", "passed")
    assert tags["evaluation.tuned.job"].startswith(f"{ENDPOINT} (")  # the endpoint and a digest of data and settings
    # a re-apply reads the figures and the evidence from the model's tags: no prompt is sent again (the smoke test is)
    assert "the figures are on Phi-4-ultrachat-serverless:1's tags (nothing is asked again)" in run("plan").stdout
    again = run("apply")
    assert again.exit_code == 0, again.stdout + again.stderr
    assert "[evaluation] figures from Phi-4-ultrachat-serverless:1's tags (nothing asked again)" in again.stdout
    assert emulator.chats[ENDPOINT] == 12 and emulator.chats[f"{ENDPOINT}-base"] == 10
    # a restart of the workspace (the local target's) reads its resources again: the tagged version is still the
    # job's (its PUT carried no jobName), so nothing is registered twice
    emulator.load({}, {})
    assert run("status").exit_code == 0
    versions = [k for k in emulator.resources if "/models/phi-4-ultrachat-serverless/versions/" in k]
    assert versions == [emulator.workspace_path.lower() + "/models/phi-4-ultrachat-serverless/versions/1"]
    gone = run("destroy")
    assert gone.exit_code == 0 and f"delete serverless endpoint {ENDPOINT}-base: done" in gone.stdout
    assert not [k for k in emulator.resources if "/serverlessendpoints/" in k]


def test_a_refused_gate_deletes_the_tuned_endpoint_and_apply_exits_1(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    _with_evaluation(project, emulator, "off")
    applied = run("apply")
    assert applied.exit_code == 1, applied.stdout + applied.stderr
    assert "evaluation gate: the whole interval is below min_gain +0.0000" in applied.stderr
    assert f"serverless endpoint {ENDPOINT} was deleted, so it does not serve nor bill" in applied.stderr
    assert "[smoke-test] not run: evaluation did not succeed" in applied.stdout
    ws = emulator.workspace_path.lower()
    assert f"{ws}/serverlessendpoints/{ENDPOINT}" not in emulator.resources
    assert emulator.settings.key not in applied.stdout + applied.stderr
    # the refusal is on the model's tags: a re-apply serves it no more (no endpoint created, no prompt sent) and
    # exits 1 again, saying how to serve it anyway or train again
    chats, puts = dict(emulator.chats), emulator.count("PUT", "/serverlessEndpoints/")
    again = run("apply")
    assert again.exit_code == 1, again.stdout + again.stderr
    assert "did not pass its evaluation gate" in again.stdout and "apply --skip-evaluation-gate serves it" in again.stdout
    assert dict(emulator.chats) == chats and emulator.count("PUT", "/serverlessEndpoints/") == puts
    forced = run("apply", "--skip-evaluation-gate")
    assert forced.exit_code == 0, forced.stdout + forced.stderr
    assert "gate NOT met" in forced.stdout and f"{ws}/serverlessendpoints/{ENDPOINT}" in emulator.resources
    assert dict(emulator.chats)[f"{ENDPOINT}-base"] == chats[f"{ENDPOINT}-base"]  # judged from the tags again


def test_a_partner_models_marketplace_subscription_is_made_once(workspace: tuple[Path, Emulator]) -> None:
    """The marketplace_subscription step on its own (no catalog row renders a partner model's spec here): absent →
    create and wait until Subscribed; then unchanged, with nothing PUT again."""
    import io

    from generator.runner.connection import workspace_client, workspace_from_config
    from generator.runner.experiment import Resource, load_experiment
    from generator.runner.output import Printer
    from generator.runner.plan import Verb
    from generator.runner.steps.common import Context
    from generator.runner.steps.marketplace_subscription import (
        apply_marketplace_subscription,
        plan_marketplace_subscription,
    )

    project, emulator = workspace
    llama = "azureml://registries/azureml-meta/models/Meta-Llama-3.1-8B-Instruct"
    file = project / "marketplace-subscription.yml"
    file.write_text(f"name: Meta-Llama-3-1-8B-Instruct-sub\nmodel_id: {llama}\n")
    config = json.loads((project / "config.json").read_text())
    ml = workspace_client(EmulatorCredential(), workspace_from_config(config))
    out = io.StringIO()
    ctx = Context(ml, load_experiment(project / "generated" / NAME), Printer(out), ENDPOINT, poll_interval=0.01)
    res = Resource("marketplace-subscription", "marketplace_subscription", "Meta-Llama-3-1-8B-Instruct-sub", [], "",
                   file, {"model": llama})
    planned = plan_marketplace_subscription(ctx, res)
    assert planned.verb == Verb.CREATE
    apply_marketplace_subscription(ctx, res, planned)
    assert "subscription Meta-Llama-3-1-8B-Instruct-sub: subscribed" in out.getvalue()
    again = plan_marketplace_subscription(ctx, res)
    assert again.verb == Verb.UNCHANGED and again.observed == {"status": "subscribed", "model": llama}
    assert emulator.count("PUT", "/marketplaceSubscriptions/") == 1


def test_a_saved_plan_of_the_serverless_route_is_applied_as_reviewed(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    saved = run("plan", "--out", "plan.json")
    assert saved.exit_code == 0, saved.stderr
    applied = run("apply", "--plan", "plan.json")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert "applying the saved plan plan.json: nothing moved since it was made" in applied.stdout
    again = run("apply", "--plan", "plan.json")
    assert again.exit_code == 1 and "finetuning-job: planned create, now unchanged" in again.stderr
