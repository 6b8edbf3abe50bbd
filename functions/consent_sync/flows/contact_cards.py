"""The contact cards an import created or updated, for `Import Completed`'s `contacts_uri`.

Chunks are imported by many workers, in any order, any of them delivered again. Each chunk writes
one part, ``contacts/<account>/<import>/parts/<chunk no>.jsonl``, with the cards of its members,
before it is counted into the job: a redelivered chunk counts its members as the first processing
did (``ImportMark``) and so writes the same part again, and a chunk counted is a chunk whose part
exists. When the job completes, its announcement (``completion.announce``, from the outbox, so also
by the sweep after a crash) assembles the parts in chunk order into
``contacts/<account>/<import>.jsonl`` (a contact met in two chunks once, as its first part has it)
and names it in the event; assembling again writes the same file. A chunk that went to the
dead-letter queue has no part: its members are the import's `failed`. Parts stay beside the file
until the bucket's lifecycle expires both (`ArtifactRetentionDays`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from consent_sync.domain.contact import Contact, ImportOutcome
from consent_sync.domain.jobs import Job
from consent_sync.domain.vocabulary import Purpose
from consent_sync.store.artifacts import list_keys, put_lines, read_json_lines, upload_lines


def parts_prefix(account_id: str, import_id: str) -> str:
    """Where the chunks of an import keep their parts."""
    return f"contacts/{account_id}/{import_id}/parts/"


def cards_key(account_id: str, import_id: str) -> str:
    """The assembled file of an import's contact cards."""
    return f"contacts/{account_id}/{import_id}.jsonl"


def card(contact: Contact, outcome: ImportOutcome) -> dict[str, Any]:
    """One contact card as the platform creates it: name, company, e-mail, mobile, the SuperOffice
    person, and both consents (``null`` when absent)."""
    names = [n for n in (contact.card.first_name, contact.card.last_name) if n]
    return {
        "email": contact.email,
        "outcome": outcome.value,
        "first_name": contact.card.first_name,
        "last_name": contact.card.last_name,
        "name": " ".join(names) or None,
        "company": contact.card.company,
        "mobile": contact.card.mobile,
        "superoffice_person_id": contact.superoffice_person_id,
        "consents": {
            purpose.value: None
            if (consent := contact.consents.get(purpose)) is None
            else {
                "legal_base": consent.legal_base,
                "active": consent.active,
                "source": consent.source,
                "changed_at": consent.changed_at.isoformat(),
                "changed_in": consent.changed_in.value,
            }
            for purpose in Purpose
        },
    }


def outcome_of(outcomes: Iterable[ImportOutcome]) -> ImportOutcome | None:
    """What the import did to the card: created, updated, or nothing (only duplicates of it met)."""
    seen = set(outcomes)
    for outcome in (ImportOutcome.CREATED, ImportOutcome.UPDATED):
        if outcome in seen:
            return outcome
    return None


def write_part(
    bucket: str, account_id: str, import_id: str, chunk_no: int, cards: list[dict[str, Any]]
) -> str:
    """The chunk's part (written whole, again on a redelivery)."""
    return put_lines(bucket, f"{parts_prefix(account_id, import_id)}{chunk_no:06d}.jsonl", cards)


def assemble(bucket: str, job: Job) -> str:
    """One file of the cards of every counted chunk of the import; its s3:// URI."""
    account_id, import_id = job.account_id, job.job_id

    def cards() -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        for key in list_keys(bucket, parts_prefix(account_id, import_id)):
            for row in read_json_lines(bucket, key):
                if row["email"] not in seen:
                    seen.add(row["email"])
                    yield row

    return upload_lines(bucket, cards_key(account_id, import_id), cards())
