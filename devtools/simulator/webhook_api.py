"""The Webhook agent's REST calls: `/Webhook` CRUD, `/Webhook/Test` and `/Webhook/default`.

Answers the carriers of swagger-subset.json (`Webhook`, `WebhookWithLinks`, `WebhookResult`). The
`Secret` is never shown (always blank): clients keep their own copy. Storing a webhook, re-targeting
it or setting it Active again first pings its target with a `test` event; unless that answers 200 the
call fails with 400 and nothing is stored. With the `forbidden` knob every call answers 403, as
SuperOffice Online does for an app that was not granted the Webhook agent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import fields
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devtools.simulator.api import (
    API_PREFIX,
    TABLE_RIGHT,
    api_root,
    associate_carrier,
    not_found,
    tenant_of,
)
from devtools.simulator.clock import NEVER, format_time
from devtools.simulator.crm import API_ASSOCIATE_ID
from devtools.simulator.tenant import error_response
from devtools.simulator.webhooks import (
    Webhook,
    WebhookError,
    WebhookState,
    check_registration,
    new_webhook,
)

Endpoint = Callable[[Request], Awaitable[Response]]
FORBIDDEN_MESSAGE = (
    "Access to the Webhook agent is denied: the application has not been granted the right to use "
    "webhooks in this tenant (Online restricted)"
)
_COPIED = [f.name for f in fields(Webhook) if f.name != "webhook_id"]


def webhook_carrier(hook: Webhook) -> dict[str, Any]:
    """The Webhook carrier, `Secret` blank."""
    return {
        "WebhookId": hook.webhook_id,
        "Name": hook.name,
        "Events": list(hook.events),
        "TargetUrl": hook.target_url,
        "Secret": "",
        "State": hook.state.value,
        "Type": hook.type,
        "Headers": dict(hook.headers),
        "Properties": dict(hook.properties),
        "Registered": format_time(hook.registered),
        "RegisteredAssociate": associate_carrier(hook.registered_associate_id)
        if hook.registered_associate_id
        else None,
        "Updated": format_time(hook.updated),
        "UpdatedAssociate": associate_carrier(hook.updated_associate_id)
        if hook.updated_associate_id
        else None,
    }


def _with_links(request: Request, hook: Webhook) -> JSONResponse:
    """WebhookWithLinks."""
    return JSONResponse(
        {**webhook_carrier(hook), "_Links": {"Self": f"{api_root(request)}/Webhook/{hook.webhook_id}"}}
    )


def _refused(message: str) -> JSONResponse:
    return error_response(400, "WebhookException", message, agent=True)


def _agent(endpoint: Endpoint) -> Endpoint:
    """The endpoint behind the `forbidden` knob."""

    async def guarded(request: Request) -> Response:
        if tenant_of(request).webhooks.settings.forbidden:
            return error_response(403, "SoAccessDeniedException", FORBIDDEN_MESSAGE, agent=True)
        return await endpoint(request)

    guarded.__doc__ = endpoint.__doc__
    return guarded


async def _entity(request: Request) -> dict[str, Any] | list[Any]:
    """The JSON body; raises WebhookError when there is none."""
    try:
        body = await request.json()
    except ValueError:
        raise WebhookError("Entity to save is not in request body") from None
    if not isinstance(body, dict | list):
        raise WebhookError("Entity to save is not in request body")
    return body


def _context(request: Request) -> str:
    """`ContextIdentifier` of a webhook this request registers: the tenant for Online, blank on-site."""
    tenant = tenant_of(request)
    return tenant.cust_id if tenant.auth.is_online(request.headers.get("authorization")) else ""


def _webhook_id(request: Request) -> int:
    return int(request.path_params["id"])


async def default_webhook(request: Request) -> Response:
    """`GET /Webhook/default`: a new, unsaved webhook with SuperOffice's defaults."""
    hook = new_webhook({}, "", 0)
    hook.registered = NEVER
    return JSONResponse(webhook_carrier(hook))


async def list_webhooks(request: Request) -> Response:
    """`GET /Webhook?nameFilter=&eventFilter=&statusFilter=`."""
    params = {key.lower(): value for key, value in request.query_params.items()}
    status = params.get("statusfilter") or None
    try:
        state = WebhookState(status) if status is not None else None
    except ValueError:
        return error_response(400, "ArgumentException", f"statusFilter '{status}' is not a webhook state")
    found = tenant_of(request).webhooks.find(
        params.get("namefilter") or None, params.get("eventfilter") or None, state
    )
    return JSONResponse([webhook_carrier(hook) for hook in found])


async def create_webhook(request: Request) -> Response:
    """`POST /Webhook`: stored only after its target answered the `test` event with 200."""
    webhooks = tenant_of(request).webhooks
    try:
        body = await _entity(request)
        if not isinstance(body, dict):
            raise WebhookError("Entity to save must be a Webhook object")
        hook = new_webhook(body, _context(request), API_ASSOCIATE_ID)
        check_registration(hook)
    except WebhookError as error:
        return _refused(str(error))
    result = await webhooks.ping(hook)
    if not result.success:
        return _refused(f"Webhook test to {hook.target_url} failed: {result.message}")
    return _with_links(request, webhooks.store(hook))


