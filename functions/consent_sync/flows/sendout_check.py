"""The send-out gate around the reconcile worker: fan the recipients out, write verdicts, merge them.

A check is a job of kind `sendout`. Each chunk reconciles its recipients (the worker, trigger
`presend`) and writes one verdict per recipient to S3; the chunk that completes the job merges the
chunk files into one results document and emits `Sendout Consent Checked`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from consent_sync.config import FunctionConfig, get_config
from consent_sync.domain.contact import Contact
from consent_sync.domain.emails import normalise_email
from consent_sync.domain.errors import Rejected
from consent_sync.domain.gate import verdict_counters, verdicts_for
from consent_sync.domain.jobs import chunked
from consent_sync.domain.settings import AccountSettings, PresendFailurePolicy
from consent_sync.domain.vocabulary import JobKind
from consent_sync.events import (
    JobRef,
    ReconcileChunk,
    SendoutRef,
    SendoutStage,
)
from consent_sync.flows.fanout import start_job
from consent_sync.observability import logger
from consent_sync.store.accounts import AccountStore
from consent_sync.store.artifacts import ArtifactMissing, put_json, read_lines, verdicts_prefix
from consent_sync.store.contacts import ContactStore, VersionConflict
from consent_sync.store.freshness import FreshnessStore


def recipients_of(request: SendoutStage) -> list[str]:
    """The recipients, normalised, each once, in first-seen order (inline list or S3 list)."""
    raw: Iterable[str] = (
        request.recipients if request.recipients is not None else read_lines(request.recipients_uri or "")
    )
    return list(dict.fromkeys(normalise_email(r) for r in raw if r.strip()))


def check_id(request: SendoutStage) -> str:
    """A job id for this check; every check of a stage is its own job (repeated checks are allowed)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{request.sendout_id}.{request.stage.value}.{stamp}.{uuid.uuid4().hex[:8]}"


def sendout_requested(request: SendoutStage, event_id: str) -> dict[str, Any]:
    """`Sendout Checklist` / `Sendout Sending`: refused for an unknown account or an unreadable list."""
    config = get_config()
    AccountStore(config.table_name).require(request.account_id)
    try:
        started = start_check(config, request)
    except ArtifactMissing as exc:
        raise Rejected("recipients_unreadable", str(exc)) from exc
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
    recipients = recipients_of(request)
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
        for number, emails in enumerate(chunked(recipients, config.chunk_size))
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
