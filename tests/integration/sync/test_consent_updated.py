"""`Contact Consent Updated` for every pull, whatever triggered it, and never lost: an outbox written
with the contact, published by the worker, left-overs by the 30-minute sweep (docs/webhooks.md)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from consent_sync.store.aws import dynamodb_table
from consent_sync.store.contacts import stored_time
from consent_sync.store.updates import ConsentUpdates
from tests.integration.sync.conftest import Outgoing, People, SyncWorld
from tests.integration.sync.test_outbox import _schedule_event

UPDATED = "Contact Consent Updated"


def _account() -> str:
    return f"cu-{uuid.uuid4().hex[:6]}"


def _withdraw_in_superoffice(world: SyncWorld, person_id: int) -> None:
    world.simulator.control.set_consent(person_id, "EMARKETING", "WITHDRAWN", source="USER")


def _mine(outgoing: Outgoing, account: str) -> list[dict[str, Any]]:
    return [event for event in outgoing.take(UPDATED) if event["account_id"] == account]


def test_a_requested_run_announces_its_pull(world: SyncWorld, people: People, outgoing: Outgoing) -> None:
    account = _account()
    ((person_id, email),) = world.account_in_step(account, people, 1)
    outgoing.take(UPDATED)
    _withdraw_in_superoffice(world, person_id)
    world.request_sync(account)
    (event,) = _mine(outgoing, account)
    assert event["trigger"] == "requested"
    assert event["email"] == email
    assert event["legal_base"] == "WITHDRAWN"
    assert event["superoffice_person_id"] == person_id
    assert event["rule"]
    # and a run with nothing to pull announces nothing
    world.request_sync(account)
    assert _mine(outgoing, account) == []


def test_a_baseline_announces_what_it_pulls(world: SyncWorld, people: People, outgoing: Outgoing) -> None:
    account = _account()
    world.store_settings(account)
    person_id, email = people.take()
    world.simulator.control.set_consent(person_id, "EMARKETING", "61A", source="WEBFORM")
    world.link(account, person_id, email, in_step=False)
    outgoing.take(UPDATED)
    world.request_sync(account, baseline=True)
    events = _mine(outgoing, account)
    assert {(e["email"], e["purpose"], e["trigger"]) for e in events} >= {(email, "EMARKETING", "baseline")}


def test_a_sendout_check_announces_a_withdrawal_it_pulled(
    world: SyncWorld, people: People, outgoing: Outgoing
) -> None:
    account = _account()
    ((person_id, email),) = world.account_in_step(account, people, 1)
    outgoing.take(UPDATED)
    _withdraw_in_superoffice(world, person_id)
    world.platform.send(
        "Sendout Checklist",
        {"account_id": account, "sendout_id": "news-1", "channel": "email", "recipients": [email]},
    )
    world.drain()
    (event,) = _mine(outgoing, account)
    assert event["trigger"] == "presend"
    assert event["legal_base"] == "WITHDRAWN"


def test_an_import_announces_the_consents_of_the_contacts_it_creates(
    world: SyncWorld, outgoing: Outgoing
) -> None:
    account = _account()
    world.store_settings(account)
    selection = world.simulator.control.selection_ids()[0]
    outgoing.take(UPDATED)
    import_id = f"imp-{uuid.uuid4().hex[:6]}"
    world.platform.send(
        "Import Requested",
        {"account_id": account, "import_id": import_id, "source": {"kind": "selection", "id": selection}},
    )
    world.drain()
    events = _mine(outgoing, account)
    assert events
    assert {e["trigger"] for e in events} == {"import"}
    for event in events:
        contact = world.contact(account, event["email"])
        stored = contact.consents[event["purpose"]]
        assert stored.legal_base == event["legal_base"]
        assert contact.superoffice_person_id == event["superoffice_person_id"]


def test_updates_whose_publishing_failed_are_published_by_the_sweep(
    world: SyncWorld, people: People, outgoing: Outgoing, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = _account()
    ((person_id, email),) = world.account_in_step(account, people, 1)
    outgoing.take(UPDATED)
    # Given EventBridge refusing every Contact Consent Updated for a while
    original = BaseClient._make_api_call
    refused: list[int] = []

    def flaky(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        entries = params.get("Entries", []) if operation == "PutEvents" else []
        if any(e.get("DetailType") == UPDATED for e in entries):
            refused.append(len(entries))
            raise ClientError({"Error": {"Code": "InternalFailure", "Message": "down"}}, operation)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", flaky)
    _withdraw_in_superoffice(world, person_id)
    world.request_sync(account)
    # Then the pull is on the contact, its announcement refused and kept in the outbox
    assert world.contact(account, email).consents["EMARKETING"].legal_base == "WITHDRAWN"
    assert refused
    assert _mine(outgoing, account) == []
    waiting = [
        u
        for page in ConsentUpdates(world.table).waiting(before=datetime.now(UTC) + timedelta(hours=1))
        for u in page
    ]
    assert [(u.email, u.legal_base) for u in waiting if u.account_id == account] == [(email, "WITHDRAWN")]
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    # When the sweep runs, once the update is older than its grace period (the item is backdated)
    (left,) = [u for u in waiting if u.account_id == account]
    old = stored_time(datetime.now(UTC) - timedelta(minutes=10))
    dynamodb_table(world.table).update_item(
        Key=ConsentUpdates.key(left),
        UpdateExpression="SET gsi3sk = :old",
        ExpressionAttributeValues={":old": f"{old}#{left.update_id}"},
    )
    world.stack.runtime.invoke("ScheduledSyncFunction", _schedule_event())
    world.drain()
    # Then it is published once, and the outbox is empty
    events = _mine(outgoing, account)
    assert [(e["email"], e["legal_base"], e["update_id"]) for e in events] == [
        (email, "WITHDRAWN", left.update_id)
    ]
    assert not [
        u
        for page in ConsentUpdates(world.table).waiting(before=datetime.now(UTC))
        for u in page
        if u.account_id == account
    ]
