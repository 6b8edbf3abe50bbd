"""The simulator's own control API under `/_sim/` (not SuperOffice; no authentication).

Tests, the demo and the benchmarks use it to reseed, to act as a CRM user at an explicit time, to
read back what the CRM holds, to read request counts, to switch faults on and off, and to steer and
watch webhook deliveries.
"""

from __future__ import annotations

import math
from dataclasses import fields
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devtools.simulator.api import consent_info, tenant_of
from devtools.simulator.clock import format_time, parse_time
from devtools.simulator.crm import (
    CONTROL_ASSOCIATE_ID,
    PURPOSE_BY_ID,
    PURPOSE_BY_KEY,
    CrmError,
    Person,
    UnknownPerson,
)
from devtools.simulator.faults import FaultSettings
from devtools.simulator.tenant import error_response
from devtools.simulator.webhooks import DeliverySettings


async def _json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


async def _settings_body(request: Request, known: set[str], what: str) -> dict[str, Any]:
    """The JSON body of a settings PUT; ValueError for a key that is not one of the settings."""
    body = await _json_body(request)
    unknown = set(body) - known
    if unknown:
        raise ValueError(f"unknown {what} settings: {sorted(unknown)}")
    return body


def _optional_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("times are ISO 8601 strings")
    return parse_time(value)


def _person_json(request: Request, person: Person) -> dict[str, Any]:
    crm = tenant_of(request).crm
    return {
        "person_id": person.person_id,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "contact_id": person.contact_id,
        "company": crm.company_name(person.contact_id),
        "emails": [email.address for email in person.emails],
        "primary_email": person.primary_email,
        "mobile": person.mobile,
        "registered": format_time(person.registered),
        "updated": format_time(person.updated),
        "retired": person.retired,
    }


def _bad(error: Exception) -> Response:
    return error_response(400, "BadRequest", str(error))


async def health(request: Request) -> Response:
    """Liveness plus a summary of the data."""
    tenant = tenant_of(request)
    crm = tenant.crm
    return JSONResponse(
        {
            "status": "ok",
            "cust_id": tenant.cust_id,
            "persons": len(crm.persons),
            "seed": tenant.seed,
            "consent_rows": len(crm.consent_rows),
            "companies": len(crm.companies),
        }
    )


async def reset(request: Request) -> Response:
    """`POST /_sim/reset {"persons"?, "seed"?}`: reseed the CRM."""
    try:
        body = await _json_body(request)
        persons, seed = body.get("persons"), body.get("seed")
        if persons is not None and (not isinstance(persons, int) or persons < 0):
            raise ValueError("persons must be a non-negative integer")
        if seed is not None and not isinstance(seed, int):
            raise ValueError("seed must be an integer")
    except ValueError as error:
        return _bad(error)
    tenant_of(request).reseed(persons, seed)
    return await health(request)


async def set_consent(request: Request) -> Response:
    """`POST /_sim/consent`: change a consent as a SuperOffice user would, at an explicit time."""
    try:
        body = await _json_body(request)
        row = tenant_of(request).crm.set_consent(
            int(body["person_id"]),
            str(body["purpose"]),
            str(body["legal_base"]),
            str(body.get("source", "USER")),
            str(body.get("comment", "")),
            at=_optional_time(body.get("at")),
            associate_id=CONTROL_ASSOCIATE_ID,
        )
    except UnknownPerson as error:
        return error_response(404, "NotFoundException", f"Person with id {error} was not found")
    except (KeyError, ValueError, TypeError, CrmError) as error:
        return _bad(error)
    return JSONResponse(consent_info(row))


async def create_person(request: Request) -> Response:
    """`POST /_sim/persons`: create a person as the REST API would (STORE row 61F / UNKNOWN)."""
    try:
        body = await _json_body(request)
        person = tenant_of(request).crm.create_person_like_api(
            str(body["first"]),
            str(body["last"]),
            str(body.get("email") or ""),
            body.get("company"),
            _optional_time(body.get("registered_at")),
        )
    except (KeyError, ValueError, TypeError) as error:
        return _bad(error)
    return JSONResponse({"person_id": person.person_id})


