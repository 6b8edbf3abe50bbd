"""Domain types for one consent (legal basis) of one contact, as either side holds it.

A side holds at most one state per contact and purpose; *absent* (no row) is represented as ``None``
rather than as a sentinel state, so "absent" and "withdrawn" can never be confused.
"""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from consent_sync.domain.times import UtcDateTime

WITHDRAWN = "WITHDRAWN"
"""The SuperOffice legal-base key that records a withdrawn consent, in any letter case; every other key
is active."""


def same_key(a: str, b: str) -> bool:
    """Whether two legal-base or source keys are the same key (keys match ignoring letter case)."""
    return a.strip().upper() == b.strip().upper()


def _canonical(key: str) -> str:
    # WITHDRAWN is SuperOffice's own key: one spelling everywhere, whatever case a sender used. Other
    # keys keep their spelling (the tenant's, once a push maps them) and compare ignoring case.
    return WITHDRAWN if key.strip().upper() == WITHDRAWN else key


# Keys come from SuperOffice, events and the CLI; surrounding blanks are never meaningful.
_Key = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_canonical)]


class ConsentState(BaseModel):
    """One side's present consent for one contact and purpose.

    ``changed_at`` is always timezone-aware UTC: an aware time in another zone is converted, a naive
    time is rejected, because guessing its zone could reorder changes and so pick the wrong winner.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    legal_base: _Key
    source: str | None = None
    comment: str | None = None
    changed_at: UtcDateTime
    updated_by: int | None = None
    """SuperOffice's side only: the associate (user id) who made the row's latest change."""

    @property
    def active(self) -> bool:
        """True unless the legal base is ``WITHDRAWN`` (in any letter case)."""
        return not self.withdrawn

    @property
    def withdrawn(self) -> bool:
        """True when the legal base is ``WITHDRAWN`` (in any letter case)."""
        return self.legal_base.strip().upper() == WITHDRAWN


def is_active(state: ConsentState | None) -> bool:
    """True when the state is present and not withdrawn (docs/sync-rules.md: *active*)."""
    return state is not None and state.active


def is_withdrawn(state: ConsentState | None) -> bool:
    """True when the state is present and withdrawn (absent is not withdrawn)."""
    return state is not None and state.withdrawn
