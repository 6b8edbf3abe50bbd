"""The client against an in-process fake (httpx.MockTransport): shapes, splitting, retries, errors."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from consent_sync.domain.errors import UnknownKey
from consent_sync.domain.settings import SuperOfficeConnection, SuperOfficeCredentials
from consent_sync.superoffice import (
    AuthError,
    BadRequest,
    BadResponse,
    NotFound,
    RetryPolicy,
    SuperOfficeClient,
    Throttled,
    Unavailable,
    clear_caches,
)
from consent_sync.superoffice import queries as q
from consent_sync.superoffice.ticket import TICKETS, cache_key

BASE = "https://crm.example.com/api/v1"
FAST = RetryPolicy(max_attempts=4, initial_wait_s=0.001, max_wait_s=0.01, max_retry_after_s=1.0)

LEGAL_BASES = [
    {"LegalBaseId": 1, "Key": "61A", "Name": "Consent", "Rank": 1, "Deleted": False},
    {"LegalBaseId": 6, "Key": "61F", "Name": "Legitimate interest", "Rank": 6, "Deleted": False},
    {"LegalBaseId": 7, "Key": "WITHDRAWN", "Name": "Withdrawn", "Rank": 7, "Deleted": False},
]
PURPOSES = [
    {"ConsentPurposeId": 1, "Key": "STORE", "Name": "Store", "Active": 1},
    {"ConsentPurposeId": 2, "Key": "EMARKETING", "Name": "Marketing", "Active": 1},
]
SOURCES = [{"ConsentSourceId": 1, "Key": "USER", "Name": "User"}, {"ConsentSourceId": 4, "Key": "API"}]

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


def envelope(rows: list[dict[str, Any]]) -> httpx.Response:
    return httpx.Response(200, json={"odata.metadata": "x", "odata.nextLink": None, "value": rows})


def lists_or(handler: Handler) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/List/LegalBase/Items"):
            return httpx.Response(200, json=LEGAL_BASES)
        if path.endswith("/List/ConsentPurpose/Items"):
            return httpx.Response(200, json=PURPOSES)
        if path.endswith("/List/ConsentSource/Items"):
            return httpx.Response(200, json=SOURCES)
        return handler(request)

    return handle


def open_client(handler: Handler, **kwargs: Any) -> SuperOfficeClient:
    conn = SuperOfficeConnection(kind="onsite", base_url=BASE, auth="basic")
    creds = SuperOfficeCredentials(username="sim", password="pa55word-secret")
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("requests_per_second", 1000.0)
    return SuperOfficeClient.open(conn, creds, transport=httpx.MockTransport(handler), **kwargs)


def ids_in(request: httpx.Request) -> list[int]:
    match = re.search(r" in \(([^)]*)\)", request.url.params["$filter"])
    assert match
    return [int(x) for x in match.group(1).split(",")]


def test_basic_auth_header_and_lists_are_cached() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=LEGAL_BASES)

    with open_client(handler) as client:
        assert [b.key for b in client.legal_bases()] == ["61A", "61F", "WITHDRAWN"]
        client.legal_bases()
    assert len(seen) == 1
    assert seen[0].headers["Authorization"] == "Basic c2ltOnBhNTV3b3JkLXNlY3JldA=="
    assert client.calls == {"GET /List/LegalBase/Items": 1}


def test_missing_person_is_not_found() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"Message": "no such person"})

    with open_client(lists_or(handler)) as client:
        with pytest.raises(NotFound, match="no such person"):
            client.set_consent(99, "EMARKETING", "61A", "API")
        assert client.calls["PUT /Person/{id}/Consent/{purpose}"] == 1  # not retried


def test_unreadable_answers_are_bad_responses() -> None:
    with (
        open_client(lambda r: httpx.Response(200, text="<html>login</html>")) as client,
        pytest.raises(BadResponse),
    ):
        client.persons_by_ids([1])
    with (
        open_client(lambda r: envelope([{"personId": "not a number"}])) as client,
        pytest.raises(BadResponse, match="personId"),
    ):
        client.persons_by_ids([1])
    with (
        open_client(lambda r: httpx.Response(200, json={"value": "nope"})) as client,
        pytest.raises(BadResponse),
    ):
        client.selection_members(1)


def test_persons_by_ids_splits_long_lists_and_merges() -> None:
    # Given 1,500 ids, more than one URL can hold
    wanted = list(range(10_000_000, 10_001_500))
    urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        rows = [
            {
                "personId": i,
                "firstName": "F",
                "lastName": "L",
                "personContact/contactId": 0,
                "email/emailAddress": "",
            }
            for i in ids_in(request)
        ]
        return envelope(rows)

    with open_client(handler) as client:
        rows = client.persons_by_ids(wanted + wanted[:10])
    # Then several GETs went out, each URL under 2,000 characters, together asking for every id once
    assert len(urls) > 1
    assert all(len(u) < q.MAX_URL_LENGTH for u in urls)
    asked = [i for u in urls for i in ids_in(httpx.Request("GET", u))]
    assert sorted(asked) == wanted
    assert [r.person_id for r in rows] == wanted
    assert rows[0].email is None
    assert rows[0].contact_id is None
    assert client.calls["GET /Archive/Person"] == len(urls)


def test_empty_inputs_make_no_request() -> None:
    with open_client(lambda r: pytest.fail("no request expected")) as client:
        assert client.persons_by_ids([]) == []
        assert client.consent_rows([]) == []
        assert client.persons_by_emails(["  "]) == []


def test_persons_by_emails_escapes_and_lists_each_person_once() -> None:
    filters: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        filters.append(request.url.params["$filter"])
        return envelope(
            [
                {
                    "personId": 7,
                    "personRegisteredDate": "2026-02-01T00:00:00",
                    "email/emailAddress": "O'Brien@x.se",
                },
                {
                    "personId": 3,
                    "personRegisteredDate": "2026-02-01T00:00:00",
                    "email/emailAddress": "o'brien@x.se",
                },
                {
                    "personId": 9,
                    "personRegisteredDate": "2025-01-01T00:00:00",
                    "email/emailAddress": "o'brien@x.se",
                },
            ]
        )

    with open_client(handler) as client:
        found = client.persons_by_emails(["O'Brien@x.se", "o'brien@x.se"])
    assert filters == ["email/emailAddress in ('o''brien@x.se')"]
    assert [p.person_id for p in found] == [3, 7, 9]


def test_consent_rows_map_ids_to_keys() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/Archive/dynamic")
        return envelope(
            [
                {
                    q.C_ID: 2,
                    q.C_PERSON_ID: 5,
                    q.C_PURPOSE_ID: 2,
                    q.C_LEGAL_BASE_ID: 6,
                    q.C_SOURCE_ID: 1,
                    q.C_COMMENT: None,
                    q.C_REGISTERED: "2026-01-01T00:00:00",
                    q.C_UPDATED: "0001-01-01T00:00:00",
                },
                {
                    q.C_ID: 1,
                    q.C_PERSON_ID: 5,
                    q.C_PURPOSE_ID: 1,
                    q.C_LEGAL_BASE_ID: 99,
                    q.C_SOURCE_ID: 0,
                    q.C_COMMENT: "x",
                    q.C_REGISTERED: "2026-01-01T00:00:00",
                    q.C_UPDATED: "2026-03-01T00:00:00",
                },
            ]
        )

    with open_client(lists_or(handler)) as client:
        rows = client.consent_rows([5])
    assert [(r.consent_person_id, r.purpose_key, r.legal_base_key, r.source_key) for r in rows] == [
        (1, "STORE", None, None),  # an id missing from the lists gives None, not a crash
        (2, "EMARKETING", "61F", "USER"),
    ]
    assert rows[0].changed_at == datetime(2026, 3, 1, tzinfo=UTC)
    assert rows[1].changed_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert rows[1].comment == ""


def test_changed_since_pages_by_key_never_skip() -> None:
    # Given 2,500 changed rows on the server
    total = 2500
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        params = request.url.params
        assert "$skip" not in params
        last = int(re.search(r"gt (\d+)$", params["$filter"]).group(1))  # type: ignore[union-attr]
        top = int(params["$top"])
        rows = [
            {
                q.C_ID: i,
                q.C_PERSON_ID: i,
                q.C_PURPOSE_ID: 1,
                q.C_LEGAL_BASE_ID: 1,
                q.C_SOURCE_ID: 1,
                q.C_REGISTERED: "2026-01-01T00:00:00",
                q.C_UPDATED: "0001-01-01T00:00:00",
            }
            for i in range(last + 1, min(total, last + top) + 1)
        ]
        return envelope(rows)

    with open_client(lists_or(handler)) as client:
        rows = list(client.consent_rows_changed_since(datetime(2026, 11, 22, 10, 0, 0, 400000, tzinfo=UTC)))
    assert [r.consent_person_id for r in rows] == list(range(1, total + 1))
    assert len(requests) == 3
    first = requests[0].url.params
    assert first["$orderBy"] == q.C_ID
    assert first["$top"] == "1000"
    assert "afterTime '2026-11-22T09:59:59'" in first["$filter"]
    assert first["$filter"].endswith("gt 0")
    assert requests[1].url.params["$filter"].endswith("gt 1000")


def test_paging_that_does_not_advance_is_a_bad_response() -> None:
    row = {"projectMemberId": 5, "personId": 1, "contactId": 2}
    with (
        open_client(lambda r: envelope([row] * q.PAGE_SIZE)) as client,
        pytest.raises(BadResponse, match="did not advance"),
    ):
        client.project_members(1)


def test_members_skip_company_rows_and_repeats() -> None:
    rows = [
        {"personId": 1, "contactId": 10},
        {"personId": 0, "contactId": 11},
        {"personId": 1, "contactId": 10},
    ]
    with open_client(lambda r: envelope(rows)) as client:
        assert [(m.person_id, m.contact_id) for m in client.selection_members(3)] == [(1, 10)]


def test_set_consent_sends_keys_and_truncates_the_comment() -> None:
    puts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        puts.append(request)
        return httpx.Response(204)

    with open_client(lists_or(handler)) as client:
        client.set_consent(5, "EMARKETING", "WITHDRAWN", "API", "é" * 300)
        with pytest.raises(UnknownKey, match="legal base '61Z'"):
            client.set_consent(5, "EMARKETING", "61Z", "API")
    assert len(puts) == 1
    request = puts[0]
    assert request.method == "PUT"
    assert request.url.path == "/api/v1/Person/5/Consent/EMARKETING"
    assert request.url.params["legalBase"] == "WITHDRAWN"
    assert request.url.params["source"] == "API"
    assert request.url.params["comment"] == "é" * 255


def test_set_consent_takes_the_platforms_keys_in_any_letter_case() -> None:
    puts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        puts.append(request)
        return httpx.Response(204)

    with open_client(lists_or(handler)) as client:
        client.set_consent(5, "EMARKETING", "61a", "user")
        client.set_consent(5, "EMARKETING", "withdrawn", None)  # no source: the tenant's default
        with pytest.raises(UnknownKey, match="consent source 'WEBFORM'"):
            client.set_consent(5, "EMARKETING", "61A", "WEBFORM")
        with pytest.raises(BadRequest, match="consent purpose key 'NEWSLETTER'"):
            client.set_consent(5, "NEWSLETTER", "61A", "API")
        # An unknown key reads its list again once before it is refused
        assert client.calls["GET /List/ConsentSource/Items"] == 2
        assert client.calls["GET /List/ConsentPurpose/Items"] == 2
    assert [(r.url.params["legalBase"], r.url.params["source"]) for r in puts] == [
        ("61A", "USER"),
        ("WITHDRAWN", "API"),
    ]


def test_5xx_is_retried_then_succeeds() -> None:
    answers = iter(
        [httpx.Response(502), httpx.Response(500, text="oops"), httpx.Response(200, json=LEGAL_BASES)]
    )
    with open_client(lambda r: next(answers)) as client:
        assert len(client.legal_bases()) == 3
    assert client.calls["GET /List/LegalBase/Items"] == 3


def test_timeouts_are_retried() -> None:
    attempts = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) < 3:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json=LEGAL_BASES)

    with open_client(handler) as client:
        client.legal_bases()
    assert len(attempts) == 3


def test_retry_budget_spent_gives_unavailable_and_logs_no_email(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with (
        open_client(
            lambda r: httpx.Response(503, text="maintenance", headers={"Retry-After": "0"})
        ) as client,
        pytest.raises(Unavailable, match="maintenance") as info,
    ):
        client.persons_by_emails(["secret.person@example.com"])
    assert info.value.status == 503
    assert client.calls["GET /Archive/Person by e-mail"] == FAST.max_attempts
    assert "GET /Archive/Person" in caplog.text
    assert "secret.person" not in caplog.text


def test_connect_errors_become_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with open_client(handler) as client, pytest.raises(Unavailable, match="could not be reached"):
        client.legal_bases()


def test_retry_after_is_honoured_and_long_hints_end_the_call() -> None:
    answers = iter(
        [httpx.Response(429, headers={"Retry-After": "0.2"}), httpx.Response(200, json=LEGAL_BASES)]
    )
    with open_client(lambda r: next(answers)) as client:
        import time

        started = time.monotonic()
        client.legal_bases()
        assert time.monotonic() - started >= 0.2
    # A hint longer than the policy allows ends the call at once with Throttled
    with open_client(lambda r: httpx.Response(429, headers={"Retry-After": "3600"})) as client:
        with pytest.raises(Throttled) as info:
            client.legal_bases(refresh=True)  # the lists are cached per tenant: ask SuperOffice again
        assert info.value.retry_after == 3600
        assert client.calls["GET /List/LegalBase/Items"] == 1


def test_total_time_per_call_is_bounded() -> None:
    import time

    slow = RetryPolicy(max_attempts=100, initial_wait_s=0.05, max_wait_s=0.05)
    with open_client(lambda r: httpx.Response(500), retry=slow, timeout_s=0.3) as client:
        started = time.monotonic()
        with pytest.raises(Unavailable):
            client.legal_bases()
        assert time.monotonic() - started < 0.6


def test_basic_auth_401_is_not_retried_and_leaks_nothing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"Message": f"bad credentials {request.headers['Authorization']}"})

    with open_client(handler) as client:
        with pytest.raises(AuthError) as info:
            client.legal_bases()
        assert client.calls["GET /List/LegalBase/Items"] == 1
    text = str(info.value) + repr(info.value)
    assert "c2ltOnBhNTV3b3JkLXNlY3JldA" not in text
    assert "pa55word-secret" not in text


def test_onsite_ticket_auth_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=SOURCES)

    conn = SuperOfficeConnection(kind="onsite", base_url=BASE, auth="ticket")
    creds = SuperOfficeCredentials(ticket="7T:abc")
    with SuperOfficeClient.open(conn, creds, transport=httpx.MockTransport(handler)) as client:
        client.consent_sources()
    assert seen[0].headers["Authorization"] == "SOTicket 7T:abc"
    assert "SO-AppToken" not in seen[0].headers


def test_incomplete_credentials_fail_before_any_request() -> None:
    conn = SuperOfficeConnection(kind="onsite", base_url=BASE, auth="basic")
    with pytest.raises(AuthError, match="password"):
        SuperOfficeClient.open(conn, SuperOfficeCredentials(username="u"))


def test_online_resolves_the_api_url_and_again_after_a_connection_failure() -> None:
    # Given a tenant on sod2 that moves to sod3 between two invocations
    state_calls: list[str] = []
    hosts = iter(["https://sod2.superoffice.com/Cust1/api/", "https://sod3.superoffice.com/Cust1/api/v1"])
    moved = {"yes": False}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/state/Cust1":
            state_calls.append(request.url.host)
            return httpx.Response(200, json={"Api": next(hosts), "State": "Running", "IsRunning": True})
        if request.url.host == "sod2.superoffice.com" and moved["yes"]:
            raise httpx.ConnectError("host gone", request=request)
        assert request.headers["Authorization"] == "SOTicket 7T:cached"
        assert request.headers["SO-AppToken"] == "client-secret"
        return httpx.Response(200, json=SOURCES)

    conn = SuperOfficeConnection(kind="online", context_id="Cust1", environment="sod", auth="system_user")
    creds = SuperOfficeCredentials(
        client_id="cid", client_secret="client-secret", system_user_token="App-tok", private_key=_PEM
    )
    TICKETS.put(cache_key("https://sod.superoffice.com", "Cust1", "cid", "App-tok"), "7T:cached")
    with SuperOfficeClient.open(
        conn, creds, transport=httpx.MockTransport(handler), retry=FAST, requests_per_second=1000.0
    ) as first:
        first.consent_sources()
    moved["yes"] = True
    # When the next invocation calls the cached host
    with SuperOfficeClient.open(
        conn, creds, transport=httpx.MockTransport(handler), retry=FAST, requests_per_second=1000.0
    ) as second:
        second.consent_sources(refresh=True)  # cached per tenant: make it call the moved host
    # Then it resolved the tenant again after the connection failure and reached sod3
    assert state_calls == ["sod.superoffice.com", "sod.superoffice.com"]
    assert first.calls["GET /api/state/{cust}"] == 1
    assert second.calls["GET /api/state/{cust}"] == 1
    assert second.calls["GET /List/ConsentSource/Items"] == 2


def _pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


_PEM = _pem()


def test_requests_are_json_and_counted_by_endpoint_template() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Accept"] == "application/json"
        return httpx.Response(200, json=json.loads('{"value": []}'))

    with open_client(handler) as client:
        client.selection_members(1)
        client.selection_members(2)
    assert client.calls == {"GET /Selection/{id}/Members": 2}
