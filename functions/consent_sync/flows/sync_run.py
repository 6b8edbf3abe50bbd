"""The sync run (docs/architecture.md): per account with sync on, what changed on either side since the
account's watermark, fanned out to the reconcile queue in chunks; the watermark advances afterwards.

An incremental run (the 30-minute schedule, `Sync Requested`) collects

- the persons whose consent rows SuperOffice changed since `watermark - overlap` (consent rows, not
  persons: a Store-and-process change does not move the person's UpdatedDate) → `person_ids` chunks;
- the contacts whose platform-side consent changed since the same bound (ChangedIndex, a query) and
  the contacts with a push still owed (PendingIndex) → `emails` chunks.

A baseline run (sync just switched on, `--baseline`, or an account without a watermark yet) queues
every linked contact plus the pending ones, as `emails` chunks: the contacts are known by e-mail
already, so the worker reads them in one batch instead of looking persons up one by one. A baseline
makes no SuperOffice call here; the worker reads SuperOffice per chunk.

The new watermark is the time the SuperOffice query started (a baseline: the time the run started),
saved only once every chunk is queued. Rows changed while the query paged are at or after it, so the
next run sees them. SuperOffice unreachable → the run raises (Lambda retries) and the watermark stays.

The planning functions at the top are pure; `sync_accounts` does the I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools.metrics import MetricUnit

from consent_sync.config import FunctionConfig, get_config
from consent_sync.domain.jobs import Job, chunked, job_id_part
from consent_sync.domain.settings import AccountSettings
from consent_sync.domain.vocabulary import JobKind, Purpose, RunKind
from consent_sync.domain.webhook import WebhookStatus
from consent_sync.events import JobRef, ReconcileChunk, SyncRequested
from consent_sync.flows import completion
from consent_sync.flows.connect import open_superoffice
from consent_sync.flows.fanout import start_job
from consent_sync.flows.keep_webhook import Mode, keep_webhook
from consent_sync.observability import logger, metrics
from consent_sync.store.accounts import AccountStore
from consent_sync.store.bus import publish_many
from consent_sync.store.contacts import ContactStore
from consent_sync.store.jobs import JobStore
from consent_sync.store.secrets import CredentialsUnavailable
from consent_sync.store.webhooks import WebhookStore
from consent_sync.superoffice import SuperOfficeError

if TYPE_CHECKING:
    # The client's models come with the first client opened (flows.connect), not at import.
    from consent_sync.superoffice import ConsentRow

_PURPOSE_KEYS = frozenset(p.value for p in Purpose)


# ---------------------------------------------------------------- planning (pure)


def run_kind(request: SyncRequested | None, watermark: datetime | None) -> RunKind:
    """What kind of run to do: `baseline` when asked for or when there is no watermark to start from."""
    if (request is not None and request.baseline) or watermark is None:
        return RunKind.BASELINE
    return RunKind.REQUESTED if request is not None and not request.scheduled else RunKind.SCHEDULED


def run_id_for(request: SyncRequested | None, event_id: str | None) -> str:
    """The run's id: the caller's `run_id`, else one derived from the triggering event.

    Derived from the event id (and from what was asked, never from the watermark), a retried
    invocation (Lambda delivers the same event again) finds the same job instead of starting a second
    run, even when the first attempt already saved the account's first watermark.
    """
    if request is not None and request.run_id is not None:
        return request.run_id
    asked = (
        RunKind.SCHEDULED if request is None else RunKind.BASELINE if request.baseline else RunKind.REQUESTED
    )
    return f"{asked}-{job_id_part(event_id) if event_id else uuid.uuid4().hex}"


def superoffice_bound(watermark: datetime, overlap_minutes: int) -> datetime:
    """Where the incremental query starts: the watermark minus the account's overlap (clock and commit lag)."""
    return watermark - timedelta(minutes=overlap_minutes)


def changed_person_ids(rows: Iterable[ConsentRow]) -> list[int]:
    """Distinct person ids of changed rows of the purposes consent-sync keeps in step, ascending.

    Rows of other (tenant-defined) purposes, or whose purpose id is not in the tenant's list, change
    nothing consent-sync holds, so they queue no work.
    """
    return sorted({row.person_id for row in rows if row.purpose_key in _PURPOSE_KEYS and row.person_id > 0})


def unique_emails(*sources: Iterable[str]) -> list[str]:
    """The e-mails of all sources, each once, in first-seen order (changed and pending overlap)."""
    return list(dict.fromkeys(email for source in sources for email in source))


