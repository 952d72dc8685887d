"""A local scoring server for a registered MLflow chat model, speaking Azure's foundation-model contract.

Request:  {"input_data": {"input_string": [{"role", "content"}, …], "parameters": {…}}} — the documented
          foundation-model serving contract (Azure/azureml-assets foundation-model-serve openapi.json, a flat
          list of messages) — or the fine-tune notebooks' nested [[{"role", "content"}, …]].
Response: {"output": "<assistant text>"} — the shape Azure's foundation-model serving answers for
chat completion (see README), so `invoke` prints the same thing locally and in the cloud.
The endpoint key comes from the environment (never the command line); a missing or wrong key is
a 401, a malformed request a 400 that says what is wrong.

Run by the local workspace as `python -m generator.local.scoring MODEL_DIR PORT_FILE CERT_PEM`
with AZML_SCORING_KEY set.
"""

from __future__ import annotations

import hmac
import json
import os
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from generator.request import parse_request

KEY_VARIABLE = "AZML_SCORING_KEY"
MAX_BODY = 1 << 20


def make_handler(model: Any, key: str) -> type[BaseHTTPRequestHandler]:
    """The request handler for `model`, accepting only `key`."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
            """No per-request log lines (they could carry headers)."""

        def _send(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            """Liveness: 200 once the model is loaded."""
            self._send(200, {"status": "ready"}) if self.path == "/health" else self._send(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            """Score one conversation."""
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, MAX_BODY + 1))
            given = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            if not given or not hmac.compare_digest(given, key):
                self._send(401, {"error": "missing or wrong endpoint key (Authorization: Bearer <key>)"})
                return
            if self.path.split("?")[0] != "/score":
                self._send(404, {"error": "POST /score"})
                return
            if length > MAX_BODY:
                self._send(413, {"error": f"request larger than {MAX_BODY} bytes"})
                return
            try:
                conversation, parameters = parse_request(body)
            except ValueError as exc:
                self._send(400, {"error": str(exc)})
                return
            try:
                self._send(200, {"output": model.chat(conversation, parameters)})
            except (TypeError, ValueError) as exc:
                self._send(400, {"error": f"bad parameters: {exc}"})
    return Handler


def serve(model_dir: Path, port_file: Path, cert: Path, key: str) -> None:
    """Load the MLflow model, listen on 127.0.0.1 (TLS), write the port to `port_file`, serve forever."""
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(str(model_dir)).unwrap_python_model()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(model, key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(server.server_address[1]))
    tmp.replace(port_file)
    server.serve_forever()


def main() -> None:
    """Entry point."""
    key = os.environ.pop(KEY_VARIABLE, "")
    if not key:
        raise SystemExit(f"{KEY_VARIABLE} is not set")
    serve(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), key)


if __name__ == "__main__":
    main()
