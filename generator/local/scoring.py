"""A local scoring server for a chat model, speaking Azure's foundation-model contract (a deployment of an online
endpoint: POST /score) and the chat completions contract (a serverless endpoint: POST /v1/chat/completions).

Request:  {"input_data": {"input_string": [{"role", "content"}, …], "parameters": {…}}} — the documented
          foundation-model serving contract (Azure/azureml-assets foundation-model-serve openapi.json, a flat
          list of messages) — or the fine-tune notebooks' nested [[{"role", "content"}, …]].
Response: {"output": "<assistant text>"} — the shape Azure's foundation-model serving answers for
chat completion (see README), so `invoke` prints the same thing locally and in the cloud.
Chat completions: the request and answer of MicrosoftDocs/azure-ai-docs articles/ai-foundry/model-inference/reference/
reference-model-inference-chat-completions.md @9829b8ac (generator/request.py parse_chat_request says what is
honoured); its errors in that page's shapes (generator/emulator/answers.py chat_error). The key comes as
`Authorization: <key>` (the route's notebook) or `Bearer <key>`. No request timeout is documented for a serverless
endpoint: a chat completion is bounded by the local MAX_NEW_TOKENS only.
The endpoint key comes from the environment (never the command line); a missing or wrong key is
a 401 (checked before the body is read), a malformed request a 400 that says what is wrong, and a
generation that outlives the deployment's request_timeout_ms a 408, as Azure answers.

Run by the local workspace as `python -m generator.local.scoring MODEL PORT_FILE CERT_PEM` with AZML_SCORING_KEY
set; MODEL is an MLflow model folder (a registered model), a Hugging Face folder (`local start --model`), or
`stand-in` (the catalog's stand-in model); AZML_SERVED_MODEL names the model in chat completions answers.
"""

from __future__ import annotations

import hmac
import json
import os
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from generator.emulator.answers import chat_error, scoring_error
from generator.emulator.tls import QuietHandler, TLSServer, server_context
from generator.request import ChatRequestError, parse_chat_request, parse_request

KEY_VARIABLE = "AZML_SCORING_KEY"
MODEL_NAME_VARIABLE = "AZML_SERVED_MODEL"
STAND_IN = "stand-in"  # the MODEL argument that serves the catalog's stand-in
MAX_BODY = 1 << 20
SCORE, CHAT = "/score", "/v1/chat/completions"


REQUEST_TIMEOUT_VARIABLE = "AZML_REQUEST_TIMEOUT_MS"
# Azure's default request_timeout_ms for a managed online deployment: "The scoring timeout in milliseconds. | 5000"
# (MicrosoftDocs/azure-ai-docs articles/machine-learning/reference-yaml-deployment-managed-online.md, RequestSettings).
DEFAULT_REQUEST_TIMEOUT_MS = 5000


def chat_completion(model: Any, name: str, body: bytes, extra_parameters: str | None) -> tuple[int, dict[str, Any]]:
    """(status, answer) of `model` (generator.local.pyfunc.ChatModel) to a chat completions request: the reference's
    CreateChatCompletionResponse (id, object, created, model, choices, usage), or its error shapes."""
    from generator.local.pyfunc import MAX_NEW_TOKENS

    try:
        conversation, parameters = parse_chat_request(body, extra_parameters)
        parameters.setdefault("max_new_tokens", MAX_NEW_TOKENS)  # "Passing null causes the model to use its max
        answer = model.chat(conversation, parameters)  # context length": bounded by the local MAX_NEW_TOKENS
    except ChatRequestError as exc:
        return exc.status, chat_error(exc.status, str(exc), exc.loc, exc.value)
    except (TypeError, ValueError) as exc:
        return 422, chat_error(422, f"bad parameters: {exc}")
    usage = {"prompt_tokens": model.last_prompt_tokens, "completion_tokens": model.last_new_tokens,
             "total_tokens": model.last_prompt_tokens + model.last_new_tokens}
    return 200, {"id": uuid.uuid4().hex, "object": "chat.completion", "created": int(time.time()), "model": name,
                 "choices": [{"index": 0, "finish_reason": "stop" if model.last_stopped else "length",
                              "message": {"role": "assistant", "content": answer}}], "usage": usage}


