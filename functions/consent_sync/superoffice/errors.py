"""Exceptions raised by the SuperOffice client.

Every error carries the HTTP status (when there was a response), the endpoint name (a path template such
as ``GET /Archive/dynamic``, never a URL: filters can hold e-mail addresses) and SuperOffice's own error
text. Messages and that text are scrubbed so that credentials, tickets, Authorization headers and e-mail
addresses (personal data, which a server may echo from a filter) never reach a log line, a traceback or a
decision-log entry.

httpx is not imported here (only for type hints): importing the package's errors, as every flow does,
must not pay for the HTTP client; the responses these functions read come from a client that has it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from consent_sync.domain.redaction import scrub_text

if TYPE_CHECKING:
    import httpx
    from pydantic import ValidationError

#: Longest piece of SuperOffice's error text kept in an exception.
MAX_DETAIL_CHARS = 500
#: Longest piece of it scrubbed (then cut to `MAX_DETAIL_CHARS`): a large error page costs no more.
_SCRUBBED_CHARS = 8 * MAX_DETAIL_CHARS
#: When the text was cut before scrubbing, this much of its end is dropped too: an address or a
#: credential cut in two there would not be recognised (and scrubbing may shorten what comes before it).
_CUT_MARGIN = 512

# Credentials that can appear in an error body even when we never put them there ourselves: a server may
# echo the ticket it rejected. Tickets look like "7T:abc..."; scheme-prefixed header values are masked too.
# Compiled by `re` at the first scrub (and cached there), not at every cold start.
_SECRET_PATTERNS = (
    r"\b\d+[A-Z]:[A-Za-z0-9+/=._\-]+",
    r"(?i)\b(SOTicket|Basic|Bearer)\s+[A-Za-z0-9+/=._:\-]+",
    r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*",
)
_MASK = "***"


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with the given secret values and anything ticket- or header-shaped masked, and
    e-mail addresses masked (``consent_sync.domain.redaction``)."""
    for secret in secrets:
        # Very short values would mask ordinary words; none of our credentials is that short.
        if secret and len(secret) >= 4:
            text = text.replace(secret, _MASK)
    for pattern in _SECRET_PATTERNS:
        text = re.sub(pattern, _MASK, text)
    return scrub_text(text)


def scrub_detail(text: str, secrets: Iterable[str] = ()) -> str:
    """Server text as an error keeps it: scrubbed (see :func:`scrub`), at most `MAX_DETAIL_CHARS`."""
    if len(text) <= _SCRUBBED_CHARS:
        return scrub(text, secrets)[:MAX_DETAIL_CHARS]
    scrubbed = scrub(text[:_SCRUBBED_CHARS], secrets)
    return scrubbed[: max(0, min(MAX_DETAIL_CHARS, len(scrubbed) - _CUT_MARGIN))]


class SuperOfficeError(Exception):
    """Base class: any failure talking to SuperOffice.

    ``retryable`` tells a caller whether trying again later can help (outages, throttling), as opposed to
    a request that will fail the same way every time.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        endpoint: str | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = scrub(message)
        self.status = status
        self.endpoint = endpoint
        #: The server's ``Retry-After`` hint in seconds, when it gave one (429/503).
        self.retry_after = retry_after
        self.detail = scrub_detail(detail) if detail else None
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ", ".join(
            part
            for part in (f"HTTP {self.status}" if self.status is not None else "", self.endpoint or "")
            if part
        )
        text = f"{self.message} ({where})" if where else self.message
        return f"{text}: {self.detail}" if self.detail else text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, "
            f"endpoint={self.endpoint!r}, detail={self.detail!r})"
        )


class AuthError(SuperOfficeError):
    """The credentials were refused (401/403), or a system-user login or its token failed verification."""


class Forbidden(AuthError):
    """403: the credentials are valid but may not do this (e.g. an Online app without the webhook agent)."""


class NotFound(SuperOfficeError):
    """The entity asked for does not exist (404)."""


class BadRequest(SuperOfficeError):
    """SuperOffice rejected the request as such (400, 409, 412, other 4xx), or a key is unknown."""


class BadResponse(SuperOfficeError):
    """SuperOffice answered with something the client cannot understand (wrong shape, not JSON, ...)."""


class Unavailable(SuperOfficeError):
    """SuperOffice could not be reached or answered 5xx, and the retry budget is spent."""

    retryable = True


class TimedOut(Unavailable):
    """SuperOffice did not answer within the time allowed (one exchange, or the call's whole budget)."""


#: Why SuperOffice could not be reached at all (:attr:`Unreachable.cause`).
CAUSE_DNS = "dns"
CAUSE_TLS = "tls"
CAUSE_CONNECT = "connect"


class Unreachable(Unavailable):
    """No HTTP exchange took place: ``cause`` says why (``dns``: the host name did not resolve,
    ``tls``: the TLS handshake or the server's certificate failed, ``connect``: anything else, such as
    a refused connection or a reset)."""

    def __init__(self, message: str, *, cause: str, endpoint: str | None = None) -> None:
        self.cause = cause
        super().__init__(message, endpoint=endpoint)


class Throttled(SuperOfficeError):
    """SuperOffice answered 429 until the retry budget was spent; ``retry_after`` is its last hint."""

    retryable = True


def error_text(response: httpx.Response) -> str:
    """SuperOffice's explanation of a failed response.

    The error body shape is undocumented: take ``ErrorMessage``, ``Message`` or ``ErrorType`` from a JSON
    object when present, else the raw text.
    """
    import httpx  # loaded already: the response came from it

    try:
        raw = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return ""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.strip()
    if isinstance(body, dict):
        parts = [
            str(body[key]).strip()
            for key in ("ErrorType", "ErrorMessage", "Message")
            if isinstance(body.get(key), str) and body[key].strip()
        ]
        if parts:
            return ": ".join(parts)
    return raw.strip()


def error_for_response(
    response: httpx.Response,
    endpoint: str,
    *,
    secrets: Iterable[str] = (),
    retry_after: float | None = None,
) -> SuperOfficeError:
    """Map a non-successful response to the matching exception type."""
    status = response.status_code
    detail = scrub_detail(error_text(response), secrets)
    kind: type[SuperOfficeError]
    if status == 401:
        kind, message = AuthError, "SuperOffice refused the credentials"
    elif status == 403:
        kind, message = Forbidden, "SuperOffice forbids this request to these credentials"
    elif status == 404:
        kind, message = NotFound, "SuperOffice has no such entity"
    elif status == 429:
        kind, message = Throttled, "SuperOffice is throttling requests"
    elif status >= 500:
        kind, message = Unavailable, "SuperOffice is unavailable"
    elif 400 <= status < 500:
        kind, message = BadRequest, "SuperOffice rejected the request"
    else:
        kind, message = BadResponse, "unexpected response from SuperOffice"
    return kind(message, status=status, endpoint=endpoint, detail=detail, retry_after=retry_after)


def summarise(exc: ValidationError) -> str:
    """A validation error as locations and messages only: input values could be personal data."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        location = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{location}: {error.get('msg', '')}")
    return "; ".join(parts)
