"""The runner end to end: the real MLClient against the local workspace emulator."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner, Result

from generator.cli import main
from tests.conftest import REPO, write_held_out
from tests.emulator.harness import EmulatorCredential, RejectingCredential, install_dns, start_emulator
from tests.emulator.harness import Emulator

SPEC = "specs/phi4-ultrachat.yaml"
EVALUATED = 50  # the held-out conversations the workspace evaluates (the fixture sets max_samples)
# The example's evaluation jobs answer the held-out conversations (`answer`): the base model with one vague sentence,
# the tuned model with each conversation's reference answer, so the tuned one beats its base on every metric.
ANSWERS = {"vague": "Thank you for asking. It depends on many things, so there is no single answer to that.",
           "off": "No."}  # one answer to every conversation; "reference": each conversation's own reference


def held_out(project: Path) -> list[dict[str, Any]]:
    """The evaluation's rows: the prepared test split cut by the eval-data component's own code."""
    from generator.evaldata.eval_data import convert

    with open(project / "data" / "ultrachat_200k" / "test_sft.jsonl", encoding="utf-8") as source:
        return list(convert(source, EVALUATED))


def answer(emulator: Emulator, project: Path, job: str, how: str, *, served: bool = False) -> list[str]:
    """Make evaluation job `job` answer the held-out conversations with their references (`how` "reference"), one
    vague sentence, or an answer off the point; with `served`, a deployment answers them so too (serving parity).
    Returns the answers."""
    rows = held_out(project)
    references = [row["ground_truth"] for row in rows]
    answers = list(references) if how == "reference" else [ANSWERS[how]] * len(rows)
    emulator.behaviour.evaluation_answers[job] = (answers, references)
    if served:
        emulator.behaviour.served_answers.update({json.dumps(row["messages"]): text for row, text in zip(rows, answers)})
    return answers


@pytest.fixture
def workspace(project: Path, tmp_path_factory: pytest.TempPathFactory,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Emulator]]:
    """The example project rendered, its data prepared from the shipped sample, and an emulator to apply to."""
    tls = tmp_path_factory.mktemp("tls")
    emulator, cloud = start_emulator(tls)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls / "ca.pem"))
    install_dns()
    (project / "config.json").write_text(json.dumps(cloud))
    data = project / "data" / "ultrachat_200k"
    data.mkdir(parents=True)
    for split in ("train_sft", "test_sft"):
        shutil.copy(REPO / "samples" / "ultrachat_mini" / f"{split}.jsonl", data / f"{split}.jsonl")
    monkeypatch.chdir(project)
    # The shipped sample's test split holds 60 conversations, and its templated prompts repeat across its splits (9
    # open a training conversation): the example's 200 would be refused as too few, and the overlap as memorisation
    # (tests/e2e/test_evaluation_data_e2e.py). The workspace evaluates the 51 others.
    write_held_out(data)
    spec = project / SPEC
    spec.write_text(re.sub(r"\n  max_samples: 200 .*\n", "\n  max_samples: 50\n", spec.read_text(), count=1))
    # The example evaluates base and tuned (evaluation:): the emulator logs the figures of these answers when the
    # evaluation jobs complete, to the MLflow store the runner reads (MLFLOW_TRACKING_URI); a test may change them.
    emulator.mlflow_store = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'runs.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", emulator.mlflow_store)
    for run_number in (1, 2, 3):  # tests that bump experiment.run evaluate again under the new job names
        answer(emulator, project, f"phi4-ultrachat-run{run_number}-eval-base", "vague")
        answer(emulator, project, f"phi4-ultrachat-run{run_number}-eval-tuned", "reference", served=True)
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    yield project, emulator
    emulator.stop()


def run(command: str, *args: str, credential: Any = None) -> Result:
    """Run a runner command in-process with the emulator's credential (apply confirmed with --yes)."""
    args = (*args, "--yes") if command == "apply" and "--no-yes" not in args else tuple(a for a in args
                                                                                          if a != "--no-yes")
    return CliRunner().invoke(main, [command, SPEC, *args], obj={"credential": credential or EmulatorCredential()},
                              catch_exceptions=False)


