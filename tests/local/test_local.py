"""The local target's scoring server contract, on the tiny random test double (sub-second answers); the demo
with the real stand-in model is in test_local_real_model.py."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from tests.conftest import REPO

torch = pytest.importorskip("torch", reason="the local extra (requirements-local.txt) is part of make test")


@pytest.fixture(scope="module")
def scoring_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A scoring server for an untrained tiny model saved as an MLflow model."""
    from generator.emulator.connect import make_certificates
    from generator.local.finetune import save_mlflow_model, typed_parameters
    from generator.local.scoring import KEY_VARIABLE
    from tests.support.tinymodel import ensure_foundation_model

    root = tmp_path_factory.mktemp("scoring")
    model_dir = ensure_foundation_model(root / "base", sorted((REPO / "samples" / "ultrachat_mini").glob("*.jsonl")))
    from transformers import AutoModelForCausalLM, AutoTokenizer

    save_mlflow_model(AutoModelForCausalLM.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir),
                      root / "mlflow", typed_parameters({}))
    server_pem, ca_pem = make_certificates(root / "tls")
    key = "test-key-" + os.urandom(8).hex()
    port_file = root / "port"
    process = subprocess.Popen([sys.executable, "-m", "generator.local.scoring", str(root / "mlflow"), str(port_file),
                                str(server_pem)], env={**os.environ, KEY_VARIABLE: key}, cwd=REPO)
    deadline = time.monotonic() + 60
    while not port_file.is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    assert port_file.is_file(), "scoring server did not start"
    yield {"url": f"https://127.0.0.1:{port_file.read_text()}/score", "key": key,
           "context": ssl.create_default_context(cafile=str(ca_pem)), "model_dir": model_dir}
    process.terminate()
    process.wait(10)


