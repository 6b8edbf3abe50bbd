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

from consent_sync.accounts import AccountSettings, PresendFailurePolicy
from consent_sync.config import FunctionConfig
from consent_sync.events import (
    JobRef,
    ReconcileChunk,
    SendoutConsentChecked,
    SendoutRef,
    SendoutStage,
)
from consent_sync.fanout import Announcer, chunked, start_job
from consent_sync.store.artifacts import get_json, list_keys, put_json, read_lines
from consent_sync.store.bus import publish
from consent_sync.store.contacts import ContactStore, VersionConflict
from consent_sync.store.freshness import FreshnessStore
from consent_sync.store.jobs import Job, JobKind
from consent_sync.sync.consent import Purpose
from consent_sync.sync.contact import Contact
from consent_sync.sync.emails import normalise_email
from consent_sync.sync.gate import verdict

# Blocked because SuperOffice could not be read and the account chose `block`.
SUPEROFFICE_UNAVAILABLE = "superoffice_unavailable"


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


def start_check(
    config: FunctionConfig,
    request: SendoutStage,
    announce: Announcer,
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
    start_job(config, request.account_id, JobKind.SENDOUT, job_id, chunks, meta=meta, announce=announce)
    return {"status": "checking", "job_id": job_id, "recipients": len(recipients), "chunks": len(chunks)}


def verdicts_for(
    emails: Iterable[str],
    contacts: Mapping[str, Contact],
    *,
    unreadable: set[str] | None = None,
    policy: PresendFailurePolicy = PresendFailurePolicy.USE_LAST_KNOWN,
) -> list[dict[str, Any]]:
    """One verdict per recipient, from the contacts as reconciled (pure).

    `unreadable` are the recipients whose SuperOffice state could not be read during this check: by
    the account's policy they are judged on the last known state (marked stale) or blocked.
    """
    unreadable = unreadable or set()
    results: list[dict[str, Any]] = []
    for email in emails:
        contact = contacts.get(email)
        if contact is not None and email in unreadable and policy is PresendFailurePolicy.BLOCK:
            results.append(
                {"email": email, "allowed": False, "reason": SUPEROFFICE_UNAVAILABLE, "stale": True}
            )
            continue
        judged = verdict(
            None if contact is None else contact.consents.get(Purpose.STORE),
            None if contact is None else contact.consents.get(Purpose.EMARKETING),
            known=contact is not None,
        )
        results.append(
            {
                "email": email,
                "allowed": judged.allowed,
                "reason": None if judged.reason is None else judged.reason.value,
                "stale": contact is not None and email in unreadable,
            }
        )
    return results


def verdict_counters(verdicts: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The job counters a chunk's verdicts add."""
    counts = {"allowed": 0, "blocked": 0, "stale": 0}
    for item in verdicts:
        counts["allowed" if item["allowed"] else "blocked"] += 1
        counts["stale"] += bool(item["stale"])
    return counts


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


def _prefix(account_id: str, job_id: str) -> str:
    return f"verdicts/{account_id}/{job_id}/"


def write_chunk_verdicts(
    config: FunctionConfig, account_id: str, job_id: str, chunk_no: int, verdicts: list[dict[str, Any]]
) -> str:
    """Store one chunk's verdicts (rewriting them on a redelivery is harmless: same key)."""
    key = f"{_prefix(account_id, job_id)}chunk-{chunk_no:06d}.json"
    return put_json(config.artifacts_bucket, key, verdicts)


def merge_results(config: FunctionConfig, job: Job) -> dict[str, Any]:
    """Merge the chunk files of a completed check into the design's `presend` document."""
    allowed: list[str] = []
    blocked: list[dict[str, str]] = []
    stale: list[str] = []
    for key in list_keys(config.artifacts_bucket, _prefix(job.account_id, job.job_id)):
        for item in get_json(f"s3://{config.artifacts_bucket}/{key}"):
            if item["allowed"]:
                allowed.append(item["email"])
            else:
                blocked.append({"email": item["email"], "reason": item["reason"]})
            if item["stale"]:
                stale.append(item["email"])
    return {
        "sendout_id": job.meta["sendout_id"],
        "stage": job.meta["stage"],
        "channel": job.meta["channel"],
        "allowed": allowed,
        "blocked": blocked,
        "stale": stale,
    }


def announce_check(config: FunctionConfig, job: Job) -> SendoutConsentChecked:
    """Write the results document and emit `Sendout Consent Checked` for a completed check."""
    results = merge_results(config, job)
    results["failed"] = job.failed  # recipients of chunks that could not be checked at all
    uri = put_json(config.artifacts_bucket, f"results/{job.account_id}/{job.job_id}.json", results)
    event = SendoutConsentChecked(
        account_id=job.account_id,
        sendout_id=results["sendout_id"],
        stage=results["stage"],
        channel=results["channel"],
        allowed_count=len(results["allowed"]),
        blocked_count=len(results["blocked"]),
        stale_count=len(results["stale"]),
        results_uri=uri,
    )
    publish(config.event_bus_name, event)
    return event
