"""The serverless route on the local workspace, for real but cheaply: the generated finetuning-job.yml submitted with
the real MLClient runs the local LoRA fine-tune of the tiny random test double (`local start --model Phi-4=<tiny>`),
the workspace registers the tuned model, a serverless endpoint made from serverless-endpoint.yml serves it and answers
`/v1/chat/completions` with the endpoint's key, as does an endpoint of the base model; the endpoints serve again after
`local stop` / `local start`; deleting the endpoint stops its scoring server. The real stand-in's answers are the
demo's business (tests/local/test_local_real_model.py)."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import REPO
from tests.local.projects import sample_slice, use_local_workspace

torch = pytest.importorskip("torch", reason="the local extra (requirements-local.txt) is part of make test")
import mlflow  # noqa: E402,F401 - imported before the tokenizers' libraries (tests/local/test_local_evaluation.py)

SPEC = "phi4-ultrachat-serverless"
JOB, MODEL, ENDPOINT = f"{SPEC}-run1", "Phi-4-ultrachat-serverless", "ultrachat-serverless"
JOB_WAIT = 600.0  # a bound on a hung job, not a margin: the tiny double's fine-tune takes seconds


def _wait_for(ml: Any, job: str) -> Any:
    """The job's status once it has ended (polled as azureml-examples' notebook polls it)."""
    deadline = time.monotonic() + JOB_WAIT
    while (status := ml.jobs.get(job).status) not in ("Completed", "Failed", "Canceled"):
        assert time.monotonic() < deadline, f"{job} still {status}"
        time.sleep(0.5)
    return status


def test_the_local_workspace_fine_tunes_registers_and_serves_chat_completions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.ai.ml import load_data, load_job, load_serverless_endpoint
    from azure.ai.ml.entities import ServerlessEndpoint

    from generator.cli.demo import run_step
    from generator.local.daemon import start_local, stop
    from generator.runner.connection import workspace_client, workspace_from_config
    from tests.support.tinymodel import ensure_foundation_model

    (tmp_path / "specs").mkdir()
    shutil.copy(REPO / "specs" / f"{SPEC}.yaml", tmp_path / "specs")
    data = tmp_path / "data" / "ultrachat_200k"
    sample_slice(data, (("train_sft", 6), ("test_sft", 3)))
    tiny = ensure_foundation_model(tmp_path / "tiny", sorted(data.glob("*.jsonl")))
    state = use_local_workspace(monkeypatch, tmp_path, ".local-workspace-serverless")
    generated = tmp_path / "generated" / SPEC
    try:
        for args in (["local", "start", "--model", f"Phi-4={tiny}"], ["render", f"specs/{SPEC}.yaml"]):
            run_step(args)
        config, credential, _, _ = start_local(tmp_path)
        ml = workspace_client(credential, workspace_from_config(config))
        for name in ("data-train.yml", "data-test.yml"):
            ml.data.create_or_update(load_data(generated / name))
        ml.jobs.create_or_update(load_job(generated / "finetuning-job.yml"))
        assert _wait_for(ml, JOB) == "Completed", (state / "jobs" / JOB / "std_log.txt").read_text()
        log = (state / "jobs" / JOB / "std_log.txt").read_text()
        # the route's hyperparameters (strings) over Phi-4's model_specific_defaults (LoRA) and the component's
        assert "FineTuning job: hyperparameters num_train_epochs=3, per_device_train_batch_size=1, " \
               "learning_rate=5.0e-06; the rest from Phi-4's model_specific_defaults" in log, log
        assert "3 epoch(s), batch 1" in log and "LoRA r=8 alpha=128" in log and "learning_rate 5e-06" in log, log
        [model] = ml.models.list(MODEL)
        assert (model.version, model.job_name) == ("1", JOB)
        assert (state / "jobs" / JOB / "outputs" / "trained_model" / "MLmodel").is_file()

        endpoint = load_serverless_endpoint(generated / "serverless-endpoint.yml")
        workspace = ml.workspaces.get(ml.workspace_name)
        endpoint.model_id = endpoint.model_id.format(AI_PROJECT_LOCATION=workspace.location,
                                                     WORKSPACE_ID=workspace._workspace_id, VERSION=model.version)
        made = ml.serverless_endpoints.begin_create_or_update(endpoint).result()
        assert made.provisioning_state == "succeeded"
        key = ml.serverless_endpoints.get_keys(ENDPOINT).primary_key
        url = f"{made.scoring_uri}/v1/chat/completions"
        request = {**json.loads((generated / "chat-request.json").read_text()), "temperature": 0, "max_tokens": 6}
        answers = [requests.post(url, json=request, headers={"Authorization": key}, timeout=120) for _ in range(2)]
        assert [a.status_code for a in answers] == [200, 200], answers[0].text
        body = answers[0].json()
        assert body["object"] == "chat.completion" and body["model"] == MODEL
        [choice] = body["choices"]
        assert choice["message"]["role"] == "assistant" and isinstance(choice["message"]["content"], str)
        assert choice["finish_reason"] in ("stop", "length") and 1 <= body["usage"]["completion_tokens"] <= 6
        assert body["usage"]["prompt_tokens"] > len(request["messages"][0]["content"].split())
        assert answers[1].json()["choices"] == body["choices"]  # greedy at temperature 0: the same answer
        refused = requests.post(url, json=request, headers={"Authorization": "wrong"}, timeout=120)
        assert refused.status_code == 401
        seeded = requests.post(url, json={**request, "seed": 1}, headers={"Authorization": key}, timeout=120)
        assert seeded.status_code == 422 and seeded.json()["detail"]["loc"] == ["body", "seed"]

        base = ml.serverless_endpoints.begin_create_or_update(ServerlessEndpoint(
            name="phi4-base", model_id="azureml://registries/azureml/models/Phi-4")).result()
        answer = requests.post(f"{base.scoring_uri}/v1/chat/completions", json=request,
                               headers={"Authorization": key}, timeout=120)
        assert answer.status_code == 200 and answer.json()["model"] == "Phi-4", answer.text
        assert f"serving {tiny} as Phi-4" in (state / "serverless" / "phi4-base" / "scoring.log").read_text()
        # the endpoints survive `local stop` / `local start`: their scoring servers start again
        stop(state)
        config, credential, _, _ = start_local(tmp_path)
        ml = workspace_client(credential, workspace_from_config(config))
        made = ml.serverless_endpoints.get(ENDPOINT)
        url = f"{made.scoring_uri}/v1/chat/completions"
        again = requests.post(url, json=request, headers={"Authorization": key}, timeout=120)
        assert again.status_code == 401  # a restarted workspace has a new key
        key = ml.serverless_endpoints.get_keys(ENDPOINT).primary_key
        again = requests.post(url, json=request, headers={"Authorization": key}, timeout=120)
        assert again.status_code == 200 and again.json()["choices"] == body["choices"], again.text

        port = int((state / "serverless" / ENDPOINT / "port").read_text())
        ml.serverless_endpoints.begin_delete(ENDPOINT).result()
        assert requests.post(url, json=request, headers={"Authorization": key}, timeout=120).status_code == 404
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        stop(state)