async def person(request: Request) -> Response:
    """`GET /_sim/persons/{id}`."""
    try:
        found = tenant_of(request).crm.person(request.path_params["id"])
    except UnknownPerson:
        return error_response(404, "NotFoundException", "No such person")
    return JSONResponse(_person_json(request, found))


async def set_email(request: Request) -> Response:
    """`PUT /_sim/persons/{id}/email {"email"}`: replace the primary address, as a user editing the card."""
    crm = tenant_of(request).crm
    try:
        found = crm.person(request.path_params["id"])
        address = (await _json_body(request))["email"]
        if not isinstance(address, str):
            raise ValueError("email must be a string")
    except UnknownPerson:
        return error_response(404, "NotFoundException", "No such person")
    except (KeyError, ValueError) as error:
        return _bad(error)
    crm.set_primary_email(found, address)
    return JSONResponse(_person_json(request, found))


async def persons_by_email(request: Request) -> Response:
    """`GET /_sim/persons?email=…`: ids of persons with that primary address (any letter case)."""
    email = request.query_params.get("email", "")
    return JSONResponse([p.person_id for p in tenant_of(request).crm.persons_by_email(email)])


async def consent(request: Request) -> Response:
    """`GET /_sim/persons/{id}/consents/{purpose}`: the row as ConsentInfo, 404 when absent."""
    crm = tenant_of(request).crm
    purpose = PURPOSE_BY_KEY.get(str(request.path_params["purpose"]).upper())
    if purpose is None:
        return error_response(400, "BadRequest", "Unknown purpose key")
    row = crm.consent(request.path_params["id"], purpose.item_id)
    if row is None:
        return error_response(404, "NotFoundException", "No such consent row")
    return JSONResponse(consent_info(row))


async def selections(request: Request) -> Response:
    """`GET /_sim/selections`: ids and names."""
    crm = tenant_of(request).crm
    return JSONResponse(
        [{"id": s.selection_id, "name": s.name, "rows": len(s.members)} for s in crm.selections.values()]
    )


async def create_selection(request: Request) -> Response:
    """`POST /_sim/selections {"person_ids": [...], "name"?}`: a new static selection of these persons.

    Members are the persons in the order given (each once) with their company; returns
    `{"id", "name", "rows"}`. 404 when a person id is unknown.
    """
    crm = tenant_of(request).crm
    try:
        body = await _json_body(request)
        ids = body["person_ids"]
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ValueError("person_ids must be a list of integers")
        name = body.get("name") or f"Selection {len(crm.selections) + 1}"
        if not isinstance(name, str):
            raise ValueError("name must be a string")
        created = crm.add_selection(name, ids)
    except UnknownPerson as error:
        return error_response(404, "NotFoundException", f"Person with id {error} was not found")
    except (KeyError, ValueError) as error:
        return _bad(error)
    return JSONResponse({"id": created.selection_id, "name": created.name, "rows": len(created.members)})


#: Most persons one `GET /_sim/persons/export` page returns.
EXPORT_PAGE_LIMIT = 10_000


async def export_persons(request: Request) -> Response:
    """`GET /_sim/persons/export?after=0&limit=1000`: persons with an id above `after`, ascending.

    Each is the `GET /_sim/persons/{id}` document plus `"consents"`: `{purpose key: ConsentInfo}` for
    the rows the person has. Returns `{"persons": [...], "next_after": id | null}` (null: no more).
    For setting up large data sets (benchmarks) without one request per person.
    """
    crm = tenant_of(request).crm
    try:
        after = int(request.query_params.get("after", "0"))
        limit = int(request.query_params.get("limit", "1000"))
        if not 0 < limit <= EXPORT_PAGE_LIMIT:
            raise ValueError(f"limit must be between 1 and {EXPORT_PAGE_LIMIT}")
    except ValueError as error:
        return _bad(error)
    ids = sorted(pid for pid in crm.persons if pid > after)
    page = ids[:limit]
    persons = []
    for person_id in page:
        document = _person_json(request, crm.persons[person_id])
        document["consents"] = {
            PURPOSE_BY_ID[row.purpose_id].key: consent_info(row) for row in crm.consents_of(person_id)
        }
        persons.append(document)
    next_after = page[-1] if len(ids) > limit else None
    return JSONResponse({"persons": persons, "next_after": next_after})


