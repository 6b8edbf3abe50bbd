"""Announcing a completed job with its outgoing event, built from the job's counters and meta.

Exactly one caller gets a completed job from :meth:`JobStore.try_complete` (the fan-out, a chunk's
worker, or the worker that gave a chunk up), and that caller announces it here. A send-out check's
chunk verdict files are merged into one results document first; its URI is in the event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from consent_sync.config import FunctionConfig, get_config
from consent_sync.domain.jobs import (
    CREATED,
    DUPLICATE_CONFLICTS,
    DUPLICATES,
    MEMBERS,
    PULLED,
    PUSHED,
    RECONCILED,
    UNCHANGED,
    UPDATED,
    Job,
)
from consent_sync.domain.linking import DOCUMENTED_SKIP_REASONS
from consent_sync.domain.vocabulary import JobKind, RunKind
from consent_sync.events import ImportCompleted, SendoutConsentChecked, SyncRunCompleted
from consent_sync.observability import logger
from consent_sync.store.accounts import AccountStore
from consent_sync.store.artifacts import get_json, list_keys, put_json, verdicts_prefix
from consent_sync.store.bus import publish


def import_completed(job: Job) -> ImportCompleted:
    """`Import Completed` of a finished import job.

    ``members`` is what the import listed (``meta.members``), so members of a chunk that went to the
    dead-letter queue are still members: they are counted in ``failed``.
    """
    counters = job.counters
    skipped = {reason.value: 0 for reason in DOCUMENTED_SKIP_REASONS} | job.skipped
    return ImportCompleted(
        account_id=job.account_id,
        import_id=job.job_id,
        status=job.status,
        members=int(job.meta.get(MEMBERS, counters.get(MEMBERS, 0))),
        created=counters.get(CREATED, 0),
        updated=counters.get(UPDATED, 0),
        skipped=skipped,
        duplicates=counters.get(DUPLICATES, 0),
        duplicate_conflicts=counters.get(DUPLICATE_CONFLICTS, 0),
        failed=job.failed,
    )


def sync_run_completed(job: Job) -> SyncRunCompleted:
    """`Sync Run Completed` of a finished run job; its kind is ``meta.kind`` (set by the fan-out)."""
    counters = job.counters
    return SyncRunCompleted(
        account_id=job.account_id,
        run_id=job.job_id,
        kind=job.meta["kind"],
        reconciled=counters.get(RECONCILED, 0),
        pushed=counters.get(PUSHED, 0),
        pulled=counters.get(PULLED, 0),
        unchanged=counters.get(UNCHANGED, 0),
        failed=job.failed,
    )


def completion_event(job: Job) -> BaseModel | None:
    """The outgoing event of a finished job, or None when it has none.

    Runs of the kinds `Sync Run Completed` knows are announced; a platform change's push (a run of
    kind `platform`) is not a sync run to the platform. Send-out jobs are announced with
    `announce_check` (`Sendout Consent Checked` carries the merged verdict file, not counters).
    """
    if job.kind is JobKind.IMPORT:
        return import_completed(job)
    if job.kind is JobKind.RUN and job.meta.get("kind") in set(RunKind):
        return sync_run_completed(job)
    return None


def advance_watermark(job: Job) -> None:
    """A finished sync run moves its account's watermark to where the run started, unless a chunk of
    it failed: then the next run reads those changes again (the watermark never passes a change that
    was not reconciled)."""
    if job.kind is not JobKind.RUN or job.meta.get("kind") not in set(RunKind):
        return
    watermark = job.meta.get("watermark")
    if not watermark:
        return
    if job.failed_chunks:
        logger.warning(
            "sync run finished with failed chunks; the watermark stays for the next run to read them again",
            extra={"account_id": job.account_id, "run_id": job.job_id, "failed_chunks": job.failed_chunks},
        )
        return
    AccountStore(get_config().table_name).advance_sync_watermark(
        job.account_id, datetime.fromisoformat(watermark), job.job_id
    )


def announce(job: Job) -> None:
    """Publish the completion event of a finished job, whatever its kind (a sync run first moves its
    account's watermark)."""
    advance_watermark(job)
    event = completion_event(job)
    logger.info(
        "job completed",
        extra={
            "account_id": job.account_id,
            "kind": job.kind.value,
            "job_id": job.job_id,
            "status": job.status.value,
            "counters": job.counters,
            "skipped": job.skipped,
        },
    )
    if job.kind is JobKind.SENDOUT:
        announce_check(get_config(), job)
    elif event is not None:
        publish(get_config().event_bus_name, event)


def merge_results(config: FunctionConfig, job: Job) -> dict[str, Any]:
    """Merge the chunk files of a completed check into the design's `presend` document."""
    allowed: list[str] = []
    blocked: list[dict[str, str]] = []
    stale: list[str] = []
    for key in list_keys(config.artifacts_bucket, verdicts_prefix(job.account_id, job.job_id)):
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
