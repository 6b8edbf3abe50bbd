"""Who may call the tenant API: Basic, SOTicket (on-site) and SuperOffice Online system-user tickets.

Online: the partner app signs `system_user_token.yyyyMMddHHmm` with its RSA key; the login service
verifies it with the public key it holds, and answers a JWT (signed by the simulator's own key,
published as JWKS) whose `.../identity/ticket` claim is the ticket. Tickets issued that way need
`SO-AppToken: <client secret>` on every call; tickets handed out for on-site use do not.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TICKET_CLAIM = "http://schemes.superoffice.net/identity/ticket"
_IDENTITY = "http://schemes.superoffice.net/identity/"
DEFAULT_TICKET_TTL_S = 6 * 3600.0
#: How far the signed token's minute stamp may be from the server clock (either way).
CLOCK_SKEW = timedelta(minutes=5)
JWT_LIFETIME = timedelta(hours=1)


@dataclass(frozen=True)
class OnlineCredentials:
    """What a tenant admin's approval gives a partner app: everything needed to log in as system user."""

    context_id: str
    client_id: str
    client_secret: str
    system_user_token: str
    private_key_pem: str
    private_key_xml: str  # the same key as .NET `<RSAKeyValue>`


@dataclass
class _Ticket:
    online: bool
    expires_at: float  # time.time() seconds