async def selection(request: Request) -> Response:
    """`GET /_sim/selections/{id}`: all member rows as [personId, contactId]."""
    found = tenant_of(request).crm.selections.get(request.path_params["id"])
    if found is None:
        return error_response(404, "NotFoundException", "No such selection")
    return JSONResponse([list(member) for member in found.members])


async def projects(request: Request) -> Response:
    """`GET /_sim/projects`: ids and names."""
    crm = tenant_of(request).crm
    return JSONResponse(
        [{"id": p.project_id, "name": p.name, "rows": len(p.members)} for p in crm.projects.values()]
    )


async def project(request: Request) -> Response:
    """`GET /_sim/projects/{id}`: all members (retired persons included) as dicts."""
    found = tenant_of(request).crm.projects.get(request.path_params["id"])
    if found is None:
        return error_response(404, "NotFoundException", "No such project")
    return JSONResponse(
        [
            {"project_member_id": m.project_member_id, "person_id": m.person_id, "contact_id": m.contact_id}
            for m in found.members
        ]
    )


async def counts(request: Request) -> Response:
    """`GET /_sim/counts` (per endpoint and per non-2xx status); `DELETE` resets counts and log."""
    traffic = tenant_of(request).traffic
    if request.method == "DELETE":
        traffic.reset()
        return Response(status_code=204)
    return JSONResponse(traffic.counts())


async def request_log(request: Request) -> Response:
    """`GET /_sim/requests`: the served requests, oldest first."""
    return JSONResponse(
        [
            {
                "at": e.at.isoformat(),
                "method": e.method,
                "path": e.path,
                "status": e.status,
                "endpoint": e.endpoint,
            }
            for e in tenant_of(request).traffic.log
        ]
    )


_FAULT_FIELDS = {f.name for f in fields(FaultSettings)}


async def faults(request: Request) -> Response:
    """`PUT /_sim/faults {...}` replaces the fault settings; `DELETE` clears; `GET` shows them.

    `outage_s` is seconds, or the string "until_cleared".
    """
    current = tenant_of(request).faults
    if request.method == "DELETE":
        current.clear()
    elif request.method == "PUT":
        try:
            body = await _settings_body(request, _FAULT_FIELDS, "fault")
            if body.get("outage_s") == "until_cleared":
                body["outage_s"] = math.inf
            current.configure(FaultSettings(**body))
        except (ValueError, TypeError) as error:
            return _bad(error)
    return JSONResponse(current.describe())


_DELIVERY_FIELDS = {f.name for f in fields(DeliverySettings)}


async def webhooks(request: Request) -> Response:
    """`GET /_sim/webhooks`: every registration with its state and error count (never the secret);
    `DELETE` forgets every webhook and the delivery log and resets the delivery knobs."""
    current = tenant_of(request).webhooks
    if request.method == "DELETE":
        current.clear()
        return Response(status_code=204)
    return JSONResponse(
        [
            {
                "webhook_id": hook.webhook_id,
                "name": hook.name,
                "events": hook.events,
                "target_url": hook.target_url,
                "state": hook.state.value,
                "consecutive_errors": hook.consecutive_errors,
                "context_identifier": hook.context_identifier,
                "has_secret": bool(hook.secret),
            }
            for hook in current.find(None, None, None)
        ]
    )


async def webhook_settings(request: Request) -> Response:
    """`PUT /_sim/webhooks/settings {...}` replaces the delivery knobs; `DELETE` resets; `GET` shows.

    Knobs: `retry_delays_s` (two delays, default [1, 4]), `timeout_s` (per try), `drop_next` (lose the
    next N deliveries), `drop_all` (lose every delivery), `forbidden` (403 on every `/Webhook` call).
    """
    current = tenant_of(request).webhooks
    if request.method == "DELETE":
        current.configure(DeliverySettings())
    elif request.method == "PUT":
        try:
            body = await _settings_body(request, _DELIVERY_FIELDS, "webhook")
            current.configure(DeliverySettings(**body))
        except (ValueError, TypeError) as error:
            return _bad(error)
    settings = current.settings
    return JSONResponse(
        {name: getattr(settings, name) for name in sorted(_DELIVERY_FIELDS)} | {"pending": current.pending}
    )