def make_handler(model: Any, key: str, request_timeout_ms: int = DEFAULT_REQUEST_TIMEOUT_MS,
                 name: str = "") -> type[BaseHTTPRequestHandler]:
    """The request handler for `model` (called `name` in chat completions answers), accepting only `key`, answering
    408 past `request_timeout_ms` on /score."""
    class Handler(QuietHandler):
        def _send(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _fail(self, status: int, message: str) -> None:
            self._send(status, scoring_error(status, message))

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            """Liveness: 200 once the model is loaded."""
            self._send(200, {"status": "ready"}) if self.path == "/health" else self._fail(404, "not found")

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            """Score one conversation: key first, then size, then the body (read only up to its cap)."""
            path = self.path.split("?")[0]
            given = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            if not given or not hmac.compare_digest(given.encode(), key.encode()):
                message = "missing or wrong endpoint key (Authorization: <key>, or Bearer <key>)"
                self._send(401, chat_error(401, message)) if path == CHAT else self._fail(401, message)
                self.discard_body()  # answered first: the body is never buffered
                return
            if path not in (SCORE, CHAT):
                self._fail(404, f"POST {SCORE} or {CHAT}")
                self.discard_body()
                return
            length = self.content_length(MAX_BODY)
            if length is None:
                return
            body = self.rfile.read(length)
            if path == CHAT:
                self._send(*chat_completion(model, name, body, self.headers.get("extra-parameters")))
                return
            try:
                conversation, parameters = parse_request(body)
            except ValueError as exc:
                self._fail(400, str(exc))
                return
            try:
                answer = model.chat(conversation, parameters, deadline_s=request_timeout_ms / 1000)
            except TimeoutError as exc:
                self._fail(408, f"{exc} (request_timeout_ms {request_timeout_ms})")
                return
            except (TypeError, ValueError) as exc:
                self._fail(400, f"bad parameters: {exc}")
                return
            self._send(200, {"output": answer})
    return Handler


def load(model: str) -> Any:
    """The chat model of MODEL: an MLflow folder (as MLflow loads it), the stand-in, or a Hugging Face folder."""
    from generator.local.pyfunc import ChatModel
    from generator.local.standin import ensure_stand_in

    if (Path(model) / "MLmodel").is_file():
        import mlflow.pyfunc

        return mlflow.pyfunc.load_model(model).unwrap_python_model()
    chat = ChatModel()
    chat.load(str(ensure_stand_in()) if model == STAND_IN else model)
    return chat


def serve(model_dir: Path, port_file: Path, cert: Path, key: str, request_timeout_ms: int, name: str = "") -> None:
    """Load the model, listen on 127.0.0.1 (TLS), write the port to `port_file`, serve forever."""
    model = load(str(model_dir))
    server = TLSServer(make_handler(model, key, request_timeout_ms, name or model_dir.name), server_context(str(cert)))
    print(f"serving {model_dir} as {name or model_dir.name}", flush=True)
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(server.server_address[1]))
    tmp.replace(port_file)
    server.serve_forever()


def main() -> None:
    """Entry point."""
    key = os.environ.pop(KEY_VARIABLE, "")
    if not key:
        raise SystemExit(f"{KEY_VARIABLE} is not set")
    timeout = int(os.environ.get(REQUEST_TIMEOUT_VARIABLE) or DEFAULT_REQUEST_TIMEOUT_MS)
    name = os.environ.get(MODEL_NAME_VARIABLE, "")
    serve(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), key, timeout, name)


if __name__ == "__main__":
    main()
