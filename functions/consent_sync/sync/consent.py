"""Domain types for one consent (legal basis) of one contact, as either side holds it.

A side holds at most one state per contact and purpose; *absent* (no row) is represented as ``None``
rather than as a sentinel state, so "absent" and "withdrawn" can never be confused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

WITHDRAWN = "WITHDRAWN"
"""The SuperOffice legal-base key that records a withdrawn consent; every other key is active."""


class Purpose(StrEnum):
    """The two SuperOffice consent purposes consent-sync keeps in step."""

    STORE = "STORE"
    EMARKETING = "EMARKETING"


class Side(StrEnum):
    """The two systems whose consent states are reconciled."""

    SUPEROFFICE = "superoffice"
    PLATFORM = "platform"

    @property
    def other(self) -> Side:
        """The opposite side (where a winner's state is written)."""
        return Side.PLATFORM if self is Side.SUPEROFFICE else Side.SUPEROFFICE


# Keys come from SuperOffice, events and the CLI; surrounding blanks are never meaningful.
_Key = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class ConsentState(BaseModel):
    """One side's present consent for one contact and purpose.

    ``changed_at`` is always timezone-aware UTC: an aware time in another zone is converted, a naive
    time is rejected, because guessing its zone could reorder changes and so pick the wrong winner.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    legal_base: _Key
    source: str | None = None
    comment: str | None = None
    changed_at: datetime

    @field_validator("changed_at")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError("changed_at must be timezone-aware (naive times are ambiguous)")
        return value.astimezone(UTC)

    @property
    def active(self) -> bool:
        """True unless the legal base is ``WITHDRAWN``."""
        return self.legal_base != WITHDRAWN

    @property
    def withdrawn(self) -> bool:
        """True when the legal base is ``WITHDRAWN``."""
        return self.legal_base == WITHDRAWN


def is_active(state: ConsentState | None) -> bool:
    """True when the state is present and not withdrawn (design §4: *active*)."""
    return state is not None and state.active


def is_withdrawn(state: ConsentState | None) -> bool:
    """True when the state is present and withdrawn (absent is not withdrawn)."""
    return state is not None and state.withdrawn
