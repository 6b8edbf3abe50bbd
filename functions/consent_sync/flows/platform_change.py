"""Platform consent changes (`Contact Consent Changed`): record the platform's state, push it at once.

The contact's `consents` are the platform-side state, so a change the platform reports is recorded
there with `changed_in: platform` and the platform's own `changed_at`. Older than a stored platform
change → ignored (the platform already moved on). Older than a state pulled from SuperOffice → judged
by the sync rules against it, as the two clocks they are: ignored unless the rules let the platform's
change win (a withdrawal inside the skew window does), since otherwise an unsubscribe reported a
moment late would be lost. The same state again → nothing to write. When the account syncs, the state is also marked pending (owed to
SuperOffice) and the contact goes to the reconcile queue straight away as a one-contact chunk, so an
unsubscribe reaches SuperOffice in seconds; if that push fails, `pending` keeps it for the next run.

`apply_change` is the pure decision; `record_platform_change` does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit

from consent_sync.config import get_config
from consent_sync.domain.consent import ConsentState
from consent_sync.domain.contact import Contact, StoredConsent
from consent_sync.domain.jobs import job_id_part
from consent_sync.domain.rules import DEFAULT_SKEW, decide
from consent_sync.domain.vocabulary import JobKind, Side
from consent_sync.events import ContactConsentChanged, JobRef, ReconcileChunk
from consent_sync.flows.fanout import start_job
from consent_sync.observability import logger, metrics
from consent_sync.store.accounts import AccountStore
from consent_sync.store.contacts import ContactStore
from consent_sync.store.writes import write_optimistically

PLATFORM_RUN_KIND = "platform"
"""`meta.kind` of a platform push's run job: not a public run kind, so no `Sync Run Completed`."""
SAVE_ATTEMPTS = 5
"""Version conflicts tolerated before the invocation fails (and Lambda retries it)."""

ChangeStatus = Literal["recorded", "unchanged", "ignored"]


@dataclass(frozen=True)
class ChangeApplied:
    """The outcome of one platform change against the stored contact.

    `contact` is what to write (None: nothing); `push_owed` is true when the reported state is still
    owed to SuperOffice (just recorded, or recorded before and not pushed yet).
    """

    status: ChangeStatus
    contact: Contact | None
    push_owed: bool


def reported_state(change: ContactConsentChanged) -> ConsentState:
    """The state the platform reports, in UTC."""
    return ConsentState(
        legal_base=change.legal_base,
        source=change.source,
        comment=change.comment,
        changed_at=change.changed_at,
    )


def apply_change(
    contact: Contact | None,
    change: ContactConsentChanged,
    *,
    syncs: bool,
    skew: timedelta = DEFAULT_SKEW,
) -> ChangeApplied:
    """Decide what a platform change does to the stored contact (`None`: the e-mail is unknown).

    An unknown e-mail becomes a new platform-only contact (not linked to a person; an import or the
    worker links it). A pending push is recorded only when the account syncs: with integration `none`
    or sync off nothing is owed to SuperOffice.
    """
    state = reported_state(change)
    recorded = StoredConsent.of(state, Side.PLATFORM)
    purpose = change.purpose
    if contact is None:
        created = Contact(
            account_id=change.account_id,
            email=change.email,
            consents={purpose: recorded},
            pending={purpose: state} if syncs else {},
        )
        return ChangeApplied("recorded", created, syncs)
    stored = contact.consents.get(purpose)
    if stored is not None and state.changed_at < stored.changed_at and not _wins_over(state, stored, skew):
        return ChangeApplied("ignored", None, False)
    if stored is not None and state.changed_at == stored.changed_at and stored.withdrawn and state.active:
        # Equal times: the withdrawal wins, on either clock, as in the sync rules.
        return ChangeApplied("ignored", None, False)
    if stored is not None and stored.state == state:
        # The same event again (or the platform echoing what it was told): a no-op, but a push that
        # failed to queue the first time is queued again.
        return ChangeApplied("unchanged", None, syncs and contact.pending.get(purpose) == state)
    consents = {**contact.consents, purpose: recorded}
    pending = {**contact.pending, purpose: state} if syncs else dict(contact.pending)
    return ChangeApplied(
        "recorded", contact.model_copy(update={"consents": consents, "pending": pending}), syncs
    )


def _wins_over(state: ConsentState, stored: StoredConsent, skew: timedelta) -> bool:
    """Whether a platform change older than the stored state still wins over it.

    Never over the platform's own later change (one clock). Over a state pulled from SuperOffice, the
    rules decide, as for any platform state against SuperOffice's: inside the skew window a withdrawal
    wins, and so does the lower key.
    """
    if stored.changed_in is Side.PLATFORM:
        return False
    return decide(state, stored.state, skew=skew).winner is Side.PLATFORM


def platform_run_id(event_id: str) -> str:
    """The run job of one platform change's push: `platform-<event id>` (a retried event, the same job)."""
    return f"{PLATFORM_RUN_KIND}-{job_id_part(event_id)}"


def record_platform_change(change: ContactConsentChanged, event_id: str) -> dict[str, Any]:
    """Record the change (version-conditional, re-read on conflict) and, when the account syncs, queue its push."""
    config = get_config()
    settings = AccountStore(config.table_name).require(change.account_id)
    contacts = ContactStore(config.table_name)
    applied = record_change(
        contacts, change, syncs=settings.syncs, skew=timedelta(seconds=settings.skew_seconds)
    )
    answer: dict[str, Any] = {"status": applied.status, "queued": False}
    if applied.status == "ignored":
        answer["reason"] = "older_than_stored"
    if applied.push_owed:
        run_id = platform_run_id(event_id)
        chunk = ReconcileChunk(
            account_id=change.account_id,
            trigger="platform",
            job=JobRef(kind="run", id=run_id, chunk_no=0),
            emails=[change.email],
        )
        start_job(
            config,
            change.account_id,
            JobKind.RUN,
            run_id,
            [chunk],
            meta={"kind": PLATFORM_RUN_KIND, "trigger": PLATFORM_RUN_KIND, "purpose": change.purpose.value},
        )
        answer.update(queued=True, run_id=run_id)
    metrics.add_metric(name=f"PlatformChange{applied.status.capitalize()}", unit=MetricUnit.Count, value=1)
    logger.info(
        "platform consent change",
        extra={
            "account_id": change.account_id,
            "email": change.email,
            "purpose": change.purpose.value,
            "legal_base": change.legal_base,
            **answer,
        },
    )
    return answer


def record_change(
    contacts: ContactStore,
    change: ContactConsentChanged,
    *,
    syncs: bool,
    skew: timedelta = DEFAULT_SKEW,
) -> ChangeApplied:
    """Apply the change to the stored contact, writing conditionally on the version read; on a conflict
    (a worker or another event wrote first) read it again and decide again. Raises `ContactBusy`."""

    def attempt() -> ChangeApplied:
        current = contacts.get(change.account_id, change.email)
        applied = apply_change(current, change, syncs=syncs, skew=skew)
        if applied.contact is not None:
            if current is None:
                contacts.put_new(applied.contact)  # ContactExists (a VersionConflict): created meanwhile
            else:
                contacts.save(applied.contact)
        return applied

    return write_optimistically(
        attempt, attempts=SAVE_ATTEMPTS, what=f"contact in account {change.account_id}"
    )