def _b64_int(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return base64.b64encode(value.to_bytes(size, "big")).decode("ascii")


def private_key_as_xml(key: rsa.RSAPrivateKey) -> str:
    """The key as .NET's `RSA.ToXmlString(true)` writes it (fixed-length big-endian fields)."""
    numbers = key.private_numbers()
    public = numbers.public_numbers
    size = (public.n.bit_length() + 7) // 8
    half = (size + 1) // 2
    fields = (
        ("Modulus", _b64_int(public.n, size)),
        ("Exponent", _b64_int(public.e)),
        ("P", _b64_int(numbers.p, half)),
        ("Q", _b64_int(numbers.q, half)),
        ("DP", _b64_int(numbers.dmp1, half)),
        ("DQ", _b64_int(numbers.dmq1, half)),
        ("InverseQ", _b64_int(numbers.iqmp, half)),
        ("D", _b64_int(numbers.d, size)),
    )
    return "<RSAKeyValue>" + "".join(f"<{name}>{value}</{name}>" for name, value in fields) + "</RSAKeyValue>"


def sign_system_user_token(system_user_token: str, private_key_pem: str, at: datetime | None = None) -> str:
    """Sign a system user token the way SuperOffice's docs describe (used by tests and the demo)."""
    key = serialization.load_pem_private_key(private_key_pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("the private key must be an RSA key")
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    data = f"{system_user_token}.{moment:%Y%m%d%H%M}"
    signature = key.sign(data.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return f"{data}.{base64.b64encode(signature).decode('ascii')}"


@dataclass(frozen=True)
class AuthFailure:
    """Why a request was refused (becomes the 401 body's Message)."""

    message: str


class Auth:
    """Credentials of one simulated tenant and the tickets it has handed out."""

    def __init__(self, cust_id: str, username: str, password: str) -> None:
        self.cust_id = cust_id
        self.username = username
        self.password = password
        self.ticket_ttl_s = DEFAULT_TICKET_TTL_S
        self._tickets: dict[str, _Ticket] = {}
        partner_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._partner_public_key = partner_key.public_key()
        self._signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(8)
        self.online = OnlineCredentials(
            context_id=cust_id,
            client_id=secrets.token_hex(16),
            client_secret=secrets.token_hex(16),
            system_user_token=f"ConsentSync-{secrets.token_urlsafe(24)}",
            private_key_pem=partner_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ).decode("ascii"),
            private_key_xml=private_key_as_xml(partner_key),
        )

    # ---- tickets -------------------------------------------------------------------------------

    def issue_ticket(self, online: bool) -> str:
        """A fresh ticket (format like SuperOffice's `7T:...`), valid for the ticket TTL, sliding."""
        ticket = f"7T:{secrets.token_urlsafe(30)}"
        self._tickets[ticket] = _Ticket(online, time.time() + self.ticket_ttl_s)
        return ticket

    def invalidate_tickets(self) -> int:
        """Forget every ticket (the next call with one gets 401); returns how many there were."""
        count = len(self._tickets)
        self._tickets.clear()
        return count

    # ---- request check -------------------------------------------------------------------------

    def check(self, authorization: str | None, app_token: str | None) -> AuthFailure | None:
        """None when the headers authenticate the call, else why not."""
        if not authorization:
            return AuthFailure("Authorization header is missing")
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "basic":
            return self._check_basic(credentials)
        if scheme.lower() == "soticket":
            return self._check_ticket(credentials, app_token)
        return AuthFailure(f"Authorization scheme '{scheme}' is not supported")

    def is_online(self, authorization: str | None) -> bool:
        """Whether the (already checked) Authorization header carries a ticket from the Online login."""
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        ticket = self._tickets.get(credentials.strip()) if scheme.lower() == "soticket" else None
        return ticket is not None and ticket.online

    def _check_basic(self, credentials: str) -> AuthFailure | None:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return AuthFailure("Malformed Basic credentials")
        username, separator, password = decoded.partition(":")
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        password_ok = hmac.compare_digest(password.encode(), self.password.encode())
        if separator and user_ok and password_ok:
            return None
        return AuthFailure("Invalid username or password")

    def _check_ticket(self, value: str, app_token: str | None) -> AuthFailure | None:
        ticket = self._tickets.get(value)
        now = time.time()
        if ticket is None or ticket.expires_at < now:
            self._tickets.pop(value, None)
            return AuthFailure("Ticket is unknown or has expired")
        if ticket.online and not (
            app_token and hmac.compare_digest(app_token.encode(), self.online.client_secret.encode())
        ):
            return AuthFailure("SO-AppToken is missing or does not match the application")
        ticket.expires_at = now + self.ticket_ttl_s  # sliding expiry
        return None

    # ---- Online login --------------------------------------------------------------------------

    def authenticate_system_user(self, body: dict[str, Any], root_url: str) -> dict[str, Any]:
        """Answer `POST /Login/api/PartnerSystemUser/Authenticate` (the JSON body of the response)."""
        error = self._verify_login(body)
        if error is not None:
            return {"IsSuccessful": False, "Token": None, "ErrorMessage": error}
        ticket = self.issue_ticket(online=True)
        now = datetime.now(UTC)
        claims = {
            "sub": "SystemUser",
            "iss": root_url,
            "aud": f"spn:{self.online.client_id}",
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + JWT_LIFETIME).timestamp()),
            TICKET_CLAIM: ticket,
            _IDENTITY + "ctx": self.cust_id,
            _IDENTITY + "system_token": self.online.system_user_token,
            _IDENTITY + "webapi_url": f"{root_url}/{self.cust_id}/api/",
            _IDENTITY + "netserver_url": f"{root_url}/{self.cust_id}/Remote/Services88/",
        }
        token = jwt.encode(claims, self._signing_key, algorithm="RS256", headers={"kid": self.key_id})
        return {"IsSuccessful": True, "Token": token, "ErrorMessage": None}

    def _verify_login(self, body: dict[str, Any]) -> str | None:
        signed = body.get("SignedSystemToken")
        if not isinstance(signed, str) or signed.count(".") < 2:
            return "SignedSystemToken is missing or malformed"
        app_token = body.get("ApplicationToken")
        if not isinstance(app_token, str) or not hmac.compare_digest(
            app_token.encode(), self.online.client_secret.encode()
        ):
            return "Unknown ApplicationToken"
        if str(body.get("ContextIdentifier", "")).lower() != self.cust_id.lower():
            return f"Unknown ContextIdentifier '{body.get('ContextIdentifier')}'"
        token_type = str(body.get("ReturnTokenType", "JWT"))
        if token_type.upper() != "JWT":
            return f"ReturnTokenType '{token_type}' is not supported"
        token, stamp, signature = signed.rsplit(".", 2)
        if not hmac.compare_digest(token.encode(), self.online.system_user_token.encode()):
            return "Unknown system user token"
        try:
            signed_at = datetime.strptime(stamp, "%Y%m%d%H%M").replace(tzinfo=UTC)
            raw_signature = base64.b64decode(signature, validate=True)
        except (ValueError, binascii.Error):
            return "SignedSystemToken is malformed"
        # The stamp is truncated to the minute, so allow one more minute on the past side.
        age = datetime.now(UTC) - signed_at
        if age > CLOCK_SKEW + timedelta(minutes=1) or -age > CLOCK_SKEW:
            return "SignedSystemToken has expired or is not yet valid"
        try:
            self._partner_public_key.verify(
                raw_signature, f"{token}.{stamp}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return "Signature of SignedSystemToken is invalid"
        return None

    def jwks(self) -> dict[str, Any]:
        """The public key the login service signs JWTs with, as a JWK Set."""
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._signing_key.public_key()))
        jwk.update({"kid": self.key_id, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}
