"""Announcing a completed job with its outgoing event, built from the job's counters and meta.

Exactly one caller gets a completed job from :meth:`JobStore.try_complete` (the fan-out, a chunk's
worker, or the worker that gave a chunk up), and that caller announces it here.
"""

from __future__ import annotations

from typing import Any, cast

from pydantic import BaseModel

from consent_sync.config import get_config
from consent_sync.events import ImportCompleted, SyncRunCompleted
from consent_sync.observability import logger
from consent_sync.store.bus import publish
from consent_sync.store.jobs import Job, JobKind
from consent_sync.sync import presend
from consent_sync.sync.importing import DOCUMENTED_SKIP_REASONS

# Counter names on jobs (`JobStore.record_chunk`), shared by the worker and the announcements.
MEMBERS = "members"
CREATED = "created"
UPDATED = "updated"
DUPLICATES = "duplicates"
DUPLICATE_CONFLICTS = "duplicate_conflicts"
FAILED = "failed"
RECONCILED = "reconciled"
PUSHED = "pushed"
PULLED = "pulled"
UNCHANGED = "unchanged"

RUN_KINDS = ("scheduled", "baseline", "requested")


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
        status=cast(Any, job.status.value),
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
    `presend.announce_check` (`Sendout Consent Checked` carries the merged verdict file, not counters).
    """
    if job.kind is JobKind.IMPORT:
        return import_completed(job)
    if job.kind is JobKind.RUN and job.meta.get("kind") in RUN_KINDS:
        return sync_run_completed(job)
    return None


def announce(job: Job) -> None:
    """Publish the completion event of a finished job (the `fanout.Announcer` of every job kind)."""
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
        # The verdict files are merged into one results document first; its URI is in the event.
        presend.announce_check(get_config(), job)
    elif event is not None:
        publish(get_config().event_bus_name, event)
