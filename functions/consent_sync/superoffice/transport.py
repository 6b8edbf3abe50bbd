"""Sending one tenant's requests: pacing, retries within a time budget, and where the tenant's API is.

Every request goes through :meth:`Transport.request`: the per-tenant token bucket paces it; transient
failures (5xx, 429, timeouts, connection errors) are retried with full-jitter exponential backoff
(tenacity) until the call's deadline; a ``Retry-After`` hint is honoured, and held for everyone sharing
the bucket; an Online ticket is renewed once on 401; every request is counted by endpoint name. An
Online tenant's API URL comes from its tenant state, cached per container and looked up again after a
connection failure or a redirect (the tenant moved to another data host). See docs/superoffice.md.
"""

from __future__ import annotations

import functools
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, TypeVar

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

from consent_sync.domain.errors import BudgetExhausted
from consent_sync.domain.settings import SuperOfficeConnection, SuperOfficeCredentials, api_base_url

from . import queries as q
from .auth import auth_for
from .errors import (
    CAUSE_CONNECT,
    CAUSE_DNS,
    CAUSE_TLS,
    AuthError,
    BadResponse,
    SuperOfficeError,
    Throttled,
    TimedOut,
    Unavailable,
    Unreachable,
    error_for_response,
    summarise,
)
from .exchanges import Exchange, rate_limit_headers
from .logs import logger
from .models import TenantState
from .throttle import RateLimiter, TokenBucket, parse_retry_after
from .ticket import TICKETS, TicketCache

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


