"""A local scoring server for a registered MLflow chat model, speaking Azure's foundation-model contract.

Request:  {"input_data": {"input_string": [{"role", "content"}, …], "parameters": {…}}} — the documented
          foundation-model serving contract (Azure/azureml-assets foundation-model-serve openapi.json, a flat
          list of messages) — or the fine-tune notebooks' nested [[{"role", "content"}, …]].
Response: {"output": "<assistant text>"} — the shape Azure's foundation-model serving answers for
chat completion (see README), so `invoke` prints the same thing locally and in the cloud.
The endpoint key comes from the environment (never the command line); a missing or wrong key is
a 401 (checked before the body is read), a malformed request a 400 that says what is wrong, and a
generation that outlives the deployment's request_timeout_ms a 408, as Azure answers.

Run by the local workspace as `python -m generator.local.scoring MODEL_DIR PORT_FILE CERT_PEM`
with AZML_SCORING_KEY set.
"""

from __future__ import annotations

import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from generator.emulator.answers import scoring_error
from generator.emulator.tls import QuietHandler, TLSServer, server_context
from generator.request import parse_request

KEY_VARIABLE = "AZML_SCORING_KEY"
MAX_BODY = 1 << 20


REQUEST_TIMEOUT_VARIABLE = "AZML_REQUEST_TIMEOUT_MS"
# Azure's default request_timeout_ms for a managed online deployment: "The scoring timeout in milliseconds. | 5000"
# (MicrosoftDocs/azure-ai-docs articles/machine-learning/reference-yaml-deployment-managed-online.md, RequestSettings).
DEFAULT_REQUEST_TIMEOUT_MS = 5000


def make_handler(model: Any, key: str, request_timeout_ms: int = DEFAULT_REQUEST_TIMEOUT_MS
                 ) -> type[BaseHTTPRequestHandler]:
    """The request handler for `model`, accepting only `key`, answering 408 past `request_timeout_ms`."""
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
            given = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            if not given or not hmac.compare_digest(given.encode(), key.encode()):
                self._fail(401, "missing or wrong endpoint key (Authorization: Bearer <key>)")
                self.discard_body()  # answered first: the body is never buffered
                return
            if self.path.split("?")[0] != "/score":
                self._fail(404, "POST /score")
                self.discard_body()
                return
            length = self.content_length(MAX_BODY)
            if length is None:
                return
            body = self.rfile.read(length)
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


def serve(model_dir: Path, port_file: Path, cert: Path, key: str, request_timeout_ms: int) -> None:
    """Load the MLflow model, listen on 127.0.0.1 (TLS), write the port to `port_file`, serve forever."""
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(str(model_dir)).unwrap_python_model()
    server = TLSServer(make_handler(model, key, request_timeout_ms), server_context(str(cert)))
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
    serve(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), key, timeout)


if __name__ == "__main__":
    main()
