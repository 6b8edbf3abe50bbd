"""The SuperOffice Web API client: one instance per tenant per invocation.

It makes exactly the calls of api-notes §3 (shapes in ``queries.py``), authenticates per the connection
(Basic, SOTicket, or an Online system-user ticket with ``SO-AppToken``), paces itself with a token
bucket, retries transient failures with jittered exponential backoff inside a per-call time budget,
honours ``Retry-After``, renews an Online ticket once on 401, and counts every HTTP request by endpoint.
"""

from __future__ import annotations

import base64
import functools
import logging
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from . import queries as q
from .connection import SuperOfficeConnection, SuperOfficeCredentials, api_base_url
from .errors import (
    AuthError,
    BadRequest,
    BadResponse,
    SuperOfficeError,
    Throttled,
    Unavailable,
    error_for_response,
    scrub,
)
from .models import (
    ConsentArchiveRow,
    ConsentPurpose,
    ConsentRow,
    ConsentSource,
    LegalBase,
    Member,
    ODataEnvelope,
    PersonCard,
    PersonEmailMatch,
    PersonRow,
    ProjectMemberRow,
    SelectionMemberRow,
    SystemUserLoginResponse,
    TenantState,
)
from .odata import int_literal, split_in_list, string_literal, unique_ids, url_length
from .throttle import TokenBucket, parse_retry_after
from .ticket import (
    TICKETS,
    KeyFormatError,
    TicketCache,
    UnknownSigningKey,
    cache_key,
    load_private_key,
    sign_system_user_token,
    ticket_from_jwt,
)
from .times import after_time_bound, latest, odata_time

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

#: Online redirects mean the tenant moved to another data host: resolve it again.
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call tries: attempts, backoff and the cap on a server's ``Retry-After``.

    The total time per call (attempts and waits) is bounded separately by the client's ``timeout_s``.
    """

    max_attempts: int = 6
    #: Full-jitter exponential backoff: each wait is uniform in [0, min(max_wait_s, initial_wait_s * 2**n)].
    initial_wait_s: float = 0.5
    max_wait_s: float = 8.0
    #: Never wait longer than this on a ``Retry-After`` (a longer hint ends the call with ``Throttled``).
    max_retry_after_s: float = 60.0


# -- Tenant API location cache (Online) ---------------------------------------------------------------------

_API_URLS: dict[str, str] = {}
_API_URLS_LOCK = threading.Lock()
#: Module-level like the tickets: JWKS per login root, fetched again when a token names an unknown key.
_JWKS: dict[str, dict[str, Any]] = {}
_JWKS_LOCK = threading.Lock()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default certificate verification (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), built once.

    Building it loads the CA bundle, about 30 ms: per client, that was a cost every chunk paid.
    """
    return httpx.create_ssl_context()


# -- Tenant key lists (legal bases, purposes, sources) ------------------------------------------------------

#: The lists change when an administrator edits them, which is rare; each reconcile chunk needs them, so
#: they are kept per tenant for the container's life, up to this many seconds, and read again at once
#: when a key is not found in them.
LIST_TTL_S = 900.0
_LISTS: dict[tuple[str, str], tuple[float, list[Any]]] = {}
_LISTS_LOCK = threading.Lock()


def clear_caches() -> None:
    """Forget cached tickets, tenant API URLs, key lists and key sets (tests; never needed in production)."""
    TICKETS.clear()
    with _LISTS_LOCK:
        _LISTS.clear()
    with _API_URLS_LOCK:
        _API_URLS.clear()
    with _JWKS_LOCK:
        _JWKS.clear()


# -- Authentication schemes ---------------------------------------------------------------------------------


class _Auth:
    """Produces the auth headers of an API request; Online tickets can be renewed."""

    renewable = False

    def headers(self, deadline: float) -> dict[str, str]:
        """Headers for one request; ``deadline`` bounds any login this needs (monotonic seconds)."""
        raise NotImplementedError

    def renew(self, failed: Mapping[str, str], deadline: float) -> None:
        """Replace the credential that ``failed`` (the headers that got 401)."""
        raise AuthError("SuperOffice refused the credentials and they cannot be renewed")


class _BasicAuth(_Auth):
    def __init__(self, username: str, password: str) -> None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {token}"}

    def headers(self, deadline: float) -> dict[str, str]:
        return dict(self._headers)


