"""The consent domain types: UTC times, activity, immutability, serialisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from pydantic import ValidationError

from consent_sync.domain.consent import WITHDRAWN, ConsentState, is_active, is_withdrawn
from consent_sync.domain.vocabulary import Purpose, Side

from .strategies import RULES_SETTINGS, maybe_states, states

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_naive_time_is_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        ConsentState(legal_base="61A", changed_at=datetime(2025, 3, 1, 12, 0))


def test_aware_time_is_converted_to_utc() -> None:
    # Given a time in UTC+2
    local = datetime(2025, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    # When it becomes a state
    state = ConsentState(legal_base="61A", changed_at=local)
    # Then it is the same instant, expressed in UTC
    assert state.changed_at == T0
    assert state.changed_at.utcoffset() == timedelta(0)


def test_iso_string_with_offset_is_accepted() -> None:
    state = ConsentState.model_validate({"legal_base": "61A", "changed_at": "2025-03-01T13:00:00+01:00"})
    assert state.changed_at == T0


@pytest.mark.parametrize("key", ["", "   "])
def test_blank_legal_base_is_rejected(key: str) -> None:
    with pytest.raises(ValidationError):
        ConsentState(legal_base=key, changed_at=T0)


def test_legal_base_is_trimmed() -> None:
    assert ConsentState(legal_base=" 61A ", changed_at=T0).legal_base == "61A"


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError):
        ConsentState.model_validate({"legal_base": "61A", "changed_at": T0, "active": True})


def test_state_is_frozen() -> None:
    state = ConsentState(legal_base="61A", changed_at=T0)
    with pytest.raises(ValidationError):
        state.legal_base = WITHDRAWN  # type: ignore[misc]


@pytest.mark.parametrize(
    ("state", "active", "withdrawn"),
    [
        (None, False, False),
        (ConsentState(legal_base=WITHDRAWN, changed_at=T0), False, True),
        (ConsentState(legal_base="61A", changed_at=T0), True, False),
        (ConsentState(legal_base="TENANT_NEWSLETTER", changed_at=T0), True, False),
    ],
)
def test_activity(state: ConsentState | None, active: bool, withdrawn: bool) -> None:
    assert is_active(state) is active
    assert is_withdrawn(state) is withdrawn
    if state is not None:
        assert state.active is active


@RULES_SETTINGS
@given(state=states())
def test_json_round_trip(state: ConsentState) -> None:
    assert ConsentState.model_validate_json(state.model_dump_json()) == state


@RULES_SETTINGS
@given(state=maybe_states)
def test_active_means_present_and_not_withdrawn(state: ConsentState | None) -> None:
    assert is_active(state) == (state is not None and state.legal_base != WITHDRAWN)


def test_enum_values() -> None:
    assert [p.value for p in Purpose] == ["STORE", "EMARKETING"]
    assert [s.value for s in Side] == ["superoffice", "platform"]
    assert Side.SUPEROFFICE.other is Side.PLATFORM
    assert Side.PLATFORM.other is Side.SUPEROFFICE
