"""Azure's error answers in the shapes the SDK reads them: the service's, and a scoring server's.

Shared by the emulator's routes and the local runtime's scoring server, so both answer alike.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any


def error_body(code: str, message: str) -> dict[str, Any]:
    """An error answer in Azure's form: {"error": {"code", "message", "details", "additionalInfo"}}."""
    return {"error": {"code": code, "message": message, "details": [], "additionalInfo": []}}


def scoring_error(status: int, message: str) -> dict[str, Any]:
    """An error answer as {"error": {"code", "message"}}: the shape azure-ai-ml's invoke reads the message from
    (azure/ai/ml/_utils/_endpoint_utils.py validate_response: r_json.get("error", {}).get("message"))."""
    return {"error": {"code": HTTPStatus(status).phrase.replace(" ", ""), "message": message}}


def chat_error(status: int, message: str, loc: str | None = None, value: Any = None) -> dict[str, Any]:
    """An error answer of a serverless endpoint's chat completions route, in the shape MicrosoftDocs/azure-ai-docs
    articles/ai-foundry/model-inference/reference/reference-model-inference-chat-completions.md @9829b8ac gives its
    UnauthorizedError, NotFoundError and TooManyRequestsError (`error` the description, `message`, `status`), and
    for a 422 its UnprocessableContentError (also `code` and `detail: {loc, value}`). The codes are not documented:
    the emulator says the status's phrase."""
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {"error": phrase, "message": message, "status": status}
    if status == 422:
        body.update(code=phrase.replace(" ", ""), detail={"loc": ["body", *(loc or "").split(".")] if loc else [],
                                                          "value": value if isinstance(value, str) else
                                                          json.dumps(value)})
    return body
