"""The send-out gate around the reconcile worker: fan the recipients out, write verdicts, merge them.

A check is a job of kind `sendout`. Each chunk reconciles its recipients (the worker, trigger
`presend`) and writes one verdict per recipient to S3; the chunk that completes the job merges the
chunk files into one results document and emits `Sendout Consent Checked`.

A recipient list in S3 is read only from the account's own place in the stack's artifacts bucket,
``s3://<bucket>/recipients/<account_id>/…``, and only within the limits of docs/events.md.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from consent_sync.config import FunctionConfig, get_config
from consent_sync.domain.contact import Contact
from consent_sync.domain.emails import normalise_email
from consent_sync.domain.errors import Rejected
from consent_sync.domain.gate import verdict_counters, verdicts_for
from consent_sync.domain.settings import AccountSettings, PresendFailurePolicy
from consent_sync.domain.vocabulary import JobKind
from consent_sync.events import (
    MAX_LIST_BYTES,
    MAX_LIST_LINE_BYTES,
    MAX_LIST_RECIPIENTS,
    MAX_RECIPIENT_LENGTH,
    JobRef,
    ReconcileChunk,
    SendoutRef,
    SendoutStage,
)
from consent_sync.flows.fanout import start_job
from consent_sync.observability import logger
from consent_sync.store.accounts import AccountStore
from consent_sync.store.artifacts import (
    ArtifactMissing,
    ListRefused,
    put_json,
    read_lines,
    split_uri,
    verdicts_prefix,
)
from consent_sync.store.contacts import ContactStore, VersionConflict
from consent_sync.store.freshness import FreshnessStore

# The emails of one reconcile chunk, as JSON, stay within this many bytes: ten chunks (one SQS
# SendMessageBatch) then stay below SQS's 256 KiB, whatever the recipients look like. Lists of
# ordinary addresses reach the chunk size long before.
MAX_CHUNK_EMAIL_BYTES = 24 * 1024


def recipients_prefix(account_id: str) -> str:
    """Where an account's recipient lists must be in the artifacts bucket."""
    return f"recipients/{account_id}/"


def recipients_of(request: SendoutStage, bucket: str) -> list[str]:
    """The recipients, normalised, each once, in first-seen order (inline list or S3 list).

    Raises `Rejected`: `recipients_forbidden` for a list outside ``s3://<bucket>/recipients/<account>/``,
    `recipients_too_large`, `recipients_line_too_long` or `recipients_too_many` beyond a limit,
    `recipients_unreadable` for a list that cannot be read.
    """
    raw: Iterable[str] = request.recipients if request.recipients is not None else _listed(request, bucket)
    try:
        return list(dict.fromkeys(normalise_email(r) for r in raw if r.strip()))
    except ListRefused as exc:
        raise Rejected(exc.reason, str(exc)) from exc
    except ArtifactMissing as exc:
        raise Rejected("recipients_unreadable", str(exc)) from exc


def _listed(request: SendoutStage, bucket: str) -> Iterator[str]:
    uri = request.recipients_uri or ""
    list_bucket, key = split_uri(uri)
    prefix = recipients_prefix(request.account_id)
    if list_bucket != bucket or not key.startswith(prefix) or key == prefix:
        raise Rejected(
            "recipients_forbidden",
            f"a recipient list must be in s3://{bucket}/{prefix}; the account may read no other",
        )
    for line in read_lines(
        uri, max_bytes=MAX_LIST_BYTES, max_line_bytes=MAX_LIST_LINE_BYTES, max_lines=MAX_LIST_RECIPIENTS
    ):
        if len(normalise_email(line)) > MAX_RECIPIENT_LENGTH:
            raise ListRefused(
                "recipients_line_too_long",
                f"a recipient of the list is longer than {MAX_RECIPIENT_LENGTH} characters",
            )
        yield line


def chunk_recipients(
    recipients: list[str], size: int, max_bytes: int = MAX_CHUNK_EMAIL_BYTES
) -> list[list[str]]:
    """`recipients` in chunks of at most `size`, each at most `max_bytes` as JSON (and never empty)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for email in recipients:
        cost = len(json.dumps(email, ensure_ascii=False).encode()) + 1
        if current and (len(current) >= size or used + cost > max_bytes):
            chunks.append(current)
            current, used = [], 0
        current.append(email)
        used += cost
    if current:
        chunks.append(current)
    return chunks


def check_id(request: SendoutStage) -> str:
    """A job id for this check; every check of a stage is its own job (repeated checks are allowed)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{request.sendout_id}.{request.stage.value}.{stamp}.{uuid.uuid4().hex[:8]}"


