"""The chaos checks' expectations: what both sides should end with, by the sync rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consent_sync.domain.consent import ConsentState
from consent_sync.domain.vocabulary import Purpose, Side
from devtools.chaos.checks import expected_state, expected_step_by_step
from devtools.chaos.crash import fault_settings
from devtools.chaos.world import WITHDRAWN, Change, same

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def state(legal_base: str, seconds: int) -> ConsentState:
    return ConsentState(legal_base=legal_base, changed_at=T0 + timedelta(seconds=seconds))


def change(side: Side, legal_base: str, seconds: int) -> Change:
    at = T0 + timedelta(seconds=seconds)
    return Change(side, "a@example.org", 1, Purpose.EMARKETING, legal_base, at, equal_already=False)


def test_withdrawn_and_absent_are_the_same_value() -> None:
    assert same(None, WITHDRAWN)
    assert same("61A", "61A")
    assert not same("61A", WITHDRAWN)


def test_the_later_change_wins_outside_the_skew_window() -> None:
    assert expected_state(state("61A", 0), state(WITHDRAWN, 60)) == WITHDRAWN
    assert expected_state(state(WITHDRAWN, 0), state("61B", 60)) == "61B"


def test_within_the_skew_window_the_withdrawal_wins() -> None:
    assert expected_state(state(WITHDRAWN, 0), state("61A", 2)) == WITHDRAWN


def test_step_by_step_applies_the_rules_after_every_change() -> None:
    initial = state("61A", -3600)
    changes = [change(Side.PLATFORM, WITHDRAWN, 0), change(Side.SUPEROFFICE, "61B", 60)]
    assert expected_step_by_step(initial, changes) == "61B"


def test_the_faults_are_what_the_simulator_is_told() -> None:
    assert fault_settings(seed=7, rate_limit_per_s=5.0, timeout_ratio=0.02, held_s=11.0) == {
        "error_ratio": 0.10,
        "rate_limit_per_s": 5.0,
        "retry_after_s": 1,
        "timeout_ratio": 0.02,
        "timeout_s": 11.0,
        "seed": 7,
    }
