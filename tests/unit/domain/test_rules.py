"""Design §4 sync rules: properties over random states, and one example per rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from consent_sync.domain.consent import WITHDRAWN, ConsentState, is_active
from consent_sync.domain.rules import DEFAULT_SKEW, Decision, Rule, decide
from consent_sync.domain.vocabulary import Side

from .strategies import (
    ACTIVE_BASES,
    BASE_TIME,
    LEGAL_BASES,
    RULES_SETTINGS,
    SKEW,
    maybe_states,
    skews,
    states,
)


def _apply(
    platform: ConsentState | None, superoffice: ConsentState | None, decision: Decision
) -> tuple[ConsentState | None, ConsentState | None]:
    """Both sides after the decision's writes."""
    return (
        decision.write_platform or platform,
        decision.write_superoffice or superoffice,
    )


def _equal_values(a: ConsentState | None, b: ConsentState | None) -> bool:
    same_key = a is not None and b is not None and a.legal_base == b.legal_base
    return same_key or (not is_active(a) and not is_active(b))


@st.composite
def equal_pairs(draw: st.DrawFn) -> tuple[ConsentState | None, ConsentState | None]:
    """Pairs with equal values: the same key (any times, sources, comments), or both inactive-or-absent."""
    if draw(st.booleans()):
        key = st.just(draw(st.sampled_from(LEGAL_BASES)))
        return draw(states(key)), draw(states(key))
    inactive = st.none() | states(st.just(WITHDRAWN))
    return draw(inactive), draw(inactive)


differing_pairs = st.tuples(states(), states()).filter(lambda pair: pair[0].legal_base != pair[1].legal_base)


# --- properties --------------------------------------------------------------------------------


@RULES_SETTINGS
@given(pair=equal_pairs(), skew=skews)
def test_equal_values_never_write(
    pair: tuple[ConsentState | None, ConsentState | None], skew: timedelta
) -> None:
    platform, superoffice = pair
    decision = decide(platform, superoffice, skew=skew)
    assert not decision.changed
    assert decision.winner is None
    assert decision.rule in {Rule.EQUAL, Rule.BOTH_INACTIVE, Rule.BOTH_ABSENT}


@RULES_SETTINGS
@given(platform=maybe_states, superoffice=maybe_states, skew=skews)
def test_no_write_exactly_when_values_are_equal(
    platform: ConsentState | None, superoffice: ConsentState | None, skew: timedelta
) -> None:
    decision = decide(platform, superoffice, skew=skew)
    assert decision.changed is not _equal_values(platform, superoffice)
    assert (decision.winner is None) is not decision.changed


@RULES_SETTINGS
@given(present=states(), absent_side=st.sampled_from(Side), skew=skews)
def test_absent_never_wins(present: ConsentState, absent_side: Side, skew: timedelta) -> None:
    if absent_side is Side.PLATFORM:
        decision = decide(None, present, skew=skew)
        written_to_absent = decision.write_platform
    else:
        decision = decide(present, None, skew=skew)
        written_to_absent = decision.write_superoffice
    assert decision.winner is not absent_side
    assert decision.write_platform is None or decision.write_superoffice is None
    if present.active:
        # The present side is copied over.
        assert decision.rule is Rule.ABSENT_LOSES
        assert decision.winner is absent_side.other
        assert written_to_absent == present
    else:
        # Withdrawn against absent: both inactive, nothing to write.
        assert not decision.changed


@RULES_SETTINGS
@given(pair=differing_pairs, skew=skews)
def test_later_change_wins_outside_the_window(
    pair: tuple[ConsentState, ConsentState], skew: timedelta
) -> None:
    platform, superoffice = pair
    assume(abs(platform.changed_at - superoffice.changed_at) > skew)
    decision = decide(platform, superoffice, skew=skew)
    assert decision.rule is Rule.LATER_WINS
    if platform.changed_at > superoffice.changed_at:
        assert decision.winner is Side.PLATFORM
        assert decision.write_superoffice == platform
    else:
        assert decision.winner is Side.SUPEROFFICE
        assert decision.write_platform == superoffice


@RULES_SETTINGS
@given(pair=differing_pairs, skew=skews)
def test_more_restrictive_wins_inside_the_window(
    pair: tuple[ConsentState, ConsentState], skew: timedelta
) -> None:
    platform, superoffice = pair
    assume(abs(platform.changed_at - superoffice.changed_at) <= skew)
    decision = decide(platform, superoffice, skew=skew)
    if platform.legal_base == WITHDRAWN or superoffice.legal_base == WITHDRAWN:
        assert decision.rule is Rule.SKEW_RESTRICTIVE
        expected = Side.PLATFORM if platform.legal_base == WITHDRAWN else Side.SUPEROFFICE
    else:
        # Both active, different keys: the lower key wins, regardless of which time is later.
        assert decision.rule is Rule.SKEW_KEY_ORDER
        expected = Side.PLATFORM if platform.legal_base < superoffice.legal_base else Side.SUPEROFFICE
    assert decision.winner is expected


