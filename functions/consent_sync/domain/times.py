"""Aware UTC times: the only kind the domain compares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def aware_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive time is refused, since guessing its zone could reorder changes."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError("times must be timezone-aware (naive times are ambiguous)")
    return value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(aware_utc)]
"""A timezone-aware time, converted to UTC on validation."""