def _post(server: dict[str, Any], body: bytes, key: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {key}"} if key else {})
    request = urllib.request.Request(server["url"], data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, context=server["context"], timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


GOOD = json.dumps({"input_data": {"input_string": [[{"role": "user", "content": "Hi?"}]],
                                  "parameters": {"max_new_tokens": 5, "do_sample": False}}, "params": {}}).encode()


FLAT = json.dumps({"input_data": {"input_string": [{"role": "user", "content": "Hello?"}],
                                  "parameters": {"max_new_tokens": 5, "do_sample": False}}}).encode()


@pytest.mark.parametrize("request_body", [GOOD, FLAT], ids=["notebook-nested", "documented-flat"])
def test_scoring_answers_the_azure_request_shape(scoring_server: dict[str, Any], request_body: bytes) -> None:
    status, body = _post(scoring_server, request_body, scoring_server["key"])
    assert status == 200 and set(body) == {"output"} and isinstance(body["output"], str)


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_scoring_rejects_a_missing_or_wrong_key(scoring_server: dict[str, Any], key: str | None) -> None:
    status, body = _post(scoring_server, GOOD, key)
    assert status == 401 and "key" in body["error"]["message"]


@pytest.mark.parametrize("body, message", [
    (b"not json", "the body is not JSON"),
    (b'{"inputs": []}', 'expected {"input_data"'),
    (b'{"input_data": {"input_string": []}}', "must be a non-empty list of messages"),
    (b'{"input_data": {"input_string": [[{"role": "robot", "content": "x"}]]}}', "input_string[0] needs a role"),
    (b'{"input_data": {"input_string": [{"role": "user"}]}}', "input_string[0] needs a role"),
    (b'{"input_data": {"input_string": [[{"role": "user", "content": "x"}]], "parameters": []}}',
     "parameters must be an object"),
    (b'{"input_data": {"input_string": [{"role": "user", "content": "x"}], "parameters": {"max_new_tokens": 99999}}}',
     "bad parameters: max_new_tokens must be between 1 and 1024 on the local workspace, got 99999"),
])
def test_scoring_explains_bad_requests(scoring_server: dict[str, Any], body: bytes, message: str) -> None:
    status, answer = _post(scoring_server, body, scoring_server["key"])
    assert status == 400 and message in answer["error"]["message"]


def test_a_prompt_longer_than_the_context_window_is_cut_not_an_error(scoring_server: dict[str, Any]) -> None:
    words = " ".join(f"word{i}" for i in range(3000))  # several times the tiny model's 512 positions
    body = json.dumps({"input_data": {"input_string": [{"role": "user", "content": words}],
                                      "parameters": {"max_new_tokens": 4, "do_sample": False}}}).encode()
    status, answer = _post(scoring_server, body, scoring_server["key"])
    assert status == 200 and isinstance(answer["output"], str)


def test_generation_past_its_deadline_raises_timeout(scoring_server: dict[str, Any]) -> None:
    from generator.local.pyfunc import ChatModel

    model = ChatModel()
    model.load(str(scoring_server["model_dir"]))
    conversation = [{"role": "user", "content": "Hi?"}]
    assert isinstance(model.chat(conversation, {"max_new_tokens": 3, "do_sample": False}, deadline_s=600), str)
    with pytest.raises(TimeoutError, match="generation did not finish within 0 s"):
        model.chat(conversation, {"max_new_tokens": 3, "do_sample": False}, deadline_s=0)


def test_assistant_mask_without_generation_markers_covers_the_assistant_turns(tmp_path: Path) -> None:
    """A real model's chat template has no {% generation %} block: the mask is built from prefixes."""
    from transformers import AutoTokenizer

    from generator.local.finetune import assistant_mask
    from tests.support.tinymodel import ensure_foundation_model

    folder = ensure_foundation_model(tmp_path / "m", sorted((REPO / "samples" / "ultrachat_mini").glob("*.jsonl")))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    messages = [{"role": "system", "content": "be kind"}, {"role": "user", "content": "hi there"},
                {"role": "assistant", "content": "hello you"}, {"role": "user", "content": "and?"},
                {"role": "assistant", "content": "more"}]
    ids, marked = assistant_mask(tokenizer, messages)
    tokenizer.chat_template = tokenizer.chat_template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    same_ids, derived = assistant_mask(tokenizer, messages)
    assert same_ids == ids
    assert all(d >= m for d, m in zip(derived, marked))  # every assistant token is trained on
    extra = [t for t, d, m in zip(ids, derived, marked) if d and not m]
    assert tokenizer.decode(extra).strip() == ""  # only the newline after each <|end|> differs
    assert tokenizer.decode([t for t, m in zip(ids, marked) if m]) == "hello you<|end|>more<|end|>"


def test_local_start_refuses_a_folder_that_is_not_a_model(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from generator.cli import main

    result = CliRunner().invoke(main, ["local", "start", "--root", str(tmp_path), "--model",
                                       f"Phi-4={tmp_path}"])
    assert result.exit_code == 2 and "expected NAME=DIR with a Hugging Face model folder" in result.output
    assert not (tmp_path / ".local-workspace" / "workspace.json").exists()


def test_checkpoints_hold_the_adapter_and_only_the_newest_are_kept(tmp_path: Path) -> None:
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from generator.local.finetune import LORA_TARGETS, save_checkpoint
    from tests.support.tinymodel import ensure_foundation_model

    folder = ensure_foundation_model(tmp_path / "m", sorted((REPO / "samples" / "ultrachat_mini").glob("*.jsonl")))
    base = AutoModelForCausalLM.from_pretrained(folder)
    model = get_peft_model(base, LoraConfig(r=4, target_modules=LORA_TARGETS[base.config.model_type],
                                            task_type="CAUSAL_LM"))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    out = tmp_path / "pytorch_model_folder"
    for step in (2, 10, 4):  # numbered by step, not ordered by name: checkpoint-10 is the newest
        save_checkpoint(model, tokenizer, out, step, limit=2)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-10", "checkpoint-4"]
    kept = out / "checkpoint-10"
    assert (kept / "adapter_config.json").is_file() and not (kept / "model.safetensors").exists()
    assert isinstance(PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(folder), kept), PeftModel)
    for step in (12, 14, 16):
        save_checkpoint(model, tokenizer, out, step, limit=-1)  # the component's default keeps every one
    assert len(list(out.iterdir())) == 5


def test_min_new_tokens_reaches_generate_and_is_bounded_by_max_new_tokens() -> None:
    from types import SimpleNamespace

    from generator.local.pyfunc import ChatModel

    model = ChatModel()
    model.tokenizer = SimpleNamespace(pad_token_id=0)
    assert model._settings({"max_new_tokens": 60, "min_new_tokens": 60})[1]["min_new_tokens"] == 60
    assert model._settings({"max_new_tokens": 8, "min_new_tokens": 60})[1]["min_new_tokens"] == 8
    assert "min_new_tokens" not in model._settings({"max_new_tokens": 8})[1]  # by default it may stop at end of turn


def test_a_stand_in_converted_by_other_library_versions_is_converted_again(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from generator.local import standin

    monkeypatch.setenv(standin.CACHE_VARIABLE, str(tmp_path))
    made: list[dict[str, str]] = []

    def convert(gguf: Path, folder: Path, stamp: dict[str, Any]) -> None:  # stands in for the 15-40 s conversion
        made.append(stamp["converted_with"])
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / standin.STAMP).write_text(json.dumps(stamp), encoding="utf-8")

    monkeypatch.setattr(standin, "convert", convert)
    folder = standin.ensure_stand_in(say=lambda line: None)
    assert standin.ensure_stand_in(say=lambda line: None) == folder and made == [standin.converters()]
    stamp = json.loads((folder / standin.STAMP).read_text(encoding="utf-8"))
    stamp["converted_with"]["transformers"] = "4.0.0"
    (folder / standin.STAMP).write_text(json.dumps(stamp), encoding="utf-8")
    said: list[str] = []
    assert standin.ensure_stand_in(say=said.append) == folder
    assert len(made) == 2 and said[0].startswith(f"{folder.name} was converted with transformers 4.0.0, gguf ")
    assert standin.converted_with(folder) == standin.converters()
