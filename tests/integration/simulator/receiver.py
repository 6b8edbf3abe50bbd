"""A webhook receiver on loopback for the simulator's webhook tests: a real HTTP server in a thread.

It records every POST with its raw body and headers, checks `X-SuperOffice-Signature` itself
(HMAC-SHA256 over the bytes as received, base64, compared in constant time), and answers the
statuses it is told to, optionally after a delay (to make the simulator time out).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One POST as it arrived."""

    at: float  # time.monotonic()
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    signature_ok: bool

    @property
    def payload(self) -> dict[str, Any]:
        """The body as JSON."""
        return dict(json.loads(self.body))

    @property
    def event(self) -> str:
        """`X-SuperOffice-Event`."""
        return self.headers.get("x-superoffice-event", "")


class Receiver:
    """What the test controls: the secret, the next answers, a delay; and what arrived."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.default_status = 200
        self.delay_s = 0.0
        self.url = ""
        self._planned: deque[int] = deque()
        self._received: list[Received] = []
        self._lock = threading.Lock()

    def answer(self, *statuses: int) -> None:
        """Answer the next POSTs with these statuses, then `default_status` again."""
        with self._lock:
            self._planned.extend(statuses)

    def received(self, event: str | None = None) -> list[Received]:
        """What arrived (of one event, if given), oldest first."""
        with self._lock:
            return [r for r in self._received if event is None or r.event == event]

    def clear(self) -> None:
        """Forget what arrived and the planned answers; answer 200 at once again."""
        with self._lock:
            self._received.clear()
            self._planned.clear()
        self.default_status = 200
        self.delay_s = 0.0

    def _take(self, path: str, headers: dict[str, str], body: bytes) -> int:
        expected = base64.b64encode(
            hmac.new(self.secret.encode("utf-8"), body, hashlib.sha256).digest()
        ).decode("ascii")
        sent = headers.get("x-superoffice-signature", "")
        entry = Received(
            time.monotonic(), path, headers, body, hmac.compare_digest(sent.encode(), expected.encode())
        )
        with self._lock:
            self._received.append(entry)
            return self._planned.popleft() if self._planned else self.default_status


@contextmanager
def running_receiver(secret: str) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 on a free port; `receiver.url` is its `/hook` URL."""
    receiver = Receiver(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status = receiver._take(self.path, headers, body)
            if receiver.delay_s:
                time.sleep(receiver.delay_s)
            answer = b"ok" if status < 400 else b"receiver says no"
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                pass  # the simulator gave up waiting (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
