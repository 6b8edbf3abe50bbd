"""DecisionLog against DynamoDB (moto server): batch appends, newest first, per contact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consent_sync.domain.consent import ConsentState
from consent_sync.domain.contact import Contact, DecisionRecord, PlatformValue, SuperOfficeValue
from consent_sync.domain.vocabulary import Purpose, Side, Trigger
from consent_sync.store.contacts import ContactStore
from consent_sync.store.decisions import DecisionLog

ACCOUNT = "acme"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _record(minutes: int, purpose: Purpose = Purpose.EMARKETING) -> DecisionRecord:
    at = T0 + timedelta(minutes=minutes)
    return DecisionRecord(
        at=at,
        trigger=Trigger.SCHEDULED,
        purpose=purpose,
        superoffice=SuperOfficeValue.of(ConsentState(legal_base="61A", source="CRM", changed_at=T0), 42),
        platform=PlatformValue.of(ConsentState(legal_base="WITHDRAWN", changed_at=at)),
        winner=Side.PLATFORM,
        rule="later_wins",
        action="push",
    )


def test_records_come_back_newest_first(table_name: str) -> None:
    # Given 30 decisions for one contact appended out of order, one of them an error with no SuperOffice row
    log = DecisionLog(table_name)
    records = [_record(m) for m in range(29, 0, -1)]
    failed = _record(0, Purpose.STORE).model_copy(
        update={"superoffice": None, "action": "error:unknown_legal_base", "error": "no key TENANT_X"}
    )
    log.append_for_contacts(ACCOUNT, {"Ada@Example.com": [*records, failed]})
    assert log.requests == {"BatchWriteItem": 2}

    # When the contact's log is read
    newest = log.for_contact(ACCOUNT, "ada@example.com")

    # Then all 30 come back unchanged, newest first
    assert newest == sorted([*records, failed], key=lambda r: r.at, reverse=True)
    assert newest[-1] == failed
    assert newest[-1].superoffice is None


def test_limit_and_partitioning(table_name: str) -> None:
    # Given decisions for two contacts, and a contact item in the same partition
    log = DecisionLog(table_name)
    ContactStore(table_name).put_new(Contact(account_id=ACCOUNT, email="one@example.com"))
    log.append_for_contacts(ACCOUNT, {"one@example.com": [_record(m) for m in range(5)]})
    log.append_for_contacts(ACCOUNT, {"two@example.com": [_record(100)]})
    assert log.requests["PutItem"] == 1

    # Then each contact sees only its own decisions, never the contact item, limited and newest first
    assert [r.at for r in log.for_contact(ACCOUNT, "one@example.com", limit=2)] == [
        T0 + timedelta(minutes=4),
        T0 + timedelta(minutes=3),
    ]
    assert len(log.for_contact(ACCOUNT, "one@example.com")) == 5
    assert [r.at for r in log.for_contact(ACCOUNT, "two@example.com")] == [T0 + timedelta(minutes=100)]
    assert log.for_contact("other", "one@example.com") == []


def test_same_instant_and_purpose_are_both_kept(table_name: str) -> None:
    log = DecisionLog(table_name)
    log.append_for_contacts(ACCOUNT, {"same@example.com": [_record(1), _record(1)]})
    assert len(log.for_contact(ACCOUNT, "same@example.com")) == 2


def test_limit_must_be_positive(table_name: str) -> None:
    with pytest.raises(ValueError, match="limit"):
        DecisionLog(table_name).for_contact(ACCOUNT, "x@example.com", limit=0)


def test_a_chunk_of_contacts_is_logged_in_few_requests(table_name: str) -> None:
    # Given 60 contacts with two decisions each (one reconcile chunk)
    log = DecisionLog(table_name)
    emails = [f"c{i}@example.com" for i in range(60)]

    # When they are logged together
    log.append_for_contacts(ACCOUNT, {e: [_record(1, Purpose.STORE), _record(1)] for e in emails})

    # Then 120 items took ceil(120 / 25) requests, and each contact has its two
    assert log.requests == {"BatchWriteItem": 5}
    assert all(len(log.for_contact(ACCOUNT, e)) == 2 for e in emails)


def test_an_accounts_decisions_of_a_period_come_from_one_index_query(table_name: str) -> None:
    # Given decisions of two contacts of the account, and one of another account, at minutes 0..5
    log = DecisionLog(table_name)
    log.append_for_contacts(
        "period", {"a@example.com": [_record(0), _record(3)], "b@example.com": [_record(1), _record(5)]}
    )
    log.append_for_contacts("period-other", {"a@example.com": [_record(2)]})
    log.requests.clear()

    # When the period [minute 1, minute 5) is read, then exactly its decisions, oldest first, by e-mail
    found = list(log.for_account("period", T0 + timedelta(minutes=1), T0 + timedelta(minutes=5)))
    assert [(email, record.at) for email, record in found] == [
        ("b@example.com", T0 + timedelta(minutes=1)),
        ("a@example.com", T0 + timedelta(minutes=3)),
    ]
    assert log.requests == {"Query": 1}
    # and an open bound reads to the end (or from the start)
    assert len(list(log.for_account("period", since=T0 + timedelta(minutes=3)))) == 2
    assert len(list(log.for_account("period", until=T0 + timedelta(minutes=1)))) == 1
    assert [r for _, r in log.for_account("period")] == sorted(
        [_record(0), _record(1), _record(3), _record(5)], key=lambda r: r.at
    )
