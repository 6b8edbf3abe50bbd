"""The ASGI app (routes + the gate in front of them) and `serve()` for the CLI.

Order of checks for every request except `/_sim/`: URL length (414) → for the tenant API
(`/{CustId}/api/...`): tenant id (404), faults (503 outage / 429 / latency / 5xx / hold),
authentication (401) → the route. Every such request is counted and logged.
"""

from __future__ import annotations

import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devtools.simulator.api import api_routes
from devtools.simulator.control import control_routes
from devtools.simulator.tenant import MAX_REQUEST_TARGET, Tenant, error_response
from devtools.simulator.traffic import LoggedRequest
from devtools.simulator.webhook_api import webhook_routes

_TENANT_API = re.compile(r"^/(?P<cust>[^/]+)/api(?:/|$)", re.IGNORECASE)
_API_PREFIX = re.compile(r"^/\{cust\}/api/v1", re.IGNORECASE)
WWW_AUTHENTICATE = 'Basic realm="SuperOffice", SOTicket realm="SuperOffice"'


def _endpoint_key(routes: list[BaseRoute], scope: Scope) -> str:
    """`"GET /Archive/dynamic"`-style key: the method and the route template without the API root."""
    partial: str | None = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL and isinstance(route, Route):
            return f"{scope['method']} {_API_PREFIX.sub('', route.name)}"
        if match is Match.PARTIAL and isinstance(route, Route) and partial is None:
            partial = route.name
    return f"{scope['method']} {partial if partial is not None else scope['path']}"


class Gate:
    """ASGI middleware: URL length, tenant, faults, authentication, counting."""

    def __init__(self, app: ASGIApp, tenant: Tenant, routes: list[BaseRoute]) -> None:
        self.app = app
        self.tenant = tenant
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        arrived = datetime.now(UTC)
        status = 500  # what ServerErrorMiddleware answers if the app raises

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            refusal = await self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, recording_send)
            else:
                await self.app(scope, receive, recording_send)
        finally:
            self.tenant.traffic.record(
                LoggedRequest(
                    arrived, scope["method"], scope["path"], status, _endpoint_key(self.routes, scope)
                )
            )

    async def _refusal(self, scope: Scope) -> Response | None:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        target = len(raw_path) + (len(query) + 1 if query else 0)
        if target > MAX_REQUEST_TARGET:
            return error_response(
                414,
                "RequestUriTooLong",
                f"Request URL is {target} characters; the limit is {MAX_REQUEST_TARGET}",
            )
        match = _TENANT_API.match(scope["path"])
        if match is None or match.group("cust").lower() == "login":
            return None  # the login service (`/Login/api/...`) is not a tenant
        if match.group("cust").lower() != self.tenant.cust_id.lower():
            return error_response(404, "NotFoundException", f"Unknown tenant '{match.group('cust')}'")
        refusal = await self.tenant.faults.apply()
        if refusal is not None:
            headers = (
                {"Retry-After": str(refusal.retry_after_s)} if refusal.retry_after_s is not None else None
            )
            error_type = "TooManyRequests" if refusal.status == 429 else "ServiceUnavailable"
            return error_response(refusal.status, error_type, refusal.message, headers)
        request = Request(scope)
        failure = self.tenant.auth.check(
            request.headers.get("authorization"), request.headers.get("so-apptoken")
        )
        if failure is not None:
            return error_response(
                401, "SoAuthenticationException", failure.message, {"WWW-Authenticate": WWW_AUTHENTICATE}
            )
        return None


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "Internal error"
    return error_response(status, "NotFoundException" if status == 404 else "HttpException", str(detail))


def create_app(tenant: Tenant) -> Starlette:
    """The simulator as an ASGI app serving `tenant`."""
    routes: list[BaseRoute] = [*api_routes(), *webhook_routes(), *control_routes()]
    for route in routes:
        if isinstance(route, Route):
            # IIS matches paths case-insensitively; clients write `/archive/dynamic` as often as not.
            route.path_regex = re.compile(route.path_regex.pattern, re.IGNORECASE)
    app = Starlette(routes=routes, exception_handlers={404: _http_error, 405: _http_error})
    app.state.tenant = tenant
    app.add_middleware(Gate, tenant=tenant, routes=routes)
    return app


def serve(
    port: int = 8080,
    persons: int = 2000,
    seed: int = 1,
    username: str = "sim",
    password: str = "sim",  # noqa: S107 - the simulator's documented test credentials
    host: str = "127.0.0.1",
) -> None:
    """Run the simulator in the foreground until interrupted.

    Prints the URLs and credentials, and writes the Online partner private key to a file.
    """
    tenant = Tenant.create(persons=persons, seed=seed, username=username, password=password)
    online = tenant.auth.online
    key_dir = Path(tempfile.mkdtemp(prefix="consent-sync-sim-"))
    key_file = key_dir / "partner-private-key.pem"
    key_file.write_text(online.private_key_pem, encoding="ascii")
    key_file.chmod(0o600)
    root = f"http://{host}:{port}"
    print(
        f"SuperOffice simulator: {len(tenant.crm.persons)} persons (seed {seed})\n"
        f"  on-site API : {root}/{tenant.cust_id}/api/v1  (Basic {username}:{password})\n"
        f"  Online root : {root}  (stands for https://{{env}}.superoffice.com; tenant state at /api/state/{tenant.cust_id})\n"
        f"  Online app  : context id {online.context_id}, client id {online.client_id},\n"
        f"                client secret {online.client_secret}\n"
        f"                system user token {online.system_user_token}\n"
        f"                private key {key_file}\n"
        f"  webhooks    : targets on loopback only; knobs at {root}/_sim/webhooks/settings\n"
        f"  control     : {root}/_sim/health",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(create_app(tenant), host=host, port=port, log_level="warning")