def clear_api_urls() -> None:
    """Forget the cached Online API URLs (tests; never needed in production)."""
    with _API_URLS_LOCK:
        _API_URLS.clear()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default certificate verification (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), built once.

    Building it loads the CA bundle (about 30 ms), so it is shared by every client of the container.
    """
    return httpx.create_ssl_context()


@dataclass
class _CallState:
    """Bookkeeping shared by the attempts of one logical call."""

    #: time.monotonic() by which the call must be over, retries and nested logins included.
    deadline: float
    renewed: bool = False


class Transport:
    """One tenant's connection pool, auth, pacing and retries; the client's endpoints call through it.

    ``calls`` counts every HTTP request made (retries and logins included) by endpoint name.
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
        rate_limiter: RateLimiter | None = None,
        http_transport: httpx.BaseTransport | None = None,
        ticket_cache: TicketCache | None = None,
    ) -> None:
        """Check the credentials against the connection's auth scheme, then open the pool.

        ``timeout_s`` bounds each call in total (attempts, backoff and ``Retry-After`` waits);
        ``request_timeout_s`` bounds a single HTTP exchange.
        """
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
        #: When a list (``SuperOfficeClient.record_exchanges``), every HTTP exchange is appended to it.
        self.exchanges: list[Exchange] | None = None
        self.secrets = credentials.secret_values()
        # Before the pool opens: a bad private key must not leave a pool behind.
        self.auth = auth_for(self, credentials, ticket_cache or TICKETS)
        self._http = httpx.Client(
            transport=http_transport,
            verify=_tls_context(),
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "consent-sync"},
            timeout=request_timeout_s,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- Where the API is --------------------------------------------------------------------------------

    def url_limit(self) -> int:
        """The length every URL to this tenant stays under."""
        # An Online tenant can move to a data host with a longer name between measuring and sending.
        return q.MAX_URL_LENGTH - (q.ONLINE_URL_MARGIN if self.connection.kind == "online" else 0)

    def api_base(self) -> str:
        """The tenant's ``.../api/v1`` URL (Online: resolved first when not known yet)."""
        return self._api_base()

    def api_url(self, path: str, deadline: float | None = None) -> str:
        """The URL of ``path`` (relative to the tenant's ``.../api/v1``)."""
        return f"{self._api_base(deadline)}/{path}"

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
        response = self.request(
            "GET", url, endpoint=q.EP_TENANT_STATE, authenticated=False, deadline=deadline
        )
        state = self.parse(response, TenantState, q.EP_TENANT_STATE)
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

    # -- Reading answers ---------------------------------------------------------------------------------

    @staticmethod
    def parse(response: httpx.Response, model: type[M], endpoint: str) -> M:
        """The response body as ``model``; ``BadResponse`` (no input values) when it is not one."""
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise BadResponse(
                "SuperOffice answered with an unexpected shape",
                status=response.status_code,
                endpoint=endpoint,
                detail=summarise(exc),
            ) from None

    @staticmethod
    def parse_list(response: httpx.Response, model: type[M], endpoint: str) -> list[M]:
        """The response body as a JSON array of ``model``; ``BadResponse`` when it is not one."""
        try:
            return TypeAdapter(list[model]).validate_json(response.content)  # type: ignore[valid-type]
        except ValidationError as exc:
            raise BadResponse(
                "SuperOffice answered with an unexpected shape",
                status=response.status_code,
                endpoint=endpoint,
                detail=summarise(exc),
            ) from None

    # -- Sending -----------------------------------------------------------------------------------------

    def api(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        expect: tuple[int, ...] = (200,),
        extra_secrets: tuple[str, ...] = (),
    ) -> httpx.Response:
        """A call to the tenant API (path relative to ``.../api/v1``), authenticated.

        ``extra_secrets`` are scrubbed from any error detail (a webhook's secret in its body)."""
        return self.request(
            method,
            path,
            endpoint=endpoint,
            params=params,
            json_body=json_body,
            expect=expect,
            relative=True,
            extra_secrets=extra_secrets,
        )

    def request(
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
            target = self.api_url(url, state.deadline) if relative else url
            headers = self.auth.headers(state.deadline) if authenticated else {}
            response = self._send_once(method, target, endpoint, headers, params, json_body, state)
            if response.status_code in expect:
                return response
            if response.status_code == 401 and authenticated and self.auth.renewable and not state.renewed:
                # SuperOffice answers 401 when a ticket has expired or was revoked: log in again, once.
                state.renewed = True
                self.auth.renew(headers, state.deadline)
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
        try:
            self.rate_limiter.acquire(state.deadline)
        except BudgetExhausted as exc:
            # Held (a 429/503 with Retry-After, seen by any worker): fail now; SQS brings the work back.
            raise Throttled(str(exc), endpoint=endpoint, retry_after=exc.wait_s) from exc
        remaining = state.deadline - time.monotonic()
        if remaining <= 0:
            raise TimedOut("the time budget of the call is spent", endpoint=endpoint)
        timeout = min(self.request_timeout_s, remaining)
        with self._calls_lock:
            self.calls[endpoint] += 1
        started = time.monotonic()
        try:
            response = self._http.request(
                method, url, params=params, json=json_body, headers=headers, timeout=timeout
            )
        except httpx.TimeoutException as exc:
            self._exchanged(endpoint, started, error=type(exc).__name__)
            raise TimedOut(
                f"SuperOffice did not answer in time ({type(exc).__name__})", endpoint=endpoint
            ) from exc
        except httpx.TransportError as exc:
            self._exchanged(endpoint, started, error=type(exc).__name__)
            # The Online data host may have moved: the next attempt resolves the tenant's API URL again.
            self._forget_api_base()
            cause = connection_failure(exc)
            raise Unreachable(
                f"SuperOffice could not be reached ({type(exc).__name__}: {_CAUSE_TEXT[cause]})",
                cause=cause,
                endpoint=endpoint,
            ) from exc
        self._exchanged(endpoint, started, response=response)
        return response

    def _exchanged(
        self,
        endpoint: str,
        started: float,
        *,
        response: httpx.Response | None = None,
        error: str | None = None,
    ) -> None:
        if self.exchanges is None:
            return
        self.exchanges.append(
            Exchange(
                endpoint=endpoint,
                latency_s=time.monotonic() - started,
                status=None if response is None else response.status_code,
                rate_limit_headers={} if response is None else rate_limit_headers(response.headers.items()),
                error=error,
            )
        )

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
            response, endpoint, secrets=[*self.secrets, *extra_secrets], retry_after=retry_after
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


_CAUSE_TEXT = {
    CAUSE_DNS: "the host name did not resolve",
    CAUSE_TLS: "the TLS handshake or certificate failed",
    CAUSE_CONNECT: "no connection",
}


def connection_failure(exc: BaseException) -> str:
    """Why a request reached no server: ``dns``, ``tls`` or ``connect``.

    httpx wraps httpcore's exception, which wraps the socket's own (``raise ... from``): the cause
    chain is searched for a name-resolution error (``socket.gaierror``) or a TLS one (``ssl.SSLError``,
    certificate verification included).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return CAUSE_DNS
        if isinstance(current, ssl.SSLError):
            return CAUSE_TLS
        current = current.__cause__ or current.__context__
    return CAUSE_CONNECT


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, (Unavailable, Throttled))
