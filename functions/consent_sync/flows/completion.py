"""Announcing a completed job with its outgoing event, built from the job's counters and meta.

Exactly one caller gets a completed job from :meth:`JobStore.try_complete` (the fan-out, a chunk's
worker, or the worker that gave a chunk up), and that caller announces it here. A send-out check's
chunk verdict files are merged into one results document first; its URI is in the event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
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
from consent_sync.events import (
    ContactConsentUpdated,
    ImportCompleted,
    SendoutConsentChecked,
    SyncRunCompleted,
)
from consent_sync.flows import contact_cards
from consent_sync.observability import logger, metrics
from consent_sync.store.accounts import AccountStore
from consent_sync.store.artifacts import get_json, list_keys, put_json, verdicts_prefix
from consent_sync.store.bus import publish, publish_many
from consent_sync.store.jobs import JobStore
from consent_sync.store.updates import ConsentUpdates


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


STALE_AFTER = timedelta(hours=1)
"""A running job without progress for this long has a chunk that died uncounted (its worker killed by a
timeout or out of memory on the last delivery, so it never gave the chunk up): the sweep finishes it."""


def announce(job: Job) -> bool:
    """Publish the completion event of a finished job, whatever its kind, exactly once.

    The job is in the outbox from the moment it completed (`JobStore.try_complete` records that in
    the same write): claim it, move a sync run's watermark, publish, then take it out. A caller that
    stops anywhere before the last step leaves it there, and `sweep` publishes it after the claim
    lapses. Only a stop between publishing and taking it out can publish it twice (the event's job id
    tells a consumer it is the same).
    """
    jobs = JobStore(get_config().table_name)
    if not jobs.claim_announcement(job):
        logger.info("completion already published or being published", extra={"job_id": job.job_id})
        return False
    try:
        _publish(job)
    except Exception:
        # The job stays in the outbox: the next sweep publishes it. The chunk that completed the job
        # is done; failing it would only send it round again.
        jobs.release_claim(job)
        logger.exception(
            "completion event not published; it stays in the outbox for the sweep",
            extra={"account_id": job.account_id, "kind": job.kind.value, "job_id": job.job_id},
        )
        return False
    jobs.mark_announced(job)
    return True


def _publish(job: Job) -> None:
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
        # From the check's request to its verdicts: what a marketer waits for at Checklist or Sending.
        if job.completed_at is not None:
            latency_ms = (job.completed_at - job.created_at).total_seconds() * 1000
            metrics.add_metric(name="SendoutCheckLatency", unit=MetricUnit.Milliseconds, value=latency_ms)
    elif event is not None:
        if isinstance(event, ImportCompleted):
            uri = contact_cards.assemble(get_config().artifacts_bucket, job)
            event = event.model_copy(update={"contacts_uri": uri})
        publish(get_config().event_bus_name, event)
        if job.kind is JobKind.RUN:
            metrics.add_metric(name="SyncRunsCompleted", unit=MetricUnit.Count, value=1)


def sweep(*, now: datetime | None = None, stale_after: timedelta = STALE_AFTER) -> dict[str, int]:
    """Finish the jobs whose chunks died uncounted, and publish every completion still in the outbox.

    Run by the 30-minute schedule: no job stays `running` for good, and no recorded completion goes
    unannounced, whatever stopped the worker that should have announced it.
    """
    now = now or datetime.now(UTC)
    jobs = JobStore(get_config().table_name)
    finished = 0
    for job in jobs.running():
        if now - job.updated_at >= stale_after and jobs.finish_stale(job) is not None:
            finished += 1
            logger.warning(
                "job finished by the sweep: chunks never counted are failed",
                extra={"account_id": job.account_id, "kind": job.kind.value, "job_id": job.job_id},
            )
    announced = 0
    for job in jobs.in_outbox():
        announced += announce(job)
    return {"finished_stale": finished, "announced": announced, "updates": publish_waiting_updates(now)}


UPDATE_GRACE = timedelta(minutes=2)
"""A worker publishes its chunk's updates within moments of writing them; older ones were left behind."""


def publish_updates(bus_name: str, outbox: ConsentUpdates, updates: Sequence[ContactConsentUpdated]) -> None:
    """Publish `Contact Consent Updated` (ten per PutEvents), then take them out of the outbox: in this
    order, so a stop in between publishes them again (at least once), never loses them."""
    publish_many(bus_name, updates)
    outbox.clear(updates)


def publish_waiting_updates(now: datetime) -> int:
    """Publish the `Contact Consent Updated` a stopped worker left in the outbox; how many."""
    config = get_config()
    outbox = ConsentUpdates(config.table_name)
    published = 0
    for page in outbox.waiting(before=now - UPDATE_GRACE):
        if page:
            publish_updates(config.event_bus_name, outbox, page)
            published += len(page)
    if published:
        logger.warning("consent updates left in the outbox were published", extra={"updates": published})
    return published


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