def sendout_requested(request: SendoutStage, event_id: str) -> dict[str, Any]:
    """`Sendout Checklist` / `Sendout Sending`: refused for an unknown account or an unreadable list."""
    config = get_config()
    AccountStore(config.table_name).require(request.account_id)
    started = start_check(config, request)
    logger.info(
        "send-out check started",
        extra={
            "account_id": request.account_id,
            "sendout_id": request.sendout_id,
            "event_id": event_id,
            **started,
        },
    )
    return started


def start_check(
    config: FunctionConfig,
    request: SendoutStage,
    *,
    job_id: str | None = None,
) -> dict[str, Any]:
    """Queue the recipients in chunks for reconciliation and verdicts; return the job's identity."""
    recipients = recipients_of(request, config.artifacts_bucket)
    job_id = job_id or request.check_id or check_id(request)
    sendout = SendoutRef(sendout_id=request.sendout_id, stage=request.stage, channel=request.channel)
    chunks = [
        ReconcileChunk(
            account_id=request.account_id,
            trigger="presend",
            job=JobRef(kind="sendout", id=job_id, chunk_no=number),
            emails=emails,
            sendout=sendout,
        )
        for number, emails in enumerate(chunk_recipients(recipients, config.chunk_size))
    ]
    meta = {
        "sendout_id": request.sendout_id,
        "stage": request.stage.value,
        "channel": request.channel.value,
        "recipients": len(recipients),
    }
    start_job(config, request.account_id, JobKind.SENDOUT, job_id, chunks, meta=meta)
    return {"status": "checking", "job_id": job_id, "recipients": len(recipients), "chunks": len(chunks)}


def is_fresh(freshness: FreshnessStore, chunk: ReconcileChunk, settings: AccountSettings) -> bool:
    """True when exactly these recipients were reconciled within the account's freshness window."""
    if settings.presend_fresh_seconds == 0:
        return False
    at = freshness.reconciled_at(chunk.account_id, chunk.emails)
    return at is not None and datetime.now(UTC) - at <= timedelta(seconds=settings.presend_fresh_seconds)


def keep_pending(contacts: ContactStore, chunk: ReconcileChunk) -> dict[str, Contact]:
    """SuperOffice could not be read: mark the chunk's contacts so the next run reconciles them.

    Returns the recipients that are contacts, by e-mail, with their last known states (their verdicts
    are judged by the account's policy).
    """
    known = contacts.get_many(chunk.account_id, [normalise_email(e) for e in chunk.emails])
    for contact in known.values():
        owed = {p: c.state for p, c in contact.consents.items() if p not in contact.pending}
        if not owed:
            continue
        # A conflict means a worker that could read SuperOffice wrote it meanwhile: it is reconciled.
        with contextlib.suppress(VersionConflict):
            contacts.save(contact.model_copy(update={"pending": {**contact.pending, **owed}}))
    return known


def check_chunk(
    config: FunctionConfig,
    contacts: ContactStore,
    chunk: ReconcileChunk,
    settings: AccountSettings | None,
    unreadable: set[str],
    known: Mapping[str, Contact] | None = None,
) -> dict[str, int]:
    """Judge a reconciled chunk's recipients, store the verdicts, return the counters they add.

    ``known`` are the chunk's contacts as this worker just reconciled (or last knew) them, every
    recipient that is a contact included; without it they are read.
    """
    emails = list(dict.fromkeys(normalise_email(e) for e in chunk.emails))
    policy = settings.presend_on_superoffice_failure if settings else PresendFailurePolicy.USE_LAST_KNOWN
    if known is None:
        known = contacts.get_many(chunk.account_id, emails)
    judged = verdicts_for(emails, known, unreadable=unreadable, policy=policy)
    write_chunk_verdicts(config, chunk.account_id, chunk.job.id, chunk.job.chunk_no, judged)
    return verdict_counters(judged)


def write_chunk_verdicts(
    config: FunctionConfig, account_id: str, job_id: str, chunk_no: int, verdicts: list[dict[str, Any]]
) -> str:
    """Store one chunk's verdicts (rewriting them on a redelivery is harmless: same key)."""
    key = f"{verdicts_prefix(account_id, job_id)}chunk-{chunk_no:06d}.json"
    return put_json(config.artifacts_bucket, key, verdicts)