async def get_webhook(request: Request) -> Response:
    """`GET /Webhook/{id}`."""
    hook = tenant_of(request).webhooks.get(_webhook_id(request))
    if hook is None:
        return not_found(f"Webhook with id {_webhook_id(request)} was not found")
    return _with_links(request, hook)


async def put_webhook(request: Request) -> Response:
    """`PUT /Webhook/{id}`: missing keys keep their values, a blank Secret keeps the stored one."""
    try:
        body = await _entity(request)
        if not isinstance(body, dict):
            raise WebhookError("Entity to save must be a Webhook object")
    except WebhookError as error:
        return _refused(str(error))
    return await _update(request, body)


async def patch_webhook(request: Request) -> Response:
    """`PATCH /Webhook/{id}`: a JSON Merge Patch object, or JSON Patch `add`/`replace`/`test` ops."""
    hook = tenant_of(request).webhooks.get(_webhook_id(request))
    if hook is None:
        return not_found(f"Webhook with id {_webhook_id(request)} was not found")
    try:
        body = await _entity(request)
        changes = body if isinstance(body, dict) else _json_patch(body, webhook_carrier(hook))
    except WebhookError as error:
        return _refused(str(error))
    except _PatchConflict as conflict:
        return error_response(409, "ConflictException", str(conflict))
    return await _update(request, changes)


class _PatchConflict(Exception):
    """A JSON Patch `test` operation found another value."""


def _json_patch(operations: list[Any], current: dict[str, Any]) -> dict[str, Any]:
    """JSON Patch operations on top-level properties as the changes they make (paths any case)."""
    by_name = {name.lower(): name for name in current}
    changes: dict[str, Any] = {}
    for operation in operations:
        if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
            raise WebhookError("Each JSON Patch operation needs an op and a path")
        name = by_name.get(operation["path"].strip("/").lower())
        if name is None:
            raise WebhookError(f"Unknown Webhook property '{operation['path']}'")
        op = str(operation.get("op", "")).lower()
        if op in ("add", "replace"):
            changes[name] = operation.get("value")
        elif op == "test":
            if changes.get(name, current[name]) != operation.get("value"):
                raise _PatchConflict(f"Test of {name} failed: the value differs")
        else:
            raise WebhookError(f"JSON Patch operation '{op}' is not supported here")
    return changes


async def _update(request: Request, body: dict[str, Any]) -> Response:
    webhooks = tenant_of(request).webhooks
    current = webhooks.get(_webhook_id(request))
    if current is None:
        return not_found(f"Webhook with id {_webhook_id(request)} was not found")
    try:
        hook = new_webhook(body, current.context_identifier, API_ASSOCIATE_ID, base=current)
        check_registration(hook)
    except WebhookError as error:
        return _refused(str(error))
    reactivated = hook.state is WebhookState.ACTIVE and current.state is not WebhookState.ACTIVE
    if reactivated or hook.target_url != current.target_url:
        result = await webhooks.ping(hook)
        if not result.success:
            return _refused(f"Webhook test to {hook.target_url} failed: {result.message}")
        if webhooks.get(current.webhook_id) is not current:
            return not_found(f"Webhook with id {current.webhook_id} was not found")
    if reactivated:
        hook.consecutive_errors = 0
    # In place: deliveries under way hold this object and see the new target and state.
    for name in _COPIED:
        setattr(current, name, getattr(hook, name))
    return _with_links(request, current)


async def delete_webhook(request: Request) -> Response:
    """`DELETE /Webhook/{id}` → 204."""
    if not tenant_of(request).webhooks.delete(_webhook_id(request)):
        return not_found(f"Webhook with id {_webhook_id(request)} was not found")
    return Response(status_code=204)


async def test_webhook(request: Request) -> Response:
    """`POST /Webhook/Test`: ping the definition's TargetUrl with a `test` event → WebhookResult."""
    try:
        body = await _entity(request)
        if not isinstance(body, dict):
            raise WebhookError("The webhook to test must be a Webhook object")
        hook = new_webhook(body, _context(request), API_ASSOCIATE_ID)
    except WebhookError as error:
        return _refused(str(error))
    result = await tenant_of(request).webhooks.ping(hook)
    return JSONResponse(
        {
            "Success": result.success,
            "Message": result.message,
            "TableRight": TABLE_RIGHT,
            "FieldProperties": {},
        }
    )


def _route(path: str, endpoint: Endpoint, methods: list[str]) -> Route:
    # Named like api.py's routes: the count key without the method, e.g. "/Webhook/{id}".
    return Route(API_PREFIX + path, _agent(endpoint), methods=methods, name=path.replace(":int", ""))


def webhook_routes() -> list[Route]:
    """The Webhook agent's routes (fixed paths before `{id}`)."""
    return [
        _route("/Webhook/default", default_webhook, ["GET"]),
        _route("/Webhook/Test", test_webhook, ["POST"]),
        _route("/Webhook", list_webhooks, ["GET"]),
        _route("/Webhook", create_webhook, ["POST"]),
        _route("/Webhook/{id:int}", get_webhook, ["GET"]),
        _route("/Webhook/{id:int}", put_webhook, ["PUT"]),
        _route("/Webhook/{id:int}", patch_webhook, ["PATCH"]),
        _route("/Webhook/{id:int}", delete_webhook, ["DELETE"]),
    ]