class _TicketAuth(_Auth):
    def __init__(self, ticket: str, app_token: str | None) -> None:
        self._headers = {"Authorization": f"SOTicket {ticket}"}
        if app_token:
            self._headers["SO-AppToken"] = app_token

    def headers(self, deadline: float) -> dict[str, str]:
        return dict(self._headers)


class _SystemUserAuth(_Auth):
    """Online system user: a cached ticket, logged in for when missing, renewed once on 401."""

    renewable = True

    def __init__(
        self, client: SuperOfficeClient, credentials: SuperOfficeCredentials, cache: TicketCache
    ) -> None:
        connection = client.connection
        if not (
            connection.context_id
            and credentials.client_secret
            and credentials.system_user_token
            and credentials.private_key
        ):
            raise AuthError("a system-user connection needs a context id and the system-user credentials")
        self._client = client
        self._context_id = connection.context_id
        self._client_secret = credentials.client_secret.get_secret_value()
        self._system_user_token = credentials.system_user_token.get_secret_value()
        try:
            self._private_key = load_private_key(credentials.private_key.get_secret_value())
        except KeyFormatError as exc:
            raise AuthError(f"the system-user private key cannot be used: {exc}") from None
        self._cache = cache
        self._key = cache_key(
            connection.login_root_url, self._context_id, credentials.client_id or "", self._system_user_token
        )
        self._lock = threading.Lock()

    def _ticket(self, deadline: float) -> str:
        ticket = self._cache.get(self._key)
        if ticket is not None:
            return ticket
        with self._lock:
            # Another thread of this client may have logged in while we waited for the lock.
            ticket = self._cache.get(self._key)
            if ticket is None:
                ticket = self._login(deadline)
                self._cache.put(self._key, ticket)
            return ticket

    def headers(self, deadline: float) -> dict[str, str]:
        return {"Authorization": f"SOTicket {self._ticket(deadline)}", "SO-AppToken": self._client_secret}

    def renew(self, failed: Mapping[str, str], deadline: float) -> None:
        failed_ticket = failed.get("Authorization", "").removeprefix("SOTicket ")
        self._cache.discard(self._key, failed_ticket)
        self._ticket(deadline)

    def _login(self, deadline: float) -> str:
        client = self._client
        signed = sign_system_user_token(self._system_user_token, self._private_key)
        try:
            response = client._request(
                "POST",
                client.connection.login_root_url + q.SYSTEM_USER_LOGIN_PATH,
                endpoint=q.EP_LOGIN,
                json_body={
                    "SignedSystemToken": signed,
                    "ApplicationToken": self._client_secret,
                    "ContextIdentifier": self._context_id,
                    "ReturnTokenType": "JWT",
                },
                authenticated=False,
                deadline=deadline,
                extra_secrets=(signed,),
            )
        except BadRequest as exc:
            raise AuthError(
                "the system-user login was refused", status=exc.status, endpoint=q.EP_LOGIN, detail=exc.detail
            ) from None
        login = client._parse(response, SystemUserLoginResponse, q.EP_LOGIN)
        if not login.is_successful or not login.token:
            raise AuthError(
                "the system-user login was refused",
                status=response.status_code,
                endpoint=q.EP_LOGIN,
                detail=scrub(login.error_message or "", [*client._secrets, signed]),
            )
        try:
            return ticket_from_jwt(
                login.token, client._jwks(deadline, refresh=False), context_id=self._context_id
            )
        except UnknownSigningKey:
            # SuperOffice may have rotated its signing key since the key set was cached.
            return ticket_from_jwt(
                login.token, client._jwks(deadline, refresh=True), context_id=self._context_id
            )


# -- The client ---------------------------------------------------------------------------------------------


@dataclass
class _CallState:
    """Bookkeeping shared by the attempts of one logical call."""

    #: time.monotonic() by which the call must be over, retries and nested logins included.
    deadline: float
    renewed: bool = False


