"""Every auth scheme end to end, ticket caching and renewal after a forced 401."""

from __future__ import annotations

import pytest

from consent_sync.domain.settings import SuperOfficeCredentials
from consent_sync.superoffice import AuthError
from consent_sync.superoffice import queries as q
from devtools.simulator.accounts import simulator_connection
from devtools.simulator.testing import SimulatorHandle

from .conftest import OpenClient, online, onsite_basic


def test_basic_auth(open_client: OpenClient) -> None:
    assert open_client().legal_bases()


def test_wrong_password_is_an_auth_error_without_the_password(
    sim: SimulatorHandle, open_client: OpenClient
) -> None:
    conn, _ = onsite_basic(sim)
    client = open_client(conn, SuperOfficeCredentials(username=sim.username, password="wrong-pass-123"))
    with pytest.raises(AuthError) as info:
        client.legal_bases()
    assert info.value.status == 401
    assert "wrong-pass-123" not in str(info.value) + repr(info.value)
    assert sim.control.counts()[q.EP_LEGAL_BASES] == 1  # not retried


def test_onsite_ticket(sim: SimulatorHandle, open_client: OpenClient) -> None:
    ticket = sim.control.issue_ticket()
    conn = simulator_connection(sim, auth="ticket")
    client = open_client(conn, SuperOfficeCredentials(ticket=ticket))
    assert client.consent_sources()
    # An on-site ticket cannot be renewed by the client: a revoked one is an auth error
    sim.control.invalidate_tickets()
    with pytest.raises(AuthError) as info:
        client.persons_by_ids([1])
    assert ticket not in str(info.value) + repr(info.value)


@pytest.mark.parametrize("xml_key", [False, True], ids=["pem-key", "xml-key"])
def test_system_user_end_to_end(sim: SimulatorHandle, open_client: OpenClient, xml_key: bool) -> None:
    # Given an Online tenant reached through the login root, with the key in PEM or .NET XML
    conn, creds = online(sim, xml_key=xml_key)
    # When two clients (two invocations in one warm container) call the API
    first = open_client(conn, creds)
    assert [row.person_id for row in first.persons_by_ids([1])] == [1]
    second = open_client(conn, creds)
    assert second.legal_bases()
    # Then the tenant was located and logged in to once, the ticket cached and reused
    counts = sim.control.counts()
    assert counts["POST /Login/api/PartnerSystemUser/Authenticate"] == 1
    assert counts["GET /login/.well-known/jwks"] == 1
    assert first.calls[q.EP_LOGIN] == 1
    assert first.calls[q.EP_TENANT_STATE] == 1
    assert second.calls[q.EP_LOGIN] == 0
    assert second.calls[q.EP_TENANT_STATE] == 0


def test_system_user_ticket_renewed_once_after_401(sim: SimulatorHandle, open_client: OpenClient) -> None:
    conn, creds = online(sim)
    client = open_client(conn, creds)
    client.persons_by_ids([1])
    # Given every ticket revoked on the server
    assert sim.control.invalidate_tickets() >= 1
    # When the client calls again
    rows = client.persons_by_ids([2])
    # Then it got a 401, logged in again once, and the call succeeded
    assert [row.person_id for row in rows] == [2]
    assert client.calls[q.EP_LOGIN] == 2
    assert client.calls[q.EP_PERSON_ARCHIVE] == 3
    statuses = [
        status for _, _, path, status in sim.control.request_log() if path.endswith("/Archive/Person")
    ]
    assert statuses == [200, 401, 200]


def test_system_user_with_a_wrong_key_is_refused(sim: SimulatorHandle, open_client: OpenClient) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    conn, creds = online(sim)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = stranger.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    wrong = SuperOfficeCredentials(
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        system_user_token=creds.system_user_token,
        private_key=pem,
    )
    with pytest.raises(AuthError) as info:
        open_client(conn, wrong).legal_bases()
    text = str(info.value) + repr(info.value)
    assert sim.online.client_secret not in text
    assert sim.online.system_user_token not in text
