"""An HTTPS server for the local workspace and its scoring servers that no single client can stall.

`http.server` with a TLS-wrapped listening socket does the TLS handshake inside `accept()`, in the one
thread that accepts every connection: a client that connects and sends nothing blocks all others.
Here the listening socket stays plain TCP; each connection is wrapped and handshaken in its own
thread, with a timeout, and an idle keep-alive connection is closed after `IDLE_TIMEOUT` seconds.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 30.0
DRAIN_LIMIT = 64 << 10


class QuietHandler(BaseHTTPRequestHandler):
    """Base handler: HTTP/1.1, idle connections time out, no per-request log lines, no traceback on bad input."""

    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.0"  # a garbled request line still gets a status line (no HTTP/0.9 replies)
    timeout = IDLE_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        """No per-request log lines (they could carry headers)."""

    def discard_body(self) -> None:
        """After answering without reading the body: discard a little of it (never buffered), then close.

        Closing with unread bytes makes TCP reset the connection, and the client may lose the answer it was
        sent; draining up to DRAIN_LIMIT bytes avoids that for ordinary requests without reading a large one.
        """
        self.close_connection = True
        try:
            left = min(int(self.headers.get("Content-Length") or 0), DRAIN_LIMIT)
        except ValueError:
            return
        try:
            while left > 0:
                chunk = self.rfile.read1(min(left, 16384))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def content_length(self, limit: int) -> int | None:
        """The request's Content-Length when it is a number in 0..limit; else answers 400/413 and returns None."""
        raw = self.headers.get("Content-Length") or "0"
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self.send_error(400, "Content-Length must be a non-negative integer")
            return None
        if length > limit:
            self.send_error(413, f"request body larger than {limit} bytes")
            self.discard_body()
            return None
        return length


class TLSServer(ThreadingHTTPServer):
    """A threading HTTPS server on 127.0.0.1 that handshakes in the connection's own thread."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext):
        super().__init__(("127.0.0.1", 0), handler)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Handshake (bounded by HANDSHAKE_TIMEOUT), then serve the connection; a failed handshake just closes it."""
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            wrapped = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        handler: Callable[..., object] = self.RequestHandlerClass
        try:
            handler(wrapped, client_address, self)
        finally:
            wrapped.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanishes or times out is not an error worth a traceback in the log."""

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        """Close the raw socket (finish_request already closed the TLS one)."""
        try:
            (request if isinstance(request, socket.socket) else request[1]).close()
        except OSError:
            pass


def server_context(cert_pem: str, key_pem: str | None = None) -> ssl.SSLContext:
    """A TLS server context from a PEM certificate chain (and key, when it is in another file)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_pem, key_pem)
    return context
