"""Importing a selection or a project through the real functions on the local stack and the simulator,
and a chunk that fails: retried by SQS, and given up on its last delivery (dead-letter queue)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import boto3

from consent_sync.domain.consent import WITHDRAWN, ConsentState
from consent_sync.domain.contact import Contact, StoredConsent
from consent_sync.domain.emails import validate_email
from consent_sync.domain.vocabulary import Purpose, Side
from consent_sync.store.contacts import ContactStore
from tests.integration.importing.conftest import (
    Importer,
    expected_summary,
    project_persons,
    selection_persons,
    summary,
)

EDGE_CASES = 3  # the seeded selection and project of duplicates, persons without e-mail, quoted names
NEWSLETTER = 1


def test_a_selection_becomes_contacts_with_duplicates_and_skips_reported(importer: Importer) -> None:
    sim = importer.simulator
    # Given the edge-case selection, where one member's address is not an e-mail address at all
    persons = selection_persons(sim, EDGE_CASES)
    broken = next(
        p
        for p in persons
        if sim.control.person(p)["primary_email"]  # type: ignore[index]
        and len(sim.control.persons_by_email(sim.control.person(p)["primary_email"])) == 1  # type: ignore[index]
    )
    sim.control.set_email(broken, "not an address@example.com")
    account = importer.account("sel-edge", sync=False)
    completions = importer.stack.catch_outgoing(["Import Completed"])
    expected = expected_summary(sim, persons)
    # (the seed has both duplicates and persons without e-mail)
    assert expected["duplicates"] > 0
    assert expected["skipped"]["no_email"] > 0
    sim.control.reset_counts()

    # When the selection is imported
    job = importer.run(account, "selection", EDGE_CASES)

    # Then every member is counted once, by what happened to it
    assert summary(job) == expected
    assert job.skipped["invalid_email"] == 1
    # with one bulk read of the persons, one search of their addresses across SuperOffice (for older
    # duplicates outside the selection), one read of their consent rows, and no write to SuperOffice
    counts = sim.control.counts()
    assert counts["GET /Selection/{id}/Members"] == 1
    assert counts["GET /Archive/Person"] == 2
    assert counts["GET /Archive/dynamic"] == 1
    assert not any(key.startswith("PUT") for key in counts)
    # and the platform hears of it
    (event,) = completions.take("Import Completed")
    assert event["import_id"] == job.job_id
    assert {k: event[k] for k in ("status", "members", "created", "updated", "duplicates", "failed")} == {
        k: expected[k] for k in ("status", "members", "created", "updated", "duplicates", "failed")
    }
    assert (
        event["skipped"]
        == {"no_email": 0, "invalid_email": 0, "no_emarketing_consent": 0} | expected["skipped"]
    )


def test_duplicates_link_the_oldest_person_and_flag_a_different_legal_base(importer: Importer) -> None:
    sim = importer.simulator
    # Given a selection with persons sharing an address in another letter case
    account = importer.account("sel-dupes", sync=False)
    persons = selection_persons(sim, EDGE_CASES)
    by_email: dict[str, list[int]] = {}
    for person_id in persons:
        address = sim.control.person(person_id)["primary_email"]  # type: ignore[index]
        if address and " " not in address:
            by_email.setdefault(address.lower(), []).append(person_id)

    def emarketing(person_id: int) -> str | None:
        return (sim.control.consent(person_id, "EMARKETING") or {}).get("LegalBaseKey")

    # (the seed makes half of its duplicates disagree with the original on e-marketing)
    email, pair = next(
        (e, ids) for e, ids in by_email.items() if len(ids) == 2 and emarketing(ids[0]) != emarketing(ids[1])
    )
    oldest, younger = sorted(pair, key=lambda p: (sim.control.person(p)["registered"], p))  # type: ignore[index]

    # When it is imported
    job = importer.run(account, "selection", EDGE_CASES)

    # Then one contact stands for both: linked to the oldest, the other listed as a duplicate
    contact = importer.contact(account, email)
    assert contact.superoffice_person_id == oldest
    assert contact.duplicate_person_ids == [younger]
    assert contact.card.email_display == sim.control.person(oldest)["primary_email"]  # type: ignore[index]
    # carrying the oldest person's consents with SuperOffice's change times
    for purpose in Purpose:
        row = sim.control.consent(oldest, purpose.value)
        stored = contact.consents.get(purpose)
        if row is None:
            assert stored is None
        else:
            assert stored is not None
            assert (stored.legal_base, stored.changed_in) == (row["LegalBaseKey"], Side.SUPEROFFICE)
            changed = max(row["Registered"], row["Updated"])
            assert stored.changed_at == datetime.fromisoformat(changed).replace(tzinfo=UTC)
    # and a duplicate that disagrees on e-marketing is flagged in the decision log and the counters
    emarketing_log = [r for r in importer.decisions(account, email) if r.purpose is Purpose.EMARKETING]
    assert [r.duplicate_conflicts for r in emarketing_log] == [[younger]]
    assert job.counters["duplicate_conflicts"] > 0
    assert all(r.trigger.value == "import" for r in importer.decisions(account, email))


def test_a_withdrawn_person_is_kept_as_a_suppressed_contact(importer: Importer) -> None:
    sim = importer.simulator
    account = importer.account("sel-withdrawn", sync=False)
    # Given a member whose e-marketing is withdrawn in SuperOffice
    person = next(
        p
        for p in selection_persons(sim, NEWSLETTER)
        if sim.control.person(p)["primary_email"]
        and len(sim.control.persons_by_email(sim.control.person(p)["primary_email"])) == 1  # type: ignore[index]
    )
    sim.control.set_consent(person, "EMARKETING", WITHDRAWN, at=datetime(2025, 1, 2, tzinfo=UTC))
    # When the selection is imported
    importer.run(account, "selection", NEWSLETTER)
    # Then the contact exists, suppressed, with SuperOffice's withdrawal and its time
    contact = importer.contact(account, sim.control.person(person)["primary_email"])  # type: ignore[index]
    assert contact.suppressed
    assert contact.consents[Purpose.EMARKETING].changed_at == datetime(2025, 1, 2, tzinfo=UTC)
    assert contact.consents[Purpose.EMARKETING].changed_in is Side.SUPEROFFICE


def test_a_project_with_the_emarketing_filter_then_without(importer: Importer) -> None:
    sim = importer.simulator
    account = importer.account("proj-filter", sync=False)
    persons = project_persons(sim, EDGE_CASES)
    filtered = expected_summary(sim, persons, only_emarketing=True)
    # When the project is imported (keyset-paged members), e-marketing-consented persons only
    job = importer.run(account, "project", EDGE_CASES, only_emarketing=True)
    # Then the others are skipped as such
    assert summary(job) == filtered
    assert filtered["skipped"]["no_emarketing_consent"] > 0
    # When it is imported again without the filter, the rest come in and the first ones are updated
    again = importer.run(account, "project", EDGE_CASES)
    unfiltered = expected_summary(sim, persons)
    assert summary(again)["created"] == unfiltered["created"] - filtered["created"]
    assert summary(again)["updated"] == filtered["created"]
    assert summary(again)["skipped"] == unfiltered["skipped"]


def test_known_contacts_keep_a_newer_platform_withdrawal_and_take_a_newer_superoffice_change(
    importer: Importer,
) -> None:
    sim = importer.simulator
    account = importer.account("known", sync=True)
    persons = [
        p
        for p in selection_persons(sim, NEWSLETTER)
        if sim.control.person(p)["primary_email"]
        and len(sim.control.persons_by_email(sim.control.person(p)["primary_email"])) == 1  # type: ignore[index]
    ]
    newer_on_platform, older_on_platform = persons[0], persons[1]
    so_time = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)
    for person in (newer_on_platform, older_on_platform):
        sim.control.set_consent(person, "EMARKETING", "61A", source="WEBFORM", at=so_time)
    store = ContactStore(importer.table)
    # Given two contacts the platform knows: one unsubscribed after SuperOffice's opt-in, one whose
    # platform opt-in predates SuperOffice's change
    email_newer = validate_email(sim.control.person(newer_on_platform)["primary_email"])  # type: ignore[index]
    email_older = validate_email(sim.control.person(older_on_platform)["primary_email"])  # type: ignore[index]
    unsubscribed = so_time + timedelta(days=30)
    store.put_new(platform_contact(account, email_newer, WITHDRAWN, unsubscribed))
    store.put_new(platform_contact(account, email_older, "61F", so_time - timedelta(days=30)))
    sim.control.reset_counts()

    # When the selection is imported (sync on)
    job = importer.run(account, "selection", NEWSLETTER)

    # Then the newer platform withdrawal survives the import and reaches SuperOffice
    kept = importer.contact(account, email_newer)
    assert kept.consents[Purpose.EMARKETING].legal_base == WITHDRAWN
    assert kept.consents[Purpose.EMARKETING].changed_in is Side.PLATFORM
    assert kept.superoffice_person_id == newer_on_platform
    assert sim.control.consent(newer_on_platform, "EMARKETING")["LegalBaseKey"] == WITHDRAWN  # type: ignore[index]
    (push,) = [r for r in importer.decisions(account, email_newer) if r.purpose is Purpose.EMARKETING]
    assert (push.action, push.winner, push.trigger.value) == ("push", Side.PLATFORM, "import")
    assert "consent-sync" in sim.control.consent(newer_on_platform, "EMARKETING")["Comment"]  # type: ignore[index]
    # and the older platform state takes SuperOffice's, with SuperOffice's time
    taken = importer.contact(account, email_older)
    assert taken.consents[Purpose.EMARKETING].legal_base == "61A"
    assert taken.consents[Purpose.EMARKETING].changed_at == so_time
    assert taken.consents[Purpose.EMARKETING].changed_in is Side.SUPEROFFICE
    (pull,) = [r for r in importer.decisions(account, email_older) if r.purpose is Purpose.EMARKETING]
    assert (pull.action, pull.winner) == ("pull", Side.SUPEROFFICE)
    # both count as updated, and exactly one consent was written to SuperOffice
    assert job.counters["updated"] == 2
    assert sim.control.counts()["PUT /Person/{id}/Consent/{purpose}"] == 1


def test_an_unknown_selection_is_refused_and_the_job_says_why(importer: Importer) -> None:
    account = importer.account("unknown-source", sync=False)
    detail = importer.request(account, "selection", 987654)
    importer.platform.send("Import Requested", detail)
    importer.stack.runtime.drain()
    (rejected,) = importer.platform.dead_letters()
    assert rejected["reason"] == "unknown_source"
    job = importer.job(account, detail["import_id"])
    assert (job.status.value, job.error) == ("failed", "SuperOffice has no selection 987654")


def platform_contact(account_id: str, email: str, legal_base: str, at: datetime) -> Contact:
    state = ConsentState(legal_base=legal_base, source="WEBFORM", changed_at=at)
    return Contact(
        account_id=account_id,
        email=email,
        consents={Purpose.EMARKETING: StoredConsent.of(state, Side.PLATFORM)},
    )


def reconcile_failures(importer: Importer) -> int:
    """Reconcile invocations that failed a record (all failed: Powertools fails the whole invocation)."""
    return sum(
        1
        for invocation in importer.stack.runtime.invocations("ReconcileFunction")
        if invocation.error is not None or (invocation.result or {}).get("batchItemFailures")
    )


def test_a_chunk_that_fails_twice_then_succeeds_counts_once(importer: Importer) -> None:
    sim = importer.simulator
    account = importer.account("flaky", sync=False)
    detail = importer.request(account, "selection", NEWSLETTER)
    # Given an import whose chunk waits on the queue
    importer.start(detail)
    # When SuperOffice is down for the chunk's first two deliveries
    sim.control.set_faults(outage_s=math.inf, retry_after_s=120)
    before = reconcile_failures(importer)
    importer.stack.runtime.pump_once()
    importer.stack.runtime.pump_once()
    assert reconcile_failures(importer) == before + 2
    assert importer.job(account, detail["import_id"]).status.value == "running"
    # and back for the third, SQS's redelivery coming after the pause SuperOffice asked every worker
    # for (the queue's visibility timeout is longer than Retry-After: 120)
    sim.control.clear_faults()
    importer.stack.forget_tenant_budgets()
    importer.stack.runtime.drain()
    # Then the import completes as if nothing had happened
    job = importer.job(account, detail["import_id"])
    assert (job.status.value, job.failed) == ("completed", 0)
    assert (
        job.counters["created"] + job.counters["duplicates"] + sum(job.skipped.values())
        == job.meta["members"]
    )
    assert job.meta["members"] == len(selection_persons(sim, NEWSLETTER))


def test_a_chunk_that_always_fails_goes_to_the_dead_letter_queue(importer: Importer) -> None:
    sim = importer.simulator
    account = importer.account("broken", sync=False)
    completions = importer.stack.catch_outgoing(["Import Completed"])
    detail = importer.request(account, "selection", NEWSLETTER)
    importer.start(detail)
    # When SuperOffice stays down for every delivery of the chunk
    sim.control.set_faults(outage_s=math.inf, retry_after_s=120)
    try:
        importer.stack.runtime.drain()
    finally:
        sim.control.clear_faults()
        importer.stack.forget_tenant_budgets()
    # Then the chunk's members are failed, the import ends with errors and says so
    members = len(selection_persons(sim, NEWSLETTER))
    job = importer.job(account, detail["import_id"])
    assert (job.status.value, job.failed, job.failed_chunks) == ("completed_with_errors", members, [0])
    (event,) = completions.take("Import Completed")
    assert (event["status"], event["members"], event["failed"], event["created"]) == (
        "completed_with_errors",
        members,
        members,
        0,
    )
    # and the message waits in the reconcile dead-letter queue for an operator
    sqs = boto3.client("sqs", endpoint_url=importer.stack.endpoint_url, region_name="eu-west-1")
    dlq = importer.stack.outputs["ReconcileDeadLetterQueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert f'"id":"{detail["import_id"]}"' in message["Body"]
    # Redriven after the outage, it is processed but changes no count: the chunk was counted failed
    sqs.send_message(QueueUrl=importer.stack.outputs["ReconcileQueueUrl"], MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
    importer.stack.runtime.drain()
    assert importer.job(account, detail["import_id"]).counters == job.counters


def test_an_older_duplicate_met_later_takes_its_own_states_not_the_younger_ones(importer: Importer) -> None:
    # Given two persons: the younger with e-marketing 61A, the older with no e-marketing row at all and,
    # at first, another address; each in a selection of its own
    control = importer.simulator.control
    long_ago = datetime(2019, 1, 1, tzinfo=UTC)
    older = control.create_person("Ada", "Older", "ada.elsewhere@example.com", registered_at=long_ago)
    younger = control.create_person(
        "Ada", "Younger", "Shared.Person@example.com", registered_at=long_ago + timedelta(days=400)
    )
    control.set_consent(younger, "EMARKETING", "61A", source="WEBFORM", at=long_ago + timedelta(days=500))
    account = importer.account("relink")
    # When the younger one's selection is imported first, then the older one's
    importer.run(account, "selection", control.create_selection([younger]))
    assert (
        importer.contact(account, "shared.person@example.com").consents[Purpose.EMARKETING].legal_base
        == "61A"
    )
    # and the older person takes the younger one's address later (an e-mail edit fires nothing)
    control.set_email(older, "shared.person@example.com")
    importer.run(account, "selection", control.create_selection([older]))
    # Then the contact follows the older person: linked to it, without the younger one's e-marketing,
    # and nothing was written to the older person in SuperOffice
    contact = importer.contact(account, "shared.person@example.com")
    assert contact.superoffice_person_id == older
    assert contact.duplicate_person_ids == [younger]
    assert Purpose.EMARKETING not in contact.consents
    assert control.consent(older, "EMARKETING") is None
    # And the conflicting duplicate is on the record
    assert any(
        younger in r.duplicate_conflicts for r in importer.decisions(account, "shared.person@example.com")
    )
