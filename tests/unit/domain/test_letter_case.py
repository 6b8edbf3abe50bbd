"""Legal-base keys in any letter case: `withdrawn`, `Withdrawn` and `WITHDRAWN` are one withdrawal for
the rules, the gate, the plan and the import filter; other keys compare ignoring case."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from consent_sync.domain.consent import WITHDRAWN, ConsentState, is_active, is_withdrawn
from consent_sync.domain.contact import Contact, StoredConsent
from consent_sync.domain.gate import BlockReason, verdict
from consent_sync.domain.linking import duplicate_conflicts, passes_filter
from consent_sync.domain.plan import plan_contact
from consent_sync.domain.rules import decide
from consent_sync.domain.vocabulary import Purpose, Side, Trigger

from .strategies import BASE_TIME, RULES_SETTINGS, SKEW, maybe_states, skews


@st.composite
def case_variant(draw: st.DrawFn, key: str) -> str:
    """`key` with each letter's case drawn at random."""
    flips = draw(st.lists(st.booleans(), min_size=len(key), max_size=len(key)))
    return "".join(c.swapcase() if flip else c for c, flip in zip(key, flips, strict=True))


@st.composite
def recased(draw: st.DrawFn, state: ConsentState | None) -> ConsentState | None:
    if state is None:
        return None
    return ConsentState(
        legal_base=draw(case_variant(state.legal_base)),
        source=state.source,
        comment=state.comment,
        changed_at=state.changed_at,
    )


def _meaning(state: ConsentState | None) -> tuple[str, object] | None:
    return None if state is None else (state.legal_base.upper(), state.changed_at)


@RULES_SETTINGS
@given(st.data(), maybe_states, maybe_states, skews, st.booleans())
def test_the_rules_decide_the_same_whatever_the_letter_case(
    data: st.DataObject,
    platform: ConsentState | None,
    superoffice: ConsentState | None,
    skew: timedelta,
    same_clock: bool,
) -> None:
    # Given the same two states, spelt in random letter case
    platform_any = data.draw(recased(platform))
    superoffice_any = data.draw(recased(superoffice))
    # When the rules decide both ways
    expected = decide(platform, superoffice, skew=skew, same_clock=same_clock)
    got = decide(platform_any, superoffice_any, skew=skew, same_clock=same_clock)
    # Then the winner, the rule and what is written mean the same
    assert (got.winner, got.rule) == (expected.winner, expected.rule)
    assert _meaning(got.write_platform) == _meaning(expected.write_platform)
    assert _meaning(got.write_superoffice) == _meaning(expected.write_superoffice)


@RULES_SETTINGS
@given(st.data(), maybe_states, maybe_states)
def test_the_gate_judges_the_same_whatever_the_letter_case(
    data: st.DataObject, store: ConsentState | None, emarketing: ConsentState | None
) -> None:
    expected = verdict(store, emarketing, known=True)
    assert verdict(data.draw(recased(store)), data.draw(recased(emarketing)), known=True) == expected


@RULES_SETTINGS
@given(st.data(), maybe_states, maybe_states)
def test_the_plan_acts_the_same_whatever_the_letter_case(
    data: st.DataObject, platform: ConsentState | None, superoffice: ConsentState | None
) -> None:
    def planned(platform_state: ConsentState | None, superoffice_state: ConsentState | None) -> object:
        consents = (
            {}
            if platform_state is None
            else {Purpose.EMARKETING: StoredConsent.of(platform_state, Side.PLATFORM)}
        )
        contact = Contact(
            account_id="acme", email="a@example.com", superoffice_person_id=7, consents=consents
        )
        states = {} if superoffice_state is None else {Purpose.EMARKETING: superoffice_state}
        plan = plan_contact(
            contact, states, skew=SKEW, push_allowed=True, trigger=Trigger.SCHEDULED, now=BASE_TIME
        )
        kept = plan.contact.consents.get(Purpose.EMARKETING)
        return (
            [(p.purpose, p.state.legal_base.upper()) for p in plan.pushes],
            [(r.rule, r.action) for r in plan.records],
            None if kept is None else (kept.legal_base.upper(), kept.changed_in),
        )

    assert planned(data.draw(recased(platform)), data.draw(recased(superoffice))) == planned(
        platform, superoffice
    )


def test_withdrawn_in_any_case_is_a_withdrawal_and_is_stored_as_superoffice_spells_it() -> None:
    for spelling in ("withdrawn", "Withdrawn", " WITHDRAWN ", "wIthDrawn"):
        state = ConsentState(legal_base=spelling, changed_at=BASE_TIME)
        assert state.legal_base == WITHDRAWN
        assert is_withdrawn(state)
        assert not is_active(state)
        # The import filter ("only e-marketing consented") keeps it out
        assert not passes_filter(state, only_emarketing_consented=True)
        assert verdict(None, state, known=True).reason is BlockReason.EMARKETING_WITHDRAWN


def test_a_lower_case_withdrawal_inside_the_skew_window_beats_a_consent() -> None:
    # Before: "withdrawn" was taken for an active key and lost to 61A by key order.
    withdrawal = ConsentState(legal_base="withdrawn", changed_at=BASE_TIME)
    consent = ConsentState(legal_base="61A", changed_at=BASE_TIME + timedelta(seconds=2))
    decision = decide(withdrawal, consent, skew=SKEW)
    assert decision.winner is Side.PLATFORM
    assert decision.write_superoffice is not None
    assert decision.write_superoffice.withdrawn


def test_keys_differing_in_case_only_are_equal_and_no_duplicate_conflict() -> None:
    platform = ConsentState(legal_base="61a", changed_at=BASE_TIME)
    superoffice = ConsentState(legal_base="61A", changed_at=BASE_TIME + timedelta(hours=1))
    assert decide(platform, superoffice).changed is False
    assert duplicate_conflicts({Purpose.EMARKETING: superoffice}, {9: {Purpose.EMARKETING: platform}}) == []
