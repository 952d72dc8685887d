"""The chat completions contract the local workspace and the emulator share (generator/request.py
parse_chat_request; MicrosoftDocs/azure-ai-docs reference-model-inference-chat-completions.md @9829b8ac), its error
shapes (generator/emulator/answers.py chat_error), and a local job's cancel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.emulator.answers import chat_error
from generator.request import ChatRequestError, parse_chat_request

HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]


def body(**fields: Any) -> bytes:
    return json.dumps({"messages": HELLO, **fields}).encode()


def test_a_request_gives_its_messages_and_the_pipelines_generation_parameters() -> None:
    assert parse_chat_request(body(max_tokens=20, temperature=0, top_p=0.5, model="x", stream=False)) == (
        HELLO, {"temperature": 0.0, "top_p": 0.5, "do_sample": False, "max_new_tokens": 20})
    # the page's defaults: temperature 1, top_p 1; max_tokens absent is left to the server (the model's own bound)
    assert parse_chat_request(body()) == (HELLO, {"temperature": 1.0, "top_p": 1.0, "do_sample": True})


@pytest.mark.parametrize(("raw", "status", "loc"), [
    (b"not json", 400, None), (b"[]", 400, None), (json.dumps({"prompt": "hi"}).encode(), 400, "messages"),
    (json.dumps({"messages": [{"role": "tool", "content": "x"}]}).encode(), 422, "messages.0"),
    (json.dumps({"messages": [{"role": "user", "content": [{"type": "text"}]}]}).encode(), 422, "messages.0"),
    (body(seed=1), 422, "seed"), (body(stream=True), 422, "stream"), (body(n=2), 422, "n"),
    (body(max_tokens=0), 422, "max_tokens"), (body(max_tokens=2.5), 422, "max_tokens"),
    (body(temperature=-1), 422, "temperature"), (body(top_p=2), 422, "top_p"), (body(top_p="1"), 422, "top_p")])
def test_what_the_local_models_cannot_honour_is_refused(raw: bytes, status: int, loc: str | None) -> None:
    with pytest.raises(ChatRequestError) as refused:
        parse_chat_request(raw)
    assert (refused.value.status, refused.value.loc) == (status, loc)


def test_extra_parameters_drop_drops_what_the_model_does_not_honour() -> None:
    assert parse_chat_request(body(seed=1, stop=["x"], stream=True), "drop")[1] == {
        "temperature": 1.0, "top_p": 1.0, "do_sample": True}
    with pytest.raises(ChatRequestError):
        parse_chat_request(body(seed=1), "error")


def test_the_errors_have_the_reference_shapes() -> None:
    assert chat_error(401, "no key") == {"error": "Unauthorized", "message": "no key", "status": 401}
    assert chat_error(422, "seed is not supported", "seed", 1) == {
        "error": "Unprocessable Entity", "message": "seed is not supported", "status": 422,
        "code": "UnprocessableEntity", "detail": {"loc": ["body", "seed"], "value": "1"}}


def test_cancelling_a_local_job_stops_it_or_keeps_it_from_starting(tmp_path: Path) -> None:
    from generator.local.executor import LocalExecutor, LocalJob

    class Process:
        terminated = False

        def poll(self) -> int | None:
            return None

        def terminate(self) -> None:
            self.terminated = True

    executor = LocalExecutor(tmp_path, tmp_path / "cert.pem", tmp_path / "ca.pem")
    queued, running, done = LocalJob("q", tmp_path / "q"), LocalJob("r", tmp_path / "r", "Running"), \
        LocalJob("d", tmp_path / "d", "Completed")
    running.process = Process()  # type: ignore[assignment]
    executor.jobs.update(q=queued, r=running, d=done)
    for name in ("q", "r", "d", "unknown"):
        executor.cancel_job(name)
    assert executor.job_status("q") == ("Canceled", "cancelled (jobs.begin_cancel)")
    assert running.canceled.is_set() and running.process.terminated  # type: ignore[union-attr]
    assert executor.job_status("d") == ("Completed", None) and not done.canceled.is_set()
    # a cancelled job no longer holds the jobs queued behind it
    later = LocalJob("later", tmp_path / "later", evaluation=True)
    executor.jobs["later"] = later
    assert executor._blockers(later) == []
