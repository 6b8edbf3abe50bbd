"""SuperOffice Online system-user tickets: signing, JWT verification and the per-tenant ticket cache.

The HTTP side of the login lives in ``auth.py`` (it goes through the transport, so it shares retries,
rate limiting and call counts); this module is the pure part: keys, signatures, token verification and
the cache. ``cryptography`` and PyJWT are imported by the functions that use them, so only Online
(system-user) tenants pay for loading them.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import queries as q
from .errors import AuthError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

#: A .NET XML key is a few kilobytes at most; refuse anything far larger before parsing it.
_MAX_XML_KEY_CHARS = 64_000


class KeyFormatError(ValueError):
    """The private key is neither a PEM RSA key nor a .NET ``RSAKeyValue`` document."""


# -- Keys and signatures -------------------------------------------------------------------------------------


def load_private_key(text: str) -> RSAPrivateKey:
    """Load an RSA private key from PEM (PKCS#1 or PKCS#8) or .NET XML ``<RSAKeyValue>``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    stripped = text.strip()
    if stripped.startswith("<"):
        return parse_xml_private_key(stripped)
    if "-----BEGIN" in stripped:
        try:
            key = serialization.load_pem_private_key(stripped.encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError):
            raise KeyFormatError("the PEM private key cannot be read") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyFormatError("the private key is not an RSA key")
        return key
    raise KeyFormatError("the private key is neither PEM nor an XML RSAKeyValue")


def _xml_int(root: ET.Element, name: str) -> int | None:
    element = root.find(name)
    if element is None or not (element.text or "").strip():
        return None
    try:
        raw = base64.b64decode("".join((element.text or "").split()), validate=True)
    except ValueError:
        raise KeyFormatError(f"<{name}> is not base64") from None
    return int.from_bytes(raw, "big")


def parse_xml_private_key(text: str) -> RSAPrivateKey:
    """Build an RSA private key from a .NET ``<RSAKeyValue>`` document (base64 big-endian integers).

    ``Modulus``, ``Exponent`` and ``D`` are required; ``P``, ``Q``, ``DP``, ``DQ`` and ``InverseQ`` are
    recomputed when absent. The numbers are checked by ``cryptography`` when the key is built.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa

    if len(text) > _MAX_XML_KEY_CHARS:
        raise KeyFormatError("the XML private key is too large")
    try:
        # The document comes from our own secret store, and ElementTree neither fetches external
        # entities nor (with expat >= 2.4.1) expands entity bombs.
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError:
        raise KeyFormatError("the XML private key is not well-formed") from None
    if root.tag != "RSAKeyValue":
        raise KeyFormatError("the XML private key is not an <RSAKeyValue>")
    n, e, d = (_xml_int(root, name) for name in ("Modulus", "Exponent", "D"))
    if n is None or e is None or d is None:
        raise KeyFormatError("<RSAKeyValue> needs Modulus, Exponent and D to sign")
    p, q_ = _xml_int(root, "P"), _xml_int(root, "Q")
    if p is None or q_ is None:
        p, q_ = rsa.rsa_recover_prime_factors(n, e, d)
    dp = _xml_int(root, "DP") or rsa.rsa_crt_dmp1(d, p)
    dq = _xml_int(root, "DQ") or rsa.rsa_crt_dmq1(d, q_)
    inverse_q = _xml_int(root, "InverseQ") or rsa.rsa_crt_iqmp(p, q_)
    numbers = rsa.RSAPrivateNumbers(p, q_, d, dp, dq, inverse_q, rsa.RSAPublicNumbers(e, n))
    try:
        return numbers.private_key()
    except ValueError:
        raise KeyFormatError("the XML private key numbers are inconsistent") from None


def sign_system_user_token(
    system_user_token: str, private_key: RSAPrivateKey, *, now: datetime | None = None
) -> str:
    """The signed system-user token: ``data + "." + base64(RSA-SHA256 PKCS#1 v1.5 signature of data)``.

    ``data`` is ``system_user_token + "." + utcnow`` formatted ``%Y%m%d%H%M``.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    moment = (now or datetime.now(UTC)).astimezone(UTC)
    data = f"{system_user_token}.{moment.strftime(q.SIGNATURE_TIME_FORMAT)}"
    signature = private_key.sign(data.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return f"{data}.{base64.b64encode(signature).decode('ascii')}"


# -- JWT verification --------------------------------------------------------------------------------------


class UnknownSigningKey(AuthError):
    """The JWT names a key the JWKS does not hold (the key set may have rotated: fetch it again)."""


def ticket_from_jwt(
    token: str, jwks: Mapping[str, Any], *, context_id: str | None, leeway_s: int = 120
) -> str:
    """Verify a system-user JWT against the JWKS and return its ticket claim.

    Checks: RS256 signature by a key from ``jwks`` (chosen by ``kid``), ``exp``/``nbf``/``iat`` when present,
    the audience against ``spn:{serial}`` when both claims are present (SuperOffice's documented system-user
    audience), the tenant claim against ``context_id`` when present, and a non-empty ticket claim.
    """
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AuthError("the system-user login returned a malformed token") from None
    if header.get("alg") != "RS256":
        raise AuthError("the system-user token is not signed with RS256")
    try:
        key_set = jwt.PyJWKSet.from_dict(dict(jwks))
    except jwt.PyJWTError:
        raise AuthError("the JWKS holds no usable key") from None
    kid = header.get("kid")
    candidates = [key for key in key_set.keys if kid is None or key.key_id == kid]
    if not candidates:
        # A key set without key ids still names no other key: try those keys.
        candidates = [key for key in key_set.keys if key.key_id is None]
    if not candidates:
        raise UnknownSigningKey("the system-user token is signed by a key the JWKS does not hold")
    claims: dict[str, Any] | None = None
    for candidate in candidates:
        try:
            claims = jwt.decode(
                token,
                key=candidate.key,
                algorithms=["RS256"],
                options={"verify_aud": False},
                leeway=leeway_s,
            )
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise AuthError(f"the system-user token failed verification: {type(exc).__name__}") from None
    if claims is None:
        raise AuthError("the system-user token signature does not verify")
    serial, audience = claims.get(q.SERIAL_CLAIM), claims.get("aud")
    if serial and audience:
        audiences = audience if isinstance(audience, list) else [audience]
        if f"spn:{serial}" not in audiences:
            raise AuthError("the system-user token is meant for another audience")
    tenant = claims.get(q.CONTEXT_CLAIM)
    if context_id and tenant and str(tenant).lower() != context_id.lower():
        raise AuthError("the system-user token is for another tenant")
    ticket = claims.get(q.TICKET_CLAIM)
    if not isinstance(ticket, str) or not ticket.strip():
        raise AuthError("the system-user token carries no ticket")
    return ticket


# -- The ticket cache --------------------------------------------------------------------------------------


@dataclass
class _Entry:
    ticket: str
    last_used: float


class TicketCache:
    """Tickets per tenant and system user, with SuperOffice's sliding expiry.

    A ticket lives ``lifetime_s`` after its last use; an entry older than that minus ``margin_s`` is
    treated as gone so a fresh login happens before SuperOffice would answer 401. Thread-safe.
    """

    def __init__(
        self,
        *,
        lifetime_s: float = q.TICKET_LIFETIME_S,
        margin_s: float = q.TICKET_RENEW_MARGIN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lifetime = lifetime_s - margin_s
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        """The cached ticket for ``key`` (refreshing its sliding expiry), or ``None``."""
        with self._lock:
            entry = self._entries.get(key)
            now = self._clock()
            if entry is None or now - entry.last_used >= self._lifetime:
                self._entries.pop(key, None)
                return None
            entry.last_used = now
            return entry.ticket

    def put(self, key: str, ticket: str) -> None:
        """Remember ``ticket`` for ``key``."""
        with self._lock:
            self._entries[key] = _Entry(ticket, self._clock())

    def discard(self, key: str, ticket: str | None = None) -> None:
        """Forget the ticket for ``key`` (only if it is still ``ticket``, when given)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (ticket is None or entry.ticket == ticket):
                del self._entries[key]

    def clear(self) -> None:
        """Forget every ticket."""
        with self._lock:
            self._entries.clear()


def cache_key(login_root: str, context_id: str, client_id: str, system_user_token: str) -> str:
    """Cache key for one tenant and system user; the token is hashed so the key holds no secret."""
    digest = hashlib.sha256(system_user_token.encode("utf-8")).hexdigest()[:32]
    return f"{login_root}|{context_id}|{client_id}|{digest}"


#: Module-level: a warm Lambda container reuses tickets across invocations instead of logging in again.
TICKETS = TicketCache()
