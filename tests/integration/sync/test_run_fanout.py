"""The sync run's fan-out and the recording of platform changes, through the real handlers on the local
stack and the simulator. The reconcile queue is read by the test (never drained into the worker), so
these tests show exactly what a run queues, whatever the worker does with it."""

from __future__ import annotations

import math
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from consent_sync.domain.consent import ConsentState
from consent_sync.domain.contact import Contact, StoredConsent
from consent_sync.domain.vocabulary import Purpose, Side
from consent_sync.events import ContactConsentChanged, ReconcileChunk
from consent_sync.flows.platform_change import record_change
from consent_sync.store.contacts import ContactStore, VersionConflict
from devtools.local import LocalStack
from tests.integration.sync.conftest import Outgoing, People, SyncWorld


def envelope(detail_type: str, detail: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "marketing.platform",
        "account": "123456789012",
        "time": datetime.now(UTC).isoformat(),
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }


def invoke(world: SyncWorld, function: str, event: dict[str, Any]) -> Any:
    return world.stack.runtime.invoke(function, event)


def queued_chunks(stack: LocalStack, queue: str = "ReconcileQueueUrl") -> list[ReconcileChunk]:
    """Take every chunk waiting on the bulk reconcile queue (or the `InteractiveQueueUrl` one)."""
    sqs = boto3.client("sqs", endpoint_url=stack.endpoint_url, region_name="eu-west-1")
    url = stack.outputs[queue]
    chunks: list[ReconcileChunk] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return chunks
        for message in messages:
            chunks.append(ReconcileChunk.model_validate_json(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture(autouse=True)
def _queues_empty(world: SyncWorld) -> None:
    """Each test reads exactly what it queued: nothing an earlier test left on either queue."""
    queued_chunks(world.stack)
    queued_chunks(world.stack, "InteractiveQueueUrl")


def process(world: SyncWorld, chunks: list[ReconcileChunk]) -> None:
    """Put taken chunks back on the reconcile queue and let the worker process them."""
    sqs = boto3.client("sqs", endpoint_url=world.stack.endpoint_url, region_name="eu-west-1")
    for chunk in chunks:
        sqs.send_message(
            QueueUrl=world.stack.outputs["ReconcileQueueUrl"], MessageBody=chunk.model_dump_json()
        )
    world.drain()


def platform_consent(account_id: str, legal_base: str, at: datetime, pending: bool) -> dict[str, Any]:
    state = ConsentState(legal_base=legal_base, source="WEBFORM", changed_at=at)
    return {
        "consents": {Purpose.EMARKETING: StoredConsent.of(state, Side.PLATFORM)},
        "pending": {Purpose.EMARKETING: state} if pending else {},
    }


def put_platform_contact(
    world: SyncWorld,
    account_id: str,
    email: str,
    at: datetime,
    *,
    pending: bool,
    person_id: int | None = None,
) -> None:
    world.contacts.put_new(
        Contact(
            account_id=account_id,
            email=email,
            superoffice_person_id=person_id,
            **platform_consent(account_id, "WITHDRAWN", at, pending),
        )
    )


def test_an_incremental_run_queues_changed_persons_and_platform_contacts_then_moves_the_watermark(
    world: SyncWorld, people: People
) -> None:
    # Given an account with sync on whose last run left its watermark an hour ago
    account = "fan-incremental"
    world.store_settings(account)
    now = datetime.now(UTC).replace(microsecond=0)
    watermark = now - timedelta(hours=1)
    world.accounts.advance_sync_watermark(account, watermark, "earlier-run")
    # and SuperOffice changes: Store-and-process only, inside the overlap, and before it
    store_only, in_overlap, too_old = (people.take()[0] for _ in range(3))
    world.simulator.control.set_consent(store_only, "STORE", "WITHDRAWN")
    world.simulator.control.set_consent(in_overlap, "EMARKETING", "61A", at=watermark - timedelta(minutes=4))
    world.simulator.control.set_consent(too_old, "EMARKETING", "61A", at=watermark - timedelta(minutes=6))
    # and platform contacts: changed since the bound, pending, both, and changed long before
    changed, owed, both, quiet = (people.take()[1] for _ in range(4))
    put_platform_contact(world, account, changed, now - timedelta(minutes=10), pending=False)
    put_platform_contact(world, account, owed, now - timedelta(days=30), pending=True)
    put_platform_contact(world, account, both, now - timedelta(minutes=3), pending=True)
    put_platform_contact(world, account, quiet, watermark - timedelta(hours=2), pending=False)

    # When a sync is requested
    before = datetime.now(UTC)
    answer = invoke(
        world, "ScheduledSyncFunction", envelope("Sync Requested", {"account_id": account, "run_id": "r1"})
    )
    after = datetime.now(UTC)

    # Then the run is queued: SuperOffice's persons by id, the platform's contacts by e-mail, each once
    (run,) = answer["runs"]
    assert (run["run_id"], run["kind"], run["status"]) == ("r1", "requested", "queued")
    chunks = queued_chunks(world.stack)
    assert {(c.account_id, c.trigger, c.job.kind, c.job.id) for c in chunks} == {
        (account, "requested", "run", "r1")
    }
    assert sorted(c.job.chunk_no for c in chunks) == list(range(len(chunks)))
    persons = [p for c in chunks for p in c.person_ids]
    emails = [e for c in chunks for e in c.emails]
    assert {store_only, in_overlap} <= set(persons)
    assert too_old not in persons
    assert sorted(emails) == sorted([changed, owed, both])
    assert len(persons) == len(set(persons))
    # and the job knows its total; the watermark stays until the run is done
    job = world.run(account, "r1")
    assert job.total_chunks == len(chunks) == run["chunks"]
    assert job.meta["kind"] == "requested"
    assert world.accounts.sync_watermark(account) == watermark
    # When its chunks are reconciled, the watermark moves to when the SuperOffice query started
    process(world, chunks)
    moved = world.accounts.sync_watermark(account)
    assert moved is not None
    assert before <= moved <= after

    # When the same event is delivered again (Lambda's retry), nothing is queued twice
    again = invoke(
        world, "ScheduledSyncFunction", envelope("Sync Requested", {"account_id": account, "run_id": "r1"})
    )
    assert again["runs"][0]["status"] == "already_queued"
    assert queued_chunks(world.stack) == []
    assert world.accounts.sync_watermark(account) == moved


def test_a_baseline_queues_every_linked_and_pending_contact_without_calling_superoffice(
    world: SyncWorld, people: People
) -> None:
    # Given an account with two linked contacts and one platform-only contact owing a push
    account = "fan-baseline"
    world.store_settings(account)
    (p1, e1), (p2, e2) = people.take(), people.take()
    world.link(account, p1, e1)
    world.link(account, p2, e2)
    unlinked = f"new-{uuid.uuid4().hex[:6]}@example.com"
    put_platform_contact(world, account, unlinked, datetime.now(UTC), pending=True)
    world.simulator.control.reset_counts()

    # When a baseline is requested
    answer = invoke(
        world,
        "ScheduledSyncFunction",
        envelope("Sync Requested", {"account_id": account, "baseline": True, "run_id": "b1"}),
    )

    # Then every one of them is queued by e-mail, and SuperOffice was not asked anything here
    assert answer["runs"][0]["kind"] == "baseline"
    chunks = queued_chunks(world.stack)
    assert {c.trigger for c in chunks} == {"baseline"}
    assert sorted(e for c in chunks for e in c.emails) == sorted([e1, e2, unlinked])
    assert [p for c in chunks for p in c.person_ids] == []
    assert world.superoffice_calls() == 0
    # and the first watermark is saved when the baseline is done
    assert world.accounts.sync_watermark(account) is None
    process(world, chunks)
    assert world.accounts.sync_watermark(account) is not None


def test_an_account_without_a_watermark_gets_a_baseline(world: SyncWorld, people: People) -> None:
    account = "fan-first-run"
    world.store_settings(account)
    person_id, email = people.take()
    world.link(account, person_id, email)
    answer = invoke(world, "ScheduledSyncFunction", envelope("Sync Requested", {"account_id": account}))
    assert answer["runs"][0]["kind"] == "baseline"
    assert [c.emails for c in queued_chunks(world.stack)] == [[email]]


def test_with_superoffice_down_the_run_fails_and_the_watermark_stays(
    world: SyncWorld, people: People
) -> None:
    # Given an account with a watermark and a change in SuperOffice
    account = "fan-outage"
    world.store_settings(account)
    watermark = datetime.now(UTC) - timedelta(minutes=30)
    world.accounts.advance_sync_watermark(account, watermark, "earlier-run")
    person_id, _ = people.take()
    world.simulator.control.set_consent(person_id, "EMARKETING", "WITHDRAWN")
    event = envelope("Sync Requested", {"account_id": account})

    # When SuperOffice is down during the run
    world.simulator.control.set_faults(outage_s=math.inf, retry_after_s=0)
    with pytest.raises(Exception, match="sync runs not queued for fan-outage"):
        invoke(world, "ScheduledSyncFunction", event)
    world.simulator.control.clear_faults()

    # Then nothing was queued and the watermark did not move
    assert queued_chunks(world.stack) == []
    assert world.accounts.sync_watermark(account) == watermark
    # When Lambda retries the event after recovery, the change is queued and the watermark moves
    answer = invoke(world, "ScheduledSyncFunction", event)
    assert answer["runs"][0]["status"] == "queued"
    chunks = queued_chunks(world.stack)
    assert person_id in [p for c in chunks for p in c.person_ids]
    process(world, chunks)
    moved = world.accounts.sync_watermark(account)
    assert moved is not None
    assert moved > watermark


def test_a_named_account_without_sync_completes_at_once_with_zeros_and_no_superoffice_call(
    world: SyncWorld, outgoing: Outgoing
) -> None:
    # Given an account with sync off and one with integration none
    world.store_settings("fan-sync-off", legal_basis_sync=False)
    world.store_settings("fan-none", integration="none", superoffice=None)
    outgoing.take("Sync Run Completed")
    world.simulator.control.reset_counts()

    # When a sync is asked for each
    for account in ("fan-sync-off", "fan-none"):
        answer = invoke(
            world,
            "ScheduledSyncFunction",
            envelope("Sync Requested", {"account_id": account, "run_id": "z1"}),
        )
        assert answer["runs"][0]["status"] == "completed"
        # Then the run is complete at once, with zeros
        job = world.run(account, "z1")
        assert (job.status.value, job.total_chunks) == ("completed", 0)

    # and announced, and nothing was asked of SuperOffice nor queued
    announced = sorted(outgoing.take("Sync Run Completed"), key=lambda d: d["account_id"])
    zeros = {"reconciled": 0, "pushed": 0, "pulled": 0, "unchanged": 0, "failed": 0}
    assert announced == [
        {"account_id": "fan-none", "run_id": "z1", "kind": "requested", **zeros},
        {"account_id": "fan-sync-off", "run_id": "z1", "kind": "requested", **zeros},
    ]
    assert world.superoffice_calls() == 0
    assert queued_chunks(world.stack) == []


def test_a_sync_for_an_unknown_account_is_rejected(world: SyncWorld) -> None:
    answer = invoke(world, "ScheduledSyncFunction", envelope("Sync Requested", {"account_id": "nobody-here"}))
    assert (answer["status"], answer["reason"]) == ("rejected", "unknown_account")
    world.platform.dead_letters()


def test_a_platform_change_is_recorded_and_its_push_queued_at_once(world: SyncWorld, people: People) -> None:
    # Given a linked contact in step with SuperOffice
    account = "fan-platform"
    world.store_settings(account)
    person_id, email = people.take()
    world.link(account, person_id, email)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    detail = {
        "account_id": account,
        "email": email.upper(),
        "purpose": "EMARKETING",
        "legal_base": "WITHDRAWN",
        "source": "WEBFORM",
        "comment": "Unsubscribed",
        "changed_at": at.isoformat(),
    }
    event = envelope("Contact Consent Changed", detail)

    # When the platform reports an unsubscribe
    answer = invoke(world, "PlatformConsentFunction", event)

    # Then the platform state is recorded with its time, owed to SuperOffice, and its push is queued
    assert answer == {"status": "recorded", "queued": True, "run_id": f"platform-{event['id']}"}
    contact = world.contact(account, email)
    consent = contact.consents[Purpose.EMARKETING]
    assert (consent.legal_base, consent.changed_at, consent.changed_in) == ("WITHDRAWN", at, Side.PLATFORM)
    assert contact.pending[Purpose.EMARKETING] == consent.state
    (chunk,) = queued_chunks(world.stack, "InteractiveQueueUrl")  # a push someone waits for
    assert (chunk.trigger, chunk.emails, chunk.person_ids) == ("platform", [email], [])
    assert (chunk.job.kind, chunk.job.id, chunk.job.chunk_no) == ("run", f"platform-{event['id']}", 0)

    # When the same event comes again, nothing is written; the push still owed is queued again
    version = contact.version
    assert invoke(world, "PlatformConsentFunction", event)["status"] == "unchanged"
    assert world.contact(account, email).version == version
    assert len(queued_chunks(world.stack, "InteractiveQueueUrl")) == 1

    # When an older change arrives late, it is ignored
    older = envelope(
        "Contact Consent Changed",
        {**detail, "legal_base": "61A", "changed_at": (at - timedelta(hours=1)).isoformat()},
    )
    assert invoke(world, "PlatformConsentFunction", older) == {
        "status": "ignored",
        "queued": False,
        "reason": "older_than_stored",
    }
    assert world.contact(account, email).consents[Purpose.EMARKETING].legal_base == "WITHDRAWN"
    assert queued_chunks(world.stack) == []


def test_a_change_for_an_unknown_email_creates_an_unlinked_contact(world: SyncWorld) -> None:
    account = "fan-platform-new"
    world.store_settings(account)
    email = f"opt-in-{uuid.uuid4().hex[:6]}@example.com"
    detail = {
        "account_id": account,
        "email": email,
        "purpose": "EMARKETING",
        "legal_base": "61A",
        "source": "WEBFORM",
        "changed_at": datetime.now(UTC).isoformat(),
    }
    assert (
        invoke(world, "PlatformConsentFunction", envelope("Contact Consent Changed", detail))["queued"]
        is True
    )
    contact = world.contact(account, email)
    assert (contact.linked, contact.consents[Purpose.EMARKETING].legal_base) == (False, "61A")
    assert [c.emails for c in queued_chunks(world.stack, "InteractiveQueueUrl")] == [[email]]


@pytest.mark.parametrize(
    "overrides", [{"legal_basis_sync": False}, {"integration": "none", "superoffice": None}]
)
def test_without_sync_a_platform_change_is_recorded_without_a_push(
    world: SyncWorld, people: People, overrides: dict[str, Any]
) -> None:
    account = f"fan-no-push-{overrides.get('integration', 'off')}"
    world.store_settings(account, **overrides)
    _, email = people.take()
    world.simulator.control.reset_counts()
    detail = {
        "account_id": account,
        "email": email,
        "purpose": "EMARKETING",
        "legal_base": "WITHDRAWN",
        "changed_at": datetime.now(UTC).isoformat(),
    }
    answer = invoke(world, "PlatformConsentFunction", envelope("Contact Consent Changed", detail))
    assert (answer["status"], answer["queued"]) == ("recorded", False)
    contact = world.contact(account, email)
    assert (contact.consents[Purpose.EMARKETING].legal_base, contact.pending) == ("WITHDRAWN", {})
    assert queued_chunks(world.stack) == []
    assert world.superoffice_calls() == 0


class RacingStore(ContactStore):
    """A store whose first read waits for the other thread's first read: both decide on one version."""

    def __init__(self, table: str, barrier: threading.Barrier) -> None:
        super().__init__(table)
        self.barrier = barrier
        self.raced = False
        self.conflicts = 0

    def get(self, account_id: str, email: str) -> Contact | None:
        contact = super().get(account_id, email)
        if not self.raced:
            self.raced = True
            self.barrier.wait(timeout=20)
        return contact

    def save(self, contact: Contact, expected_version: int | None = None) -> Contact:
        try:
            return super().save(contact, expected_version)
        except VersionConflict:
            self.conflicts += 1
            raise


def run_together(*work: Any) -> None:
    errors: list[BaseException] = []

    def guarded(target: Any) -> None:
        try:
            target()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(w,)) for w in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def test_two_writers_on_one_contact_at_once_lose_no_update(world: SyncWorld, people: People) -> None:
    # Given a linked contact, and two writers that both read it at the same version
    account = "fan-race"
    person_id, email = people.take()
    stored = world.link(account, person_id, email)
    barrier = threading.Barrier(2)
    platform_side, worker_side = RacingStore(world.table, barrier), RacingStore(world.table, barrier)
    at = datetime.now(UTC).replace(microsecond=0)
    unsubscribe = ContactConsentChanged(
        account_id=account, email=email, purpose=Purpose.EMARKETING, legal_base="WITHDRAWN", changed_at=at
    )
    pulled = StoredConsent.of(
        ConsentState(legal_base="WITHDRAWN", source="USER", changed_at=at), Side.SUPEROFFICE
    )

    def platform_change() -> None:
        record_change(platform_side, unsubscribe, syncs=True)

    def worker_decision() -> None:
        # A worker pulling SuperOffice's Store-and-process withdrawal: read, decide, conditional write,
        # and on a conflict read again and decide again (what the worker does).
        for _ in range(5):
            current = worker_side.get(account, email)
            assert current is not None
            try:
                worker_side.save(
                    current.model_copy(update={"consents": {**current.consents, Purpose.STORE: pulled}})
                )
                return
            except VersionConflict:
                continue
        raise AssertionError("the worker never got its write in")

    # When both write at once
    run_together(platform_change, worker_decision)

    # Then exactly one had to read again, and both changes are there
    assert platform_side.conflicts + worker_side.conflicts == 1
    after = world.contact(account, email)
    assert after.version == stored.version + 2
    assert after.consents[Purpose.STORE] == pulled
    assert after.consents[Purpose.EMARKETING].legal_base == "WITHDRAWN"
    assert after.pending[Purpose.EMARKETING].legal_base == "WITHDRAWN"


def test_two_platform_changes_on_one_contact_at_once_are_both_kept(world: SyncWorld, people: People) -> None:
    account = "fan-race-2"
    person_id, email = people.take()
    stored = world.link(account, person_id, email)
    barrier = threading.Barrier(2)
    stores = [RacingStore(world.table, barrier) for _ in range(2)]
    at = datetime.now(UTC).replace(microsecond=0)
    changes = [
        ContactConsentChanged(
            account_id=account, email=email, purpose=purpose, legal_base=base, changed_at=at
        )
        for purpose, base in ((Purpose.STORE, "61B"), (Purpose.EMARKETING, "61A"))
    ]
    run_together(
        *(lambda s=s, c=c: record_change(s, c, syncs=True) for s, c in zip(stores, changes, strict=True))
    )
    after = world.contact(account, email)
    assert sum(s.conflicts for s in stores) == 1
    assert after.version == stored.version + 2
    assert {p: after.consents[p].legal_base for p in Purpose} == {
        Purpose.STORE: "61B",
        Purpose.EMARKETING: "61A",
    }
    assert set(after.pending) == set(Purpose)
