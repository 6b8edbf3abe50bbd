"""How requests to a tenant are authenticated: Basic, SOTicket, or an Online system user's ticket.

A scheme gives each request its headers; only the system user's credential can be renewed (after a
401). Its login and the key set the login's token is verified with go through the
:class:`~.transport.Transport`, so they share the call's retries, time budget, rate limit and call
counts. Signing and verifying live in ``ticket.py`` (see docs/superoffice.md, "Auth").
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from consent_sync.domain.settings import SuperOfficeCredentials

from . import queries as q
from .errors import AuthError, BadRequest, BadResponse, scrub
from .models import SystemUserLoginResponse
from .ticket import (
    KeyFormatError,
    TicketCache,
    UnknownSigningKey,
    cache_key,
    load_private_key,
    sign_system_user_token,
    ticket_from_jwt,
)

if TYPE_CHECKING:
    from .transport import Transport

#: Module-level like the tickets: JWKS per login root, fetched again when a token names an unknown key.
_JWKS: dict[str, dict[str, Any]] = {}
_JWKS_LOCK = threading.Lock()


def clear_key_sets() -> None:
    """Forget the cached JWKS (tests; never needed in production)."""
    with _JWKS_LOCK:
        _JWKS.clear()


class Auth:
    """Produces the auth headers of an API request; Online tickets can be renewed."""

    renewable = False

    def headers(self, deadline: float) -> dict[str, str]:
        """Headers for one request; ``deadline`` bounds any login this needs (monotonic seconds)."""
        raise NotImplementedError

    def renew(self, failed: Mapping[str, str], deadline: float) -> None:
        """Replace the credential that ``failed`` (the headers that got 401)."""
        raise AuthError("SuperOffice refused the credentials and they cannot be renewed")


class BasicAuth(Auth):
    """On-site Basic authentication with a user name and password."""

    def __init__(self, username: str, password: str) -> None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {token}"}

    def headers(self, deadline: float) -> dict[str, str]:
        return dict(self._headers)


class TicketAuth(Auth):
    """A fixed SOTicket (on-site), with an ``SO-AppToken`` when the credentials have a client secret."""

    def __init__(self, ticket: str, app_token: str | None) -> None:
        self._headers = {"Authorization": f"SOTicket {ticket}"}
        if app_token:
            self._headers["SO-AppToken"] = app_token

    def headers(self, deadline: float) -> dict[str, str]:
        return dict(self._headers)


class SystemUserAuth(Auth):
    """Online system user: a cached ticket, logged in for when missing, renewed once on 401."""

    renewable = True

    def __init__(self, transport: Transport, credentials: SuperOfficeCredentials, cache: TicketCache) -> None:
        connection = transport.connection
        if not (
            connection.context_id
            and credentials.client_secret
            and credentials.system_user_token
            and credentials.private_key
        ):
            raise AuthError("a system-user connection needs a context id and the system-user credentials")
        self._transport = transport
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
        transport = self._transport
        signed = sign_system_user_token(self._system_user_token, self._private_key)
        try:
            response = transport.request(
                "POST",
                transport.connection.login_root_url + q.SYSTEM_USER_LOGIN_PATH,
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
        login = transport.parse(response, SystemUserLoginResponse, q.EP_LOGIN)
        if not login.is_successful or not login.token:
            raise AuthError(
                "the system-user login was refused",
                status=response.status_code,
                endpoint=q.EP_LOGIN,
                detail=scrub(login.error_message or "", [*transport.secrets, signed]),
            )
        try:
            return ticket_from_jwt(
                login.token, self._jwks(deadline, refresh=False), context_id=self._context_id
            )
        except UnknownSigningKey:
            # SuperOffice may have rotated its signing key since the key set was cached.
            return ticket_from_jwt(
                login.token, self._jwks(deadline, refresh=True), context_id=self._context_id
            )

    def _jwks(self, deadline: float, *, refresh: bool) -> dict[str, Any]:
        transport = self._transport
        root = transport.connection.login_root_url
        if not refresh:
            with _JWKS_LOCK:
                cached = _JWKS.get(root)
            if cached is not None:
                return cached
        response = transport.request(
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


def auth_for(transport: Transport, credentials: SuperOfficeCredentials, cache: TicketCache) -> Auth:
    """The scheme the transport's connection names, with its credentials (``AuthError`` if incomplete)."""
    scheme = transport.connection.auth
    if scheme == "basic" and credentials.username and credentials.password:
        return BasicAuth(credentials.username, credentials.password.get_secret_value())
    if scheme == "ticket" and credentials.ticket:
        app_token = credentials.client_secret.get_secret_value() if credentials.client_secret else None
        return TicketAuth(credentials.ticket.get_secret_value(), app_token)
    if scheme == "system_user":
        return SystemUserAuth(transport, credentials, cache)
    # Quoted: "basic are" would read as a Basic credential to the scrubbing of messages.
    raise AuthError(f"credentials for auth {scheme!r} are incomplete")
