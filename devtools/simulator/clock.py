"""Time as SuperOffice shows it: UTC, whole seconds, no offset in the text."""

from __future__ import annotations

import re
from datetime import UTC, datetime

#: SuperOffice's "never" (e.g. `Updated` of a consent row that was never changed).
NEVER = datetime(1, 1, 1)

_ISO_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?))?"
    r"(?P<offset>Z|[+-]\d{2}:?\d{2})?$"
)


def utc_now() -> datetime:
    """Now as a naive UTC datetime truncated to whole seconds (how SuperOffice stores times)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def to_stored(moment: datetime) -> datetime:
    """Normalise any datetime to naive UTC whole seconds; a naive value is taken as UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def format_time(moment: datetime) -> str:
    """Render a stored time like SuperOffice's REST API does: `2026-11-22T10:00:00`, no offset."""
    # Formatted by hand: strftime does not zero-pad years below 1000 on every platform (0001-01-01).
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )


def parse_time(text: str) -> datetime:
    """Parse the datetime texts SuperOffice accepts in filters and we accept in the control API.

    `2026-11-22`, `2026-11-22T10:00`, `2026-11-22T10:00:00(.fff)`, optionally with `Z` or an offset
    (converted to UTC). Raises ValueError for anything else.
    """
    match = _ISO_RE.match(text.strip())
    if match is None:
        raise ValueError(f"not a date/time: {text!r}")
    value = match.group("date") + "T" + (match.group("time") or "00:00")
    if len(value) == 16:
        value += ":00"
    offset = match.group("offset")
    if offset:
        value += "+00:00" if offset == "Z" else offset if ":" in offset else f"{offset[:3]}:{offset[3:]}"
    return to_stored(datetime.fromisoformat(value))
