"""The serverless route's workspace side with the real MLClient against the emulator (gated backend): the generated
finetuning-job.yml submitted, waited for and its model registered; a serverless endpoint for that model made from the
generated serverless-endpoint.yml (model_id filled as the runner will), its keys, a chat completion, its deletion; the
refusals Azure makes (a region the route does not offer, as recorded; a partner model without a marketplace
subscription; a second endpoint for one custom model) and the cancel of a running job. Gates, no wall-clock margins.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from click.testing import CliRunner

from generator.cli import main
from tests.conftest import REPO
from tests.emulator.harness import Emulator, EmulatorCredential, install_dns, start_emulator

SPEC = "phi4-ultrachat-serverless"
JOB, MODEL, ENDPOINT = f"{SPEC}-run1", "Phi-4-ultrachat-serverless", "ultrachat-serverless"
GENERATED = Path("generated") / SPEC
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The serverless example rendered into a project of its own, with ten conversations per split as its data."""
    root = tmp_path_factory.mktemp("serverless")
    (root / "specs").mkdir()
    shutil.copy(REPO / "specs" / f"{SPEC}.yaml", root / "specs")
    data = root / "data" / "ultrachat_200k"
    data.mkdir(parents=True)
    for split in ("train_sft", "test_sft"):
        lines = (REPO / "samples" / "ultrachat_mini" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()[:10]
        (data / f"{split}.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    assert CliRunner().invoke(main, ["render", "--root", str(root)]).exit_code == 0
    return root


def _client(config: dict[str, Any]) -> Any:
    from generator.runner.connection import workspace_from_config, workspace_client

    return workspace_client(EmulatorCredential(), workspace_from_config(config))


def _start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, project: Path, location: str) -> tuple[Emulator, Any]:
    """An emulator in `location`, a real MLClient on it, and the project's two data assets created."""
    from azure.ai.ml import load_data

    emulator, config = start_emulator(tmp_path / "tls", location=location)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "tls" / "ca.pem"))
    install_dns()
    ml = _client(config)
    for name in ("data-train.yml", "data-test.yml"):
        ml.data.create_or_update(load_data(project / GENERATED / name))
    return emulator, ml


@pytest.fixture
def emulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, project: Path) -> Iterator[tuple[Emulator, Any]]:
    """The workspace in eastus2 (where the route fine-tunes Phi-4) and a client."""
    emulator, ml = _start(tmp_path, monkeypatch, project, "eastus2")
    yield emulator, ml
    emulator.stop()


def submit(ml: Any, project: Path, name: str = JOB) -> Any:
    """The generated finetuning-job.yml, submitted as `load_job` reads it (under another name when asked)."""
    from azure.ai.ml import load_job

    job = load_job(project / GENERATED / "finetuning-job.yml")
    job.name = name
    return ml.jobs.create_or_update(job)


def endpoint_from_yaml(ml: Any, project: Path, version: str, name: str = ENDPOINT) -> Any:
    """serverless-endpoint.yml with its model_id filled as the runner fills it: the placeholders of azureml-examples'
    serverless_endpoint.yaml replaced by the workspace's location and id (Workspace.location, ._workspace_id: the
    notebook's own) and the version the job registered."""
    from azure.ai.ml import load_serverless_endpoint

    endpoint = load_serverless_endpoint(project / GENERATED / "serverless-endpoint.yml")
    workspace = ml.workspaces.get(ml.workspace_name)
    endpoint.model_id = endpoint.model_id.format(AI_PROJECT_LOCATION=workspace.location,
                                                 WORKSPACE_ID=workspace._workspace_id, VERSION=version)
    endpoint.name = name
    return endpoint


def chat(url: str, key: str, body: Any, **headers: str) -> requests.Response:
    """POST a chat completions request with the endpoint's key as the route's notebook sends it."""
    return requests.post(url + CHAT, json=body, headers={"Authorization": key, **headers}, timeout=30)


