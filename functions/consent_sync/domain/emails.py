"""E-mail addresses: the contact identity (primary e-mail, trimmed and lower-cased; docs/sync-rules.md).

Validation accepts a practical subset of RFC 5321/5322 addresses, the ones a marketing platform can
actually send to and SuperOffice stores:

- ASCII only. Internationalised addresses (RFC 6531) are rejected with reason ``non_ascii`` rather
  than guessed at: Unicode lower-casing and IDNA forms would give one person several identities.
- Local part: dot-atom (letters, digits and ``!#$%&'*+-/=?^_`{|}~``, dots not leading, trailing or
  doubled), at most 64 characters. Quoted local parts (``"a b"@x.se``) are rejected.
- Domain: at least two dot-separated labels of letters, digits and inner hyphens, each at most 63
  characters; the last label not all digits. Address literals (``a@[192.0.2.1]``) are rejected.
- At most 254 characters in all.

Error messages never contain the address, so they are safe to log.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

MAX_LENGTH = 254
MAX_LOCAL_LENGTH = 64
MAX_LABEL_LENGTH = 63

# Pattern sources, compiled by `re` at their first use (and cached there), not at every cold start.
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"


class EmailProblem(StrEnum):
    """Why an address was rejected (the ``reason`` of :class:`InvalidEmail`)."""

    EMPTY = "empty"
    CONTROL_CHARACTER = "control_character"
    WHITESPACE = "whitespace"
    NON_ASCII = "non_ascii"
    TOO_LONG = "too_long"
    NO_AT = "no_at"
    MULTIPLE_AT = "multiple_at"
    BAD_LOCAL_PART = "bad_local_part"
    BAD_DOMAIN = "bad_domain"


class InvalidEmail(ValueError):
    """An address consent-sync cannot use as a contact identity; ``reason`` says why."""

    def __init__(self, reason: EmailProblem, detail: str) -> None:
        # The message names the problem only, never the address (it is personal data).
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def normalise_email(raw: str) -> str:
    """Return the address trimmed of surrounding whitespace and lower-cased (no validation)."""
    return raw.strip().lower()


def _is_control(char: str) -> bool:
    # Cc: C0/C1 controls incl. NUL, CR, LF; Cf: invisible format characters such as bidi overrides
    # and zero-width spaces, which can make two addresses look alike; Zl/Zp: line/paragraph breaks.
    return unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}


def validate_email(raw: str) -> str:
    """Normalise an address and check that it is usable; return the normalised address.

    Raises:
        InvalidEmail: with a :class:`EmailProblem` reason, checked in declaration order.
    """
    # Character checks run before lower-casing: Unicode lower-casing maps some non-ASCII characters
    # to ASCII (KELVIN SIGN -> "k"), which would let a look-alike address pass as a real one.
    stripped = raw.strip()
    if not stripped:
        raise InvalidEmail(EmailProblem.EMPTY, "the address is empty")
    if any(_is_control(char) for char in stripped):
        raise InvalidEmail(EmailProblem.CONTROL_CHARACTER, "the address contains a control character")
    if any(char.isspace() for char in stripped):
        raise InvalidEmail(EmailProblem.WHITESPACE, "the address contains whitespace")
    if not stripped.isascii():
        raise InvalidEmail(EmailProblem.NON_ASCII, "internationalised addresses are not supported")
    email = normalise_email(stripped)
    if len(email) > MAX_LENGTH:
        raise InvalidEmail(EmailProblem.TOO_LONG, f"the address is longer than {MAX_LENGTH} characters")
    at_count = email.count("@")
    if at_count == 0:
        raise InvalidEmail(EmailProblem.NO_AT, "the address has no at-sign")
    if at_count > 1:
        raise InvalidEmail(EmailProblem.MULTIPLE_AT, "the address has more than one at-sign")

    local, domain = email.split("@")
    _check_local(local)
    _check_domain(domain)
    return email


def _check_local(local: str) -> None:
    if not local:
        raise InvalidEmail(EmailProblem.BAD_LOCAL_PART, "the local part is empty")
    if len(local) > MAX_LOCAL_LENGTH:
        raise InvalidEmail(
            EmailProblem.BAD_LOCAL_PART, f"the local part is longer than {MAX_LOCAL_LENGTH} characters"
        )
    # Splitting on dots turns leading, trailing and doubled dots into empty atoms.
    if not all(re.fullmatch(_ATEXT, atom) for atom in local.split(".")):
        raise InvalidEmail(
            EmailProblem.BAD_LOCAL_PART, "the local part has a character or dot where none is allowed"
        )


def _check_domain(domain: str) -> None:
    if not domain:
        raise InvalidEmail(EmailProblem.BAD_DOMAIN, "the domain is empty")
    labels = domain.split(".")
    if len(labels) < 2:
        raise InvalidEmail(EmailProblem.BAD_DOMAIN, "the domain has no dot")
    for label in labels:
        if len(label) > MAX_LABEL_LENGTH:
            raise InvalidEmail(
                EmailProblem.BAD_DOMAIN, f"a domain label is longer than {MAX_LABEL_LENGTH} characters"
            )
        if not re.fullmatch(_LABEL, label):
            raise InvalidEmail(EmailProblem.BAD_DOMAIN, "a domain label is empty or has a bad character")
    if labels[-1].isdigit():
        raise InvalidEmail(EmailProblem.BAD_DOMAIN, "the top-level domain is numeric")


def mask_email(email: str) -> str:
    """Return a form of the address safe for logs, e.g. ``o***@e***.com``.

    Only the first character of the local part, the first character of the domain and the
    top-level domain are shown. Never raises: any string (even an invalid address) is masked.
    """
    email = normalise_email(email)
    local, at, domain = email.rpartition("@")
    if not at:
        # No @: treat the whole string as a local part.
        return _mask_part(domain)
    head, dot, tld = domain.rpartition(".")
    masked_domain = f"{_mask_part(head)}.{tld}" if dot and head else _mask_part(domain)
    return f"{_mask_part(local)}@{masked_domain}"


def _mask_part(part: str) -> str:
    # A fixed-width mask, so the output does not reveal the part's length either.
    return f"{part[:1]}***"