@RULES_SETTINGS
@given(platform=maybe_states, superoffice=maybe_states, skew=skews)
def test_written_state_is_the_winners_state(
    platform: ConsentState | None, superoffice: ConsentState | None, skew: timedelta
) -> None:
    decision = decide(platform, superoffice, skew=skew)
    if decision.winner is Side.PLATFORM:
        assert decision.write_superoffice == platform
        assert decision.write_platform is None
    elif decision.winner is Side.SUPEROFFICE:
        assert decision.write_platform == superoffice
        assert decision.write_superoffice is None


@RULES_SETTINGS
@given(platform=maybe_states, superoffice=maybe_states, skew=skews)
def test_deciding_again_after_applying_gives_no_change(
    platform: ConsentState | None, superoffice: ConsentState | None, skew: timedelta
) -> None:
    decision = decide(platform, superoffice, skew=skew)
    platform_after, superoffice_after = _apply(platform, superoffice, decision)
    assert not decide(platform_after, superoffice_after, skew=skew).changed


@RULES_SETTINGS
@given(
    platform=maybe_states,
    superoffice=maybe_states,
    stamp_delay=st.integers(0, 3_600_000_000).map(lambda m: timedelta(microseconds=m)),
    so_source=st.sampled_from(["CONSENT_SYNC", "SUPEROFFICE"]),
)
def test_superoffice_restamping_a_push_does_not_echo(
    platform: ConsentState | None,
    superoffice: ConsentState | None,
    stamp_delay: timedelta,
    so_source: str,
) -> None:
    # Given a push to SuperOffice
    decision = decide(platform, superoffice)
    assume(decision.write_superoffice is not None)
    pushed = decision.write_superoffice
    assert pushed is not None
    # When SuperOffice stores it with its own (later) time, source mapping and comment
    stored = pushed.model_copy(
        update={
            "changed_at": pushed.changed_at + stamp_delay,
            "source": so_source,
            "comment": "Updated by consent-sync",
        }
    )
    # Then the next run sees equal values and nothing flows back
    assert not decide(platform, stored).changed


@RULES_SETTINGS
@given(platform=maybe_states, superoffice=maybe_states, skew=skews)
def test_result_does_not_depend_on_argument_order(
    platform: ConsentState | None, superoffice: ConsentState | None, skew: timedelta
) -> None:
    assert decide(superoffice, platform, skew=skew) == decide(platform, superoffice, skew=skew).mirrored()


@RULES_SETTINGS
@given(pair=differing_pairs, skew=skews)
def test_on_one_clock_the_later_change_wins_however_close(
    pair: tuple[ConsentState, ConsentState], skew: timedelta
) -> None:
    platform, superoffice = pair
    decision = decide(platform, superoffice, skew=skew, same_clock=True)
    if platform.changed_at == superoffice.changed_at:
        # Simultaneous on one clock: no order to trust, the window's rules decide as ever.
        assert decision == decide(platform, superoffice, skew=skew)
        return
    assert decision.rule is Rule.SAME_CLOCK
    later = Side.PLATFORM if platform.changed_at > superoffice.changed_at else Side.SUPEROFFICE
    assert decision.winner is later
    assert decision == decide(superoffice, platform, skew=skew, same_clock=True).mirrored()
    # and outside the window it agrees with the two-clock rules
    if abs(platform.changed_at - superoffice.changed_at) > skew:
        assert decision.winner is decide(platform, superoffice, skew=skew).winner


@RULES_SETTINGS
@given(platform=maybe_states, superoffice=maybe_states, skew=skews, same_clock=st.booleans())
def test_one_clock_changes_nothing_but_the_order_of_differing_values(
    platform: ConsentState | None, superoffice: ConsentState | None, skew: timedelta, same_clock: bool
) -> None:
    # Equal values, absent sides, and deciding again after applying are as without it.
    decision = decide(platform, superoffice, skew=skew, same_clock=same_clock)
    if not (platform and superoffice and platform.legal_base != superoffice.legal_base):
        assert decision == decide(platform, superoffice, skew=skew)
    after = _apply(platform, superoffice, decision)
    assert not decide(*after, skew=skew, same_clock=same_clock).changed


@RULES_SETTINGS
@given(platform=maybe_states, superoffice=maybe_states, skew=skews)
def test_withdrawal_is_never_replaced_by_an_older_consent(
    platform: ConsentState | None, superoffice: ConsentState | None, skew: timedelta
) -> None:
    decision = decide(platform, superoffice, skew=skew)
    for current, written in ((platform, decision.write_platform), (superoffice, decision.write_superoffice)):
        if current is not None and current.legal_base == WITHDRAWN and written is not None:
            # Only a consent later by more than the skew window may replace a withdrawal.
            assert written.changed_at - current.changed_at > skew