def test_the_job_registers_its_model_and_a_serverless_endpoint_for_it_answers_chat_completions(
        emulated: tuple[Emulator, Any], project: Path) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    emulator, ml = emulated
    request = json.loads((project / GENERATED / "chat-request.json").read_text())
    emulator.behaviour.served_answers[json.dumps(request["messages"])] = "Set a timer, clear the desk, take breaks."
    held = emulator.gate("job", JOB)
    job = submit(ml, project)
    # the SDK puts a FineTuning job with the 2024-10-01-preview client, once
    assert emulator.count("PUT", f"/jobs/{JOB}?api-version=2024-10-01-preview") == emulator.count("PUT", "/jobs/") == 1
    assert type(job).__name__ == "CustomModelFineTuningJob" and job.status == "Running"
    assert job.outputs["registered_model"].name == MODEL
    assert [j.name for j in ml.jobs.list()] == [JOB]
    assert list(ml.models.list(MODEL)) == []  # nothing registered while it runs
    # jobs.stream reads the job's services, which the service answers null for a FineTuning job (as recorded:
    # test_maap_finetuning_job_yaml @a049636e): azure-ai-ml 1.35.2 then fails (_job_ops_helper.py
    # stream_logs_until_completion), so a runner polls jobs.get
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'get'"):
        ml.jobs.stream(JOB)
    held.set()
    assert ml.jobs.get(JOB).status == "Completed"
    [model] = ml.models.list(MODEL)
    assert (model.version, model.job_name, model.type) == ("1", JOB, "mlflow_model")
    assert ml.models.get(MODEL, label="latest").version == "1"
    held = emulator.gate("serverless", ENDPOINT)
    poller = ml.serverless_endpoints.begin_create_or_update(endpoint_from_yaml(ml, project, model.version))
    emulator.wait_for_request("GET", "/operations/", 1)
    assert ml.serverless_endpoints.get(ENDPOINT).provisioning_state == "creating"
    held.set()
    made = poller.result()
    assert made.provisioning_state == "succeeded" and made.auth_mode == "Key"
    workspace_id = ml.workspaces.get(ml.workspace_name)._workspace_id
    assert made.model_id == f"azureml://locations/eastus2/workspaces/{workspace_id}/models/{MODEL}/versions/1"
    assert [e.name for e in ml.serverless_endpoints.list()] == [ENDPOINT]
    keys = ml.serverless_endpoints.get_keys(ENDPOINT)
    answer = chat(made.scoring_uri, keys.primary_key, request)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["object"] == "chat.completion" and body["model"] == MODEL
    assert body["choices"] == [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "Set a timer, clear the desk, take breaks."}}]
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"] > 0
    assert chat(made.scoring_uri, f"Bearer {keys.primary_key}", request).status_code == 200
    assert emulator.chats[ENDPOINT] == 2
    ml.serverless_endpoints.begin_delete(ENDPOINT).result()
    with pytest.raises(ResourceNotFoundError):
        ml.serverless_endpoints.get(ENDPOINT)
    assert chat(made.scoring_uri, keys.primary_key, request).status_code == 404
    assert list(ml.serverless_endpoints.list()) == [] and emulator.chats[ENDPOINT] == 2


def test_the_chat_route_refuses_as_the_reference_says(emulated: tuple[Emulator, Any], project: Path) -> None:
    """401 without the key (before the body is read), 404 for another route, 400 for a body that is not a request,
    422 for a parameter the model does not honour unless `extra-parameters: drop`; errors in the reference's shape."""
    emulator, ml = emulated
    submit(ml, project)
    [model] = ml.models.list(MODEL)
    made = ml.serverless_endpoints.begin_create_or_update(endpoint_from_yaml(ml, project, model.version)).result()
    key = ml.serverless_endpoints.get_keys(ENDPOINT).primary_key
    hello = {"messages": [{"role": "user", "content": "hi"}]}
    refused = chat(made.scoring_uri, "not-the-key", hello)
    assert refused.status_code == 401 and refused.json()["status"] == 401 and refused.json()["error"] == "Unauthorized"
    other = requests.post(f"{made.scoring_uri}/v1/completions", json=hello, headers={"Authorization": key}, timeout=30)
    assert other.status_code == 404 and "/v1/chat/completions" in other.json()["message"]
    assert chat(made.scoring_uri, key, {"prompt": "hi"}).status_code == 400
    seeded = chat(made.scoring_uri, key, {**hello, "seed": 7})
    assert seeded.status_code == 422 and seeded.json()["detail"] == {"loc": ["body", "seed"], "value": "7"}
    assert chat(made.scoring_uri, key, {**hello, "seed": 7}, **{"extra-parameters": "drop"}).status_code == 200
    assert emulator.chats[ENDPOINT] == 3  # the requests that got past the key and the route: 400, 422 and 200


def test_a_second_run_registers_the_next_version_and_one_custom_model_has_one_endpoint(
        emulated: tuple[Emulator, Any], project: Path) -> None:
    from azure.core.exceptions import HttpResponseError

    emulator, ml = emulated
    submit(ml, project)
    submit(ml, project, f"{SPEC}-run2")
    assert ml.jobs.get(f"{SPEC}-run2").status == "Completed"
    assert sorted((m.version, m.job_name) for m in ml.models.list(MODEL)) == [("1", JOB), ("2", f"{SPEC}-run2")]
    ml.serverless_endpoints.begin_create_or_update(endpoint_from_yaml(ml, project, "1")).result()
    with pytest.raises(HttpResponseError, match="Only one deployment is permitted for a custom model"):
        ml.serverless_endpoints.begin_create_or_update(endpoint_from_yaml(ml, project, "1", "second")).result()
    ml.serverless_endpoints.begin_create_or_update(endpoint_from_yaml(ml, project, "2", "second")).result()
    with pytest.raises(HttpResponseError, match="there is no model Phi-4-ultrachat-serverless version 3 here"):
        ml.serverless_endpoints.begin_create_or_update(endpoint_from_yaml(ml, project, "3", "third")).result()
    assert sorted(e.name for e in ml.serverless_endpoints.list()) == ["second", ENDPOINT]


