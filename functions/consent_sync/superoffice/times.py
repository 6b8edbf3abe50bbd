"""Times as SuperOffice writes them, turned into aware UTC datetimes.

Rules (docs/superoffice.md, "Times"): a value without an offset is UTC (that is what real responses
carry); a value with an offset is converted; ``0001-01-01T00:00:00`` (.NET's DateTime.MinValue) means
"never" and becomes ``None``. Everything this package hands out is an aware datetime in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import BeforeValidator

#: The format SuperOffice reads in OData filters: whole seconds, no offset, UTC by our convention.
ODATA_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def parse_time(value: object) -> datetime | None:
    """Parse a SuperOffice time to an aware UTC datetime; ``None``, ``""`` and year 1 give ``None``.

    Accepts ISO 8601 strings (with or without offset, ``Z``, up to 7 fractional digits as .NET writes
    them) and datetimes. Raises ``ValueError`` for anything else.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        parsed = _fromisoformat(text)
    else:
        raise ValueError(f"not a time: {type(value).__name__}")
    if parsed.year <= 1:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _fromisoformat(text: str) -> datetime:
    # .NET writes up to 7 fractional digits; Python 3.11 accepts them, but trim to 6 explicitly so the
    # behaviour does not depend on the interpreter version.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        if digits > 6:
            text = f"{head}.{rest[:6]}{rest[digits:]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not an ISO 8601 time") from None


def latest(*values: datetime | None) -> datetime | None:
    """The latest of the given times, ignoring ``None``; ``None`` when all are ``None``."""
    present = [value for value in values if value is not None]
    return max(present) if present else None


def consent_changed_at(registered: object, updated: object) -> datetime | None:
    """Change time of a consent row: ``max(Registered, Updated)`` as aware UTC, "never" ignored."""
    return latest(parse_time(registered), parse_time(updated))


def to_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC, following the package's rule."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def odata_time(value: datetime) -> str:
    """Format a time for an OData filter literal body: UTC, whole seconds (fraction dropped), no offset."""
    return to_utc(value).strftime(ODATA_TIME_FORMAT)


def after_time_bound(since: datetime) -> datetime:
    """The ``afterTime`` bound that returns every row changed at or after ``since``.

    SuperOffice stores whole seconds and ``afterTime`` is strictly later, so the bound is the start of
    ``since``'s second minus one second: the query overlaps the previous watermark instead of missing
    rows written in the same second.
    """
    return to_utc(since).replace(microsecond=0) - timedelta(seconds=1)


#: A pydantic field type for SuperOffice times (aware UTC or ``None`` for "never"/missing).
SoTime = Annotated[datetime | None, BeforeValidator(parse_time)]