@RULES_SETTINGS
@given(
    withdrawn=states(st.just(WITHDRAWN)),
    consent_key=st.sampled_from(ACTIVE_BASES),
    older_by=st.integers(0, 30_000_000).map(lambda m: timedelta(microseconds=m)),
    withdrawn_side=st.sampled_from(Side),
)
def test_older_or_simultaneous_consent_keeps_the_withdrawal(
    withdrawn: ConsentState, consent_key: str, older_by: timedelta, withdrawn_side: Side
) -> None:
    consent = ConsentState(legal_base=consent_key, changed_at=withdrawn.changed_at - older_by)
    decision = decide(withdrawn, consent) if withdrawn_side is Side.PLATFORM else decide(consent, withdrawn)
    assert decision.winner is withdrawn_side


# --- one example per rule ----------------------------------------------------------------------


def _state(key: str, seconds: float, source: str | None = None) -> ConsentState:
    return ConsentState(legal_base=key, source=source, changed_at=BASE_TIME + timedelta(seconds=seconds))


@pytest.mark.parametrize(
    ("platform", "superoffice", "rule", "winner"),
    [
        pytest.param(None, None, Rule.BOTH_ABSENT, None, id="both-absent"),
        pytest.param(_state("61A", 0), _state("61A", 3600), Rule.EQUAL, None, id="equal-key-any-times"),
        pytest.param(
            _state("61A", 0, "WEB_FORM"),
            _state("61A", 0, "SUPEROFFICE"),
            Rule.EQUAL,
            None,
            id="equal-key-sources",
        ),
        pytest.param(_state(WITHDRAWN, 0), _state(WITHDRAWN, -60), Rule.EQUAL, None, id="both-withdrawn"),
        pytest.param(_state(WITHDRAWN, 0), None, Rule.BOTH_INACTIVE, None, id="withdrawn-vs-absent"),
        pytest.param(None, _state(WITHDRAWN, 0), Rule.BOTH_INACTIVE, None, id="absent-vs-withdrawn"),
        pytest.param(_state("61A", 0), None, Rule.ABSENT_LOSES, Side.PLATFORM, id="platform-only"),
        pytest.param(None, _state("61F", -999), Rule.ABSENT_LOSES, Side.SUPEROFFICE, id="superoffice-only"),
        pytest.param(
            _state("61A", 60), _state(WITHDRAWN, 0), Rule.LATER_WINS, Side.PLATFORM, id="later-consent"
        ),
        pytest.param(
            _state("61A", 0), _state(WITHDRAWN, 60), Rule.LATER_WINS, Side.SUPEROFFICE, id="later-wd"
        ),
        pytest.param(
            _state("61F", 5.001), _state("61A", 0), Rule.LATER_WINS, Side.PLATFORM, id="just-outside"
        ),
        pytest.param(
            _state("61A", 5), _state(WITHDRAWN, 0), Rule.SKEW_RESTRICTIVE, Side.SUPEROFFICE, id="skew-edge-wd"
        ),
        pytest.param(
            _state(WITHDRAWN, 0),
            _state("61A", 2),
            Rule.SKEW_RESTRICTIVE,
            Side.PLATFORM,
            id="skew-wd-platform",
        ),
        pytest.param(
            _state("61F", 3), _state("61A", 0), Rule.SKEW_KEY_ORDER, Side.SUPEROFFICE, id="skew-keys"
        ),
        pytest.param(
            _state("61B", 0),
            _state("TENANT_NEWSLETTER", 1),
            Rule.SKEW_KEY_ORDER,
            Side.PLATFORM,
            id="skew-tenant",
        ),
    ],
)
def test_rule_examples(
    platform: ConsentState | None, superoffice: ConsentState | None, rule: Rule, winner: Side | None
) -> None:
    decision = decide(platform, superoffice)
    assert decision.rule is rule
    assert decision.winner is winner
    assert decision.changed is (winner is not None)


def test_skew_is_a_setting() -> None:
    platform, superoffice = _state("61A", 2), _state(WITHDRAWN, 0)
    assert decide(platform, superoffice).winner is Side.SUPEROFFICE
    assert decide(platform, superoffice, skew=timedelta(seconds=1)).winner is Side.PLATFORM
    assert decide(platform, superoffice, skew=timedelta(0)).rule is Rule.LATER_WINS


def test_zero_skew_still_resolves_identical_times() -> None:
    decision = decide(_state("61A", 0), _state(WITHDRAWN, 0), skew=timedelta(0))
    assert decision.rule is Rule.SKEW_RESTRICTIVE
    assert decision.winner is Side.SUPEROFFICE


def test_negative_skew_is_rejected() -> None:
    with pytest.raises(ValueError, match="skew"):
        decide(None, None, skew=timedelta(seconds=-1))


def test_push_carries_winner_source_comment_and_time() -> None:
    platform = ConsentState(
        legal_base=WITHDRAWN, source="UNSUBSCRIBE_LINK", comment="List footer", changed_at=BASE_TIME
    )
    decision = decide(platform, _state("61A", -3600))
    assert decision.write_superoffice == platform
    assert decision.write_platform is None


def test_default_skew_is_five_seconds() -> None:
    assert DEFAULT_SKEW == SKEW == timedelta(seconds=5)
    assert decide(_state("61A", 5), _state(WITHDRAWN, 0)).rule is Rule.SKEW_RESTRICTIVE