def plan_chunks(
    account_id: str,
    kind: RunKind,
    run_id: str,
    person_ids: Sequence[int],
    emails: Sequence[str],
    chunk_size: int,
) -> list[ReconcileChunk]:
    """The run's chunks, numbered from 0: SuperOffice-side persons first, then platform-side e-mails."""
    groups: list[dict[str, Any]] = [{"person_ids": part} for part in chunked(person_ids, chunk_size)]
    groups += [{"emails": part} for part in chunked(emails, chunk_size)]
    return [
        ReconcileChunk(
            account_id=account_id,
            trigger=RunKind(kind).trigger,
            job=JobRef(kind="run", id=run_id, chunk_no=number),
            **group,
        )
        for number, group in enumerate(groups)
    ]


# ---------------------------------------------------------------- running (I/O)


@dataclass(frozen=True)
class RunStarted:
    """What one account's run did in this invocation (the handler's answer, for logs and tests)."""

    account_id: str
    run_id: str
    kind: RunKind
    status: Literal["queued", "completed", "already_queued"]
    chunks: int
    person_ids: int
    emails: int
    watermark: str | None


class SyncRunFailed(RuntimeError):
    """An account's run could not be queued (SuperOffice or the secret unreachable); Lambda retries the
    event, and the watermark has not moved."""


def sync_requested(request: SyncRequested, event_id: str) -> dict[str, Any]:
    """`Sync Requested`: the named account's run, or (no account) one request per account with sync on."""
    if request.account_id is None:
        return fan_out(request, event_id)
    return sync_accounts(request, event_id=event_id)


def schedule_fired(event_id: str) -> dict[str, Any]:
    """The 30-minute schedule: the job sweep (`completion.sweep`), then one `Sync Requested` per account
    with sync on (kind `scheduled`): each account's run is an invocation of its own, so the number of
    accounts a deployment serves is not bounded by one invocation's time."""
    swept = completion.sweep()
    return fan_out(None, event_id) | {"swept": swept}


def fan_out(request: SyncRequested | None, event_id: str) -> dict[str, Any]:
    """One `Sync Requested` per account with sync on, ten per PutEvents, all with one run id."""
    config = get_config()
    accounts = AccountStore(config.table_name)
    run_id = run_id_for(request, event_id)
    stored = [accounts.get(account_id) for account_id in accounts.account_ids()]
    requests = [
        SyncRequested(account_id=settings.account_id, run_id=run_id, scheduled=request is None)
        for settings in stored
        if settings is not None and settings.syncs
    ]
    if request is None:
        _remove_leftover_webhooks(config, [s for s in stored if s is not None and not s.syncs])
    publish_many(config.event_bus_name, requests)
    metrics.add_metric(name="SyncAccounts", unit=MetricUnit.Count, value=len(requests))
    logger.info("sync run fanned out", extra={"run_id": run_id, "accounts": len(requests)})
    return {"status": "fanned_out", "run_id": run_id, "accounts": len(requests)}


def _remove_leftover_webhooks(config: FunctionConfig, idle: list[AccountSettings]) -> None:
    """Accounts without sync whose webhook could not be removed when sync stopped: try again."""
    webhooks = WebhookStore(config.table_name)
    for settings in idle:
        state = webhooks.get(settings.account_id)
        if state is not None and state.status is not WebhookStatus.NONE:
            keep_webhook(settings, config, Mode.CHECK)


def sync_accounts(request: SyncRequested, *, event_id: str | None) -> dict[str, Any]:
    """Run the sync for `request`'s account (every other request is fanned out first, `fan_out`).

    An account without sync (integration `none`, or sync off) gets a run with no chunks that completes
    at once with zeros, so a caller following it is answered; nothing is asked of SuperOffice.
    """
    assert request.account_id is not None  # sync_requested fans out the account-less ones
    config = get_config()
    accounts = AccountStore(config.table_name)
    settings = accounts.require(request.account_id)
    # Always one metric, so that a run with nothing to do still shows (and Powertools has something to flush).
    metrics.add_metric(name="SyncAccounts", unit=MetricUnit.Count, value=1)
    if request.scheduled:
        # SuperOffice stops a webhook after 9 failed deliveries: the run sets it going again.
        keep_webhook(settings, config, Mode.CHECK)
    try:
        started = run_account(config, accounts, settings, request, event_id=event_id)
    except (SuperOfficeError, CredentialsUnavailable) as exc:
        # The watermark stays put; Lambda retries the event.
        logger.warning(
            "sync run not queued",
            extra={"account_id": settings.account_id, "error": type(exc).__name__, "problem": str(exc)},
        )
        metrics.add_metric(name="SyncRunsNotQueued", unit=MetricUnit.Count, value=1)
        raise SyncRunFailed(
            f"sync runs not queued for {settings.account_id}: {type(exc).__name__}: {exc}"
        ) from exc
    return {"status": "ok", "runs": [asdict(started)]}


