"""ContactStore against DynamoDB (moto server): round trip, optimistic locking, indexes, batch reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consent_sync.domain.consent import WITHDRAWN, ConsentState
from consent_sync.domain.contact import Card, Contact, StoredConsent
from consent_sync.domain.vocabulary import Purpose, Side
from consent_sync.store import aws
from consent_sync.store.contacts import ContactExists, ContactStore, LinkedContact, StoreBusy, VersionConflict

ACCOUNT = "acme"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _stored(legal_base: str, at: datetime, side: Side, source: str | None = "WEB") -> StoredConsent:
    return StoredConsent(legal_base=legal_base, source=source, changed_at=at, changed_in=side)


def _contact(email: str, **fields: Any) -> Contact:
    return Contact(account_id=ACCOUNT, email=email, **fields)


def _get(store: ContactStore, email: str) -> Contact:
    contact = store.get(ACCOUNT, email)
    assert contact is not None
    return contact


def _raw_item(table_name: str, email: str) -> dict[str, Any]:
    key = {"pk": f"CONTACT#{ACCOUNT}#{email}", "sk": "CONTACT"}
    item: dict[str, Any] = aws.dynamodb_table(table_name).get_item(Key=key, ConsistentRead=True)["Item"]
    return item


def test_round_trip_keeps_every_field(table_name: str) -> None:
    # Given a contact with every field set, times with microseconds and a non-UTC offset
    store = ContactStore(table_name)
    contact = _contact(
        "  Ada.Lovelace@Example.COM ",
        card=Card(
            first_name="Ada",
            last_name="Lovelace",
            company="Analytical",
            email_display="Ada.Lovelace@Example.COM",
            mobile="+46 70 123",
        ),
        superoffice_person_id=42,
        created_at=T0,
        duplicate_person_ids=[77, 78],
        consents={
            Purpose.STORE: _stored("61A", T0 + timedelta(microseconds=123456), Side.SUPEROFFICE),
            Purpose.EMARKETING: StoredConsent(
                legal_base="61F",
                source=None,
                comment="opt-in form",
                changed_at=datetime(2025, 3, 2, 14, 0, tzinfo=UTC).astimezone(),
                changed_in=Side.PLATFORM,
            ),
        },
        pending={Purpose.EMARKETING: ConsentState(legal_base="61F", changed_at=T0)},
        last_reconciled_at=T0,
    )

    # When it is stored and read back
    stored = store.put_new(contact)
    read = _get(store, "ada.lovelace@example.com")

    # Then it is identical to what put_new returned, at version 1, with the e-mail normalised
    assert read == stored
    assert read.version == 1
    assert read.email == "ada.lovelace@example.com"
    assert read.consents[Purpose.EMARKETING].changed_at == datetime(2025, 3, 2, 14, 0, tzinfo=UTC)
    assert read.platform_changed_at == datetime(2025, 3, 2, 14, 0, tzinfo=UTC)
    assert stored.model_dump(exclude={"version", "updated_at", "platform_changed_at"}) == contact.model_dump(
        exclude={"version", "updated_at", "platform_changed_at"}
    )
    # And the item is the version (the lock's condition) and the contact as one JSON document, its
    # times in ISO UTC
    raw = _raw_item(table_name, "ada.lovelace@example.com")
    assert raw["version"] == 1
    document = json.loads(raw["contact"])
    assert document["consents"]["STORE"]["changed_at"] == "2025-03-01T12:00:00.123456Z"
    assert document["created_at"].endswith("Z")
    assert document["superoffice_person_id"] == 42
    assert document["version"] == 1


def test_a_contact_stored_as_native_attributes_is_still_read(table_name: str) -> None:
    # Given an item in the first format: each field a native DynamoDB value (no "contact" document)
    aws.dynamodb_table(table_name).put_item(
        Item={
            "pk": f"CONTACT#{ACCOUNT}#old@example.com",
            "sk": "CONTACT",
            "account_id": ACCOUNT,
            "email": "old@example.com",
            "superoffice_person_id": 7,
            "consents": {
                "EMARKETING": {
                    "legal_base": WITHDRAWN,
                    "changed_at": "2025-03-01T12:00:00.000000Z",
                    "changed_in": "superoffice",
                }
            },
            "version": 3,
            "created_at": "2025-03-01T12:00:00.000000Z",
            "updated_at": "2025-03-01T12:00:00.000000Z",
            "gsi2pk": f"LINKED#{ACCOUNT}",
            "gsi2sk": "000000000007",
        }
    )

    # When it is read, then saved
    store = ContactStore(table_name)
    old = _get(store, "old@example.com")
    assert old.version == 3
    assert old.superoffice_person_id == 7
    assert old.consents[Purpose.EMARKETING].legal_base == WITHDRAWN
    saved = store.save(old)

    # Then it is rewritten in the current form, nothing lost
    assert "contact" in _raw_item(table_name, "old@example.com")
    assert _get(store, "old@example.com") == saved
    assert saved.consents == old.consents


def test_get_unknown_is_none(table_name: str) -> None:
    assert ContactStore(table_name).get(ACCOUNT, "nobody@example.com") is None


def test_put_new_refuses_an_existing_contact(table_name: str) -> None:
    store = ContactStore(table_name)
    store.put_new(_contact("a@example.com"))
    with pytest.raises(ContactExists):
        store.put_new(_contact("A@example.com"))


def test_two_writers_of_one_version_cannot_both_win(table_name: str) -> None:
    # Given two workers that read the same version
    store = ContactStore(table_name)
    store.put_new(_contact("b@example.com"))
    first = _get(store, "b@example.com")
    second = _get(store, "b@example.com")

    # When both save a change based on it
    first.consents[Purpose.STORE] = _stored("61A", T0, Side.SUPEROFFICE)
    saved = store.save(first)
    second.consents[Purpose.EMARKETING] = _stored(WITHDRAWN, T0, Side.PLATFORM)
    with pytest.raises(VersionConflict) as conflict:
        store.save(second)

    # Then the second is refused and the first write is kept
    assert conflict.value.expected_version == 1
    assert saved.version == 2
    current = _get(store, "b@example.com")
    assert current == saved
    assert Purpose.EMARKETING not in current.consents

    # And re-reading then saving again keeps both changes (no lost update)
    current.consents[Purpose.EMARKETING] = _stored(WITHDRAWN, T0, Side.PLATFORM)
    final = store.save(current, expected_version=2)
    assert final.version == 3
    assert set(_get(store, "b@example.com").consents) == {Purpose.STORE, Purpose.EMARKETING}


def test_pending_index_is_sparse(table_name: str) -> None:
    store = ContactStore(table_name)
    owed = store.put_new(
        _contact("owed@example.com", pending={Purpose.STORE: ConsentState(legal_base="61A", changed_at=T0)})
    )
    store.put_new(_contact("settled@example.com"))
    assert list(store.pending(ACCOUNT)) == ["owed@example.com"]

    owed.pending.clear()
    store.save(owed)

    assert list(store.pending(ACCOUNT)) == []
    raw = _raw_item(table_name, "owed@example.com")
    assert "gsi3pk" not in raw
    assert "gsi3sk" not in raw


def test_person_index_follows_the_link(table_name: str) -> None:
    store = ContactStore(table_name)
    for email, person_id in [("p1@example.com", 1200), ("p2@example.com", 7), ("p3@example.com", None)]:
        store.put_new(_contact(email, superoffice_person_id=person_id))

    assert list(store.linked(ACCOUNT)) == [
        LinkedContact(7, "p2@example.com"),
        LinkedContact(1200, "p1@example.com"),
    ]
    assert [c.email for c in store.linked(ACCOUNT) if c.person_id == 1200] == ["p1@example.com"]
    assert _raw_item(table_name, "p1@example.com")["gsi2sk"] == "000000001200"

    # When the person is unlinked, the contact leaves the index
    unlinked = _get(store, "p1@example.com")
    store.save(unlinked.model_copy(update={"superoffice_person_id": None}))
    assert [c.email for c in store.linked(ACCOUNT) if c.person_id == 1200] == []
    assert [c.email for c in store.linked(ACCOUNT)] == ["p2@example.com"]
    # And another account's contacts never show
    assert list(ContactStore(table_name).linked("other")) == []


def test_changed_since_orders_and_bounds_platform_changes(table_name: str) -> None:
    store = ContactStore(table_name)
    for email, hours, side in [
        ("late@example.com", 3, Side.PLATFORM),
        ("early@example.com", 1, Side.PLATFORM),
        ("middle@example.com", 2, Side.PLATFORM),
        ("crm-only@example.com", 5, Side.SUPEROFFICE),
    ]:
        store.put_new(
            _contact(email, consents={Purpose.STORE: _stored("61A", T0 + timedelta(hours=hours), side)})
        )

    # Oldest first; SuperOffice-side changes are not platform changes; the bound is inclusive
    assert list(store.changed_since(ACCOUNT, T0)) == [
        "early@example.com",
        "middle@example.com",
        "late@example.com",
    ]
    assert list(store.changed_since(ACCOUNT, T0 + timedelta(hours=2))) == [
        "middle@example.com",
        "late@example.com",
    ]
    assert list(store.changed_since(ACCOUNT, T0 + timedelta(hours=3, microseconds=1))) == []

    # A later SuperOffice-side change replaces the consent but never moves the contact back
    late = _get(store, "late@example.com")
    late.consents[Purpose.STORE] = _stored("61B", T0 + timedelta(hours=4), Side.SUPEROFFICE)
    saved = store.save(late)
    assert saved.platform_changed_at == T0 + timedelta(hours=3)
    assert list(store.changed_since(ACCOUNT, T0 + timedelta(hours=3))) == ["late@example.com"]

    # A newer platform change moves it forward
    saved.consents[Purpose.EMARKETING] = _stored(WITHDRAWN, T0 + timedelta(hours=6), Side.PLATFORM)
    store.save(saved)
    assert list(store.changed_since(ACCOUNT, T0 + timedelta(hours=2))) == [
        "middle@example.com",
        "late@example.com",
    ]
    assert (
        _raw_item(table_name, "late@example.com")["gsi1sk"] == "2025-03-01T18:00:00.000000Z#late@example.com"
    )


def test_get_many_reads_in_batches_of_100(table_name: str) -> None:
    # Given 230 stored contacts
    store = ContactStore(table_name)
    emails = [f"user{i:03d}@example.com" for i in range(230)]
    for email in emails:
        store.put_new(_contact(email, superoffice_person_id=1000 + len(email)))

    # When 230 known, 20 unknown and some repeated (in another letter case) are asked for
    reader = ContactStore(table_name)
    asked = [*emails, *(f"missing{i}@example.com" for i in range(20)), "USER000@example.com"]
    found = reader.get_many(ACCOUNT, asked)

    # Then every stored one comes back, keyed by normalised e-mail, in ceil(250 / 100) requests
    assert sorted(found) == emails
    assert all(found[e].email == e for e in emails)
    assert reader.requests == {"BatchGetItem": 3}


def test_get_many_retries_unprocessed_keys(table_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a DynamoDB that leaves half the keys unprocessed the first time (throttling)
    store = ContactStore(table_name)
    for i in range(10):
        store.put_new(_contact(f"u{i}@example.com"))
    client = aws.dynamodb_table(table_name).meta.client
    real = client.batch_get_item
    calls: list[int] = []

    def throttled(RequestItems: dict[str, Any]) -> dict[str, Any]:
        keys = RequestItems[table_name]["Keys"]
        calls.append(len(keys))
        if len(calls) > 1:
            return real(RequestItems=RequestItems)
        response = real(RequestItems={table_name: {**RequestItems[table_name], "Keys": keys[:5]}})
        response["UnprocessedKeys"] = {table_name: {**RequestItems[table_name], "Keys": keys[5:]}}
        return response

    monkeypatch.setattr(client, "batch_get_item", throttled)
    monkeypatch.setattr("consent_sync.store.contacts.time.sleep", lambda _seconds: None)

    # When they are read
    found = store.get_many(ACCOUNT, [f"u{i}@example.com" for i in range(10)])

    # Then the unprocessed ones are asked for again, and all come back
    assert len(found) == 10
    assert calls == [10, 5]


def test_get_many_gives_up_loudly_under_sustained_throttling(
    table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ContactStore(table_name)
    client = aws.dynamodb_table(table_name).meta.client

    def never(RequestItems: dict[str, Any]) -> dict[str, Any]:
        return {"Responses": {table_name: []}, "UnprocessedKeys": RequestItems}

    monkeypatch.setattr(client, "batch_get_item", never)
    monkeypatch.setattr("consent_sync.store.contacts.time.sleep", lambda _seconds: None)
    with pytest.raises(StoreBusy):
        store.get_many(ACCOUNT, ["x@example.com"])
    assert store.requests["BatchGetItem"] == 9


def test_counts_are_index_counts_of_linked_unlinked_and_owed_contacts(table_name: str) -> None:
    # Given two linked contacts (one owing a push), a platform-only contact, and another account's contact
    store = ContactStore(table_name)
    owed = {Purpose.EMARKETING: ConsentState(legal_base=WITHDRAWN, changed_at=T0)}
    store.put_new(_contact("l1@example.com", superoffice_person_id=1, pending=owed))
    store.put_new(_contact("l2@example.com", superoffice_person_id=2))
    platform_only = store.put_new(_contact("u1@example.com"))
    store.put_new(Contact(account_id="other", email="o@example.com"))

    # Then the counts come from the indexes, without a scan
    store.requests.clear()
    counts = store.counts(ACCOUNT)
    assert (counts.linked, counts.unlinked, counts.pending, counts.total) == (2, 1, 1, 3)
    assert set(store.requests) == {"Query"}

    # And a contact that gets linked moves from one partition to the other
    store.save(platform_only.model_copy(update={"superoffice_person_id": 3}))
    assert store.counts(ACCOUNT)[:2] == (3, 0)
    assert store.counts("other") == (0, 1, 0)
