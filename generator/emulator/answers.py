"""Azure's error answers in the shapes the SDK reads them: the service's, and a scoring server's.

Shared by the emulator's routes and the local runtime's scoring server, so both answer alike.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


def scoring_error(status: int, message: str) -> dict[str, Any]:
    """An error answer as {"error": {"code", "message"}}: the shape azure-ai-ml's invoke reads the message from
    (azure/ai/ml/_utils/_endpoint_utils.py validate_response: r_json.get("error", {}).get("message"))."""
    return {"error": {"code": HTTPStatus(status).phrase.replace(" ", ""), "message": message}}
