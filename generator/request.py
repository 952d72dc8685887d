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
