"""The smoke test of a serverless endpoint, and `invoke` on the serverless route: `POST <inference URI>/v1/chat/
completions` with the endpoint's key as `Authorization` (azureml-examples sdk/python/jobs/finetuning/standalone/
model-as-a-service/chat-completion/chat_completion_with_model_as_service.ipynb @085cd6ea). The key is read from
`serverless_endpoints.get_keys` into memory for the request and never printed, logged or written.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from generator.errors import CloudError, UsageError
from generator.runner.experiment import Resource
from generator.runner.explain import RunnerError
from generator.runner.plan import Action, Reason, Verb
from generator.runner.steps.common import Context

ROUTE = "/v1/chat/completions"
TIMEOUT = 300.0  # seconds for one answer: a bound on a hung endpoint, not a margin any test relies on
# A deployment answers 429 past its rate limit (200,000 tokens and 1,000 requests a minute: MicrosoftDocs/azure-ai-docs
# articles/ai-foundry/how-to/fine-tune-serverless.md @00fd7acc; TooManyRequestsError in the chat completions
# reference @9829b8ac) and 503 when busy: the request is sent again after the answer's Retry-After (seconds), or,
# without one, after 2, 4, 8 and 16 s (our choice: no source gives a wait), at most ATTEMPTS times in all.
RETRY_STATUSES = (429, 503)
ATTEMPTS = 5


def plan_chat(ctx: Context, res: Resource) -> Action:
    """The smoke test runs on every apply."""
    request = res.file.name if res.file else "the chat request"
    return Action(Verb.RUN, [f"send {request} to {res.name}{ROUTE}"], reason=Reason.ACTION)


def read_chat_request(path: Path) -> dict[str, Any]:
    """A chat completions request file: JSON with a non-empty `messages` list (refused before anything is sent)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the request file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"request file {path} is not JSON ({exc}); nothing was sent") from None
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
        raise UsageError(f"request file {path} is no chat completions request (an object with a non-empty "
                         "`messages` list); nothing was sent")
    return body


class Chat:
    """One serverless endpoint's chat route, with its key held in memory."""

    def __init__(self, ml: Any, endpoint: str):
        from generator.runner.steps.common import not_found

        found = not_found(lambda: ml.serverless_endpoints.get(endpoint))
        if found is None:
            raise RunnerError(f"serverless endpoint {endpoint} does not exist: apply creates it")
        if not found.scoring_uri:
            raise RunnerError(f"serverless endpoint {endpoint} has no inference URI yet "
                              f"(provisioning state {found.provisioning_state})")
        self.endpoint, self.url = endpoint, str(found.scoring_uri).rstrip("/") + ROUTE
        self._key = str(ml.serverless_endpoints.get_keys(endpoint).primary_key)

    def __repr__(self) -> str:
        return f"Chat({self.endpoint})"

    def ask(self, body: dict[str, Any]) -> dict[str, Any]:
        """The endpoint's answer to `body` (a chat completions response), sent again while the endpoint answers 429
        or 503 (RETRY_STATUSES, at most ATTEMPTS times), or CloudError with its status and error."""
        import requests

        for attempt in range(1, ATTEMPTS + 1):
            try:
                answer = requests.post(self.url, json=body, headers={"Authorization": self._key}, timeout=TIMEOUT)
            except requests.RequestException as exc:
                raise RunnerError(f"chat completions of {self.endpoint}: the connection failed "
                                  f"({type(exc).__name__})") from None
            if answer.status_code not in RETRY_STATUSES or attempt == ATTEMPTS:
                break
            time.sleep(_retry_after(answer.headers.get("Retry-After"), attempt))
        if answer.status_code in RETRY_STATUSES:
            raise CloudError(f"chat completions of {self.endpoint}: HTTP {answer.status_code} {ATTEMPTS} times (its "
                             "rate limit is 200,000 tokens and 1,000 requests a minute): try again later; "
                             f"{answer.text[:300]}", status=answer.status_code)
        if answer.status_code != 200:
            raise CloudError(f"chat completions of {self.endpoint}: HTTP {answer.status_code}: {answer.text[:500]}",
                             status=answer.status_code)
        try:
            reply = answer.json()
        except ValueError:
            raise CloudError(f"chat completions of {self.endpoint}: the answer is not JSON: {answer.text[:200]}",
                             status=200) from None
        return dict(reply)


def _retry_after(header: str | None, attempt: int) -> float:
    """Seconds to wait before sending again: the answer's Retry-After in seconds, else 2 ** attempt."""
    try:
        seconds = float(header) if header is not None else None
    except ValueError:
        seconds = None
    return max(0.0, seconds) if seconds is not None and math.isfinite(seconds) else float(2 ** attempt)


def reply_text(reply: dict[str, Any]) -> str:
    """The assistant message of a chat completions answer (RunnerError when it has none)."""
    try:
        return str(reply["choices"][0]["message"]["content"])
    except (KeyError, IndexError, TypeError):
        raise RunnerError(f"the answer holds no choices[0].message.content: {json.dumps(reply)[:300]}") from None


def apply_chat(ctx: Context, res: Resource, action: Action) -> None:
    """Send the smoke-test request to the endpoint and print the answer."""
    assert res.file is not None
    reply = Chat(ctx.ml, res.name).ask(read_chat_request(res.file))
    ctx.out.line(res.id, f"answer: {reply_text(reply)}")
