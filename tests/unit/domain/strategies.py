"""Hypothesis strategies for consent states, shared by the sync rule tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st

from consent_sync.domain.consent import WITHDRAWN, ConsentState

# SuperOffice's standard keys, the withdrawal and one tenant-defined key.
LEGAL_BASES = ("61A", "61B", "61F", WITHDRAWN, "TENANT_NEWSLETTER")
ACTIVE_BASES = tuple(key for key in LEGAL_BASES if key != WITHDRAWN)
SOURCES = (None, "SUPEROFFICE", "WEB_FORM", "UNSUBSCRIBE_LINK", "IMPORT")

BASE_TIME = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SKEW = timedelta(seconds=5)

# Pydantic validation in every example makes the first calls slow on a cold CI machine.
RULES_SETTINGS = settings(max_examples=300, deadline=None)

_MICRO = 1_000_000
# Offsets from BASE_TIME in microseconds: right at and around the skew boundary, plus anywhere within
# ±20 s (so both inside and outside the window are common).
offsets = st.one_of(
    st.sampled_from([0, 1, -1, 5 * _MICRO, -5 * _MICRO, 5 * _MICRO + 1, -5 * _MICRO - 1]),
    st.integers(-20 * _MICRO, 20 * _MICRO),
)
times = offsets.map(lambda micros: BASE_TIME + timedelta(microseconds=micros))
sources = st.sampled_from(SOURCES)
comments = st.none() | st.text(max_size=12)
skews = st.one_of(st.just(SKEW), st.integers(0, 10 * _MICRO).map(lambda m: timedelta(microseconds=m)))


any_legal_base = st.sampled_from(LEGAL_BASES)


def states(
    legal_bases: st.SearchStrategy[str] = any_legal_base,
) -> st.SearchStrategy[ConsentState]:
    """Present consent states with the given legal bases."""
    return st.builds(ConsentState, legal_base=legal_bases, source=sources, comment=comments, changed_at=times)


maybe_states: st.SearchStrategy[ConsentState | None] = st.none() | states()
