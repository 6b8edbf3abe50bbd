"""System-user signing, key formats, JWT verification and the ticket cache."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from consent_sync.superoffice import queries as q
from consent_sync.superoffice.errors import AuthError
from consent_sync.superoffice.ticket import (
    KeyFormatError,
    TicketCache,
    UnknownSigningKey,
    cache_key,
    load_private_key,
    parse_xml_private_key,
    sign_system_user_token,
    ticket_from_jwt,
)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(value: int, size: int | None = None) -> str:
    length = size if size is not None else (value.bit_length() + 7) // 8
    return base64.b64encode(value.to_bytes(length, "big")).decode()


def xml_of(key: rsa.RSAPrivateKey, *, with_crt: bool = True, pretty: bool = False) -> str:
    """The key as .NET's RSA.ToXmlString(true) writes it."""
    n = key.private_numbers()
    fields = [("Modulus", b64(n.public_numbers.n)), ("Exponent", b64(n.public_numbers.e))]
    if with_crt:
        fields += [
            ("P", b64(n.p)),
            ("Q", b64(n.q)),
            ("DP", b64(n.dmp1)),
            ("DQ", b64(n.dmq1)),
            ("InverseQ", b64(n.iqmp)),
        ]
    fields.append(("D", b64(n.d)))
    sep = "\n  " if pretty else ""
    return "<RSAKeyValue>" + "".join(f"{sep}<{k}>{v}</{k}>" for k, v in fields) + "</RSAKeyValue>"


