"""Why a SuperOffice call failed, as precisely as the exception says: the transport's reading of httpx's
cause chain, the 403 apart from the 401, the rate-limit headers an exchange keeps, and the connection
check's error code for each failure."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from consent_sync.flows.check_connection import failure_code
from consent_sync.store.secrets import CredentialsUnavailable
from consent_sync.superoffice import (
    AuthError,
    BadRequest,
    BadResponse,
    Forbidden,
    NotFound,
    Throttled,
    TimedOut,
    Unavailable,
    Unreachable,
)
from consent_sync.superoffice.errors import error_for_response
from consent_sync.superoffice.exchanges import rate_limit_headers
from consent_sync.superoffice.transport import connection_failure


def _wrapped(root: BaseException) -> httpx.ConnectError:
    """An httpx error over an httpcore-like one over the socket's, chained as `raise ... from`."""
    middle = RuntimeError("httpcore.ConnectError")
    middle.__cause__ = root
    outer = httpx.ConnectError(str(root))
    outer.__cause__ = middle
    return outer


@pytest.mark.parametrize(
    ("root", "cause"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "dns"),
        (ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate"), "tls"),
        (ssl.SSLError(1, "wrong version number"), "tls"),
        (ConnectionRefusedError(111, "Connection refused"), "connect"),
    ],
)
def test_the_cause_chain_names_why_no_server_was_reached(root: BaseException, cause: str) -> None:
    assert connection_failure(_wrapped(root)) == cause


def test_a_cause_chain_with_a_loop_ends() -> None:
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__cause__, second.__cause__ = second, first
    assert connection_failure(first) == "connect"


def test_403_is_forbidden_and_401_is_not() -> None:
    request = httpx.Request("GET", "https://crm.example/api/v1/List/LegalBase/Items")
    forbidden = error_for_response(httpx.Response(403, request=request, text="no"), "GET /x")
    refused = error_for_response(httpx.Response(401, request=request, text="no"), "GET /x")
    assert isinstance(forbidden, Forbidden)
    assert isinstance(forbidden, AuthError)
    assert isinstance(refused, AuthError)
    assert not isinstance(refused, Forbidden)


def test_only_rate_limit_headers_are_kept() -> None:
    headers = [
        ("Retry-After", "3"),
        ("X-RateLimit-Remaining", "9"),
        ("x-rate-limit-limit", "10"),
        ("RateLimit-Reset", "1"),
        ("Set-Cookie", "session=secret"),
        ("Server", "Microsoft-IIS/10.0"),
    ]
    assert rate_limit_headers(headers) == {
        "Retry-After": "3",
        "X-RateLimit-Remaining": "9",
        "x-rate-limit-limit": "10",
        "RateLimit-Reset": "1",
    }


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (Unreachable("x", cause="dns"), "dns"),
        (Unreachable("x", cause="tls"), "tls"),
        (Unreachable("x", cause="connect"), "unreachable"),
        (TimedOut("x"), "timeout"),
        (Forbidden("x", status=403), "forbidden"),
        (AuthError("x", status=401), "auth_failed"),
        (Throttled("x", status=429), "throttled"),
        (Unavailable("x", status=503), "unavailable"),
        (NotFound("x", status=404), "not_found"),
        (BadRequest("x", status=400), "rejected"),
        (BadResponse("x"), "bad_response"),
        (CredentialsUnavailable("x"), "credentials_unavailable"),
    ],
)
def test_each_failure_has_its_code(exc: BaseException, code: str) -> None:
    assert failure_code(exc) == code


def test_anything_else_is_no_superoffice_failure() -> None:
    with pytest.raises(TypeError):
        failure_code(ValueError("x"))
