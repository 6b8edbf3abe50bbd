"""Per-person import rules, linking and counting (pure), and the per-contact reconcile plan."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_sync.domain.consent import WITHDRAWN, ConsentState
from consent_sync.domain.contact import Card, Contact, ImportOutcome, StoredConsent
from consent_sync.domain.errors import UnknownKey
from consent_sync.domain.linking import (
    DUPLICATES_RECHECK,
    Member,
    SkipReason,
    duplicate_conflicts,
    link_members,
    member_of,
    needs_duplicate_search,
    new_contact,
    older,
    oldest_first,
    passes_filter,
)
from consent_sync.domain.plan import plan_contact, push_comment, push_source, tenant_key
from consent_sync.domain.vocabulary import Purpose, Side, Trigger
from consent_sync.superoffice.models import PersonRow

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SKEW = timedelta(seconds=5)
EMAIL = "ada@example.com"


def row(person_id: int, email: str | None, **fields: object) -> PersonRow:
    return PersonRow.model_validate(
        {
            "personId": person_id,
            "firstName": "Ada",
            "lastName": "Lovelace",
            "personContact/name": "Analytical Engines",
            "email/emailAddress": email,
            "personMobilePhone/formattedNumber": fields.get("mobile", ""),
            "personRegisteredDate": fields.get("registered", "2020-01-01T10:00:00"),
        }
    )


def state(legal_base: str, at: datetime, source: str | None = "WEBFORM") -> ConsentState:
    return ConsentState(legal_base=legal_base, source=source, changed_at=at)


def member(person_id: int, registered: datetime | None = None) -> Member:
    return Member(person_id=person_id, email=EMAIL, registered=registered or T0 + timedelta(days=person_id))


# ---------------------------------------------------------------- screening


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        (None, SkipReason.NO_EMAIL),
        ("", SkipReason.NO_EMAIL),
        ("   ", SkipReason.NO_EMAIL),
        ("not an address@example.com", SkipReason.INVALID_EMAIL),
        ("ada@@example.com", SkipReason.INVALID_EMAIL),
        ("åsa@example.se", SkipReason.INVALID_EMAIL),
    ],
)
def test_a_person_without_a_usable_email_is_skipped_with_its_reason(
    email: str | None, reason: SkipReason
) -> None:
    assert member_of(row(7, email)) == reason


def test_a_person_with_an_email_becomes_a_member_with_its_card() -> None:
    found = member_of(row(7, " Ada.Lovelace@Example.COM ", mobile="+47 912 34 567"))
    assert isinstance(found, Member)
    # keyed by the normalised address, shown as SuperOffice spells it
    assert found.email == "ada.lovelace@example.com"
    assert found.card == Card(
        first_name="Ada",
        last_name="Lovelace",
        company="Analytical Engines",
        email_display="Ada.Lovelace@Example.COM",
        mobile="+47 912 34 567",
    )
    assert found.registered == datetime(2020, 1, 1, 10, 0, tzinfo=UTC)


def test_the_emarketing_filter() -> None:
    assert passes_filter(None, only_emarketing_consented=False)
    assert passes_filter(state("61A", T0), only_emarketing_consented=True)
    assert not passes_filter(None, only_emarketing_consented=True)
    assert not passes_filter(state(WITHDRAWN, T0), only_emarketing_consented=True)


def test_oldest_is_earliest_registered_then_lowest_id() -> None:
    assert older(9, T0, 3, T0 + timedelta(seconds=1))
    assert older(3, T0, 9, T0)
    assert older(3, None, 9, T0)  # no time known: the ids decide
    same_time = [member(9, T0), member(3, T0), member(5, T0 - timedelta(days=1))]
    assert [m.person_id for m in oldest_first(same_time)] == [5, 3, 9]


# ---------------------------------------------------------------- linking and counting


def test_a_new_contact_links_the_oldest_member() -> None:
    linking = new_contact("acme", [member(30), member(10), member(20)], import_id="imp-1", now=T0)
    assert linking.contact.superoffice_person_id == 10
    assert linking.contact.duplicate_person_ids == [20, 30]
    assert linking.outcomes == {
        10: ImportOutcome.CREATED,
        20: ImportOutcome.DUPLICATE,
        30: ImportOutcome.DUPLICATE,
    }


def test_an_older_person_met_later_takes_the_link_over() -> None:
    # Given a contact an earlier import linked to a younger person
    earlier = new_contact("acme", [member(20)], import_id="imp-1", now=T0).contact
    # When another import meets the older person
    linking = link_members(earlier, [member(10)], import_id="imp-2")
    # Then it is linked, the younger one listed, and the contact counts as updated
    assert (linking.contact.superoffice_person_id, linking.contact.duplicate_person_ids) == (10, [20])
    assert linking.outcomes == {10: ImportOutcome.UPDATED}
    assert linking.new_duplicates == [20]


def chunkings(draw: st.DrawFn) -> list[list[Member]]:
    """Up to five persons with one address, split over chunks in any order."""
    count = draw(st.integers(1, 5))
    people = [member(person_id) for person_id in draw(st.permutations(range(1, count + 1)))]
    cuts = sorted(draw(st.sets(st.integers(1, max(1, count - 1)), max_size=count - 1))) if count > 1 else []
    bounds = [0, *cuts, count]
    return [people[a:b] for a, b in itertools.pairwise(bounds) if people[a:b]]


@settings(max_examples=200, deadline=None)
@given(st.composite(chunkings)(), st.booleans())
def test_counts_do_not_depend_on_which_chunk_comes_first(chunks: list[list[Member]], again: bool) -> None:
    # When the chunks of one import are processed in this order (each chunk maybe twice)
    contact: Contact | None = None
    counted: Counter[ImportOutcome] = Counter()
    for chunk in chunks:
        for attempt in range(2 if again else 1):
            if contact is None:
                linking = new_contact("acme", chunk, import_id="imp", now=T0)
            else:
                linking = link_members(contact, chunk, import_id="imp")
            contact = linking.contact
            if attempt == 0:  # a second processing is not counted (the job counts a chunk once)
                counted.update(linking.outcomes.values())
    # Then one contact was created, every other person is a duplicate, and the oldest is linked
    members = sum(len(chunk) for chunk in chunks)
    assert counted == Counter(
        {ImportOutcome.CREATED: 1} | ({ImportOutcome.DUPLICATE: members - 1} if members > 1 else {})
    )
    assert contact is not None
    assert contact.superoffice_person_id == 1
    assert contact.duplicate_person_ids == list(range(2, members + 1))


def test_a_chunk_processed_again_counts_as_the_first_time() -> None:
    first = new_contact("acme", [member(20)], import_id="imp", now=T0)
    relinked = link_members(first.contact, [member(10)], import_id="imp")
    assert relinked.outcomes == {10: ImportOutcome.DUPLICATE}  # stands for 20, created earlier
    # the first chunk again (a retry after the relink): 20 still counts as created
    again = link_members(relinked.contact, [member(20)], import_id="imp")
    assert again.outcomes == {20: ImportOutcome.CREATED}
    assert again.contact.superoffice_person_id == 10


def test_duplicates_with_another_emarketing_legal_base_are_conflicts() -> None:
    linked = {Purpose.EMARKETING: state("61A", T0)}
    others = {
        2: {Purpose.EMARKETING: state("61A", T0)},
        3: {Purpose.EMARKETING: state(WITHDRAWN, T0)},
        4: {},
        5: {Purpose.STORE: state("61F", T0), Purpose.EMARKETING: state("61A", T0 + SKEW)},
    }
    assert duplicate_conflicts(linked, others) == [3, 4]


# ---------------------------------------------------------------- the per-contact plan


def contact_with(purpose: Purpose, legal_base: str, at: datetime, **extra: object) -> Contact:
    consent = StoredConsent.of(state(legal_base, at), Side.PLATFORM)
    return Contact.model_validate(
        {
            "account_id": "acme",
            "email": EMAIL,
            "superoffice_person_id": 10,
            "consents": {purpose: consent},
            **extra,
        }
    )


def plan(contact: Contact, superoffice: dict[Purpose, ConsentState], **options: object):  # type: ignore[no-untyped-def]
    kwargs = {"skew": SKEW, "push_allowed": True, "trigger": Trigger.IMPORT, "now": T0} | options
    return plan_contact(contact, superoffice, **kwargs)  # type: ignore[arg-type]


def test_a_new_contact_takes_every_superoffice_state_a_withdrawal_too() -> None:
    fresh = Contact(account_id="acme", email=EMAIL, superoffice_person_id=10)
    theirs = {Purpose.STORE: state("61F", T0), Purpose.EMARKETING: state(WITHDRAWN, T0 + SKEW)}
    result = plan(fresh, theirs, new=True)
    assert {p: (c.legal_base, c.changed_at, c.changed_in) for p, c in result.contact.consents.items()} == {
        Purpose.STORE: ("61F", T0, Side.SUPEROFFICE),
        Purpose.EMARKETING: (WITHDRAWN, T0 + SKEW, Side.SUPEROFFICE),
    }
    assert result.contact.suppressed
    assert [(r.purpose, r.action) for r in result.records] == [
        (Purpose.STORE, "pull"),
        (Purpose.EMARKETING, "pull"),
    ]
    # while a known contact with no platform state leaves a SuperOffice withdrawal to the rules
    assert plan(fresh, theirs).contact.consents.keys() == {Purpose.STORE}


def test_a_newer_platform_withdrawal_is_pushed_when_sync_is_on_and_kept_when_off() -> None:
    contact = contact_with(
        Purpose.EMARKETING, WITHDRAWN, T0 + timedelta(days=1), pending={"EMARKETING": state(WITHDRAWN, T0)}
    )
    theirs = {Purpose.EMARKETING: state("61A", T0)}
    on = plan(contact, theirs)
    assert [(p.purpose, p.state.legal_base) for p in on.pushes] == [(Purpose.EMARKETING, WITHDRAWN)]
    assert on.records == []  # logged with the push's result
    off = plan(contact, theirs, push_allowed=False)
    assert off.pushes == []
    assert [(r.winner, r.action) for r in off.records] == [(Side.PLATFORM, "none")]
    assert off.contact.consents[Purpose.EMARKETING].legal_base == WITHDRAWN


def test_an_older_platform_state_takes_superoffices_and_a_push_no_longer_needed_is_dropped() -> None:
    contact = contact_with(Purpose.EMARKETING, "61F", T0, pending={"EMARKETING": state("61F", T0)})
    result = plan(contact, {Purpose.EMARKETING: state("61A", T0 + timedelta(hours=1))})
    taken = result.contact.consents[Purpose.EMARKETING]
    assert (taken.legal_base, taken.changed_in, taken.changed_at) == (
        "61A",
        Side.SUPEROFFICE,
        T0 + timedelta(hours=1),
    )
    assert result.contact.pending == {}
    assert result.pulled


def test_a_conflicting_duplicate_is_recorded_even_without_a_write() -> None:
    contact = contact_with(Purpose.EMARKETING, "61A", T0)
    result = plan(contact, {Purpose.EMARKETING: state("61A", T0)}, duplicate_conflicts=[77])
    assert [(r.action, r.duplicate_conflicts) for r in result.records] == [("none", [77])]


def test_push_keys_are_mapped_to_the_tenants() -> None:
    assert tenant_key("61a", ["61A", "WITHDRAWN"], "legal base") == "61A"
    assert push_source("webform", ["USER", "WEBFORM"]) == "WEBFORM"
    assert push_source(None, ["USER", "UNKNOWN"]) == "UNKNOWN"
    assert push_source(None, ["API", "UNKNOWN"]) == "API"
    with pytest.raises(UnknownKey, match="UNSUBSCRIBE_LINK"):
        push_source("UNSUBSCRIBE_LINK", ["USER", "API"])
    assert push_comment(state(WITHDRAWN, T0)).startswith("consent-sync")


# ---------------------------------------------------------------- duplicates anywhere in SuperOffice


def test_a_person_found_by_the_search_is_linked_but_not_counted() -> None:
    # Given an import whose only member (30) has an older namesake (10) outside the selection
    linking = new_contact("acme", [member(30), member(10)], import_id="imp-1", now=T0, import_members={30})
    # Then the older person is linked, the member is its duplicate, and only the member is counted
    assert (linking.contact.superoffice_person_id, linking.contact.duplicate_person_ids) == (10, [30])
    assert linking.outcomes == {30: ImportOutcome.DUPLICATE}


def test_the_older_member_of_a_later_chunk_counts_the_contact_as_created() -> None:
    # Given chunk 1 of an import: the younger member (30), its older namesake (10) found by the search
    first = new_contact("acme", [member(30), member(10)], import_id="imp-1", now=T0, import_members={30})
    # When chunk 2 brings the older person as a member
    second = link_members(first.contact, [member(10)], import_id="imp-1", import_members={10})
    # Then it counts as created, as if both had been in one chunk (created 1, duplicates 1)
    assert second.outcomes == {10: ImportOutcome.CREATED}
    assert Counter(second.contact.import_mark.outcomes.values()) == Counter(  # type: ignore[union-attr]
        {ImportOutcome.CREATED: 1, ImportOutcome.DUPLICATE: 1}
    )


def test_a_contact_is_searched_again_once_its_last_search_is_a_day_old() -> None:
    contact = Contact(account_id="acme", email=EMAIL)
    assert needs_duplicate_search(None, now=T0) is False  # no contact: only an import searches
    assert needs_duplicate_search(contact, now=T0) is True  # never searched
    searched = contact.model_copy(update={"duplicates_checked_at": T0})
    assert needs_duplicate_search(searched, now=T0 + DUPLICATES_RECHECK - timedelta(seconds=1)) is False
    assert needs_duplicate_search(searched, now=T0 + DUPLICATES_RECHECK) is True