def run_account(
    config: FunctionConfig,
    accounts: AccountStore,
    settings: AccountSettings,
    request: SyncRequested | None,
    *,
    event_id: str | None,
) -> RunStarted:
    """Plan, queue and record one account's run; its completion moves the watermark (`completion`)."""
    account_id = settings.account_id
    jobs = JobStore(config.table_name)
    if not settings.syncs:
        kind = RunKind.BASELINE if request is not None and request.baseline else RunKind.REQUESTED
        run_id = run_id_for(request, event_id)
        completed = start_job(config, account_id, JobKind.RUN, run_id, [], meta=_meta(kind, None, None))
        return RunStarted(
            account_id, run_id, kind, "completed" if completed else "already_queued", 0, 0, 0, None
        )

    watermark = accounts.sync_watermark(account_id)
    run_id = run_id_for(request, event_id)
    existing = jobs.get(account_id, JobKind.RUN, run_id)
    kind = _existing_kind(existing) or run_kind(request, watermark)
    if existing is not None and existing.total_chunks is not None:
        # A retried invocation: every chunk was queued before (the run's completion moves the watermark).
        saved = existing.meta.get("watermark")
        return RunStarted(account_id, run_id, kind, "already_queued", existing.total_chunks, 0, 0, saved)

    started_at = datetime.now(UTC)

    def changed_persons(since: datetime) -> list[int]:
        with open_superoffice(settings, config) as superoffice:
            return changed_person_ids(superoffice.consent_rows_changed_since(since))

    selection = select_run(settings, kind, watermark, ContactStore(config.table_name), changed_persons)
    since, person_ids, emails = selection.since, selection.person_ids, selection.emails
    chunks = plan_chunks(account_id, kind, run_id, person_ids, emails, config.chunk_size)
    completed = start_job(
        config,
        account_id,
        JobKind.RUN,
        run_id,
        chunks,
        meta=_meta(kind, since, started_at) | {"person_ids": len(person_ids), "emails": len(emails)},
    )
    metrics.add_metric(name="SyncRunsQueued", unit=MetricUnit.Count, value=1)
    logger.info(
        "sync run queued",
        extra={
            "account_id": account_id,
            "run_id": run_id,
            "kind": kind,
            "chunks": len(chunks),
            "person_ids": len(person_ids),
            "emails": len(emails),
            "since": None if since is None else since.isoformat(),
        },
    )
    return RunStarted(
        account_id,
        run_id,
        kind,
        "completed" if completed else "queued",
        len(chunks),
        len(person_ids),
        len(emails),
        started_at.isoformat(),
    )


@dataclass(frozen=True)
class RunSelection:
    """What a run reconciles: the persons SuperOffice changed, the contacts the platform changed or
    owes a push for (a baseline: every linked contact, and the pending ones), from ``since``."""

    since: datetime | None
    person_ids: list[int]
    emails: list[str]


def select_run(
    settings: AccountSettings,
    kind: RunKind,
    watermark: datetime | None,
    contacts: ContactStore,
    changed_persons: Callable[[datetime], list[int]],
) -> RunSelection:
    """The selection of one account's run of ``kind`` (the module's docstring says what and why);
    ``changed_persons(since)`` reads SuperOffice's changed consent rows (`changed_person_ids`).

    Shared by the run itself and its dry run (`flows.drift_report`), so both select the same contacts.
    """
    account_id = settings.account_id
    if kind is RunKind.BASELINE:
        emails = unique_emails(
            (linked.email for linked in contacts.linked(account_id)), contacts.pending(account_id)
        )
        return RunSelection(since=None, person_ids=[], emails=emails)
    assert watermark is not None  # run_kind gives baseline without one
    since = superoffice_bound(watermark, settings.sync_overlap_minutes)
    person_ids = changed_persons(since)
    emails = unique_emails(contacts.changed_since(account_id, since), contacts.pending(account_id))
    return RunSelection(since=since, person_ids=person_ids, emails=emails)


def _existing_kind(job: Job | None) -> RunKind | None:
    # A retry keeps the kind its first attempt chose (that attempt may have saved the first watermark).
    kind = None if job is None else job.meta.get("kind")
    return RunKind(kind) if kind in set(RunKind) else None


def _meta(kind: RunKind, since: datetime | None, watermark: datetime | None) -> dict[str, Any]:
    # `watermark` is what this run moves the account's watermark to; a retry reads it back from here.
    return {
        "kind": kind.value,
        "trigger": kind.trigger.value,
        "since": None if since is None else since.isoformat(),
        "watermark": None if watermark is None else watermark.isoformat(),
    }
