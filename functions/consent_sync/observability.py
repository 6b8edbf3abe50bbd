"""The one place Powertools objects are built. Every log line is scrubbed of e-mail addresses and secrets."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from consent_sync.sync.emails import mask_email

# Anything that looks like an address, including ones with quotes or plus signs in the local part.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Authorization header values that may end up in an exception text.
_AUTH_VALUE = re.compile(r"(?i)\b(Basic|SOTicket|Bearer)\s+[A-Za-z0-9+/=._:-]+")
_SECRET_KEYS = re.compile(
    r"(?i)(password|passwd|secret|ticket|token|authorization|private_key|privatekey|credentials?|api_?key)"
)
_REDACTED = "*****"


def scrub(value: Any, key: str | None = None) -> Any:
    """Return `value` with secrets redacted and e-mail addresses masked, recursively (for logs)."""
    return _walk(value, key, mask_emails=True)


def redact_secrets(value: Any, key: str | None = None) -> Any:
    """Return `value` with secret-looking fields and authorization values redacted (for stored events)."""
    return _walk(value, key, mask_emails=False)


def _is_secret_key(key: str | None) -> bool:
    return key is not None and bool(_SECRET_KEYS.search(key)) and not key.endswith("_arn")


def _walk(value: Any, key: str | None, *, mask_emails: bool) -> Any:
    if _is_secret_key(key):
        return _REDACTED if value not in (None, "", False) else value
    if isinstance(value, str):
        text = _EMAIL.sub(_mask, value) if mask_emails else value
        return _AUTH_VALUE.sub(lambda m: f"{m.group(1)} {_REDACTED}", text)
    if isinstance(value, dict):
        return {k: _walk(v, str(k), mask_emails=mask_emails) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, None, mask_emails=mask_emails) for v in value]
    return value


def _mask(match: re.Match[str]) -> str:
    return mask_email(match.group(0))


class ScrubbingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with every field passed through `scrub` before it is written."""

    def serialize(self, log: Any) -> str:
        return super().serialize(scrub(log) if isinstance(log, dict) else log)


logger = Logger(logger_formatter=ScrubbingFormatter())
tracer = Tracer()
metrics = Metrics()