def test_a_cancelled_or_failed_job_registers_nothing(emulated: tuple[Emulator, Any], project: Path) -> None:
    emulator, ml = emulated
    held = emulator.gate("job", JOB)
    submit(ml, project)
    ml.jobs.begin_cancel(JOB).result()
    assert emulator.count("POST", f"/jobs/{JOB}/cancel") == 1
    held.set()
    assert ml.jobs.get(JOB).status == "Canceled"
    emulator.behaviour.failing_jobs.add(f"{SPEC}-run2")
    submit(ml, project, f"{SPEC}-run2")
    assert ml.jobs.get(f"{SPEC}-run2").status == "Failed"
    ml.jobs.begin_cancel(f"{SPEC}-run2").result()  # an ended job stays as it ended
    assert ml.jobs.get(f"{SPEC}-run2").status == "Failed"
    assert list(ml.models.list(MODEL)) == []


def test_a_region_the_route_does_not_offer_refuses_the_job_as_azure_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, project: Path) -> None:
    """The recorded refusal (azure-sdk-assets test_custom_model_finetuning_job @d0dbcead): 400 UserError
    "<model> : Serverless FineTuning not supported in <region>."; nothing is stored."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    emulator, ml = _start(tmp_path, monkeypatch, project, "westeurope")
    try:
        with pytest.raises(HttpResponseError, match=r"Phi-4 : Serverless FineTuning not supported in westeurope\."):
            submit(ml, project)
        with pytest.raises(ResourceNotFoundError):
            ml.jobs.get(JOB)
    finally:
        emulator.stop()


def test_a_partner_model_needs_a_marketplace_subscription_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, project: Path) -> None:
    """Meta-Llama-3.1-8B-Instruct fine-tunes serverless in westus3 only, after a marketplace subscription to it
    (serverless.yml); a second subscription, or one for a model that needs none, is refused."""
    from azure.ai.ml import Input, load_job
    from azure.ai.ml.entities import MarketplaceSubscription
    from azure.core.exceptions import HttpResponseError

    llama = "azureml://registries/azureml-meta/models/Meta-Llama-3.1-8B-Instruct"
    emulator, ml = _start(tmp_path, monkeypatch, project, "westus3")
    try:
        job = load_job(project / GENERATED / "finetuning-job.yml")
        job.model = Input(type="mlflow_model", path=f"{llama}/versions/4")
        with pytest.raises(HttpResponseError, match="offered through Azure Marketplace"):
            ml.jobs.create_or_update(job)
        held = emulator.gate("subscription", "Meta-Llama-3-1-8B-Instruct-sub")
        poller = ml.marketplace_subscriptions.begin_create_or_update(
            MarketplaceSubscription(name="Meta-Llama-3-1-8B-Instruct-sub", model_id=llama))
        emulator.wait_for_request("GET", "/operations/", 1)
        assert ml.marketplace_subscriptions.get("Meta-Llama-3-1-8B-Instruct-sub").status == "pending_fulfillment_start"
        held.set()
        subscribed = poller.result()
        assert (subscribed.status, subscribed.provisioning_state, subscribed.model_id) == ("subscribed", "succeeded",
                                                                                           llama)
        assert ml.jobs.create_or_update(job).status == "Completed"
        with pytest.raises(HttpResponseError, match="already exists"):
            ml.marketplace_subscriptions.begin_create_or_update(
                MarketplaceSubscription(name="Meta-Llama-3-1-8B-Instruct-sub", model_id=llama)).result()
        with pytest.raises(HttpResponseError, match="no marketplace subscription is required"):
            ml.marketplace_subscriptions.begin_create_or_update(MarketplaceSubscription(
                name="Phi-4-sub", model_id="azureml://registries/azureml/models/Phi-4")).result()
        ml.marketplace_subscriptions.begin_delete("Meta-Llama-3-1-8B-Instruct-sub").result()
        assert list(ml.marketplace_subscriptions.list()) == []
    finally:
        emulator.stop()


def test_a_serverless_endpoint_of_the_base_model_answers_too(emulated: tuple[Emulator, Any]) -> None:
    """The registry model itself, without a version (the SDK refuses a registry model id with one): the base side of
    an evaluation through endpoints."""
    from azure.ai.ml.entities import ServerlessEndpoint

    emulator, ml = emulated
    base = ml.serverless_endpoints.begin_create_or_update(ServerlessEndpoint(
        name="phi4-base", model_id="azureml://registries/azureml/models/Phi-4")).result()
    key = ml.serverless_endpoints.get_keys("phi4-base").primary_key
    answer = chat(base.scoring_uri, key, {"messages": [{"role": "user", "content": "Name a colour."}]})
    assert answer.status_code == 200 and answer.json()["model"] == "Phi-4"
    assert answer.json()["choices"][0]["message"]["content"] == "(emulated answer to: Name a colour.)"
