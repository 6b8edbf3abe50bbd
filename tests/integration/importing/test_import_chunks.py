"""An import in several chunks: counts that do not depend on which chunk meets a duplicate first, and a
chunk delivered twice (the same message, or the same body in a new message) that is counted once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from consent_sync.domain.vocabulary import Purpose
from consent_sync.store.contacts import ContactStore
from devtools.local import LocalStack, local_stack
from tests.integration.importing.conftest import Importer, expected_summary, selection_persons, summary

ROOT = Path(__file__).resolve().parents[3]
EDGE_CASES = 3
CHUNK_SIZE = 10


@pytest.fixture(scope="module")
def consent_stack() -> Iterator[LocalStack]:
    """The stack with small chunks, so the edge-case selection's duplicates fall into different chunks."""
    with local_stack(
        template=ROOT / "template.yaml",
        port=0,
        stack_name=f"cs-{uuid.uuid4().hex[:8]}",
        region="eu-west-1",
        parameters={"ChunkSize": CHUNK_SIZE},
        failed_visibility_timeout_s=0,
    ) as stack:
        yield stack


def test_duplicates_across_chunks_count_as_in_one_chunk(importer: Importer) -> None:
    sim = importer.simulator
    persons = selection_persons(sim, EDGE_CASES)
    # Given a selection whose duplicate pairs are split over chunks, one pair with the younger person
    # in an earlier chunk than the older one
    position = {person: index // CHUNK_SIZE for index, person in enumerate(persons)}
    pairs = [
        sorted(sim.control.persons_by_email(sim.control.person(p)["primary_email"]))  # type: ignore[index]
        for p in persons
        if sim.control.person(p)["primary_email"]  # type: ignore[index]
    ]
    older_later = [(a, b) for a, b in (p for p in pairs if len(p) == 2) if position[a] > position[b]]
    assert older_later, "the seed should put an older duplicate in a later chunk"
    account = importer.account("chunked", sync=False)
    # When it is imported
    job = importer.run(account, "selection", EDGE_CASES)
    # Then the counts are those of importing it in one piece
    assert job.total_chunks == -(-len(persons) // CHUNK_SIZE)
    assert summary(job) == expected_summary(sim, persons)
    # and the contact of the late older person is linked to it, the younger one a duplicate
    older, younger = older_later[0]
    email = sim.control.person(older)["primary_email"].lower()  # type: ignore[index]
    contact = importer.contact(account, email)
    assert (contact.superoffice_person_id, contact.duplicate_person_ids) == (older, [younger])
    # with the older person's consents
    row = sim.control.consent(older, "EMARKETING")
    stored = contact.consents.get(Purpose.EMARKETING)
    assert (stored.legal_base if stored else None) == (row["LegalBaseKey"] if row else None)


def test_a_chunk_delivered_twice_is_counted_once(importer: Importer) -> None:
    sim = importer.simulator
    account = importer.account("twice", sync=False)
    job = importer.run(account, "selection", EDGE_CASES)
    contacts = ContactStore(importer.table)
    invocations = importer.stack.runtime.invocations("ReconcileFunction")
    last = invocations[-1].event
    body = last["Records"][0]["body"]
    chunk = json.loads(body)
    emails = [
        sim.control.person(p)["primary_email"].lower()  # type: ignore[index]
        for p in chunk["person_ids"]
        if sim.control.person(p)["primary_email"]  # type: ignore[index]
    ]
    versions = {e: c.version for e, c in contacts.get_many(account, emails).items()}
    decisions = {e: len(importer.decisions(account, e)) for e in versions}
    sim.control.reset_counts()

    # When SQS hands the same message to the worker again
    importer.stack.runtime.invoke("ReconcileFunction", last)
    # Then the stored result answers: SuperOffice is not asked again
    assert importer.superoffice_requests() == 0

    # When the same chunk arrives again in a new message
    sqs = boto3.client("sqs", endpoint_url=importer.stack.endpoint_url, region_name="eu-west-1")
    sqs.send_message(QueueUrl=importer.stack.outputs["ReconcileQueueUrl"], MessageBody=body)
    importer.stack.runtime.drain()
    # Then it is processed, but neither the counts, nor the contacts, nor the decision log change
    again = importer.job(account, job.job_id)
    assert (again.counters, again.skipped, again.done_chunks) == (job.counters, job.skipped, job.done_chunks)
    assert {e: c.version for e, c in contacts.get_many(account, emails).items()} == versions
    assert {e: len(importer.decisions(account, e)) for e in versions} == decisions


def _contacts_file(importer: Importer, uri: str) -> list[dict[str, object]]:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    s3 = boto3.client("s3", endpoint_url=importer.stack.endpoint_url, region_name="eu-west-1")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def test_import_completed_names_a_file_of_exactly_the_cards_it_created_or_updated(importer: Importer) -> None:
    account = importer.account("chunked-cards", sync=False)
    completions = importer.stack.catch_outgoing(["Import Completed"])
    # When the selection is imported in several chunks
    job = importer.run(account, "selection", EDGE_CASES)
    (event,) = completions.take("Import Completed")
    assert job.total_chunks > 1
    # Then the event names one JSON-lines file holding every contact the import created, once each
    cards = _contacts_file(importer, event["contacts_uri"])
    emails = [card["email"] for card in cards]
    assert len(emails) == len(set(emails)) == event["created"] + event["updated"]
    assert {card["outcome"] for card in cards} == {"created"}
    stored = ContactStore(importer.table)
    for card in cards:
        contact = stored.get(account, str(card["email"]))
        assert contact is not None
        assert card["superoffice_person_id"] == contact.superoffice_person_id
        assert card["company"] == contact.card.company
        assert card["mobile"] == contact.card.mobile
        assert set(card["consents"]) == {"STORE", "EMARKETING"}  # type: ignore[arg-type]
        emarketing = contact.consents.get(Purpose.EMARKETING)
        assert card["consents"]["EMARKETING"] == (  # type: ignore[index]
            None if emarketing is None else {
                "legal_base": emarketing.legal_base, "active": emarketing.active, "source": emarketing.source,
                "changed_at": emarketing.changed_at.isoformat(), "changed_in": "superoffice",
            }
        )  # fmt: skip

    # When the same selection is imported again, then its file lists the same cards, now updated
    again = importer.run(account, "selection", EDGE_CASES)
    (second,) = completions.take("Import Completed")
    assert second["import_id"] == again.job_id
    updated = _contacts_file(importer, second["contacts_uri"])
    assert sorted(c["email"] for c in updated) == sorted(emails)  # type: ignore[type-var]
    assert {c["outcome"] for c in updated} == {"updated"}
