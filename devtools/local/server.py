"""Moto in server mode, in this process, on a chosen or free port."""

from __future__ import annotations

import logging
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import ThreadedMotoServer

log = logging.getLogger(__name__)

_DYNAMODB_LOCK = threading.Lock()
_PATCHED = False


def _serialise_dynamodb() -> None:
    """Make moto apply DynamoDB requests one at a time, as DynamoDB applies each conditional write.

    moto's threaded server lets two requests pass the same condition before either writes, which would
    lose updates that DynamoDB itself never loses. Only DynamoDB is serialised: SQS long polls must not
    hold up everything else.
    """
    global _PATCHED
    if _PATCHED:
        return
    dispatch = DomainDispatcherApplication.__call__

    def serialised(self: DomainDispatcherApplication, environ: Any, start_response: Any) -> Any:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            with _DYNAMODB_LOCK:
                return dispatch(self, environ, start_response)
        return dispatch(self, environ, start_response)

    DomainDispatcherApplication.__call__ = serialised  # type: ignore[method-assign]
    _PATCHED = True


@dataclass
class MotoEndpoint:
    """A running moto server and the URL boto3 clients should use."""

    server: ThreadedMotoServer
    endpoint_url: str

    def reset(self) -> None:
        """Forget every resource moto holds (moto's backends are shared by the whole process)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our own local endpoint
            pass

    def stop(self) -> None:
        """Stop serving; moto's in-memory state stays until :meth:`reset`."""
        self.server.stop()


def start_moto(port: int = 0, host: str = "127.0.0.1") -> MotoEndpoint:
    """Start moto's threaded server on ``host:port`` (0 picks a free port) and return its endpoint."""
    # Moto's server logs every request through werkzeug at INFO, which would drown the runtime's log.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    _serialise_dynamodb()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    endpoint_url = f"http://{bound_host}:{bound_port}"
    log.debug("moto server listening on %s", endpoint_url)
    return MotoEndpoint(server=server, endpoint_url=endpoint_url)
