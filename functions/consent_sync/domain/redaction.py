"""Scrubbing free text for logs and error messages: e-mail addresses masked, credentials redacted.

Pure functions over strings, for the code that cannot use the functions' log formatter
(``consent_sync.observability``), such as the SuperOffice client, whose messages and errors carry
server text and URLs. Masking errs on the side of too much: anything shaped like an address is masked,
valid or not:

- plain addresses, including ``+`` tags and the other RFC 5322 atom characters (``o'neil@x.se``);
- percent-encoded ones, as in a query string (``a%40b.com``, ``%2B`` tags, ``%C3%B6`` letters);
- quoted local parts (``"a b"@x.se``, ``"a\\"b"@x.se``);
- internationalised ones (``jörg@exämple.se``, ``用户@例子.广告``).

Credentials: ``Basic``/``SOTicket``/``Bearer`` values (as in an ``Authorization`` header echoed by a
server), and the value after a secret-looking key (``password=…``, ``"Ticket": "…"``).
"""

from __future__ import annotations

import re
from functools import cache

from consent_sync.domain.emails import mask_email

#: What replaces a credential.
REDACTED = "*****"

# Local part: a quoted string, or atom characters (Unicode letters and digits too) and percent escapes.
# Bounded, so that a long run without an at-sign costs linear time, not quadratic (an address's local
# part has at most 64 characters, three times that percent-encoded).
_LOCAL = r"(?:\"(?:[^\"\\\r\n]|\\.){0,192}\"|[\w.!#$%&'*+/=?^`{|}~-]{1,192})"
# The at-sign, literal or percent-encoded (either letter case, and doubly encoded as %2540).
_AT = r"(?:@|%40|%2540)"
# Domain: at least two labels of Unicode letters, digits, hyphens and percent escapes.
_DOMAIN = r"[\w%-]+(?:\.[\w%-]+)+"
_EMAIL = f"{_LOCAL}{_AT}{_DOMAIN}"

_SCHEMES = frozenset({"basic", "soticket", "bearer"})
_AUTH_VALUE = r"(?i)\b(Basic|SOTicket|Bearer)(\s+|%20|\+)[A-Za-z0-9+/=._:%-]+"
# The names of secrets (not secrets themselves).
_KEY_NAMES = (
    r"(?:password|passwd|pwd|secret|client_?secret|ticket|token|system_?user_?token|authorization"
    r"|private_?key|api_?key|app_?token|credentials?)"
)
# A secret-looking key, as a JSON member, a query parameter or ``key: value`` text, and its value.
_SECRET_VALUE = (
    rf"(?i)(?P<key>[\"']?\b[\w-]{{0,40}}{_KEY_NAMES}[\"']?\s*(?:[:=]|%3D)\s*)"
    r"(?P<value>\"[^\"\r\n]{0,1024}\"|'[^'\r\n]{0,1024}'|[^\s\"'&,;{}\[\]]+)"
)


@cache
def _pattern(source: str, flags: int = 0) -> re.Pattern[str]:
    # Compiled at the first use, not at import: these three cost a cold start ~7 ms (every function
    # imports this module with its logger), and a function that logs nothing never needs them.
    return re.compile(source, flags)


def _mask(match: re.Match[str]) -> str:
    text = match.group(0)
    # Decode the at-sign only: mask_email splits on it and shows one character either side.
    for encoded in ("%2540", "%40"):
        index = text.lower().rfind(encoded)
        if index >= 0 and "@" not in text[index:]:
            text = text[:index] + "@" + text[index + len(encoded) :]
            break
    return mask_email(text)


def mask_emails(text: str) -> str:
    """``text`` with everything shaped like an e-mail address masked (``o***@e***.com``)."""
    if "@" not in text and "%40" not in text and "%2540" not in text:
        return text  # most text has no at-sign: skip the (slower) search
    return _pattern(_EMAIL, re.IGNORECASE).sub(_mask, text)


def redact_credentials(text: str) -> str:
    """``text`` with auth-scheme values and the values of secret-looking keys replaced by `REDACTED`."""
    text = _pattern(_AUTH_VALUE).sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _pattern(_SECRET_VALUE).sub(_redact_value, text)


def _redact_value(match: re.Match[str]) -> str:
    value = match.group("value")
    if value.lower() in _SCHEMES:
        return match.group(0)  # "Authorization: Bearer *****": its value is redacted already
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group('key')}{quote}{REDACTED}{quote}"


def scrub_text(text: str) -> str:
    """``text`` safe for a log line or an error message: credentials redacted, addresses masked."""
    return mask_emails(redact_credentials(text))