def apply_interrupted_while_waiting(monkeypatch: pytest.MonkeyPatch, before: Any = None) -> Result:
    """Run apply and press Ctrl-C once a step waits for its job (after `before()`, when given); the
    waiting steps then hang, as in a process that is about to exit."""
    import _thread
    import signal
    import threading

    from generator.runner.steps import job as reconcile

    def interrupted(ctx: Any, res: Any, retry: Any = None) -> None:
        if before is not None:
            before()
        _thread.interrupt_main()
        threading.Event().wait(30)

    monkeypatch.setattr(reconcile, "wait_for_job", interrupted)
    # interrupt_main() raises KeyboardInterrupt only under Python's own SIGINT handler; a library imported by an
    # earlier test may have installed another one in this process
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run("apply")
    finally:
        signal.signal(signal.SIGINT, previous)


def _all_output(*results: Result) -> str:
    return "\n".join(r.stdout + r.stderr for r in results)


def test_full_apply_from_nothing_then_nothing_to_do(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    first = run("apply")
    assert first.exit_code == 0, first.stdout + first.stderr
    out = first.stdout
    assert "foundation model Phi-4 version 8, pinned at render: label latest -> version 8 (catalog: " in out
    assert "the registry publishes its facts as system metadata" in out
    assert ("compute size Standard_NC24ads_A100_v4 and deployment size Standard_NC24ads_A100_v4 are on Phi-4's lists "
            "and meet its minimum specs") in out
    assert "GPUs per node of Standard_NC24ads_A100_v4: 1" in out
    assert "quota: family standardNCADSA100v4Family in region westeurope: need 72, have 96 of 96 vCPUs" in out
    assert "[pipeline-job] phi4-ultrachat-run1: Completed" in out
    assert '[smoke-test] answer: {"output": "(emulated answer to: What are three good ways' in out
    ws = emulator.workspace_path.lower()
    for path in ("/computes/gpu-cluster-big", "/data/phi4-ultrachat-train_sft/versions/1",
                 "/data/phi4-ultrachat-test_sft/versions/1", "/jobs/phi4-ultrachat-run1",
                 "/models/phi-4-ultrachat-200k/versions/1", "/onlineendpoints/ultrachat-completion",
                 "/onlineendpoints/ultrachat-completion/deployments/demo"):
        assert ws + path in emulator.resources, path
    assert out.splitlines()[-4:] == [
        "serving: demo serves Phi-4-ultrachat-200k:1 with 100 % (before this apply: the endpoint did not exist)",
        "still billing: deployment demo (Phi-4-ultrachat-200k:1, 1 x Standard_NC24ads_A100_v4, live 100 %)",
        "still billing: compute gpu-cluster-big: min_instances 0, so no node bills while it is idle",
        "stop it: python -m generator destroy specs/phi4-ultrachat.yaml (deletes the endpoint and its deployments)"]
    job = emulator.resources[ws + "/jobs/phi4-ultrachat-run1"]["properties"]
    node_inputs = job["jobs"]["chat_completion_pipeline"]["inputs"]
    assert node_inputs["mlflow_model_path"]["uri"] == "azureml://registries/azureml/models/Phi-4/versions/8"
    endpoint = emulator.resources[ws + "/onlineendpoints/ultrachat-completion"]["properties"]
    assert endpoint["traffic"] == {"demo": 100}
    puts = emulator.count("PUT")
    second = run("apply")
    assert second.exit_code == 0, second.stdout + second.stderr
    assert emulator.count("PUT") == puts  # nothing created or updated twice
    for rid in ("compute", "data-train", "data-test", "endpoint", "pipeline-job", "model", "eval-base", "eval-tuned",
                "deployment", "traffic"):
        assert f"[{rid}] unchanged" in second.stdout, rid
    assert "[gate] figures from Phi-4-ultrachat-200k:1's tags (nothing evaluated again)" in second.stdout
    plan = run("plan")
    assert plan.exit_code == 0
    assert [line.split()[0] for line in plan.stdout.splitlines() if not line.startswith(" ")] == [
        "foundation", "parameters"] + ["unchanged"] * 9 + ["run", "unchanged", "run", "run", "unchanged", "estimate",
                                                           "routes", "Plan:"]
    assert plan.stdout.splitlines()[-1] == "Plan: 0 to create, 0 to update, 0 to delete, 11 unchanged, 0 refused"
    assert run("plan", "--detailed-exitcode").exit_code == 0


def test_independent_steps_run_side_by_side(workspace: tuple[Path, Emulator]) -> None:
    import threading

    project, emulator = workspace
    gates = [emulator.gate("compute", "gpu-cluster-big"), emulator.gate("endpoint", "ultrachat-completion")]

    def open_once_both_were_requested() -> None:  # neither finishes before both have started
        emulator.wait_for_request("PUT", "/computes/gpu-cluster-big", 1)
        emulator.wait_for_request("PUT", "/onlineEndpoints/ultrachat-completion", 1)
        for gate in gates:
            gate.set()

    threading.Thread(target=open_once_both_were_requested, daemon=True).start()
    result = run("apply")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    started = [i for i, line in enumerate(lines) if "create: endpoint" in line or "create: amlCompute" in line]
    finished = min(i for i, line in enumerate(lines) if "compute gpu-cluster-big: done" in line
                   or "endpoint ultrachat-completion: done" in line)
    assert len(started) == 2 and max(started) < finished


def test_apply_interrupted_after_submitting_the_job_resumes_without_a_second_job(
        workspace: tuple[Path, Emulator], monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from generator.runner.steps import job as reconcile

    project, emulator = workspace
    job = emulator.gate("job", "phi4-ultrachat-run1")  # the job runs until the test lets it finish
    real_wait = reconcile.wait_for_job
    first = apply_interrupted_while_waiting(monkeypatch)
    assert first.exit_code == 130, first.stdout + first.stderr
    assert "run the same command again to resume" in first.stderr
    assert emulator.count("PUT", "/jobs/phi4-ultrachat-run1?") == 1  # the training job (evaluations aside)
    assert emulator.count("PUT", "/models/") == 0
    monkeypatch.setattr(reconcile, "wait_for_job", real_wait)
    logs_read = emulator.count("GET", "/logs/phi4-ultrachat-run1")

    def finish_once_the_second_apply_has_read_the_logs() -> None:
        emulator.wait_for_request("GET", "/logs/phi4-ultrachat-run1", logs_read + 1)
        job.set()

    threading.Thread(target=finish_once_the_second_apply_has_read_the_logs, daemon=True).start()
    second = run("apply")
    assert second.exit_code == 0, second.stdout + second.stderr
    assert "attach: job phi4-ultrachat-run1 is" in second.stdout
    assert "[emulator] step finetune: running" in second.stdout  # the job's logs stream while apply waits
    assert "Execution Summary" in second.stdout
    assert emulator.count("PUT", "/jobs/phi4-ultrachat-run1?") == 1
    assert emulator.count("PUT", "/deployments/demo") == 1


def test_failed_job_stops_apply_and_is_not_resubmitted(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    emulator.behaviour.failing_jobs.add("phi4-ultrachat-run1")
    result = run("apply")
    assert result.exit_code == 1
    assert "pipeline job phi4-ultrachat-run1 Failed: UserError: finetune step failed: CUDA out of memory" \
        in result.stderr
    assert "studio: https://ml.azure.com/runs/phi4-ultrachat-run1" in result.stderr
    assert "[model] not run: pipeline-job did not succeed" in result.stdout
    assert emulator.count("PUT", "/models/") == 0 and emulator.count("PUT", "/deployments/") == 0
    again = run("apply")
    assert again.exit_code == 1
    assert "a finished job is not re-submitted: bump experiment.run" in again.stderr
    assert emulator.count("PUT", "/jobs/phi4-ultrachat-run1?") == 1


def test_apply_succeeds_through_injected_429s_and_503s(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    emulator.behaviour.fault_rate = 0.2
    result = run("apply")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "[smoke-test] answer:" in result.stdout
    assert emulator.faults >= 10  # 429s and 503s, retried by azure-core's policy
    assert emulator.count("PUT", "/jobs/") >= 1


def test_wrong_credential_explains_how_to_log_in(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    result = run("apply", credential=RejectingCredential())
    assert result.exit_code == 2
    assert "Could not get an Azure token" in result.stderr and "az login" in result.stderr
    assert "Traceback" not in result.stderr
    assert emulator.count("PUT") == 0


def test_plan_shows_updates_after_a_spec_change(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    assert run("apply").exit_code == 0
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("max_instances: 2", "max_instances: 1")
                    .replace("instance_count: 1", "instance_count: 2"))
    stale = run("apply")
    assert stale.exit_code == 1 and "run `make render` first" in stale.stderr
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    plan = run("plan")
    assert "update    compute       gpu-cluster-big\n          max_instances: 2 -> 1" in plan.stdout
    assert "update    deployment    demo\n          instance_count: 1 -> 2" in plan.stdout
    assert plan.stdout.splitlines()[-1] == "Plan: 0 to create, 2 to update, 0 to delete, 9 unchanged, 0 refused"
    assert plan.exit_code == 0 and run("plan", "--detailed-exitcode").exit_code == 2
    puts = emulator.count("PUT", "/jobs/")
    applied = run("apply")
    assert applied.exit_code == 0, applied.stderr
    assert emulator.count("PUT", "/jobs/") == puts
    assert run("plan").stdout.splitlines()[-1] == "Plan: 0 to create, 0 to update, 0 to delete, 11 unchanged, 0 refused"


def test_quota_shortfall_stops_before_anything_is_created(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    emulator.behaviour.quota["standardNCADSA100v4Family"] = (40, 50)
    result = run("apply")
    assert result.exit_code == 2
    assert "family standardNCADSA100v4Family in region westeurope: need 72, have 10 of 50 vCPUs" in result.stderr
    assert emulator.count("PUT") == 0


@pytest.mark.parametrize("surfaces_in", ["request", "operation"])
def test_taken_endpoint_name_is_explained_and_the_suffix_option_fixes_it(
        workspace: tuple[Path, Emulator], surfaces_in: str) -> None:
    project, emulator = workspace
    emulator.behaviour.taken_endpoint_names.add("ultrachat-completion")
    emulator.behaviour.endpoint_conflict_in = surfaces_in
    result = run("apply")
    assert result.exit_code == 2
    assert ("create endpoint ultrachat-completion: There is already an endpoint with this name, Endpoint name needs "
            "to be unique within a region. Try some other name.") in result.stderr
    assert "online endpoint names are unique per Azure region" in result.stderr
    assert "endpoint.name_suffix: workspace" in result.stderr
    assert "[pipeline-job] not run: endpoint did not succeed" in result.stdout
    assert emulator.count("PUT", "/jobs/") == 0  # no GPU time for a run that could not be deployed
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("  auth_mode: key\n", "  auth_mode: key\n  name_suffix: workspace\n"))
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    fixed = run("apply")
    assert fixed.exit_code == 0, fixed.stdout + fixed.stderr
    names = [k.rsplit("/", 1)[-1] for k in emulator.resources if k.endswith(tuple("0123456789abcdef"))
             and "/onlineendpoints/" in k and "/deployments/" not in k]
    assert len(names) == 1 and names[0].startswith("ultrachat-completion-") and len(names[0]) == 27


def test_status_invoke_destroy_and_no_key_anywhere(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    results = [run("apply")]
    status = run("status")
    assert "Completed" in status.stdout and f"scoring URI {emulator.base_url}/score/ultrachat-completion" in status.stdout
    request = project / "request.json"
    request.write_text(json.dumps({"input_data": {"input_string": [[{"role": "user", "content": "Ping?"}]],
                                                  "parameters": {}}, "params": {}}))
    answer = run("invoke", "--request", str(request))
    assert answer.exit_code == 0 and "(emulated answer to: Ping?)" in answer.stdout
    refused = run("destroy")
    assert refused.exit_code == 2 and "pass --yes" in refused.stderr
    destroyed = run("destroy", "--yes")
    assert destroyed.exit_code == 0, destroyed.stderr
    ws = emulator.workspace_path.lower()
    assert ws + "/onlineendpoints/ultrachat-completion" not in emulator.resources
    assert ws + "/computes/gpu-cluster-big" in emulator.resources
    assert ws + "/models/phi-4-ultrachat-200k/versions/1" in emulator.resources
    results += [status, answer, refused, destroyed, run("status"), run("plan")]
    assert ws + "/onlineendpoints/ultrachat-completion" not in emulator.resources
    compute_too = run("destroy", "--yes", "--compute")
    assert compute_too.exit_code == 0, compute_too.stderr
    assert "endpoint ultrachat-completion does not exist; nothing to delete" in compute_too.stdout
    assert ws + "/computes/gpu-cluster-big" not in emulator.resources
    results.append(compute_too)
    key = emulator.behaviour.key
    assert key not in _all_output(*results)
    for path in project.rglob("*"):
        if path.is_file():
            assert key not in path.read_text(errors="ignore"), path


def test_apply_refuses_missing_data_files(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    (project / "data" / "ultrachat_200k" / "train_sft.jsonl").unlink()
    result = run("apply")
    assert result.exit_code == 2
    assert "prepared data file data/ultrachat_200k/train_sft.jsonl does not exist yet" in result.stderr
    assert emulator.count("PUT") == 0


def test_plan_offline_prints_order_and_az_commands(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    result = CliRunner().invoke(main, ["plan", SPEC, "--offline"])
    assert result.exit_code == 0
    assert "az ml job create --file generated/phi4-ultrachat/pipeline-job.yml --stream" in result.stdout
    assert result.stdout.startswith("foundation model azureml://registries/azureml/models/Phi-4/versions/8: label "
                                    "latest -> version 8 (catalog: ")
    assert "parameters from the model's model_specific_defaults: deepspeed_stage=3, apply_ort=false" in result.stdout
    assert emulator.requests == []


def test_the_job_is_submitted_only_once_the_endpoint_exists(workspace: tuple[Path, Emulator]) -> None:
    import threading

    project, emulator = workspace
    endpoint = emulator.gate("endpoint", "ultrachat-completion")
    seen: dict[str, int] = {}

    def open_after_compute_and_data_are_done() -> None:
        for what in ("/data/phi4-ultrachat-train_sft/versions/1", "/data/phi4-ultrachat-test_sft/versions/1"):
            emulator.wait_for_request("PUT", what, 1)
        emulator.wait_until(lambda: emulator.polls.get("compute:gpu-cluster-big", 0) >= 1, "the compute created")
        polls = emulator.polls.get("endpoint:ultrachat-completion", 0)
        emulator.wait_until(lambda: emulator.polls.get("endpoint:ultrachat-completion", 0) >= polls + 3,
                            "apply polling the endpoint after compute and data were done")
        seen["jobs while the endpoint was creating"] = emulator.count("PUT", "/jobs/")
        seen["endpoint state"] = emulator.resources[emulator.workspace_path.lower()
                                                    + "/onlineendpoints/ultrachat-completion"]["properties"][
                                                        "provisioningState"]
        endpoint.set()

    threading.Thread(target=open_after_compute_and_data_are_done, daemon=True).start()
    result = run("apply")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert seen == {"jobs while the endpoint was creating": 0, "endpoint state": "Creating"}
    assert emulator.count("PUT", "/jobs/phi4-ultrachat-run1?") == 1


def test_a_failed_endpoint_is_reported_then_repaired_and_no_job_runs_meanwhile(
        workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    emulator.behaviour.failing_endpoints.add("ultrachat-completion")
    first = run("apply")
    assert first.exit_code == 1
    assert "EndpointProvisioningFailed: the emulator was told to fail this endpoint" in first.stderr
    assert emulator.count("PUT", "/jobs/") == 0
    plan = run("plan")
    assert "repair    endpoint      ultrachat-completion\n          provisioning state Failed: apply recreates it" \
        in plan.stdout
    again = run("apply")  # still failing: reported, never "unchanged", and still no job
    assert again.exit_code == 1 and "[endpoint] unchanged" not in again.stdout
    assert emulator.count("PUT", "/jobs/") == 0
    emulator.behaviour.failing_endpoints.clear()
    fixed = run("apply")
    assert fixed.exit_code == 0, fixed.stdout + fixed.stderr
    assert "[endpoint] repair: provisioning state Failed: apply recreates it" in fixed.stdout
    assert emulator.count("PUT", "/jobs/phi4-ultrachat-run1?") == 1


def test_a_failed_deployment_is_repaired_by_the_next_apply(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    emulator.behaviour.failing_deployments.add("demo")
    first = run("apply")
    assert first.exit_code == 1 and "DeploymentFailed: the emulator was told to fail this deployment" in first.stderr
    assert "repair    deployment    demo" in run("plan").stdout
    emulator.behaviour.failing_deployments.clear()
    fixed = run("apply")
    assert fixed.exit_code == 0, fixed.stdout + fixed.stderr
    assert "[deployment] repair: provisioning state Failed: apply recreates it" in fixed.stdout
    assert "[pipeline-job] unchanged" in fixed.stdout


def test_compute_comes_back_upper_cased_and_is_still_unchanged(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    assert run("apply").exit_code == 0
    compute = emulator.resources[emulator.workspace_path.lower() + "/computes/gpu-cluster-big"]["properties"]
    assert compute["properties"]["vmSize"] == "STANDARD_NC24ADS_A100_V4" and compute["provisioningState"] == "Succeeded"
    assert "[compute] unchanged" in run("apply").stdout


def test_quota_reads_the_subscription_row_and_the_regional_total(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    emulator.behaviour.regional_quota = (950, 1000)
    result = run("apply")
    assert result.exit_code == 2
    assert "quota: family standardNCADSA100v4Family in region westeurope: need 72, have 96 of 96 vCPUs" in result.stdout
    assert ("not enough quota:\n  all dedicated cluster vCPUs in region westeurope: need 72, have 50 of 1000"
            in result.stderr)
    assert emulator.count("PUT") == 0


def test_quota_without_a_family_row_or_without_rights_is_said_not_skipped(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    del emulator.behaviour.quota["standardNCADSA100v4Family"]
    result = run("apply")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert ("warning: quota: the usages list has no subscription-level dedicated row for family "
            "standardNCADSA100v4Family in region westeurope; that family's quota was not checked") in result.stdout
    emulator.behaviour.forbidden.update({"usages", "vmSizes"})
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("run: 1 ", "run: 2 "))
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    again = run("apply")
    assert again.exit_code == 0, again.stdout + again.stderr
    assert ("warning: could not read the region's VM sizes (compute.list_sizes) (403: AuthorizationFailed: The client "
            "does not have authorization") in again.stdout
    assert "warning: GPUs per node and quota were not checked either: both need the VM sizes" in again.stdout


def _client(project: Path) -> Any:
    from generator.runner.connection import workspace_from_config, workspace_client

    return workspace_client(EmulatorCredential(), workspace_from_config(json.loads((project / "config.json").read_text())))


def test_the_emulator_refuses_what_the_service_would(workspace: tuple[Path, Emulator]) -> None:
    from azure.ai.ml import load_job, load_model
    from azure.core.exceptions import HttpResponseError

    project, emulator = workspace
    ml = _client(project)
    job = load_job(project / "generated" / "phi4-ultrachat" / "pipeline-job.yml")
    node = job.jobs["chat_completion_pipeline"]
    node.inputs.mlflow_model_path.path = "azureml://registries/azureml/models/Phi-4/labels/latest"
    with pytest.raises(HttpResponseError, match="refers to a model by label; give a version"):
        ml.jobs.create_or_update(job, skip_validation=True)
    assert run("apply", "--no-stream-logs").exit_code == 0  # the rendered job, pinned to a version, is accepted
    model = load_model(project / "generated" / "phi4-ultrachat" / "model.yml")
    model.path, model.version = "azureml://jobs/never-ran/outputs/trained_model", "7"
    with pytest.raises(HttpResponseError, match="Job never-ran is not found: a model can be registered from a job's "
                                                "output only once the job has completed"):
        ml.models.create_or_update(model)


def test_a_wrong_workspace_name_is_a_404_with_a_hint(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    result = run("plan", "--workspace", "no-such-ws")
    assert result.exit_code == 2  # not a plan that creates everything in a workspace that does not exist
    assert result.stderr.startswith("error: workspace no-such-ws was not found in resource group rg of subscription ")
    assert "ResourceNotFound: The Resource 'Microsoft.MachineLearningServices/workspaces/no-such-ws' under resource " \
           "group 'rg' was not found." in result.stderr
    assert "check config.json or --subscription/--resource-group/--workspace" in result.stderr
    assert "create" not in result.stdout


def test_identity_datastores_upload_with_the_users_token(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    emulator.behaviour.datastore_auth = "identity"
    result = run("apply")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert emulator.count("POST", "/listSecrets") == 0  # azure-ai-ml skips it for credentialsType None
    assert any(key.endswith("train_sft.jsonl") for key in emulator.blobs)


def test_identity_datastores_without_a_blob_role_name_the_role(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    emulator.behaviour.datastore_auth = "identity-no-role"
    result = run("apply")
    assert result.exit_code == 1
    assert "You don't have permission to alter this storage account" in result.stderr  # azure-ai-ml's own words
    assert ("so uploads go to storage account emustore with your own Azure AD token, and it has no blob-data role "
            "there.\n  what to do: ask an owner for 'Storage Blob Data Contributor' on emustore") in result.stderr
    assert emulator.count("PUT", "/jobs/") == 0


def test_a_changed_setting_after_the_job_finished_is_refused_not_unchanged(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    assert run("apply").exit_code == 0
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("learning_rate: 5.0e-6", "learning_rate: 2.0e-3"))
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    plan = run("plan")
    assert plan.exit_code == 1
    assert ("refuse    pipeline-job  phi4-ultrachat-run1\n          pipeline-job phi4-ultrachat-run1: learning_rate "
            "5e-06 -> 0.002 (the job finished with the old values): bump experiment.run in specs/phi4-ultrachat.yaml "
            "and render to train again") in plan.stdout
    assert plan.stdout.splitlines()[-1] == "Plan: 0 to create, 0 to update, 0 to delete, 10 unchanged, 1 refused"
    assert "error: apply would refuse pipeline-job (see above)" in plan.stderr
    puts = emulator.count("PUT")
    applied = run("apply")
    assert applied.exit_code == 1 and "apply refuses pipeline-job phi4-ultrachat-run1: learning_rate" in applied.stderr
    assert emulator.count("PUT") == puts  # nothing created, updated or submitted
    spec.write_text(spec.read_text().replace("run: 1 ", "run: 2 "))
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0
    assert "create    pipeline-job  phi4-ultrachat-run2" in run("plan").stdout


def test_changed_data_under_the_same_version_is_refused(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    assert run("apply").exit_code == 0
    train = project / "data" / "ultrachat_200k" / "train_sft.jsonl"
    lines = train.read_text().splitlines(keepends=True)
    train.write_text("".join(lines[: len(lines) // 2]))  # e.g. prepared again with another split_percent
    plan = run("plan")
    assert plan.exit_code == 1
    assert ("refuse    data-train    phi4-ultrachat-train_sft\n          data/ultrachat_200k/train_sft.jsonl changed "
            "since version 1 of phi4-ultrachat-train_sft was uploaded (data versions are immutable): bump "
            "experiment.run in specs/phi4-ultrachat.yaml and render to upload and train anew") in plan.stdout
    assert "unchanged data-test     phi4-ultrachat-test_sft\n          version 1 exists with the same content" \
        in plan.stdout


def test_apply_without_a_terminal_needs_yes_before_billed_resources(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    result = run("apply", "--no-yes")
    assert result.exit_code == 2
    assert ("apply would start billed resources (create compute, create endpoint, create pipeline-job, create "
            "eval-base, create eval-tuned, create deployment); pass --yes to confirm without a terminal") in result.stderr
    assert emulator.count("PUT") == 0


@pytest.mark.parametrize("body, message", [
    ('{"input_data": {}}', "input_data.input_string must be a non-empty list of messages (or a list holding one)"),
    ("{not json", "the body is not JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
])
def test_invoke_explains_a_bad_request_file_before_sending_it(workspace: tuple[Path, Emulator], body: str,
                                                             message: str) -> None:
    project, emulator = workspace
    assert run("apply").exit_code == 0
    request = project / "bad-request.json"
    request.write_text(body)
    posts = emulator.count("POST", "/score/")
    result = run("invoke", "--request", str(request))
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: request file {request} ({len(body)} bytes) is not a scoring request: "
                                     f"{message}; nothing was sent")
    assert emulator.count("POST", "/score/") == posts


def test_an_oversized_request_is_explained_by_its_size(workspace: tuple[Path, Emulator]) -> None:
    """Azure documents no request size limit, so the request is sent; the emulator's scoring route takes at most
    1 MiB (as the local scoring server) and refuses the rest: the error names the size and the lack of a limit."""
    project, emulator = workspace
    assert run("apply").exit_code == 0
    request = project / "big-request.json"
    request.write_text(json.dumps({"input_data": {"input_string": [{"role": "user", "content": "x" * (8 << 20)}],
                                                  "parameters": {}}}))
    result = run("invoke", "--request", str(request))
    assert result.exit_code in (1, 2), result.output
    assert f"the request ({request}) was 8.0 MiB; Azure documents no size limit for a request to a managed online " \
           "endpoint" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_at_the_destroy_prompt_deletes_nothing(workspace: tuple[Path, Emulator],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    project, emulator = workspace
    assert run("apply").exit_code == 0
    from generator.cli import runner as commands

    monkeypatch.setattr(commands, "at_terminal", lambda: True)
    result = CliRunner().invoke(main, ["destroy", SPEC], input="n\n", obj={"credential": EmulatorCredential()})
    assert result.exit_code == 0 and "nothing was deleted" in result.stdout and "Abort" not in result.output
    assert emulator.count("DELETE") == 0


def test_no_at_the_apply_prompt_creates_nothing(workspace: tuple[Path, Emulator],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.cli import runner as commands

    project, emulator = workspace
    monkeypatch.setattr(commands, "at_terminal", lambda: True)
    result = CliRunner().invoke(main, ["apply", SPEC], input="n\n", obj={"credential": EmulatorCredential()})
    assert result.exit_code == 0, result.output
    assert "Plan: 10 to create, 0 to update, 0 to delete, 1 unchanged, 0 refused" in result.stdout.splitlines()
    assert "Start these billed resources (create compute, create endpoint, create pipeline-job" in result.stdout
    assert "apply cancelled: nothing was created" in result.stdout
    assert emulator.count("PUT") == 0


def test_apply_output_has_no_escape_codes_or_progress_dots(workspace: tuple[Path, Emulator],
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    from generator.runner.compat import PRINTING_MODULES, _no_print

    result = run("apply")
    assert result.exit_code == 0, result.stdout + result.stderr
    captured = capfd.readouterr()  # what the SDK wrote past click to the real stdout/stderr
    for text in (result.stdout, result.stderr, captured.out, captured.err):
        assert "\x1b[" not in text and ".[" not in text and "\n\n\n" not in text
    import importlib

    assert all(importlib.import_module(name).print is _no_print for name in PRINTING_MODULES)


CANNOT_READ = ("error: invoke ultrachat-completion/demo: the endpoint answered an error that azure-ai-ml fails to read "
               "({}); a request that outlived the deployment's request_timeout_ms (HTTP 408) is one such answer. The "
               "deployment's logs say more: az ml online-deployment get-logs --endpoint-name ultrachat-completion "
               "--name demo")


@pytest.mark.parametrize("status, answer, shown", [
    (400, {"error": {"code": "BadRequest", "message": "bad parameters: max_new_tokens must be between 1 and 1024"}},
     "error: invoke ultrachat-completion/demo: BadRequest: bad parameters: max_new_tokens must be between 1 and 1024"),
    (408, {"error": {"code": "RequestTimeout", "message": "generation did not finish within 5 s"}},
     CANNOT_READ.format("TypeError: AzureError.__init__() missing 1 required positional argument: 'message'")),
    (400, {"error": "a bare string"}, CANNOT_READ.format("AttributeError: 'str' object has no attribute 'get'")),
])
def test_an_endpoints_error_answer_is_shown_as_its_message(workspace: tuple[Path, Emulator], status: int,
                                                           answer: dict, shown: str) -> None:
    project, emulator = workspace
    assert run("apply").exit_code == 0
    emulator.behaviour.scoring_answer = (status, answer)  # the model behind the endpoint refuses the request
    result = run("invoke")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [shown]  # one paragraph, no traceback


def test_a_lost_answer_to_a_job_submission_never_makes_a_second_job(workspace: tuple[Path, Emulator]) -> None:
    """The service stores the job but its answer is lost; the client retries and finds it: apply waits for that
    job instead of failing or submitting again."""
    project, emulator = workspace
    emulator.behaviour.lost_job_answers.add("phi4-ultrachat-run1")
    applied = run("apply")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert "phi4-ultrachat-run1 was created by an earlier attempt of this submission (same inputs)" in applied.stdout
    ws = emulator.workspace_path.lower()
    assert sum(1 for key in emulator.resources if key.startswith(ws + "/jobs/phi4-ultrachat-run1")
               and key.rsplit("/", 1)[-1] == "phi4-ultrachat-run1") == 1
    assert "[pipeline-job] phi4-ultrachat-run1: Completed" in applied.stdout
