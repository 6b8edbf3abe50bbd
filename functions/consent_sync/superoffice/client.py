"""The SuperOffice Web API client: one instance per tenant per invocation.

Its methods are the endpoints consent-sync uses (shapes in ``queries.py``, the list in
docs/superoffice.md): the tenant's key lists, persons, consent rows, selection and project members,
and writing a consent. Authentication (``auth.py``), pacing, retries and locating the tenant's API
(``transport.py``) happen below them.

Importing this module does not import httpx or tenacity (about 100 ms of a cold start): the transport
is imported by :meth:`SuperOfficeClient.open`, so only a function that really calls SuperOffice pays
for it, at its first client.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from consent_sync.domain.errors import UnknownKey
from consent_sync.domain.plan import push_source, tenant_key
from consent_sync.domain.settings import SuperOfficeConnection, SuperOfficeCredentials

from . import queries as q
from .auth import clear_key_sets
from .errors import BadRequest, BadResponse, NotFound, summarise
from .exchanges import Exchange
from .models import (
    ApiVersion,
    ConsentArchiveRow,
    ConsentPurpose,
    ConsentRow,
    ConsentSource,
    LegalBase,
    ListedPerson,
    ODataEnvelope,
    PersonRow,
    ProjectMemberRow,
    SelectionMemberRow,
    Webhook,
)
from .odata import int_literal, split_in_list, string_literal, unique_ids, url_length
from .throttle import RateLimiter
from .ticket import TICKETS, TicketCache
from .times import after_time_bound, latest, odata_time

if TYPE_CHECKING:
    import httpx

    from .transport import RetryPolicy, Transport

M = TypeVar("M", bound=BaseModel)

# -- Tenant key lists (legal bases, purposes, sources) ------------------------------------------------------

#: The lists change when an administrator edits them, which is rare; each reconcile chunk needs them, so
#: they are kept per tenant for the container's life, up to this many seconds, and read again at once
#: when a key is not found in them.
LIST_TTL_S = 900.0
_LISTS: dict[tuple[str, str], tuple[float, list[Any]]] = {}
_LISTS_LOCK = threading.Lock()


def clear_caches() -> None:
    """Forget cached tickets, tenant API URLs, key lists and key sets (tests; never needed in production)."""
    from .transport import clear_api_urls

    TICKETS.clear()
    with _LISTS_LOCK:
        _LISTS.clear()
    clear_api_urls()
    clear_key_sets()


class SuperOfficeClient:
    """A SuperOffice tenant's Web API. Open with :meth:`open`; use as a context manager.

    ``calls`` counts every HTTP request made (retries and logins included) by endpoint name, e.g.
    ``calls["GET /Archive/dynamic"]``.
    """

    def __init__(self, transport: Transport) -> None:
        """The endpoints over an open :class:`~.transport.Transport`; :meth:`open` builds both."""
        self._transport = transport
        self._lists_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        connection: SuperOfficeConnection,
        credentials: SuperOfficeCredentials,
        *,
        requests_per_second: float = 10.0,
        timeout_s: float = 30.0,
        request_timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        transport: httpx.BaseTransport | None = None,
        ticket_cache: TicketCache | None = None,
    ) -> SuperOfficeClient:
        """Open a client for one tenant; close it (or use ``with``) when the invocation ends.

        ``timeout_s`` bounds each call in total (attempts, backoff and ``Retry-After`` waits);
        ``request_timeout_s`` bounds a single HTTP exchange. Credentials are checked against the
        connection's auth scheme here, so a missing secret fails before any request. ``transport`` is
        the httpx transport (tests pass an ``httpx.MockTransport``); ``rate_limiter`` replaces the
        client's own token bucket of ``requests_per_second``.
        """
        from .transport import Transport  # httpx and tenacity: loaded by the first client of a container

        return cls(
            Transport(
                connection,
                credentials,
                requests_per_second=requests_per_second,
                timeout_s=timeout_s,
                request_timeout_s=request_timeout_s,
                retry=retry,
                rate_limiter=rate_limiter,
                http_transport=transport,
                ticket_cache=ticket_cache,
            )
        )

    @property
    def connection(self) -> SuperOfficeConnection:
        """The tenant this client talks to."""
        return self._transport.connection

    @property
    def calls(self) -> Counter[str]:
        """HTTP requests made so far, by endpoint name."""
        return self._transport.calls

    def record_exchanges(self) -> list[Exchange]:
        """From now on, every HTTP exchange (logins included) is appended to the list returned:
        endpoint, status, latency and rate-limit headers (a connection check reports them)."""
        self._transport.exchanges = []
        return self._transport.exchanges

    def api_base(self) -> str:
        """The tenant's ``.../api/v1`` URL (Online: the tenant state is read first, when not known)."""
        return self._transport.api_base()

    def api_version(self) -> ApiVersion | None:
        """The API version and NetServer build from ``GET .../api``; None when the server does not
        answer them there (404, another 4xx, or another shape)."""
        root = self.api_base().removesuffix(q.API_ROOT_SUFFIX)
        try:
            response = self._transport.request("GET", root, endpoint=q.EP_API_VERSION)
            version = self._transport.parse(response, ApiVersion, q.EP_API_VERSION)
        except (NotFound, BadRequest, BadResponse):
            return None
        return version if version.version or version.netserver_version else None

    def close(self) -> None:
        """Close the connection pool."""
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SuperOfficeClient({self.connection.tenant_key!r}, auth={self.connection.auth!r})"

    # -- Lists of keys -----------------------------------------------------------------------------------

    def legal_bases(self, *, refresh: bool = False) -> list[LegalBase]:
        """The tenant's legal bases (``/List/LegalBase/Items``), cached per tenant (``LIST_TTL_S``)."""
        return self._cached_list(q.LEGAL_BASES_PATH, q.EP_LEGAL_BASES, LegalBase, refresh)

    def consent_purposes(self, *, refresh: bool = False) -> list[ConsentPurpose]:
        """The tenant's consent purposes (``/List/ConsentPurpose/Items``), cached per tenant."""
        return self._cached_list(q.CONSENT_PURPOSES_PATH, q.EP_CONSENT_PURPOSES, ConsentPurpose, refresh)

    def consent_sources(self, *, refresh: bool = False) -> list[ConsentSource]:
        """The tenant's consent sources (``/List/ConsentSource/Items``), cached per tenant."""
        return self._cached_list(q.CONSENT_SOURCES_PATH, q.EP_CONSENT_SOURCES, ConsentSource, refresh)

    def _cached_list(self, path: str, endpoint: str, model: type[M], refresh: bool) -> list[M]:
        key = (self.connection.tenant_key, path)
        with self._lists_lock:  # one reader per client; others of the same tenant may race harmlessly
            with _LISTS_LOCK:
                hit = _LISTS.get(key)
            if hit is not None and not refresh and time.monotonic() - hit[0] < LIST_TTL_S:
                return list(hit[1])
            items = self._get_list(path, endpoint, model)
            with _LISTS_LOCK:
                _LISTS[key] = (time.monotonic(), items)
            return list(items)

    # -- Persons -----------------------------------------------------------------------------------------

    def persons_by_ids(self, person_ids: Iterable[int]) -> list[PersonRow]:
        """Name, primary e-mail, company, mobile and times of many persons (``Archive/Person``).

        Ids are deduplicated; long lists take several GETs. Persons that do not exist are simply absent.
        Rows come in the order of the ids asked for.
        """
        ids = unique_ids(person_ids)
        rows = self._archive_in(
            q.PERSON_ARCHIVE_PATH,
            q.EP_PERSON_ARCHIVE,
            select=q.select(q.PERSON_ARCHIVE_SELECT),
            template=q.PERSONS_BY_ID_FILTER,
            literals=[int_literal(i) for i in ids],
            model=PersonRow,
        )
        by_id: dict[int, PersonRow] = {}
        for row in rows:
            # Should a tenant return one row per e-mail address, the first row stands for the person.
            by_id.setdefault(row.person_id, row)
        return [by_id[i] for i in ids if i in by_id]

    def any_person(self) -> PersonRow | None:
        """One row of ``Archive/Person`` (``$top=1``, the columns of :meth:`persons_by_ids`), or None
        when the tenant has no person: proof that persons can be read."""
        envelope = self._get_envelope(
            q.PERSON_ARCHIVE_PATH,
            q.EP_PERSON_ARCHIVE,
            {"$select": q.select(q.PERSON_ARCHIVE_SELECT), "$top": "1"},
        )
        rows = self._rows(envelope, PersonRow, q.EP_PERSON_ARCHIVE)
        return rows[0] if rows else None

    def persons_by_emails(self, emails: Iterable[str]) -> list[PersonRow]:
        """Every person whose primary e-mail is one of ``emails`` (case-insensitive), in bulk.

        One ``Archive/Person`` query with an ``in`` list of escaped literals (split only to keep each URL
        under the limit), the same columns as :meth:`persons_by_ids`: what finds duplicates anywhere in
        the tenant, not only among the persons a selection or run names. Blank addresses are left out.
        """
        wanted = list(dict.fromkeys(e.strip().lower() for e in emails if e.strip()))
        rows = self._archive_in(
            q.PERSON_ARCHIVE_PATH,
            q.EP_PERSON_BY_EMAIL,
            select=q.select(q.PERSON_ARCHIVE_SELECT),
            template=q.PERSONS_BY_EMAILS_FILTER,
            literals=[string_literal(e) for e in wanted],
            model=PersonRow,
        )
        unique: dict[int, PersonRow] = {}
        for row in rows:
            unique.setdefault(row.person_id, row)
        return sorted(unique.values(), key=lambda row: row.person_id)

    # -- Consents ----------------------------------------------------------------------------------------

    def consent_rows(self, person_ids: Iterable[int]) -> list[ConsentRow]:
        """Every consent row (all purposes) of the given persons, list ids mapped to keys."""
        ids = unique_ids(person_ids)
        rows = self._archive_in(
            q.CONSENT_ARCHIVE_PATH,
            q.EP_CONSENT_ARCHIVE,
            select=q.select(q.CONSENT_SELECT),
            template=q.CONSENTS_BY_PERSON_FILTER,
            literals=[int_literal(i) for i in ids],
            model=ConsentArchiveRow,
        )
        if not rows:
            return []
        keys = self._key_maps()
        unique = {row.consent_person_id: row for row in rows}
        return [self._consent_row(row, keys) for row in sorted(unique.values(), key=_by_consent_id)]

    def consent_rows_changed_since(self, since: datetime) -> Iterator[ConsentRow]:
        """Consent rows whose ``max(registered, updated)`` is at or after ``since``, by ascending row id.

        Keyset-paged on ``consentperson_id`` (``$orderBy`` + ``$top``), never ``$skip``. Because
        SuperOffice keeps whole seconds and ``afterTime`` is strict, the query starts one second before
        ``since`` and rows at its boundary can repeat from the previous run: callers treat rows as
        idempotent. A naive ``since`` is taken as UTC. Each page is one call with its own time budget.
        The next watermark should be the time this query started (rows changed while paging, behind the
        keyset position, are then picked up by the next run).
        """
        bound = string_literal(odata_time(after_time_bound(since)))
        last = 0
        keys: tuple[dict[int, str], dict[int, str], dict[int, str]] | None = None
        while True:
            params = {
                "$select": q.select(q.CONSENT_SELECT),
                "$filter": q.CONSENTS_CHANGED_FILTER.format(since=bound, last=last),
                "$orderBy": q.CONSENTS_CHANGED_ORDER_BY,
                "$top": str(q.PAGE_SIZE),
            }
            envelope = self._get_envelope(q.CONSENT_ARCHIVE_PATH, q.EP_CONSENT_ARCHIVE, params)
            rows = self._rows(envelope, ConsentArchiveRow, q.EP_CONSENT_ARCHIVE)
            if not rows:
                return
            if keys is None:
                keys = self._key_maps()
            last = self._next_key(last, [row.consent_person_id for row in rows], q.EP_CONSENT_ARCHIVE)
            for row in sorted(rows, key=_by_consent_id):
                yield self._consent_row(row, keys)
            if len(rows) < q.PAGE_SIZE:
                return

    def set_consent(
        self,
        person_id: int,
        purpose_key: str,
        legal_base: str,
        source: str | None,
        comment: str = "",
    ) -> None:
        """Write one consent (``PUT /Person/{id}/Consent/{purpose}``, 204). Withdraw with ``WITHDRAWN``.

        ``legal_base`` and ``source`` are the platform's keys: each is matched to the tenant's list
        ignoring letter case and sent as the tenant spells it; a ``source`` of ``None`` (or blank) is the
        default source, ``API`` or else ``UNKNOWN`` (see ``consent_sync.domain.plan.push_source``). A key
        the tenant lacks raises ``UnknownKey`` naming it; a ``purpose_key`` not spelt as one of the
        tenant's purposes is a ``BadRequest``. Either way nothing is sent. The lists are the cached ones,
        read again once when a key is not in them. ``comment`` is cut to 255 characters.
        """
        (pid,) = unique_ids([person_id])
        legal_base_key = self._resolve(
            self.legal_bases, lambda keys: tenant_key(legal_base, keys, "legal base")
        )
        source_key = self._resolve(self.consent_sources, lambda keys: push_source(source, keys))
        self._resolve(self.consent_purposes, lambda keys: _exact_key(purpose_key, keys, "consent purpose"))
        path = q.SET_CONSENT_PATH.format(person_id=pid, purpose=quote(purpose_key, safe=""))
        params = {
            "legalBase": legal_base_key,
            "source": source_key,
            "comment": comment[: q.MAX_COMMENT_LENGTH],
        }
        self._transport.api("PUT", path, endpoint=q.EP_SET_CONSENT, params=params, expect=(200, 204))

    @staticmethod
    def _resolve(listing: Callable[..., Sequence[_Keyed]], resolve: Callable[[list[str]], str]) -> str:
        """``resolve`` over the live keys of a cached list; over a fresh read of it when the key is absent."""
        known = [item.key for item in listing() if not item.deleted]
        try:
            return resolve(known)
        except (UnknownKey, BadRequest):
            # A key an administrator added since the list was cached: read the list again.
            return resolve([item.key for item in listing(refresh=True) if not item.deleted])

    # -- Webhooks ----------------------------------------------------------------------------------------

    def webhooks(self, name: str) -> list[Webhook]:
        """The tenant's webhooks named ``name`` (``GET /Webhook?nameFilter=``; matched exactly here too,
        since the filter's matching is not documented)."""
        response = self._transport.api(
            "GET", q.WEBHOOKS_PATH, endpoint=q.EP_LIST_WEBHOOKS, params={"nameFilter": name}
        )
        found = self._transport.parse_list(response, Webhook, q.EP_LIST_WEBHOOKS)
        return [hook for hook in found if hook.name == name]

    def webhook(self, webhook_id: int) -> Webhook:
        """One webhook (``GET /Webhook/{id}``); ``NotFound`` when it was deleted."""
        (wid,) = unique_ids([webhook_id])
        response = self._transport.api(
            "GET", q.WEBHOOK_PATH.format(webhook_id=wid), endpoint=q.EP_GET_WEBHOOK
        )
        return self._transport.parse(response, Webhook, q.EP_GET_WEBHOOK)

    def create_webhook(self, name: str, target_url: str, secret: str, events: Sequence[str]) -> Webhook:
        """``POST /Webhook``, active. SuperOffice first sends a ``test`` event to ``target_url``, which
        must answer 200, else the webhook is refused (``BadRequest``)."""
        response = self._transport.api(
            "POST",
            q.WEBHOOKS_PATH,
            endpoint=q.EP_CREATE_WEBHOOK,
            json_body=_webhook_body(name, target_url, secret, events),
            extra_secrets=(secret,),
        )
        return self._transport.parse(response, Webhook, q.EP_CREATE_WEBHOOK)

    def update_webhook(
        self, webhook_id: int, name: str, target_url: str, secret: str, events: Sequence[str]
    ) -> Webhook:
        """``PUT /Webhook/{id}`` with the whole entity, ``State`` Active: repairs a stopped webhook and
        rotates its target and secret in one call."""
        (wid,) = unique_ids([webhook_id])
        body = {"WebhookId": wid, **_webhook_body(name, target_url, secret, events)}
        response = self._transport.api(
            "PUT",
            q.WEBHOOK_PATH.format(webhook_id=wid),
            endpoint=q.EP_UPDATE_WEBHOOK,
            json_body=body,
            extra_secrets=(secret,),
        )
        return self._transport.parse(response, Webhook, q.EP_UPDATE_WEBHOOK)

    def delete_webhook(self, webhook_id: int) -> None:
        """``DELETE /Webhook/{id}``; a webhook already gone counts as deleted."""
        (wid,) = unique_ids([webhook_id])
        try:
            self._transport.api(
                "DELETE",
                q.WEBHOOK_PATH.format(webhook_id=wid),
                endpoint=q.EP_DELETE_WEBHOOK,
                expect=(200, 204),
            )
        except NotFound:
            return

    # -- Members -----------------------------------------------------------------------------------------

    def selection_members(self, selection_id: int) -> list[ListedPerson]:
        """The persons of a selection (company rows without a person skipped, each person once)."""
        (sid,) = unique_ids([selection_id])
        envelope = self._get_envelope(
            q.SELECTION_MEMBERS_PATH.format(selection_id=sid),
            q.EP_SELECTION_MEMBERS,
            {"$select": q.select(q.SELECTION_MEMBERS_SELECT)},
        )
        rows = self._rows(envelope, SelectionMemberRow, q.EP_SELECTION_MEMBERS)
        return _members((row.person_id, row.contact_id) for row in rows)

    def project_members(self, project_id: int) -> list[ListedPerson]:
        """The persons of a project, keyset-paged on ``projectMemberId`` (each person once)."""
        (pid,) = unique_ids([project_id])
        path = q.PROJECT_MEMBERS_PATH.format(project_id=pid)
        last = 0
        pairs: list[tuple[int | None, int | None]] = []
        while True:
            params = {
                "$select": q.select(q.PROJECT_MEMBERS_SELECT),
                "$filter": q.PROJECT_MEMBERS_FILTER.format(last=last),
                "$orderBy": q.PROJECT_MEMBERS_ORDER_BY,
                "$top": str(q.PAGE_SIZE),
            }
            envelope = self._get_envelope(path, q.EP_PROJECT_MEMBERS, params)
            rows = self._rows(envelope, ProjectMemberRow, q.EP_PROJECT_MEMBERS)
            if not rows:
                break
            last = self._next_key(last, [row.project_member_id for row in rows], q.EP_PROJECT_MEMBERS)
            pairs.extend((row.person_id, row.contact_id) for row in sorted(rows, key=_by_member_id))
            if len(rows) < q.PAGE_SIZE:
                break
        return _members(pairs)

    # -- Internals: reading ------------------------------------------------------------------------------

    def _get_list(self, path: str, endpoint: str, model: type[M]) -> list[M]:
        response = self._transport.api("GET", path, endpoint=endpoint)
        return self._transport.parse_list(response, model, endpoint)

    def _get_envelope(self, path: str, endpoint: str, params: dict[str, str]) -> ODataEnvelope:
        response = self._transport.api("GET", path, endpoint=endpoint, params=params)
        return self._transport.parse(response, ODataEnvelope, endpoint)

    def _archive_in(
        self,
        path: str,
        endpoint: str,
        *,
        select: str,
        template: str,
        literals: list[str],
        model: type[M],
    ) -> list[M]:
        """Run an ``in (...)`` archive query, split so every URL stays under the limit; rows merged."""
        if not literals:
            return []
        url = self._transport.api_url(path)

        def params_for(joined: str) -> dict[str, str]:
            return {"$select": select, "$filter": template.format(ids=joined)}

        rows: list[M] = []
        measure = lambda joined: url_length(url, params_for(joined))  # noqa: E731
        for chunk in split_in_list(literals, measure, self._transport.url_limit()):
            envelope = self._get_envelope(path, endpoint, params_for(",".join(chunk)))
            rows.extend(self._rows(envelope, model, endpoint))
        return rows

    def _key_maps(self) -> tuple[dict[int, str], dict[int, str], dict[int, str]]:
        return (
            {item.id: item.key for item in self.consent_purposes()},
            {item.id: item.key for item in self.legal_bases()},
            {item.id: item.key for item in self.consent_sources()},
        )

    @staticmethod
    def _consent_row(
        row: ConsentArchiveRow, keys: tuple[dict[int, str], dict[int, str], dict[int, str]]
    ) -> ConsentRow:
        purposes, bases, sources = keys
        return ConsentRow(
            consent_person_id=row.consent_person_id,
            person_id=row.person_id,
            purpose_id=row.purpose_id,
            purpose_key=purposes.get(row.purpose_id),
            legal_base_id=row.legal_base_id,
            legal_base_key=bases.get(row.legal_base_id),
            source_id=row.source_id,
            source_key=sources.get(row.source_id),
            comment=row.comment,
            registered=row.registered,
            updated=row.updated,
            changed_at=latest(row.registered, row.updated),
            registered_associate_id=row.registered_associate_id,
            updated_associate_id=row.updated_associate_id,
        )

    @staticmethod
    def _next_key(last: int, ids: list[int], endpoint: str) -> int:
        highest = max(ids)
        if highest <= last:
            # The server ignored the keyset bound; paging on would never end.
            raise BadResponse("keyset paging did not advance", endpoint=endpoint)
        return highest

    @staticmethod
    def _rows(envelope: ODataEnvelope, model: type[M], endpoint: str) -> list[M]:
        try:
            return [model.model_validate(row) for row in envelope.value]
        except ValidationError as exc:
            raise BadResponse(
                "SuperOffice answered with an unexpected row shape", endpoint=endpoint, detail=summarise(exc)
            ) from None


class _Keyed(Protocol):
    """An item of a key list (legal bases, purposes, sources)."""

    @property
    def key(self) -> str: ...

    @property
    def deleted(self) -> bool: ...


def _exact_key(key: str, known: list[str], what: str) -> str:
    if key not in known:
        raise BadRequest(f"unknown {what} key {key!r} for this tenant")
    return key


def _webhook_body(name: str, target_url: str, secret: str, events: Sequence[str]) -> dict[str, Any]:
    return {
        "Name": name,
        "Events": list(events),
        "TargetUrl": target_url,
        "Secret": secret,
        "State": "Active",
        "Type": q.WEBHOOK_TYPE,
    }


def _by_consent_id(row: ConsentArchiveRow) -> int:
    return row.consent_person_id


def _by_member_id(row: ProjectMemberRow) -> int:
    return row.project_member_id


def _members(pairs: Iterable[tuple[int | None, int | None]]) -> list[ListedPerson]:
    members: dict[int, ListedPerson] = {}
    for person_id, contact_id in pairs:
        if person_id is None:
            continue  # a company row without a person
        members.setdefault(person_id, ListedPerson(person_id=person_id, contact_id=contact_id))
    return list(members.values())
