"""Nothing the client raises or logs carries an e-mail address or a credential from server text."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from consent_sync.domain.settings import SuperOfficeConnection, SuperOfficeCredentials
from consent_sync.superoffice import (
    AuthError,
    BadRequest,
    RetryPolicy,
    SuperOfficeClient,
    SuperOfficeError,
    Unavailable,
    clear_caches,
)
from consent_sync.superoffice.errors import error_for_response
from consent_sync.superoffice.logs import LOGGER_NAME, ScrubbingFilter, client_logger

BASE = "https://crm.example.com/api/v1"
FAST = RetryPolicy(max_attempts=3, initial_wait_s=0.001, max_wait_s=0.01, max_retry_after_s=1.0)
#: What a server (or a proxy in front of it) might echo back in an error body.
LEAKY = "Person ann.smith@example.com (a%40b.com, a@b.com) refused; got Authorization: Bearer abc"
LEAKED = ("ann.smith@example.com", "a%40b.com", "a@b.com", "Bearer abc", "abc;", "ann.smith")


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


def texts_of(error: SuperOfficeError) -> list[str]:
    return [str(error), repr(error), error.message, error.detail or "", *map(str, error.args)]


def assert_clean(text: str) -> None:
    for leaked in LEAKED:
        assert leaked not in text, (leaked, text)


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 503])
def test_an_error_built_from_a_server_body_keeps_no_address_or_credential(status: int) -> None:
    for body in (LEAKY, f'{{"ErrorType": "Exception", "Message": "{LEAKY}"}}'):
        error = error_for_response(httpx.Response(status, text=body), "GET /Person")
        assert error.detail  # the server's explanation is still there, scrubbed
        assert "refused" in error.detail
        for text in texts_of(error):
            assert_clean(text)


def test_an_error_built_directly_is_scrubbed_too() -> None:
    error = BadRequest(f"the tenant refused {LEAKY}", status=400, endpoint="PUT /Person", detail=LEAKY)
    for text in texts_of(error):
        assert_clean(text)
    login = AuthError("the system-user login was refused", detail='{"Email": "ann.smith@example.com"}')
    assert "ann.smith" not in str(login)


def test_a_large_error_page_is_scrubbed_and_cut() -> None:
    body = ("<p>" + "x" * 90 + "</p>") * 200 + "a@b.com"
    error = error_for_response(httpx.Response(502, text=body), "GET /Person")
    assert error.detail is not None
    assert len(error.detail) <= 500
    assert "a@b.com" not in str(error)


def open_client(handler: object) -> SuperOfficeClient:
    conn = SuperOfficeConnection(kind="onsite", base_url=BASE, auth="basic")
    creds = SuperOfficeCredentials(username="sim", password="pa55word-secret")
    return SuperOfficeClient.open(
        conn, creds, transport=httpx.MockTransport(handler), retry=FAST, requests_per_second=1000.0
    )


def test_retries_log_and_raise_no_address(caplog: pytest.LogCaptureFixture) -> None:
    # Given a tenant in maintenance whose error page echoes addresses and a header
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    with (
        open_client(lambda r: httpx.Response(503, text=LEAKY)) as client,
        pytest.raises(Unavailable) as info,
    ):
        client.persons_by_emails(["ann.smith@example.com"])
    # Then the retries were logged, on the client's logger, in the shape devtools/chaos reads
    retries = [r for r in caplog.records if r.name == LOGGER_NAME]
    assert len(retries) == FAST.max_attempts - 1
    assert str(retries[0].msg).startswith("SuperOffice %s failed")
    assert isinstance(retries[0].args, tuple)
    assert retries[0].args[1] == "Unavailable"
    # And neither the log nor the error holds what the server echoed
    assert_clean(caplog.text)
    for text in texts_of(info.value):
        assert_clean(text)


def test_whatever_the_client_logger_logs_is_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    target = logging.getLogger(LOGGER_NAME)
    target.warning("retrying %s for %s after %r", "GET /Person", "a@b.com", ValueError("a%40b.com"))
    target.info("%(who)s sent %(header)s", {"who": "ann.smith@example.com", "header": "Bearer abc"})
    target.warning(f"SuperOffice said {LEAKY}")
    try:
        raise RuntimeError(LEAKY)
    except RuntimeError:
        target.exception("the call failed")
    assert len(caplog.records) == 4
    assert "GET /Person" in caplog.text
    assert "***" in caplog.text
    assert_clean(caplog.text)
    for record in caplog.records:
        assert_clean(record.getMessage())
    # Numbers stay numbers: "%d" and "%.2f" in the client's messages keep working
    target.warning("attempt %d, retrying in %.2fs", 2, 0.5)
    assert caplog.records[-1].getMessage() == "attempt 2, retrying in 0.50s"


def test_the_filter_is_added_once() -> None:
    client_logger()
    client_logger()
    filters = [f for f in logging.getLogger(LOGGER_NAME).filters if isinstance(f, ScrubbingFilter)]
    assert len(filters) == 1
