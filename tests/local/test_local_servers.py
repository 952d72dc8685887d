"""The local servers under abuse: credentials, idle clients, bodies, malformed requests, bounded generation.

Each test talks raw HTTP(S) to an in-process server; none depends on a timing margin: a server that
misbehaved would hang the client until its socket timeout, which fails the test.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from generator.emulator.connect import LocalCredential, make_certificates
from generator.local.scoring import make_handler
from generator.emulator.tls import TLSServer, server_context
from tests.emulator.harness import Behaviour, Emulator

CLIENT_TIMEOUT = 30.0  # only reached when a server hangs, which is the failure being tested for
SECRET = "s3cret-segment"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A server certificate and a client context that trusts it."""
    server_pem, ca_pem = make_certificates(tmp_path_factory.mktemp("tls"))
    return server_pem, ssl.create_default_context(cafile=str(ca_pem))


@pytest.fixture
def workspace(tls: tuple[Path, ssl.SSLContext]) -> Iterator[Emulator]:
    """A local workspace that requires its own credential, as the daemon runs it."""
    emulator = Emulator(str(tls[0]), str(tls[0]), Behaviour(token_secret=SECRET)).start()
    yield emulator
    emulator.stop()


class FakeModel:
    """Answers at once, or raises what a slow generation raises."""

    def __init__(self, error: Exception | None = None):
        self.error = error

    def chat(self, conversation: list[dict[str, str]], parameters: Any, deadline_s: float | None = None) -> str:
        """The last user message, echoed."""
        if self.error is not None:
            raise self.error
        return conversation[-1]["content"]


def scoring_server(tls: tuple[Path, ssl.SSLContext], model: Any, timeout_ms: int = 5000) -> TLSServer:
    """A scoring server for `model` with key 'k', serving in a background thread."""
    server = TLSServer(make_handler(model, "k", timeout_ms), server_context(str(tls[0])))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def exchange(port: int, context: ssl.SSLContext, raw: bytes) -> tuple[int, bytes]:
    """Send raw bytes over TLS; return the status code and the body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as plain:
        with context.wrap_socket(plain, server_hostname="127.0.0.1") as sock:
            sock.sendall(raw)
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
            return int(head.split(b" ")[1]), body


def _request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _token(secret: str) -> str:
    return LocalCredential(secret).get_token("scope").token


COMPUTE = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
           "Microsoft.MachineLearningServices/workspaces/ws/computes/c1?api-version=2024-01-01")
BODY = json.dumps({"location": "westeurope", "properties": {"computeType": "AmlCompute",
                                                            "properties": {"vmSize": "Standard_DS3_v2"}}}).encode()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer " + _token("wrong")}],
                         ids=["no credential", "wrong credential"])
def test_the_workspace_refuses_requests_without_its_credential(workspace: Emulator, tls, headers) -> None:
    for method, path in (("PUT", COMPUTE), ("POST", COMPUTE.replace("?", "/listKeys?")), ("GET", COMPUTE)):
        status, body = exchange(workspace.port, tls[1], _request(method, path, BODY, headers))
        assert status == 401, (method, path)
        assert json.loads(body)["error"]["code"] == "AuthenticationFailed"
    assert not workspace.resources  # nothing was created


def test_the_workspace_accepts_the_runners_credential(workspace: Emulator, tls) -> None:
    status, _ = exchange(workspace.port, tls[1], _request("PUT", COMPUTE, BODY,
                                                          {"Authorization": "Bearer " + _token(SECRET)}))
    assert status in (200, 201)
    assert any(key.endswith("/computes/c1") for key in workspace.resources)


@pytest.mark.parametrize("kind", ["workspace", "scoring"])
def test_an_idle_client_does_not_block_others(workspace: Emulator, tls, kind: str) -> None:
    server = scoring_server(tls, FakeModel()) if kind == "scoring" else None
    port = server.server_address[1] if server else workspace.port
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT):  # connects, says nothing
            request = (_request("POST", "/score", json.dumps({"input_data": {"input_string": [
                {"role": "user", "content": "hi"}]}}).encode(), {"Authorization": "Bearer k"}) if server else
                _request("GET", COMPUTE, headers={"Authorization": "Bearer " + _token(SECRET)}))
            status, _ = exchange(port, tls[1], request)
            assert status in (200, 404)  # answered while the idle client still holds its connection
    finally:
        if server:
            server.shutdown()


@pytest.mark.parametrize("kind", ["workspace", "scoring"])
def test_the_key_is_checked_before_the_body_is_read(workspace: Emulator, tls, kind: str) -> None:
    server = scoring_server(tls, FakeModel()) if kind == "scoring" else None
    port = server.server_address[1] if server else workspace.port
    path = "/score" if server else "/score/any-endpoint"
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nContent-Length: 100000000\r\n\r\n"
    try:
        status, body = exchange(port, tls[1], head.encode())  # announces 100 MB, sends none of it
        assert status == 401 and b"key" in body
    finally:
        if server:
            server.shutdown()


@pytest.mark.parametrize("content_length, expected", [("2000000", 413), ("abc", 400), ("-5", 400)])
def test_the_body_cap_and_a_bad_length_are_answered_not_dropped(tls, content_length: str, expected: int) -> None:
    server = scoring_server(tls, FakeModel())
    try:
        head = f"POST /score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Length: {content_length}\r\n\r\n"
        status, _ = exchange(server.server_address[1], tls[1], head.encode())
        assert status == expected
    finally:
        server.shutdown()


def test_a_malformed_request_gets_a_400_and_no_traceback(workspace: Emulator, tls,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    status, _ = exchange(workspace.port, tls[1], b"GARBAGE\x00\x01 not http\r\n\r\n")
    assert status == 400
    status, _ = exchange(workspace.port, tls[1], b"GET / HTTP/1.1\r\nNo-Colon-Header\r\n" + b"X: " + b"y" * 70000 +
                         b"\r\n\r\n")
    assert status in (400, 431)
    status, _ = exchange(workspace.port, tls[1], _request("GET", COMPUTE, headers={"Authorization": "Bearer " +
                                                                                   _token(SECRET)}))
    assert status in (200, 404)  # still serving
    assert "Traceback" not in capfd.readouterr().err


def test_a_generation_past_the_deadline_answers_408(tls) -> None:
    server = scoring_server(tls, FakeModel(TimeoutError("generation did not finish within 0 s")), timeout_ms=0)
    try:
        body = json.dumps({"input_data": {"input_string": [{"role": "user", "content": "hi"}]}}).encode()
        status, answer = exchange(server.server_address[1], tls[1],
                                  _request("POST", "/score", body, {"Authorization": "Bearer k"}))
        assert status == 408
        assert json.loads(answer) == {"error": {"code": "RequestTimeout",
                                                "message": "generation did not finish within 0 s (request_timeout_ms 0)"}}
    finally:
        server.shutdown()


def test_run_logs_need_the_signature_the_workspace_handed_out(workspace: Emulator, tls) -> None:
    signed = workspace.signed_url("/logs/run-1/executionlogs.txt").removeprefix(workspace.base_url)
    assert exchange(workspace.port, tls[1], _request("GET", signed))[0] != 401
    for path in ("/logs/run-1/executionlogs.txt", "/logs/run-1/executionlogs.txt?sig=" + "0" * 64,
                 signed.replace("run-1", "run-2")):
        assert exchange(workspace.port, tls[1], _request("GET", path))[0] == 401, path
