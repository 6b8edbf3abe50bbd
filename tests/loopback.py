"""A small HTTP server on loopback in a thread, for tests that need a SuperOffice that misbehaves in a way
the simulator does not (a 403 for everything, a certificate nobody trusts)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def loopback_server(
    handler: type[BaseHTTPRequestHandler], *, tls: ssl.SSLContext | None = None
) -> Iterator[str]:
    """Serve `handler` on 127.0.0.1 (over TLS with `tls`) and yield an on-site style API URL on it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}/Cust1/api/v1"
    finally:
        server.shutdown()
        server.server_close()
