"""Platform consent changes (pure): what a `Contact Consent Changed` does to the stored contact, and
the `consent set --changed-at` rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consent_sync.domain.consent import ConsentState
from consent_sync.domain.contact import Contact, StoredConsent
from consent_sync.domain.vocabulary import Purpose, Side
from consent_sync.events import ContactConsentChanged
from consent_sync.flows.platform_change import apply_change, platform_run_id
from devtools.contacts import UsageProblem, parse_changed_at

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def change(**overrides: Any) -> ContactConsentChanged:
    fields: dict[str, Any] = {
        "account_id": "acme",
        "email": " Anna.Berg@Example.com",
        "purpose": "EMARKETING",
        "legal_base": "WITHDRAWN",
        "source": "WEBFORM",
        "comment": "Unsubscribed",
        "changed_at": T0,
    }
    return ContactConsentChanged.model_validate(fields | overrides)


def stored_contact(legal_base: str, at: datetime, side: Side = Side.SUPEROFFICE) -> Contact:
    state = ConsentState(legal_base=legal_base, source="USER", changed_at=at)
    return Contact(
        account_id="acme",
        email="anna.berg@example.com",
        superoffice_person_id=7,
        consents={Purpose.EMARKETING: StoredConsent.of(state, side)},
        version=3,
    )


def test_an_unknown_email_becomes_an_unlinked_platform_contact_owing_a_push() -> None:
    applied = apply_change(None, change(), syncs=True)
    assert applied.status == "recorded"
    assert applied.push_owed
    contact = applied.contact
    assert contact is not None
    assert (contact.email, contact.linked, contact.version) == ("anna.berg@example.com", False, 0)
    consent = contact.consents[Purpose.EMARKETING]
    assert (consent.legal_base, consent.changed_in, consent.changed_at) == ("WITHDRAWN", Side.PLATFORM, T0)
    assert contact.pending[Purpose.EMARKETING] == consent.state


def test_a_newer_change_replaces_the_stored_state_and_is_owed_to_superoffice() -> None:
    before = stored_contact("61A", T0 - timedelta(days=3))
    applied = apply_change(before, change(), syncs=True)
    assert (applied.status, applied.push_owed) == ("recorded", True)
    assert applied.contact is not None
    assert applied.contact.consents[Purpose.EMARKETING].changed_in is Side.PLATFORM
    assert applied.contact.pending[Purpose.EMARKETING].legal_base == "WITHDRAWN"
    # The link and the version read are kept: the save is conditional on that version
    assert (applied.contact.superoffice_person_id, applied.contact.version) == (7, 3)
    assert applied.contact.latest_platform_change() == T0


def test_a_change_older_than_the_platforms_own_stored_change_is_ignored() -> None:
    applied = apply_change(
        stored_contact("61A", T0 + timedelta(seconds=1), Side.PLATFORM), change(), syncs=True
    )
    assert (applied.status, applied.contact, applied.push_owed) == ("ignored", None, False)


def test_a_change_older_than_a_pulled_superoffice_state_by_more_than_the_skew_is_ignored() -> None:
    applied = apply_change(stored_contact("61A", T0 + timedelta(seconds=6)), change(), syncs=True)
    assert (applied.status, applied.contact, applied.push_owed) == ("ignored", None, False)


def test_a_withdrawal_just_older_than_a_pulled_superoffice_consent_still_wins() -> None:
    # Two clocks, 2 s apart: the rules keep the withdrawal (skew_restrictive), so an unsubscribe
    # reported a moment after SuperOffice's consent was pulled is recorded and owed, not lost.
    applied = apply_change(stored_contact("61A", T0 + timedelta(seconds=2)), change(), syncs=True)
    assert (applied.status, applied.push_owed) == ("recorded", True)
    assert applied.contact is not None
    assert applied.contact.consents[Purpose.EMARKETING].legal_base == "WITHDRAWN"
    # with a narrower window it is simply older
    narrow = apply_change(
        stored_contact("61A", T0 + timedelta(seconds=2)), change(), syncs=True, skew=timedelta(seconds=1)
    )
    assert narrow.status == "ignored"


def test_a_consent_just_older_than_a_pulled_superoffice_withdrawal_is_ignored() -> None:
    applied = apply_change(
        stored_contact("WITHDRAWN", T0 + timedelta(seconds=2)), change(legal_base="61A"), syncs=True
    )
    assert applied.status == "ignored"


def test_the_same_event_again_writes_nothing_but_requeues_a_push_still_owed() -> None:
    first = apply_change(None, change(), syncs=True).contact
    assert first is not None
    again = apply_change(first, change(), syncs=True)
    assert (again.status, again.contact, again.push_owed) == ("unchanged", None, True)
    # Once pushed (pending cleared by the worker), the same event is a plain no-op
    pushed = first.model_copy(update={"pending": {}})
    assert apply_change(pushed, change(), syncs=True).push_owed is False


def test_a_change_at_the_same_time_with_another_value_is_recorded() -> None:
    applied = apply_change(stored_contact("61A", T0), change(), syncs=True)
    assert applied.status == "recorded"


def test_without_sync_the_change_is_recorded_but_nothing_is_owed() -> None:
    applied = apply_change(stored_contact("61A", T0 - timedelta(hours=1)), change(), syncs=False)
    assert (applied.status, applied.push_owed) == ("recorded", False)
    assert applied.contact is not None
    assert applied.contact.pending == {}
    assert apply_change(None, change(), syncs=False).contact.pending == {}  # type: ignore[union-attr]


def test_the_other_purpose_and_its_pending_push_are_left_alone() -> None:
    store = ConsentState(legal_base="61F", changed_at=T0 - timedelta(days=1))
    before = stored_contact("61A", T0 - timedelta(days=1)).model_copy(
        update={
            "consents": {
                Purpose.EMARKETING: StoredConsent.of(
                    ConsentState(legal_base="61A", changed_at=T0 - timedelta(days=1)), Side.SUPEROFFICE
                ),
                Purpose.STORE: StoredConsent.of(store, Side.PLATFORM),
            },
            "pending": {Purpose.STORE: store},
        }
    )
    applied = apply_change(before, change(), syncs=True)
    assert applied.contact is not None
    assert applied.contact.consents[Purpose.STORE].state == store
    assert set(applied.contact.pending) == {Purpose.STORE, Purpose.EMARKETING}


def test_a_platform_push_is_its_own_run_job_named_after_the_event() -> None:
    assert platform_run_id("5f607182-93a4") == "platform-5f607182-93a4"
    assert platform_run_id("a/b") == "platform-a-b"


NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, NOW),
        ("2026-11-22T10:58:12+01:00", datetime(2026, 11, 22, 9, 58, 12, tzinfo=UTC)),
        ("2026-11-22T09:58:12Z", datetime(2026, 11, 22, 9, 58, 12, tzinfo=UTC)),
        ("2001-01-01T00:00:00+00:00", datetime(2001, 1, 1, tzinfo=UTC)),  # any past time
        ("2026-11-23T12:00:05+00:00", NOW + timedelta(seconds=5)),  # within the skew window
    ],
)
def test_changed_at_accepts_any_past_time_with_an_offset(text: str | None, expected: datetime) -> None:
    assert parse_changed_at(text, 5, now=NOW) == expected


@pytest.mark.parametrize(
    ("text", "skew", "problem"),
    [
        ("2026-11-23T12:00:06+00:00", 5, "future"),
        ("2026-11-23T12:00:02+00:00", 1, "future"),
        # The event contract rejects more than 5 s ahead whatever the account's window
        ("2026-11-23T12:00:20+00:00", 60, "future"),
        ("2026-11-22T10:58:12", 5, "offset"),
        ("yesterday", 5, "ISO 8601"),
    ],
)
def test_changed_at_rejects_the_future_and_naive_times(text: str, skew: int, problem: str) -> None:
    with pytest.raises(UsageProblem, match=problem):
        parse_changed_at(text, skew, now=NOW)


@pytest.mark.parametrize("side", [Side.PLATFORM, Side.SUPEROFFICE])
def test_an_opt_in_at_the_same_time_as_a_stored_withdrawal_is_ignored(side: Side) -> None:
    # Given a stored withdrawal (a platform unsubscribe, or one pulled from SuperOffice) at T0
    stored = stored_contact("WITHDRAWN", T0, side)
    # When an opt-in with exactly the same changed_at arrives
    applied = apply_change(stored, change(legal_base="61A"), syncs=True)
    # Then the withdrawal wins the tie: nothing is written, nothing is owed
    assert (applied.status, applied.contact, applied.push_owed) == ("ignored", None, False)


def test_a_lower_case_withdrawal_is_recorded_as_a_withdrawal() -> None:
    applied = apply_change(
        stored_contact("61A", T0 - timedelta(hours=1)), change(legal_base="withdrawn"), syncs=True
    )
    assert applied.contact is not None
    assert applied.contact.consents[Purpose.EMARKETING].legal_base == "WITHDRAWN"
    assert applied.contact.consents[Purpose.EMARKETING].withdrawn
