"""PUT consent semantics, the control API's user changes, and every authentication scheme."""

from __future__ import annotations

import base64
import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from devtools.simulator.auth import TICKET_CLAIM
from devtools.simulator.testing import SimulatorHandle

pytestmark = pytest.mark.xdist_group("simulator-consent-auth")

OFFSETLESS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


def _sign(token: str, key: rsa.RSAPrivateKey, at: datetime) -> str:
    data = f"{token}.{at:%Y%m%d%H%M}"
    signature = key.sign(data.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{data}.{base64.b64encode(signature).decode()}"


def _pem_key(sim: SimulatorHandle) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(sim.online.private_key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _login(sim: SimulatorHandle, signed: str, secret: str | None = None) -> dict[str, object]:
    body = {
        "SignedSystemToken": signed,
        "ApplicationToken": secret or sim.online.client_secret,
        "ContextIdentifier": sim.cust_id,
        "ReturnTokenType": "JWT",
    }
    response = httpx.post(f"{sim.root_url}/Login/api/PartnerSystemUser/Authenticate", json=body)
    assert response.status_code == 200
    return dict(response.json())


# ---- consents ----------------------------------------------------------------------------------


def test_put_consent_overwrites_the_row_with_updated_now(sim: SimulatorHandle, api: httpx.Client) -> None:
    before = sim.control.consent(1, "STORE")
    assert before is not None
    response = api.put(
        "/Person/1/Consent/STORE", params={"legalBase": "61A", "source": "API", "comment": "hi"}
    )
    assert response.status_code == 204
    assert response.content == b""
    after = sim.control.consent(1, "STORE")
    assert after is not None
    assert after["ConsentPersonId"] == before["ConsentPersonId"]
    assert after["Registered"] == before["Registered"]
    assert (after["LegalBaseKey"], after["ConsentSourceKey"], after["Comment"]) == ("61A", "API", "hi")
    assert OFFSETLESS.match(after["Updated"])
    updated = datetime.fromisoformat(after["Updated"]).replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - updated).total_seconds()) < 5


def test_put_consent_creates_a_missing_row_with_registered_now(
    sim: SimulatorHandle, api: httpx.Client
) -> None:
    person = next(pid for pid in range(1, 300) if sim.control.consent(pid, "EMARKETING") is None)
    assert (
        api.put(
            f"/Person/{person}/Consent/EMARKETING", params={"legalBase": "61A", "source": "WEBFORM"}
        ).status_code
        == 204
    )
    row = sim.control.consent(person, "EMARKETING")
    assert row is not None
    assert row["Updated"] == "0001-01-01T00:00:00"
    assert OFFSETLESS.match(row["Registered"])
    card = api.get(f"/Person/{person}").json()
    assert any(
        c["ConsentPurposeKey"] == "EMARKETING" and c["LegalBaseKey"] == "61A" for c in card["Consents"]
    )


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/Person/1/Consent/EMARKETING", {"legalBase": "NOPE", "source": "API"}, 400),
        ("/Person/1/Consent/EMARKETING", {"legalBase": "61A", "source": "NOPE"}, 400),
        ("/Person/1/Consent/EMARKETING", {"legalBase": "61A", "source": "API", "comment": "x" * 256}, 400),
        ("/Person/1/Consent/EMARKETING", {"legalBase": "61A"}, 400),
        ("/Person/1/Consent/NOPE", {"legalBase": "61A", "source": "API"}, 400),
        ("/Person/999999/Consent/EMARKETING", {"legalBase": "61A", "source": "API"}, 404),
    ],
)
def test_put_consent_rejects_bad_input(
    api: httpx.Client, path: str, params: dict[str, str], status: int
) -> None:
    response = api.put(path, params=params)
    assert response.status_code == status
    assert response.json()["Message"]


def test_control_changes_a_consent_at_an_explicit_time_to_whole_seconds(sim: SimulatorHandle) -> None:
    at = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)
    row = sim.control.set_consent(2, "EMARKETING", "WITHDRAWN", source="USER", at=at, comment="unsubscribed")
    changed = row["Updated"] if row["Updated"] != "0001-01-01T00:00:00" else row["Registered"]
    assert changed == "2026-03-04T05:06:07"
    assert sim.control.consent(2, "EMARKETING") == row


def test_create_person_gets_a_store_row_like_the_api(sim: SimulatorHandle, api: httpx.Client) -> None:
    person_id = sim.control.create_person("Aoife", "O'Brien", "Aoife.OBrien@Example.com", company="Quote Ltd")
    store = sim.control.consent(person_id, "STORE")
    assert store is not None
    assert (store["LegalBaseKey"], store["ConsentSourceKey"]) == ("61F", "UNKNOWN")
    assert sim.control.persons_by_email("aoife.obrien@example.com") == [person_id]
    row = api.get(
        "/Archive/Person", params={"$select": "personContact/name", "$filter": f"personId eq {person_id}"}
    )
    assert row.json()["value"][0]["personContact/name"] == "Quote Ltd"


# ---- auth --------------------------------------------------------------------------------------


