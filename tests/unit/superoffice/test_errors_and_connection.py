"""Error mapping and scrubbing; the connection and credentials models."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from consent_sync.domain.settings import SuperOfficeConnection, SuperOfficeCredentials
from consent_sync.superoffice import (
    AuthError,
    BadRequest,
    BadResponse,
    Forbidden,
    NotFound,
    Throttled,
    Unavailable,
)
from consent_sync.superoffice.errors import error_for_response, error_text, scrub


def response(status: int, body: str | bytes, content_type: str = "application/json") -> httpx.Response:
    return httpx.Response(
        status,
        content=body if isinstance(body, bytes) else body.encode(),
        headers={"Content-Type": content_type},
    )


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BadRequest),
        (401, AuthError),
        (403, Forbidden),
        (404, NotFound),
        (409, BadRequest),
        (412, BadRequest),
        (429, Throttled),
        (500, Unavailable),
        (503, Unavailable),
        (302, BadResponse),
    ],
)
def test_status_mapping(status: int, kind: type[Exception]) -> None:
    error = error_for_response(response(status, "{}"), "GET /Person/{id}")
    assert type(error) is kind
    assert error.status == status
    assert error.endpoint == "GET /Person/{id}"
    assert isinstance(error, AuthError) or status != 403  # a 403 is still a refusal to whoever catches those


def test_error_text_prefers_superoffice_fields() -> None:
    body = '{"Error": true, "ErrorType": "ArgumentException", "Message": "Unknown legal base: 61Z"}'
    assert error_text(response(400, body)) == "ArgumentException: Unknown legal base: 61Z"
    assert error_text(response(400, '{"ErrorMessage": "bad"}')) == "bad"
    assert error_text(response(500, "<html>Service Unavailable</html>", "text/html")) == (
        "<html>Service Unavailable</html>"
    )
    assert error_text(response(500, b"\xff\xfe")) != ""  # undecodable bytes do not crash


def test_detail_is_truncated() -> None:
    error = error_for_response(response(500, "x" * 5000), "GET /List/LegalBase/Items")
    assert error.detail is not None
    assert len(error.detail) <= 500


def test_tickets_and_secrets_are_scrubbed_everywhere() -> None:
    # Given a server that echoes the ticket it refused and a header value
    body = '{"Message": "Ticket 7T:abcDEF123== is not valid; got Authorization: SOTicket 7T:abcDEF123=="}'
    error = error_for_response(response(401, body), "GET /Person/{id}", secrets=["hunter2-password"])
    # Then neither message, str nor repr contains them
    for text in (str(error), repr(error), error.detail or ""):
        assert "abcDEF123" not in text
    assert scrub("password is hunter2-password", ["hunter2-password"]) == "password is ***"
    assert "eyJ" not in scrub("token eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl end")
    assert "dXNlcjpwYXNz" not in scrub("Authorization: Basic dXNlcjpwYXNz")


def test_retryable_kinds() -> None:
    assert Unavailable("x").retryable
    assert Throttled("x").retryable
    assert not BadRequest("x").retryable
    assert not AuthError("x").retryable


# -- Connection ----------------------------------------------------------------------------------------------


def test_onsite_connection_normalises_its_url() -> None:
    conn = SuperOfficeConnection(
        kind="onsite", base_url="https://crm.example.com/SuperOffice/api/", auth="basic"
    )
    assert conn.base_url == "https://crm.example.com/SuperOffice/api/v1"
    conn = SuperOfficeConnection(kind="onsite", base_url="https://crm.example.com/api/v1/", auth="ticket")
    assert conn.base_url == "https://crm.example.com/api/v1"


def test_online_connection_login_root() -> None:
    conn = SuperOfficeConnection(kind="online", context_id="Cust12345", environment="sod", auth="system_user")
    assert conn.login_root_url == "https://sod.superoffice.com"
    sim = SuperOfficeConnection(
        kind="online",
        context_id="Cust12345",
        environment="sod",
        auth="system_user",
        login_root="http://127.0.0.1:8080/",
        allow_insecure=True,
    )
    assert sim.login_root_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "onsite", "auth": "basic"}, "needs base_url"),
        ({"kind": "onsite", "base_url": "http://crm/api/v1", "auth": "basic"}, "https"),
        ({"kind": "onsite", "base_url": "https://crm/api/v1", "auth": "system_user"}, "basic or ticket"),
        ({"kind": "onsite", "base_url": "https://crm/other", "auth": "basic"}, "/api/v1"),
        ({"kind": "onsite", "base_url": "https://u:p@crm/api/v1", "auth": "basic"}, "credentials"),
        ({"kind": "online", "context_id": "Cust1", "auth": "system_user"}, "context_id and environment"),
        ({"kind": "online", "context_id": "Cust1", "environment": "sod", "auth": "basic"}, "system_user"),
        ({"kind": "online", "context_id": "12345", "environment": "sod", "auth": "system_user"}, "pattern"),
        (
            {
                "kind": "online",
                "context_id": "Cust1",
                "environment": "sod",
                "auth": "system_user",
                "login_root": "http://127.0.0.1:1",
            },
            "https",
        ),
    ],
)
def test_invalid_connections(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SuperOfficeConnection.model_validate(fields)


def test_credentials_hide_secrets_and_name_what_is_missing() -> None:
    creds = SuperOfficeCredentials(username="sim", password="s3cret-pass", ticket="7T:tick")
    assert "s3cret-pass" not in repr(creds)
    assert "7T:tick" not in str(creds)
    creds.check_for("basic")
    creds.check_for("ticket")
    with pytest.raises(ValueError, match="client_id, client_secret, system_user_token, private_key"):
        creds.check_for("system_user")
    with pytest.raises(ValueError, match="password"):
        SuperOfficeCredentials(username="u", password="  ").check_for("basic")
    assert set(creds.secret_values()) == {"s3cret-pass", "7T:tick"}