class SuperOfficeClient:
    """A SuperOffice tenant's Web API. Open with :meth:`open`; use as a context manager.

    ``calls`` counts every HTTP request made (retries and logins included) by endpoint name, e.g.
    ``calls["GET /Archive/dynamic"]``.
    """

    def __init__(
        self,
        connection: SuperOfficeConnection,
        credentials: SuperOfficeCredentials,
        *,
        requests_per_second: float = 10.0,
        timeout_s: float = 30.0,
        request_timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        rate_limiter: TokenBucket | None = None,
        transport: httpx.BaseTransport | None = None,
        ticket_cache: TicketCache | None = None,
    ) -> None:
        """Prefer :meth:`open`; the constructor takes the same arguments."""
        try:
            credentials.check_for(connection.auth)
        except ValueError as exc:
            raise AuthError(str(exc)) from None
        if timeout_s <= 0 or request_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        self.connection = connection
        self.calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        self.timeout_s = timeout_s
        self.request_timeout_s = request_timeout_s
        self.retry = retry or RetryPolicy()
        self.rate_limiter = rate_limiter or TokenBucket(requests_per_second)
        self._secrets = credentials.secret_values()
        # Before the pool opens: a bad private key must not leave a pool behind.
        self._auth = self._make_auth(credentials, ticket_cache or TICKETS)
        self._http = httpx.Client(
            transport=transport,
            verify=_tls_context(),
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "consent-sync"},
            timeout=request_timeout_s,
        )
        self._lists_lock = threading.Lock()

    def _make_auth(self, credentials: SuperOfficeCredentials, cache: TicketCache) -> _Auth:
        scheme = self.connection.auth
        if scheme == "basic" and credentials.username and credentials.password:
            return _BasicAuth(credentials.username, credentials.password.get_secret_value())
        if scheme == "ticket" and credentials.ticket:
            app_token = credentials.client_secret.get_secret_value() if credentials.client_secret else None
            return _TicketAuth(credentials.ticket.get_secret_value(), app_token)
        if scheme == "system_user":
            return _SystemUserAuth(self, credentials, cache)
        raise AuthError(f"credentials for auth {scheme} are incomplete")

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
        rate_limiter: TokenBucket | None = None,
        transport: httpx.BaseTransport | None = None,
        ticket_cache: TicketCache | None = None,
    ) -> SuperOfficeClient:
        """Open a client for one tenant; close it (or use ``with``) when the invocation ends.

        ``timeout_s`` bounds each call in total (attempts, backoff and ``Retry-After`` waits);
        ``request_timeout_s`` bounds a single HTTP exchange. Credentials are checked against the
        connection's auth scheme here, so a missing secret fails before any request.
        """
        return cls(
            connection,
            credentials,
            requests_per_second=requests_per_second,
            timeout_s=timeout_s,
            request_timeout_s=request_timeout_s,
            retry=retry,
            rate_limiter=rate_limiter,
            transport=transport,
            ticket_cache=ticket_cache,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

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

    def person(self, person_id: int) -> PersonCard:
        """The full person card; raises ``NotFound`` when there is no such person."""
        (pid,) = unique_ids([person_id])
        response = self._api("GET", q.PERSON_PATH.format(person_id=pid), endpoint=q.EP_PERSON)
        return self._parse(response, PersonCard, q.EP_PERSON)

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

    def persons_by_email(self, email: str) -> list[PersonEmailMatch]:
        """Persons having ``email`` (case-insensitive), oldest first (registered, then id).

        The address is sent as an escaped OData literal: quotes in it can neither break nor widen the
        filter. A blank address matches nobody without a request.
        """
        if not email.strip():
            return []
        params = {
            "$select": q.select(q.PERSON_SEARCH_SELECT),
            "$filter": q.PERSONS_BY_EMAIL_FILTER.format(email=string_literal(email)),
        }
        if url_length(self._api_url(q.PERSON_SEARCH_PATH), params) >= self._url_limit():
            raise ValueError("the e-mail address is too long for a query")
        envelope = self._get_envelope(q.PERSON_SEARCH_PATH, q.EP_PERSON_SEARCH, params)
        rows = self._rows(envelope, PersonEmailMatch, q.EP_PERSON_SEARCH)
        unique: dict[int, PersonEmailMatch] = {}
        for row in rows:
            unique.setdefault(row.person_id, row)
        return sorted(unique.values(), key=_oldest_first)

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
        legal_base_key: str,
        source_key: str,
        comment: str = "",
    ) -> None:
        """Write one consent (``PUT /Person/{id}/Consent/{purpose}``, 204). Withdraw with ``WITHDRAWN``.

        Keys are checked against the tenant's lists first (cached; read again once when a key is not
        in them), so an unknown key is a ``BadRequest`` naming it instead of an opaque server error.
        ``comment`` is cut to 255 characters.
        """
        (pid,) = unique_ids([person_id])
        checks: list[tuple[str, Callable[..., Sequence[Any]], str]] = [
            (purpose_key, self.consent_purposes, "consent purpose"),
            (legal_base_key, self.legal_bases, "legal base"),
            (source_key, self.consent_sources, "consent source"),
        ]
        for key, listing, what in checks:
            if key not in {item.key for item in listing() if not item.deleted}:
                # A key an administrator added since the list was cached: read the list again.
                self._check_key(key, {item.key for item in listing(refresh=True) if not item.deleted}, what)
        path = q.SET_CONSENT_PATH.format(person_id=pid, purpose=quote(purpose_key, safe=""))
        params = {
            "legalBase": legal_base_key,
            "source": source_key,
            "comment": comment[: q.MAX_COMMENT_LENGTH],
        }
        self._api("PUT", path, endpoint=q.EP_SET_CONSENT, params=params, expect=(200, 204))

    # -- Members -----------------------------------------------------------------------------------------

    def selection_members(self, selection_id: int) -> list[Member]:
        """The persons of a selection (company rows without a person skipped, each person once)."""
        (sid,) = unique_ids([selection_id])
        envelope = self._get_envelope(
            q.SELECTION_MEMBERS_PATH.format(selection_id=sid),
            q.EP_SELECTION_MEMBERS,
            {"$select": q.select(q.SELECTION_MEMBERS_SELECT)},
        )
        rows = self._rows(envelope, SelectionMemberRow, q.EP_SELECTION_MEMBERS)
        return _members((row.person_id, row.contact_id) for row in rows)

    def project_members(self, project_id: int) -> list[Member]:
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
        response = self._api("GET", path, endpoint=endpoint)
        return self._parse_list(response, model, endpoint)

    def _get_envelope(self, path: str, endpoint: str, params: dict[str, str]) -> ODataEnvelope:
        response = self._api("GET", path, endpoint=endpoint, params=params)
        return self._parse(response, ODataEnvelope, endpoint)

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
        url = self._api_url(path)

        def params_for(joined: str) -> dict[str, str]:
            return {"$select": select, "$filter": template.format(ids=joined)}

        rows: list[M] = []
        measure = lambda joined: url_length(url, params_for(joined))  # noqa: E731
        for chunk in split_in_list(literals, measure, self._url_limit()):
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
        )

    @staticmethod
    def _next_key(last: int, ids: list[int], endpoint: str) -> int:
        highest = max(ids)
        if highest <= last:
            # The server ignored the keyset bound; paging on would never end.
            raise BadResponse("keyset paging did not advance", endpoint=endpoint)
        return highest

    @staticmethod
    def _check_key(key: str, known: set[str], what: str) -> None:
        if key not in known:
            raise BadRequest(f"unknown {what} key {key!r} for this tenant")

    def _parse(self, response: httpx.Response, model: type[M], endpoint: str) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise BadResponse(
                "SuperOffice answered with an unexpected shape",
                status=response.status_code,
                endpoint=endpoint,
                detail=_summarise(exc),
            ) from None

    def _parse_list(self, response: httpx.Response, model: type[M], endpoint: str) -> list[M]:
        try:
            return TypeAdapter(list[model]).validate_json(response.content)  # type: ignore[valid-type]
        except ValidationError as exc:
            raise BadResponse(
                "SuperOffice answered with an unexpected shape",
                status=response.status_code,
                endpoint=endpoint,
                detail=_summarise(exc),
            ) from None

    @staticmethod
    def _rows(envelope: ODataEnvelope, model: type[M], endpoint: str) -> list[M]:
        try:
            return [model.model_validate(row) for row in envelope.value]
        except ValidationError as exc:
            raise BadResponse(
                "SuperOffice answered with an unexpected row shape", endpoint=endpoint, detail=_summarise(exc)
            ) from None

    # -- Internals: where the API is -----------------------------------------------------------------------

    def _url_limit(self) -> int:
        # An Online tenant can move to a data host with a longer name between measuring and sending.
        return q.MAX_URL_LENGTH - (q.ONLINE_URL_MARGIN if self.connection.kind == "online" else 0)

    def _api_base(self, deadline: float | None = None) -> str:
        """The tenant's ``.../api/v1`` URL (Online: resolved and cached until a connection failure)."""
        if self.connection.kind == "onsite":
            assert self.connection.base_url is not None
            return self.connection.base_url
        key = self.connection.tenant_key
        with _API_URLS_LOCK:
            cached = _API_URLS.get(key)
        if cached is not None:
            return cached
        resolved = self._resolve_api_base(deadline)
        with _API_URLS_LOCK:
            _API_URLS[key] = resolved
        return resolved

    def _forget_api_base(self) -> None:
        if self.connection.kind == "online":
            with _API_URLS_LOCK:
                _API_URLS.pop(self.connection.tenant_key, None)

    def _resolve_api_base(self, deadline: float | None) -> str:
        """Where the Online tenant's API is now: ``GET {login_root}/api/state/{CustId}`` field ``Api``."""
        assert self.connection.context_id is not None
        url = self.connection.login_root_url + q.TENANT_STATE_PATH.format(
            context_id=self.connection.context_id
        )
        response = self._request(
            "GET", url, endpoint=q.EP_TENANT_STATE, authenticated=False, deadline=deadline
        )
        state = self._parse(response, TenantState, q.EP_TENANT_STATE)
        if state.is_running is False:
            raise Unavailable(
                "the SuperOffice tenant is not running",
                endpoint=q.EP_TENANT_STATE,
                detail=state.state or None,
            )
        try:
            base = api_base_url(state.api)
        except ValueError:
            raise BadResponse(
                "the tenant state names no usable API URL", endpoint=q.EP_TENANT_STATE
            ) from None
        scheme = httpx.URL(base).scheme
        if scheme != "https" and not (scheme == "http" and self.connection.allow_insecure):
            raise BadResponse("the tenant state names a non-https API URL", endpoint=q.EP_TENANT_STATE)
        return base

    def _api_url(self, path: str, deadline: float | None = None) -> str:
        return f"{self._api_base(deadline)}/{path}"

    def _jwks(self, deadline: float, *, refresh: bool) -> dict[str, Any]:
        root = self.connection.login_root_url
        if not refresh:
            with _JWKS_LOCK:
                cached = _JWKS.get(root)
            if cached is not None:
                return cached
        response = self._request(
            "GET", root + q.JWKS_PATH, endpoint=q.EP_JWKS, authenticated=False, deadline=deadline
        )
        try:
            jwks = response.json()
        except ValueError:
            raise BadResponse("the JWKS is not JSON", endpoint=q.EP_JWKS) from None
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise BadResponse("the JWKS has no key list", endpoint=q.EP_JWKS)
        with _JWKS_LOCK:
            _JWKS[root] = jwks
        return jwks

    # -- Internals: sending ----------------------------------------------------------------------------------

    def _api(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        params: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """A call to the tenant API (path relative to ``.../api/v1``), authenticated."""
        return self._request(method, path, endpoint=endpoint, params=params, expect=expect, relative=True)

    def _request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        expect: tuple[int, ...] = (200,),
        authenticated: bool = True,
        relative: bool = False,
        deadline: float | None = None,
        extra_secrets: tuple[str, ...] = (),
    ) -> httpx.Response:
        """One logical call: attempts with backoff until success, a permanent error or the time budget.

        ``deadline`` (monotonic) is passed by calls nested in another call's attempt (login, JWKS, tenant
        state) so that the outer call's budget bounds them too.
        """
        own_deadline = time.monotonic() + self.timeout_s
        state = _CallState(deadline=min(own_deadline, deadline) if deadline is not None else own_deadline)

        retrying = Retrying(
            stop=stop_after_attempt(self.retry.max_attempts) | _StopAtDeadline(state),
            wait=self._wait,
            retry=retry_if_exception(_is_transient),
            before_sleep=lambda retry_state: self._before_sleep(endpoint, retry_state),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._attempt(
                    method,
                    url,
                    endpoint=endpoint,
                    params=params,
                    json_body=json_body,
                    expect=expect,
                    authenticated=authenticated,
                    relative=relative,
                    state=state,
                    extra_secrets=extra_secrets,
                )
        raise AssertionError("unreachable: tenacity either returns or reraises")  # pragma: no cover

    def _attempt(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        params: dict[str, str] | None,
        json_body: dict[str, Any] | None,
        expect: tuple[int, ...],
        authenticated: bool,
        relative: bool,
        state: _CallState,
        extra_secrets: tuple[str, ...],
    ) -> httpx.Response:
        while True:
            target = self._api_url(url, state.deadline) if relative else url
            headers = self._auth.headers(state.deadline) if authenticated else {}
            response = self._send_once(method, target, endpoint, headers, params, json_body, state)
            if response.status_code in expect:
                return response
            if response.status_code == 401 and authenticated and self._auth.renewable and not state.renewed:
                # SuperOffice answers 401 when a ticket has expired or was revoked: log in again, once.
                state.renewed = True
                self._auth.renew(headers, state.deadline)
                continue
            if response.status_code in _REDIRECT_STATUSES and self.connection.kind == "online" and relative:
                self._forget_api_base()
                raise Unavailable(
                    "the SuperOffice tenant moved", status=response.status_code, endpoint=endpoint
                )
            raise self._error(response, endpoint, extra_secrets)

    def _send_once(
        self,
        method: str,
        url: str,
        endpoint: str,
        headers: dict[str, str],
        params: dict[str, str] | None,
        json_body: dict[str, Any] | None,
        state: _CallState,
    ) -> httpx.Response:
        self.rate_limiter.acquire()
        remaining = state.deadline - time.monotonic()
        if remaining <= 0:
            raise Unavailable("the time budget of the call is spent", endpoint=endpoint)
        timeout = min(self.request_timeout_s, remaining)
        with self._calls_lock:
            self.calls[endpoint] += 1
        try:
            return self._http.request(
                method, url, params=params, json=json_body, headers=headers, timeout=timeout
            )
        except httpx.TimeoutException as exc:
            raise Unavailable(
                f"SuperOffice did not answer in time ({type(exc).__name__})", endpoint=endpoint
            ) from exc
        except httpx.TransportError as exc:
            # The Online data host may have moved: the next attempt resolves the tenant's API URL again.
            self._forget_api_base()
            raise Unavailable(
                f"SuperOffice could not be reached ({type(exc).__name__})", endpoint=endpoint
            ) from exc

    def _error(
        self, response: httpx.Response, endpoint: str, extra_secrets: tuple[str, ...] = ()
    ) -> SuperOfficeError:
        retry_after = None
        if response.status_code in (429, 503):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                # Everyone sharing this limiter backs off, not just this call.
                self.rate_limiter.hold(min(retry_after, self.retry.max_retry_after_s))
        return error_for_response(
            response, endpoint, secrets=[*self._secrets, *extra_secrets], retry_after=retry_after
        )

    def _wait(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hinted = exc.retry_after if isinstance(exc, SuperOfficeError) else None
        if hinted is not None:
            if hinted > self.retry.max_retry_after_s:
                # Waiting that long is not this call's job: make the stop condition end it now.
                return self.timeout_s + 1.0
            return hinted
        # No hint (5xx, timeouts, connection errors): full-jitter exponential backoff.
        backoff = wait_random_exponential(multiplier=self.retry.initial_wait_s, max=self.retry.max_wait_s)
        return float(backoff(retry_state))

    def _before_sleep(self, endpoint: str, retry_state: RetryCallState) -> None:
        # The endpoint name only: URLs can hold e-mail addresses in their filters.
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        status = getattr(exc, "status", None)
        logger.warning(
            "SuperOffice %s failed (%s%s); attempt %d, retrying in %.2fs",
            endpoint,
            type(exc).__name__,
            f" HTTP {status}" if status else "",
            retry_state.attempt_number,
            retry_state.upcoming_sleep,
        )


class _StopAtDeadline(stop_base):
    """Stop when the next attempt would start after the call's deadline (its wait included)."""

    def __init__(self, state: _CallState) -> None:
        self._state = state

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() + (retry_state.upcoming_sleep or 0.0) >= self._state.deadline


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, (Unavailable, Throttled))


def _summarise(exc: ValidationError) -> str:
    # Locations and messages only: input values could be personal data.
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        location = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{location}: {error.get('msg', '')}")
    return "; ".join(parts)


def _oldest_first(row: PersonEmailMatch) -> tuple[float, int]:
    registered = row.registered.timestamp() if row.registered else float("inf")
    return (registered, row.person_id)


def _by_consent_id(row: ConsentArchiveRow) -> int:
    return row.consent_person_id


def _by_member_id(row: ProjectMemberRow) -> int:
    return row.project_member_id


def _members(pairs: Iterable[tuple[int | None, int | None]]) -> list[Member]:
    members: dict[int, Member] = {}
    for person_id, contact_id in pairs:
        if person_id is None:
            continue  # a company row without a person
        members.setdefault(person_id, Member(person_id=person_id, contact_id=contact_id))
    return list(members.values())