async def webhook_deliveries(request: Request) -> Response:
    """`GET /_sim/webhooks/deliveries`: every try (and dropped delivery), oldest first; `DELETE` clears."""
    current = tenant_of(request).webhooks
    if request.method == "DELETE":
        current.log.clear()
        return Response(status_code=204)
    return JSONResponse([attempt.as_json() for attempt in current.log])


async def webhooks_idle(request: Request) -> Response:
    """`POST /_sim/webhooks/idle {"timeout_s": 30}`: wait until no delivery is under way.

    Answers `{"idle": bool, "pending": n}` (idle false: the timeout ran out first).
    """
    try:
        timeout_s = float((await _json_body(request)).get("timeout_s", 30.0))
        if not 0 <= timeout_s <= 600:
            raise ValueError("timeout_s must be between 0 and 600")
    except (ValueError, TypeError) as error:
        return _bad(error)
    current = tenant_of(request).webhooks
    idle = await current.wait_idle(timeout_s)
    return JSONResponse({"idle": idle, "pending": current.pending})


async def tickets(request: Request) -> Response:
    """`POST /_sim/tickets`: an on-site ticket (for `Authorization: SOTicket`, no app token needed)."""
    return JSONResponse({"ticket": tenant_of(request).auth.issue_ticket(online=False)})


async def invalidate_tickets(request: Request) -> Response:
    """`POST /_sim/tickets/invalidate`: every ticket stops working (forces a 401 and a re-login)."""
    return JSONResponse({"invalidated": tenant_of(request).auth.invalidate_tickets()})


async def ticket_ttl(request: Request) -> Response:
    """`PUT /_sim/tickets/ttl {"seconds": n}`: lifetime of tickets (sliding), default 6 hours."""
    try:
        seconds = float((await _json_body(request))["seconds"])
        if seconds <= 0:
            raise ValueError("seconds must be positive")
    except (KeyError, ValueError, TypeError) as error:
        return _bad(error)
    tenant_of(request).auth.ticket_ttl_s = seconds
    return JSONResponse({"seconds": seconds})


def control_routes() -> list[Route]:
    """Every `/_sim/` route."""
    return [
        Route("/_sim/health", health, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/consent", set_consent, methods=["POST"]),
        Route("/_sim/persons", create_person, methods=["POST"]),
        Route("/_sim/persons", persons_by_email, methods=["GET"]),
        Route("/_sim/persons/export", export_persons, methods=["GET"]),
        Route("/_sim/persons/{id:int}", person, methods=["GET"]),
        Route("/_sim/persons/{id:int}/email", set_email, methods=["PUT"]),
        Route("/_sim/persons/{id:int}/consents/{purpose}", consent, methods=["GET"]),
        Route("/_sim/selections", selections, methods=["GET"]),
        Route("/_sim/selections", create_selection, methods=["POST"]),
        Route("/_sim/selections/{id:int}", selection, methods=["GET"]),
        Route("/_sim/projects", projects, methods=["GET"]),
        Route("/_sim/projects/{id:int}", project, methods=["GET"]),
        Route("/_sim/counts", counts, methods=["GET", "DELETE"]),
        Route("/_sim/requests", request_log, methods=["GET"]),
        Route("/_sim/faults", faults, methods=["GET", "PUT", "DELETE"]),
        Route("/_sim/webhooks", webhooks, methods=["GET", "DELETE"]),
        Route("/_sim/webhooks/settings", webhook_settings, methods=["GET", "PUT", "DELETE"]),
        Route("/_sim/webhooks/deliveries", webhook_deliveries, methods=["GET", "DELETE"]),
        Route("/_sim/webhooks/idle", webhooks_idle, methods=["POST"]),
        Route("/_sim/tickets", tickets, methods=["POST"]),
        Route("/_sim/tickets/invalidate", invalidate_tickets, methods=["POST"]),
        Route("/_sim/tickets/ttl", ticket_ttl, methods=["PUT"]),
    ]
