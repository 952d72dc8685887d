"""The scoring request contract, one definition for validate, invoke, the local scorer and the emulator.

Documented request: {"input_data": {"input_string": [{"role", "content"}, …], "parameters": {…}}} (a flat list
of messages: Azure/azureml-assets foundation-model-serve openapi.json, the Phi-3 model card); the fine-tune
notebooks send the conversation nested, [[…messages…]]. Both are accepted.
"""

from __future__ import annotations

import json
from typing import Any

# How large a request may be. Azure documents no size limit for a request to a managed online endpoint: not in
# MicrosoftDocs/azure-ai-docs articles/machine-learning/how-to-manage-quotas.md @0c509fa9 (its online endpoint limits:
# requests and connections per second, "Total bandwidth at endpoint level for all deployments | 5 MBPS"), nor in
# how-to-troubleshoot-online-endpoints.md @112100ce (its status codes list no 413), and azureml-inference-server-http
# 1.5.1 (PyPI) sets none. So on Azure a request is not refused for its size before it is sent; when the endpoint
# refuses it or the connection breaks, the error says how large it was.
AZURE_LIMIT = ("Azure documents no size limit for a request to a managed online endpoint (searched: "
               "how-to-manage-quotas.md, how-to-troubleshoot-online-endpoints.md in MicrosoftDocs/azure-ai-docs; "
               "azureml-inference-server-http 1.5.1 sets none)")
# The local workspace's scoring servers read at most 1 MiB of a request (generator/local/scoring.py MAX_BODY and
# generator/emulator/routes_arm.py MAX_SCORE_BODY, ours): on the local target a larger one is refused before sending.
LOCAL_MAX_REQUEST_BYTES = 1 << 20


def size_text(size: int) -> str:
    """`8.0 MiB`, `512 KiB`, `120 bytes`."""
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MiB"
    return f"{size / 1024:.0f} KiB" if size >= 1024 else f"{size} bytes"


def parse_request(body: bytes) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """(conversation, parameters) from a request body; ValueError says what is wrong."""
    try:
        request = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the body is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except ValueError:
        raise ValueError("the body is not JSON (not UTF-8 text)") from None
    data = request.get("input_data") if isinstance(request, dict) else None
    if not isinstance(data, dict):
        raise ValueError('expected {"input_data": {"input_string": [[{"role": ..., "content": ...}]], '
                         '"parameters": {...}}, "params": {}}')
    conversation = conversation_of(data.get("input_string"))
    parameters = data.get("parameters", {})
    if not isinstance(parameters, dict):
        raise ValueError("input_data.parameters must be an object")
    return conversation, parameters


def conversation_of(strings: Any) -> list[dict[str, str]]:
    """The one conversation of `input_string`: a flat list of messages, or a list holding one such list."""
    if isinstance(strings, list) and len(strings) == 1 and isinstance(strings[0], list):
        strings = strings[0]
    if not isinstance(strings, list) or not strings:
        raise ValueError("input_data.input_string must be a non-empty list of messages (or a list holding one)")
    for i, message in enumerate(strings):
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant") \
                or not isinstance(message.get("content"), str):
            raise ValueError(f"input_string[{i}] needs a role (system, user or assistant) and a string content")
    return strings


# The chat completions contract of a serverless endpoint (`POST {scoring_uri}/v1/chat/completions`): MicrosoftDocs/
# azure-ai-docs articles/ai-foundry/model-inference/reference/reference-model-inference-chat-completions.md @9829b8ac.
# `messages` is required; temperature and top_p default to 1; "Return a 422 error if value or parameter is not
# supported by model"; the `extra-parameters` header's `drop` "makes the API to drop any unsupported parameter".
# What the local workspace's models honour: the messages (system, user and assistant turns of text), max_tokens,
# temperature, top_p, and `model` and `stream: false`, which change nothing. Every other parameter of that page
# (frequency_penalty, presence_penalty, seed, stop, response_format, tools, tool_choice, stream: true) and any
# parameter outside it is refused with 422, unless the request says `extra-parameters: drop`.
CHAT_DEFAULTS = {"temperature": 1.0, "top_p": 1.0}
CHAT_HONOURED = frozenset({"messages", "model", "max_tokens", "temperature", "top_p", "stream"})
DROP_EXTRA = "drop"


class ChatRequestError(ValueError):
    """A chat completions request the local workspace refuses: `status` 400 (not a request) or 422 (a parameter it
    cannot honour), `loc` the offending field and `value` what was sent."""

    def __init__(self, status: int, message: str, loc: str | None = None, value: Any = None):
        super().__init__(message)
        self.status, self.loc, self.value = status, loc, value


def _number(body: dict[str, Any], name: str, low: float, high: float | None) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (high is not None
                                                                                          and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ChatRequestError(422, f"{name} must be a number {bound}", name, value)
    return float(value)


def parse_chat_request(body: bytes, extra_parameters: str | None = None) -> tuple[list[dict[str, str]],
                                                                                   dict[str, Any]]:
    """(conversation, generation parameters by the pipeline's names: max_new_tokens when max_tokens was given,
    temperature, top_p, do_sample) of a chat completions request; ChatRequestError says what is wrong."""
    try:
        request = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ChatRequestError(400, f"the body is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") \
            from None
    except ValueError:
        raise ChatRequestError(400, "the body is not JSON (not UTF-8 text)") from None
    if not isinstance(request, dict):
        raise ChatRequestError(400, 'expected {"messages": [{"role": ..., "content": ...}], ...}')
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ChatRequestError(400, "messages must be a non-empty list of messages", "messages", messages)
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant") \
                or not isinstance(message.get("content"), str):
            raise ChatRequestError(422, f"messages[{i}] needs a role (system, user or assistant) and a string "
                                        "content: this model answers text conversations", f"messages.{i}", message)
    unsupported = [name for name in request if name not in CHAT_HONOURED]
    if request.get("stream"):
        unsupported.append("stream")
    if unsupported and (extra_parameters or "").strip().lower() != DROP_EXTRA:
        name = unsupported[0]
        raise ChatRequestError(422, f"{name} is not supported by this model (send the header `extra-parameters: "
                                    "drop` to drop what it does not support)", name, request[name])
    max_tokens = request.get("max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise ChatRequestError(422, "max_tokens must be a positive integer", "max_tokens", max_tokens)
    temperature = _number(request, "temperature", 0.0, None)
    top_p = _number(request, "top_p", 0.0, 1.0)
    parameters: dict[str, Any] = {
        "temperature": CHAT_DEFAULTS["temperature"] if temperature is None else temperature,
        "top_p": CHAT_DEFAULTS["top_p"] if top_p is None else top_p}
    parameters["do_sample"] = parameters["temperature"] > 0
    if max_tokens is not None:
        parameters["max_new_tokens"] = max_tokens
    return [{"role": m["role"], "content": m["content"]} for m in messages], parameters