def test_signature_verifies_with_the_public_key(key: rsa.RSAPrivateKey) -> None:
    # Given a system-user token and a fixed moment
    now = datetime(2026, 11, 22, 10, 7, 59, tzinfo=UTC)
    # When it is signed
    signed = sign_system_user_token("MyApp-abc123", key, now=now)
    # Then it is token.yyyyMMddHHmm.signature, and the signature is RSA-SHA256 PKCS#1 v1.5 over the data
    data, _, signature = signed.rpartition(".")
    assert data == "MyApp-abc123.202611221007"
    key.public_key().verify(base64.b64decode(signature), data.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_signature_uses_utc(key: rsa.RSAPrivateKey) -> None:
    from datetime import timezone

    local = datetime(2026, 11, 22, 11, 7, tzinfo=timezone(timedelta(hours=1)))
    assert sign_system_user_token("T", key, now=local).split(".")[1] == "202611221007"


def test_signature_from_another_key_does_not_verify(
    key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    data, _, signature = sign_system_user_token("T", other_key).rpartition(".")
    with pytest.raises(InvalidSignature):
        key.public_key().verify(
            base64.b64decode(signature), data.encode(), padding.PKCS1v15(), hashes.SHA256()
        )


@pytest.mark.parametrize(
    "fmt",
    [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8],
    ids=["pkcs1", "pkcs8"],
)
def test_pem_keys_load(key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()
    loaded = load_private_key("\n" + pem + "\n")
    assert loaded.private_numbers() == key.private_numbers()


@pytest.mark.parametrize(("with_crt", "pretty"), [(True, False), (True, True), (False, False)])
def test_xml_key_parses_to_the_same_key(key: rsa.RSAPrivateKey, with_crt: bool, pretty: bool) -> None:
    # Given the key as .NET XML (with or without the CRT fields, compact or indented)
    text = xml_of(key, with_crt=with_crt, pretty=pretty)
    # When it is parsed
    parsed = load_private_key(text)
    # Then it is the same key, and signatures made with it verify with the original public key
    assert parsed.private_numbers() == key.private_numbers()
    data, _, signature = sign_system_user_token("T", parsed).rpartition(".")
    key.public_key().verify(base64.b64decode(signature), data.encode(), padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<RSAKeyValue><Modulus>AQAB</Modulus></RSAKeyValue>", "needs Modulus, Exponent and D"),
        (
            "<RSAKeyValue><Modulus>!!</Modulus><Exponent>AQAB</Exponent><D>AQ==</D></RSAKeyValue>",
            "not base64",
        ),
        ("<RSAKeyValue><Modulus>AQAB", "not well-formed"),
        ("<KeyValue><Modulus>AQAB</Modulus></KeyValue>", "not an <RSAKeyValue>"),
        ("not a key", "neither PEM"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "PEM private key cannot be read"),
    ],
)
def test_bad_keys_are_refused(text: str, message: str) -> None:
    with pytest.raises(KeyFormatError, match=message):
        load_private_key(text)


def test_inconsistent_xml_numbers_are_refused(key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    mixed = xml_of(key).replace(
        xml_of(key).split("<D>")[1].split("</D>")[0], b64(other_key.private_numbers().d)
    )
    with pytest.raises(KeyFormatError):
        parse_xml_private_key(mixed)


# -- JWT -----------------------------------------------------------------------------------------------------


def jwks_of(*keys: tuple[str, rsa.RSAPrivateKey]) -> dict[str, Any]:
    entries = []
    for kid, k in keys:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key()))
        jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
        entries.append(jwk)
    return {"keys": entries}


def token(key: rsa.RSAPrivateKey, kid: str = "k1", **claims: Any) -> str:
    payload = {
        "sub": "system-user",
        q.TICKET_CLAIM: "7T:ticket-value",
        q.CONTEXT_CLAIM: "Cust12345",
        q.SERIAL_CLAIM: "1801550193",
        "aud": "spn:1801550193",
        "iss": "SuperOffice AS",
        "exp": datetime.now(UTC) + timedelta(hours=1),
        "iat": datetime.now(UTC),
    }
    payload.update(claims)
    return jwt.encode(
        {k: v for k, v in payload.items() if v is not None}, key, algorithm="RS256", headers={"kid": kid}
    )


def test_ticket_comes_from_a_verified_jwt(key: rsa.RSAPrivateKey) -> None:
    assert ticket_from_jwt(token(key), jwks_of(("k1", key)), context_id="Cust12345") == "7T:ticket-value"


def test_jwt_without_kid_uses_any_matching_key(key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    unsigned_kid = jwt.encode({q.TICKET_CLAIM: "7T:x"}, key, algorithm="RS256")
    assert ticket_from_jwt(unsigned_kid, jwks_of(("a", other_key), ("b", key)), context_id=None) == "7T:x"


def test_jwt_signed_by_another_key_is_refused(key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(AuthError, match="signature"):
        ticket_from_jwt(token(other_key), jwks_of(("k1", key)), context_id="Cust12345")


def test_unknown_kid_asks_for_a_fresh_key_set(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(UnknownSigningKey):
        ticket_from_jwt(token(key, kid="rotated"), jwks_of(("k1", key)), context_id="Cust12345")


def test_expired_jwt_is_refused(key: rsa.RSAPrivateKey) -> None:
    old = token(key, exp=datetime.now(UTC) - timedelta(hours=2))
    with pytest.raises(AuthError, match="ExpiredSignatureError"):
        ticket_from_jwt(old, jwks_of(("k1", key)), context_id="Cust12345")


def test_jwt_for_another_tenant_or_audience_is_refused(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(AuthError, match="another tenant"):
        ticket_from_jwt(token(key), jwks_of(("k1", key)), context_id="Cust99999")
    with pytest.raises(AuthError, match="audience"):
        ticket_from_jwt(token(key, aud="spn:other"), jwks_of(("k1", key)), context_id="Cust12345")


def test_jwt_without_ticket_or_with_hs256_is_refused(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(AuthError, match="no ticket"):
        ticket_from_jwt(token(key, **{q.TICKET_CLAIM: None}), jwks_of(("k1", key)), context_id="Cust12345")
    forged = jwt.encode({q.TICKET_CLAIM: "7T:x"}, "shared-secret-of-32-bytes-or-more!!", algorithm="HS256")
    with pytest.raises(AuthError, match="RS256"):
        ticket_from_jwt(forged, jwks_of(("k1", key)), context_id=None)
    with pytest.raises(AuthError, match="malformed"):
        ticket_from_jwt("not.a.jwt", jwks_of(("k1", key)), context_id=None)


# -- Cache ---------------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_expiry_slides_with_use() -> None:
    clock = FakeClock()
    cache = TicketCache(lifetime_s=100, margin_s=10, clock=clock)
    cache.put("t", "7T:a")
    clock.now += 80
    assert cache.get("t") == "7T:a"  # used: expiry moves on
    clock.now += 80
    assert cache.get("t") == "7T:a"
    clock.now += 90  # 90 s unused >= 100 - 10
    assert cache.get("t") is None


def test_discard_only_the_failed_ticket() -> None:
    cache = TicketCache(clock=FakeClock())
    cache.put("t", "7T:new")
    cache.discard("t", "7T:old")  # another thread already renewed
    assert cache.get("t") == "7T:new"
    cache.discard("t", "7T:new")
    assert cache.get("t") is None


def test_cache_key_holds_no_secret() -> None:
    k = cache_key("https://sod.superoffice.com", "Cust1", "client", "MyApp-secret-token")
    assert "MyApp-secret-token" not in k
    assert k != cache_key("https://sod.superoffice.com", "Cust1", "client", "other")


def test_jwks_without_key_ids_still_verifies(key: rsa.RSAPrivateKey) -> None:
    jwks = jwks_of(("k1", key))
    del jwks["keys"][0]["kid"]
    assert ticket_from_jwt(token(key, kid="whatever"), jwks, context_id="Cust12345") == "7T:ticket-value"
