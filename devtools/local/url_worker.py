"""One function URL's worker process: an HTTP server on a socket the local stack bound, invoking the
function's handler with Lambda's function-URL event (payload format 2.0), as AWS's front end does.

Started by :mod:`devtools.local.urls` on the first connection to the URL; not for running by hand.
The function runs in a process of its own, with its own environment and modules, so it can answer
while another function of the stack is blocked calling out (SuperOffice tests a webhook's URL while
the settings function waits for its answer).
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devtools.local.sam import FunctionSpec
from devtools.local.sandbox import LambdaContext

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "+json", "+xml")
# One invocation at a time, as in one Lambda execution environment (AWS would add environments).
_ONE_AT_A_TIME = threading.Lock()


def url_event(
    method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The event a function URL passes its function (payload format 2.0).

    Header names are lower case and repeated headers joined with commas; a body whose content type is
    not text comes base64-encoded (``isBase64Encoded``), as AWS does.
    """
    joined: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    content_type = joined.get("content-type", "")
    text = not body or any(kind in content_type for kind in _TEXT_TYPES)
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": "anonymous",
            "domainName": joined.get("host", ""),
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": not text,
    }
    if body:
        event["body"] = body.decode() if text else base64.b64encode(body).decode()
    return event


def url_response(result: Any) -> Response:
    """What AWS makes of a handler's result: a dict with ``statusCode`` is the response; anything else
    is a 200 with the result as JSON."""
    if isinstance(result, dict) and "statusCode" in result:
        raw = result.get("body") or ""
        body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        return Response(body, status_code=int(result["statusCode"]), headers=headers)
    return JSONResponse(result)


def build_app(spec: FunctionSpec, handler: Callable[[Any, Any], Any]) -> Starlette:
    """The HTTP front of one function URL."""

    def invoke(event: dict[str, Any]) -> Any:
        with _ONE_AT_A_TIME:
            context = LambdaContext(spec, event["requestContext"]["requestId"], now=time.monotonic())
            return handler(event, context)

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        client = request.client.host if request.client else "127.0.0.1"
        event = url_event(
            request.method, request.url.path, request.url.query, request.headers.items(), body, client
        )
        try:
            result = await run_in_threadpool(invoke, event)
        except Exception as error:  # Lambda answers a function error with 502
            print(f"{spec.logical_id}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            return JSONResponse({"Message": "Internal Server Error"}, status_code=502)
        return url_response(result)

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=_METHODS)])


_PARENT_CHECK_S = 1.0


def exit_with_parent(parent: int) -> None:
    """End this process when the local stack that started it (process ``parent``) is gone, killed without
    its clean-up (e.g. `local up` stopped by SIGKILL): a worker outliving its stack would hold its port
    and memory. The parent's pid comes from the parent: read here, it could already be init's."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    """``--fd N --spec JSON --parent-pid P``: serve the function on the listening socket ``N`` while
    process ``P`` lives."""
    parser = argparse.ArgumentParser(prog="url_worker")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    args = parser.parse_args(argv)
    exit_with_parent(args.parent_pid)
    fields = json.loads(args.spec)
    spec = replace(FunctionSpec(**{**fields, "code_dir": Path(fields["code_dir"])}), environment={})
    sys.path.insert(0, str(spec.code_dir))
    handler = getattr(importlib.import_module(spec.module_name), spec.attribute)
    listening = socket.socket(fileno=args.fd)
    config = uvicorn.Config(build_app(spec, handler), log_level="warning", lifespan="off", access_log=False)
    uvicorn.Server(config).run(sockets=[listening])


if __name__ == "__main__":
    main()