def test_basic_auth_accepts_the_right_credentials_only(sim: SimulatorHandle) -> None:
    url = f"{sim.api_url}/List/LegalBase/Items"
    assert httpx.get(url, auth=(sim.username, sim.password)).status_code == 200
    wrong = httpx.get(url, auth=(sim.username, "wrong"))
    assert wrong.status_code == 401
    assert "Basic" in wrong.headers["WWW-Authenticate"]
    assert wrong.json()["Error"] is True
    assert httpx.get(url).status_code == 401


def test_onsite_ticket_works_without_app_token(sim: SimulatorHandle) -> None:
    ticket = sim.control.issue_ticket()
    url = f"{sim.api_url}/Person/1"
    assert httpx.get(url, headers={"Authorization": f"SOTicket {ticket}"}).status_code == 200
    assert httpx.get(url, headers={"Authorization": "SOTicket 7T:forged"}).status_code == 401


def test_online_login_end_to_end(sim: SimulatorHandle) -> None:
    # Given the partner's signed system user token
    signed = _sign(sim.online.system_user_token, _pem_key(sim), datetime.now(UTC))
    # When it logs in
    answer = _login(sim, signed)
    assert answer["IsSuccessful"] is True
    assert answer["ErrorMessage"] is None
    # Then the JWT verifies against the published JWKS and carries the ticket
    keys = httpx.get(f"{sim.root_url}/login/.well-known/jwks").json()
    token = str(answer["Token"])
    key = jwt.PyJWKSet.from_dict(keys)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(
        token, key=key, algorithms=["RS256"], audience=f"spn:{sim.online.client_id}", issuer=sim.root_url
    )
    ticket = claims[TICKET_CLAIM]
    # And the ticket works with the app token, not without it
    url = f"{sim.api_url}/List/ConsentPurpose/Items"
    online = {"Authorization": f"SOTicket {ticket}", "SO-AppToken": sim.online.client_secret}
    assert httpx.get(url, headers=online).status_code == 200
    assert httpx.get(url, headers={"Authorization": f"SOTicket {ticket}"}).status_code == 401
    assert httpx.get(url, headers={**online, "SO-AppToken": "wrong"}).status_code == 401
    # And the tenant state points at the API root
    state = httpx.get(f"{sim.root_url}/api/state/{sim.cust_id}").json()
    assert state["State"] == "Running"
    assert state["IsRunning"] is True
    assert state["Api"] == f"{sim.root_url}/{sim.cust_id}/api"
    # And forcing a 401 invalidates the ticket until the next login
    assert sim.control.invalidate_tickets() >= 1
    assert httpx.get(url, headers=online).status_code == 401


def test_dotnet_xml_key_is_the_same_key(sim: SimulatorHandle) -> None:
    # The key is our own output, so a regex is enough (and avoids an XML parser on test data).
    fields = {
        tag: int.from_bytes(base64.b64decode(text), "big")
        for tag, text in re.findall(r"<(\w+)>([^<]*)</\1>", sim.online.private_key_xml)
    }
    numbers = _pem_key(sim).private_numbers()
    assert (fields["Modulus"], fields["Exponent"], fields["D"]) == (
        numbers.public_numbers.n,
        numbers.public_numbers.e,
        numbers.d,
    )
    assert (fields["P"], fields["Q"], fields["DP"], fields["DQ"], fields["InverseQ"]) == (
        numbers.p,
        numbers.q,
        numbers.dmp1,
        numbers.dmq1,
        numbers.iqmp,
    )


@pytest.mark.parametrize("problem", ["stale", "future", "other_key", "wrong_secret", "wrong_token"])
def test_online_login_refuses_bad_signed_tokens(sim: SimulatorHandle, problem: str) -> None:
    now = datetime.now(UTC)
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if problem == "other_key"
        else _pem_key(sim)
    )
    at = {"stale": now - timedelta(minutes=30), "future": now + timedelta(minutes=30)}.get(problem, now)
    token = "Other-token" if problem == "wrong_token" else sim.online.system_user_token
    answer = _login(sim, _sign(token, key, at), "nope" if problem == "wrong_secret" else None)
    assert answer["IsSuccessful"] is False
    assert answer["Token"] is None
    assert answer["ErrorMessage"]


def test_a_few_minutes_of_clock_skew_are_accepted(sim: SimulatorHandle) -> None:
    for skew in (timedelta(minutes=-4), timedelta(minutes=3)):
        assert _login(sim, _sign(sim.online.system_user_token, _pem_key(sim), datetime.now(UTC) + skew))[
            "IsSuccessful"
        ]


def test_tickets_expire_with_sliding_lifetime(sim: SimulatorHandle) -> None:
    sim.control.set_ticket_ttl(0.6)
    try:
        ticket = sim.control.issue_ticket()
        headers = {"Authorization": f"SOTicket {ticket}"}
        url = f"{sim.api_url}/List/LegalBase/Items"
        for _ in range(3):  # each use slides the expiry
            time.sleep(0.3)
            assert httpx.get(url, headers=headers).status_code == 200
        time.sleep(0.8)
        assert httpx.get(url, headers=headers).status_code == 401
    finally:
        sim.control.set_ticket_ttl(6 * 3600)
