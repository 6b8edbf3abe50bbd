"""The reconcile worker: one chunk of one account, for every trigger (import, scheduled, baseline,
requested, presend, platform).

Per chunk (docs/architecture.md, "The reconcile worker"):

1. the account's settings; integration ``none``, or sync off for anything but an import, means no
   SuperOffice call at all: the chunk is counted done with zeros;
2. one bulk read of the chunk's persons (``person_ids``) and one BatchGet of the contacts their
   e-mails (and the chunk's ``emails``) name; an unlinked contact named by e-mail is looked up by
   e-mail (rare); then one bulk read of the consent rows of every person involved;
3. per contact: link the oldest person (duplicates listed), decide per purpose with the sync rules,
   push the platform's winners to SuperOffice (sync on only), pull SuperOffice's winners;
4. write each changed contact conditionally on the version read (on a conflict: read it again and
   decide again), then its decisions; a push is decided on a SuperOffice read at most
   ``FRESH_READ_S`` old (an older one is read again first);
5. count the chunk into its job once (``record_chunk``), and announce the job if this chunk completed it.

A bulk read that fails raises, and the message is retried by SQS. A push that fails for one contact
leaves the push pending on that contact and counts it as failed; the others go on.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from consent_sync.config import FunctionConfig
from consent_sync.domain.consent import ConsentState
from consent_sync.domain.contact import Contact, DecisionRecord, PushedState, StoredConsent
from consent_sync.domain.emails import normalise_email
from consent_sync.domain.errors import UnknownKey
from consent_sync.domain.jobs import FAILED, PULLED, PUSHED
from consent_sync.domain.linking import (
    Linking,
    Member,
    SkipReason,
    duplicate_conflicts,
    link_members,
    member_of,
    needs_duplicate_search,
    new_contact,
    passes_filter,
)
from consent_sync.domain.plan import (
    ACTION_PULL,
    ACTION_PUSH,
    ACTION_PUSH_CONFIRMED,
    ContactPlan,
    Push,
    plan_contact,
    push_comment,
    record,
)
from consent_sync.domain.settings import AccountSettings
from consent_sync.domain.tally import Tally
from consent_sync.domain.vocabulary import Purpose, Side, Trigger
from consent_sync.events import ContactConsentUpdated, ReconcileChunk
from consent_sync.flows import completion, contact_cards, sendout_check
from consent_sync.flows.connect import open_superoffice
from consent_sync.observability import logger, metrics
from consent_sync.store.accounts import AccountStore
from consent_sync.store.contacts import ContactStore, VersionConflict
from consent_sync.store.decisions import DecisionLog
from consent_sync.store.freshness import FreshnessStore
from consent_sync.store.jobs import ChunkOutOfRange, JobStore, UnknownJob
from consent_sync.store.secrets import CredentialsUnavailable
from consent_sync.store.updates import ConsentUpdates
from consent_sync.store.writes import write_optimistically
from consent_sync.superoffice import (
    BadRequest,
    NotFound,
    SuperOfficeError,
    Throttled,
    Unavailable,
)

if TYPE_CHECKING:
    # The client and its models come with the first client opened (flows.connect), not at import.
    from consent_sync.superoffice import SuperOfficeClient
    from consent_sync.superoffice.models import ConsentRow

    ClientOpener = Callable[..., SuperOfficeClient]
    """Opens the account's client: `(settings, config, *, timeout_s=None)`, as `connect.open_superoffice`."""

MAX_WRITE_ATTEMPTS = 4
"""Tries to write one contact when other workers keep changing it (each: read, decide, write again)."""
FRESH_READ_S = 2.0
"""A push is decided on SuperOffice states read at most this long ago (else they are read again).

SuperOffice's consent PUT takes no condition, so a push decided on an older read overwrites a change a
SuperOffice user made since. A chunk slowed by retries (429, 5xx, an outage) or by many pushes before
this one can hold a read for many seconds; reading again, in bulk for the persons still to come, keeps
the window of that race to this plus one PUT."""


def _superoffice_states(rows: Iterable[ConsentRow]) -> dict[int, dict[Purpose, ConsentState]]:
    # The models module is loaded with the first client the chunk opens, not at import.
    from consent_sync.superoffice.models import superoffice_states

    return superoffice_states(rows)


"""Opens the account's client: `(settings, config, *, timeout_s=None)`, as `connect.open_superoffice`."""


@dataclass
class Stores:
    """The DynamoDB stores a worker uses; their ``requests`` counters are what benchmarks read."""

    accounts: AccountStore
    contacts: ContactStore
    decisions: DecisionLog
    jobs: JobStore
    freshness: FreshnessStore
    updates: ConsentUpdates

    @classmethod
    def of(cls, config: FunctionConfig) -> Stores:
        """The stores on the stack's consent table."""
        return cls(
            accounts=AccountStore(config.table_name),
            contacts=ContactStore(config.table_name),
            decisions=DecisionLog(config.table_name),
            jobs=JobStore(config.table_name),
            freshness=FreshnessStore(config.table_name),
            updates=ConsentUpdates(config.table_name),
        )


@dataclass
class ChunkResult:
    """What one chunk did: its counters as recorded on the job, and the calls it took."""

    account_id: str
    job_kind: str
    job_id: str
    chunk_no: int
    counters: dict[str, int]
    skipped: dict[str, int]
    counted: bool
    """False when the chunk had been counted before (a redelivered message): its counters were ignored."""
    completed_job: bool
    superoffice_calls: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready (the idempotency record and the log line)."""
        return {
            "account_id": self.account_id,
            "job": f"{self.job_kind}/{self.job_id}/{self.chunk_no}",
            "counters": self.counters,
            "skipped": self.skipped,
            "counted": self.counted,
            "completed_job": self.completed_job,
            "superoffice_calls": self.superoffice_calls,
        }


def parse_chunk(body: str) -> ReconcileChunk:
    """The chunk a message carries (raises ``ValidationError`` for a body that is not one)."""
    return ReconcileChunk.model_validate_json(body)


def reconcile_message(
    body: str,
    config: FunctionConfig,
    *,
    stores: Stores | None = None,
    open_client: ClientOpener = open_superoffice,
) -> ChunkResult:
    """Reconcile the chunk of one reconcile-queue message and count it into its job."""
    return reconcile_chunk(parse_chunk(body), config, stores=stores, open_client=open_client)


def reconcile_chunk(
    chunk: ReconcileChunk,
    config: FunctionConfig,
    *,
    stores: Stores | None = None,
    open_client: ClientOpener = open_superoffice,
) -> ChunkResult:
    """Reconcile one chunk, judge it when it is a send-out check, count it into its job."""
    stores = stores or Stores.of(config)
    settings = stores.accounts.get(chunk.account_id)
    tally = Tally.for_job(chunk.job.kind)
    done = _reconcile(chunk, settings, config, stores, open_client, tally)
    if done.cards:
        # Before the chunk is counted: a counted chunk is one whose cards are kept (contact_cards).
        contact_cards.write_part(
            config.artifacts_bucket, chunk.account_id, chunk.job.id, chunk.job.chunk_no, done.cards
        )
    if chunk.trigger is Trigger.PRESEND:
        tally.add(
            sendout_check.check_chunk(
                config, stores.contacts, chunk, settings, done.unreadable, done.contacts
            )
        )
    return _count(chunk, stores, tally, done.calls)


@dataclass
class _Reconciled:
    """What reconciling a chunk left for the verdicts and the log."""

    contacts: Mapping[str, Contact] | None = None
    """The chunk's contacts as reconciled or last known (None: not read; the verdicts read them)."""
    unreadable: set[str] = field(default_factory=set)
    """Recipients whose SuperOffice state could not be read during a send-out check."""
    calls: dict[str, int] = field(default_factory=dict)
    cards: list[dict[str, Any]] = field(default_factory=list)
    """An import's contact cards this chunk created or updated (`contact_cards.card`)."""


def _reconcile(
    chunk: ReconcileChunk,
    settings: AccountSettings | None,
    config: FunctionConfig,
    stores: Stores,
    open_client: ClientOpener,
    tally: Tally,
) -> _Reconciled:
    """The chunk's SuperOffice work, when the account and the trigger call for any."""
    if settings is None or not _may_call_superoffice(settings, chunk):
        # Integration none (or sync off for a sync trigger, or the account is gone): nothing to do,
        # and above all no SuperOffice call. The chunk still counts, so the job can complete.
        logger.info(
            "chunk needs no SuperOffice work",
            extra={"account_id": chunk.account_id, "trigger": chunk.trigger, "known": settings is not None},
        )
        return _Reconciled()
    checking = chunk.trigger is Trigger.PRESEND
    if checking and sendout_check.is_fresh(stores.freshness, chunk, settings):
        logger.info(
            "recipients reconciled moments ago; no SuperOffice read", extra={"account_id": chunk.account_id}
        )
        return _Reconciled()
    started = datetime.now(UTC)
    done = _Reconciled()
    try:
        with open_client(settings, config, **_call_budget(chunk, config)) as client:
            work = _ChunkWork(chunk, settings, client, stores, tally)
            try:
                work.run()
            finally:
                done.calls = dict(client.calls)
                # Also when the chunk stopped half-way: the pulls written so far are announced now.
                work.announce_updates(config.event_bus_name)
    except (SuperOfficeError, CredentialsUnavailable) as exc:
        if not checking:
            raise  # SQS delivers the chunk again; a send-out check cannot wait for that
        done.contacts = sendout_check.keep_pending(stores.contacts, chunk)
        done.unreadable = set(done.contacts)
        logger.warning(
            "SuperOffice could not be read during a send-out check; the account's policy decides",
            extra={
                "account_id": chunk.account_id,
                "policy": settings.presend_on_superoffice_failure.value,
                "problem": str(exc),
            },
        )
        return done
    done.contacts = work.reconciled
    done.cards = list(work.cards.values())
    if checking:
        stores.freshness.mark(chunk.account_id, chunk.emails, started)
    return done


def _count(chunk: ReconcileChunk, stores: Stores, tally: Tally, calls: dict[str, int]) -> ChunkResult:
    """Record the chunk's counters on its job (once per chunk) and announce the job if this completed it."""
    recorded = stores.jobs.record_chunk(
        chunk.account_id, chunk.job.kind, chunk.job.id, chunk.job.chunk_no, tally.counters, tally.skipped
    )
    completed = (
        stores.jobs.try_complete(chunk.account_id, chunk.job.kind, chunk.job.id)
        if recorded.job.may_complete
        else None
    )
    if completed is not None:
        completion.announce(completed)
    result = ChunkResult(
        account_id=chunk.account_id,
        job_kind=chunk.job.kind,
        job_id=chunk.job.id,
        chunk_no=chunk.job.chunk_no,
        counters=dict(tally.counters),
        skipped=dict(tally.skipped),
        counted=recorded.counted,
        completed_job=completed is not None,
        superoffice_calls=calls,
    )
    logger.info("chunk reconciled", extra=result.summary())
    metrics.add_metric(name="ChunksReconciled", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ContactsFailed", unit=MetricUnit.Count, value=tally.counters[FAILED])
    metrics.add_metric(name="ContactsPushed", unit=MetricUnit.Count, value=tally.counters[PUSHED])
    metrics.add_metric(name="ContactsPulled", unit=MetricUnit.Count, value=tally.counters[PULLED])
    return result


def give_up(body: str, config: FunctionConfig, *, stores: Stores | None = None) -> None:
    """A chunk's last delivery failed: count its contacts as failed so the job can still complete.

    Called before the failure is re-raised and SQS moves the message to the dead-letter queue. Once
    per chunk, like ``record_chunk``: a chunk that was counted already stays as counted.
    """
    try:
        chunk = parse_chunk(body)
    except ValidationError:
        logger.error("a reconcile message that is not a chunk goes to the dead-letter queue")
        return
    stores = stores or Stores.of(config)
    jobs = stores.jobs
    try:
        jobs.mark_chunk_failed(
            chunk.account_id, chunk.job.kind, chunk.job.id, chunk.job.chunk_no, count=chunk.size
        )
    except (UnknownJob, ChunkOutOfRange) as exc:
        logger.error("a failed chunk names no job it belongs to", extra={"problem": str(exc)})
        return
    logger.error(
        "chunk failed on its last delivery; its contacts are counted as failed",
        extra={
            "account_id": chunk.account_id,
            "job": f"{chunk.job.kind}/{chunk.job.id}/{chunk.job.chunk_no}",
        },
    )
    metrics.add_metric(name="ChunksDeadLettered", unit=MetricUnit.Count, value=1)
    completed = jobs.try_complete(chunk.account_id, chunk.job.kind, chunk.job.id)
    if completed is not None:
        completion.announce(completed)


def _call_budget(chunk: ReconcileChunk, config: FunctionConfig) -> dict[str, float]:
    # A send-out check answers within its time budget; other chunks may wait for SuperOffice longer.
    return {"timeout_s": config.presend_superoffice_timeout_s} if chunk.trigger is Trigger.PRESEND else {}


def _may_call_superoffice(settings: AccountSettings, chunk: ReconcileChunk) -> bool:
    # An import reads SuperOffice whenever the account is integrated; every other trigger is the
    # legal-basis sync, which the account may have switched off.
    return settings.talks_to_superoffice if chunk.trigger is Trigger.IMPORT else settings.syncs


@dataclass
class _PushResult:
    records: list[DecisionRecord] = field(default_factory=list)
    pushed: bool = False
    failed: bool = False
    made: dict[Purpose, PushedState] = field(default_factory=dict)
    """Pushes made for this contact, kept across write attempts: a contact read again after a conflict
    does not carry them yet, and without them SuperOffice's echo would be misdated."""


@dataclass(frozen=True)
class PlannedContact:
    """What reconciling one contact would do (a dry run): the contact as stored, its person's states as
    read, and the plan (None when no person is linked)."""

    email: str
    contact: Contact
    superoffice: Mapping[Purpose, ConsentState]
    plan: ContactPlan | None


def plan_chunk(
    chunk: ReconcileChunk, settings: AccountSettings, client: SuperOfficeClient, stores: Stores
) -> list[PlannedContact]:
    """A dry run of the worker on one chunk of a sync run: the same bulk reads (persons, contacts,
    duplicates, consent rows), links and plans as :func:`reconcile_chunk`, and no write on either side:
    no push, no contact, decision or job written."""
    planned: list[PlannedContact] = []
    _ChunkWork(chunk, settings, client, stores, Tally.for_job(chunk.job.kind), observe=planned.append).run()
    return planned


class _ChunkWork:
    """The reconciliation of one chunk with an open SuperOffice client.

    With ``observe``, a dry run: each contact's plan is handed to it instead of being carried out.
    """

    def __init__(
        self,
        chunk: ReconcileChunk,
        settings: AccountSettings,
        client: SuperOfficeClient,
        stores: Stores,
        tally: Tally,
        observe: Callable[[PlannedContact], None] | None = None,
    ) -> None:
        self.observe = observe
        self.chunk = chunk
        self.settings = settings
        self.client = client
        self.contacts = stores.contacts
        self.decisions = stores.decisions
        self.updates = stores.updates
        self.written_updates: list[ContactConsentUpdated] = []
        """Announcements of the pulls written so far (in the outbox until published)."""
        self.tally = tally
        self.importing = chunk.trigger is Trigger.IMPORT
        self.trigger = chunk.trigger
        self.skew = timedelta(seconds=settings.skew_seconds)
        self.states: dict[int, dict[Purpose, ConsentState]] = {}
        self.read_at: dict[int, float] = {}
        """Persons whose states were read, and when (monotonic seconds)."""
        self.done_persons: set[int] = set()
        """Persons whose contact this chunk has reconciled."""
        self.member_ids: set[int] = set()
        """The persons the chunk names (an import's members), as against those its search found."""
        self.searched: set[str] = set()
        """The e-mails searched across SuperOffice for duplicates in this chunk, and when."""
        self.searched_at = datetime.now(UTC)
        self.reconciled: dict[str, Contact] = {}
        """Every contact of the chunk, by e-mail, as this worker left it (written or found in step)."""
        self.cards: dict[str, dict[str, Any]] = {}
        """An import's cards of the contacts it created or updated, by e-mail."""

    # -- the chunk ---------------------------------------------------------------------------------------

    def run(self) -> None:
        members = self._members()
        self.member_ids = {m.person_id for m in members}
        platform_emails = list(dict.fromkeys(normalise_email(e) for e in self.chunk.emails))
        known = self.contacts.get_many(self.chunk.account_id, [m.email for m in members] + platform_emails)
        candidates = members + self._search_duplicates(members, platform_emails, known)
        self._read_states(
            [m.person_id for m in candidates]
            + [c.superoffice_person_id for c in known.values() if c.superoffice_person_id is not None]
        )
        groups: dict[str, list[Member]] = {}
        for member in candidates:
            groups.setdefault(member.email, []).append(member)
        for email in platform_emails:
            groups.setdefault(email, [])
        for email, group in groups.items():
            self._reconcile_contact(email, group, known.get(email))

    def _members(self) -> list[Member]:
        """The chunk's persons with a usable e-mail (one bulk read); imports count and skip the others."""
        person_ids = list(dict.fromkeys(self.chunk.person_ids))
        if not person_ids:
            return []
        rows = {row.person_id: row for row in self.client.persons_by_ids(person_ids)}
        members: list[Member] = []
        for person_id in person_ids:
            self.tally.member()
            row = rows.get(person_id)
            found = SkipReason.PERSON_NOT_FOUND if row is None else member_of(row)
            if isinstance(found, SkipReason):
                self.tally.skip(found)
                continue
            members.append(found)
        return members

    def _search_duplicates(
        self, members: list[Member], platform_emails: list[str], known: Mapping[str, Contact]
    ) -> list[Member]:
        """Every other SuperOffice person with an e-mail of this chunk, in one bulk read.

        The oldest person with an address is the one synced, wherever it is in SuperOffice (not only
        in the selection or run at hand). Searched: the addresses an import would create a contact
        for, and known contacts whose last search is older than `DUPLICATES_RECHECK` (or that were
        never searched, like a contact the platform created before any person was linked to it).
        """
        now = datetime.now(UTC)
        addresses = dict.fromkeys([*(m.email for m in members), *platform_emails])
        # A new contact, or one whose last search is stale, records this search when it is written.
        self.searched = {
            email
            for email in addresses
            if needs_duplicate_search(known.get(email), now=now)
            or (known.get(email) is None and self.importing)
        }
        self.searched_at = now
        wanted = set(self.searched)
        if not wanted:
            return []
        have = {m.person_id for m in members}
        found: list[Member] = []
        for row in self.client.persons_by_emails(wanted):
            member = member_of(row)
            if isinstance(member, Member) and member.email in wanted and member.person_id not in have:
                found.append(member)
        return found

    def _read_states(self, person_ids: Iterable[int]) -> None:
        """SuperOffice's consent states of persons not read yet, in one bulk read."""
        wanted = [p for p in dict.fromkeys(person_ids) if p not in self.read_at]
        if not wanted:
            return
        self.states.update(_superoffice_states(self.client.consent_rows(wanted)))
        self.read_at.update(dict.fromkeys(wanted, time.monotonic()))

    def _filtered_out(self, person_id: int) -> bool:
        """An import of e-marketing-consented persons only, and the linked person is not one.

        Applied after linking, to the oldest person's state: a younger duplicate's consent neither
        admits nor excludes the contact, and the duplicates are still counted.
        """
        if not (self.importing and self.chunk.only_emarketing_consented):
            return False
        emarketing = self.states.get(person_id, {}).get(Purpose.EMARKETING)
        return not passes_filter(emarketing, only_emarketing_consented=True)

    # -- one contact ---------------------------------------------------------------------------------------

    def _reconcile_contact(self, email: str, members: list[Member], contact: Contact | None) -> None:
        """Link, decide, push, write one contact; on a version conflict, read it again and redo."""
        pushes = _PushResult()
        # Pushes that failed on an earlier write attempt of this contact: the state, and whether it is owed.
        failed_pushes: dict[Purpose, tuple[ConsentState, bool]] = {}
        stored = [contact]

        def attempt() -> None:
            try:
                self._reconcile_once(email, members, stored[0], pushes, failed_pushes)
            except VersionConflict:
                # Someone else wrote it since it was read: decide again on what is stored now. Pushes
                # already made show in the states read, so they are not made twice.
                stored[0] = self.contacts.get(self.chunk.account_id, email)
                raise

        write_optimistically(
            attempt, attempts=MAX_WRITE_ATTEMPTS, what=f"a contact of account {self.chunk.account_id}"
        )

    def _reconcile_once(
        self,
        email: str,
        members: list[Member],
        contact: Contact | None,
        pushes: _PushResult,
        failed_pushes: dict[Purpose, tuple[ConsentState, bool]],
    ) -> None:
        if contact is None and not (self.importing and members):
            return  # only an import creates contacts; a sync trigger naming no contact has nothing to do
        linking = self._link(email, members, contact)
        if email in self.searched:
            linking.contact.duplicates_checked_at = self.searched_at
        linking.contact.pushed.update(pushes.made)
        person_id = linking.contact.superoffice_person_id
        if person_id is None:
            # A platform contact no SuperOffice person has the e-mail of: nothing to reconcile with.
            if self.observe is not None and contact is not None:
                self.observe(PlannedContact(email, contact, {}, None))
                return
            self.reconciled[email] = linking.contact
            if not self.importing:
                self.tally.reconciled(pushed=pushes.pushed, pulled=False, failed=pushes.failed)
            return
        self._read_states([person_id, *linking.new_duplicates])
        if self._filtered_out(person_id):
            # Not imported (an existing contact is left as it is); its members still count.
            self.tally.filtered(linking.outcomes, conflicts=len(self._conflicts(linking, person_id)))
            return
        plan, now, conflicts = self._plan(linking, person_id, contact)
        if plan.pushes and self._read_long_ago(person_id):
            # SuperOffice's consent PUT takes no condition: a push decided on an old read would
            # overwrite a SuperOffice user's change made since. Read again (in bulk), plan again.
            self._read_again(person_id)
            plan, now, conflicts = self._plan(linking, person_id, contact)
        if self.observe is not None and contact is not None:
            self.observe(PlannedContact(email, contact, dict(self.states.get(person_id, {})), plan))
            return
        self._push(plan, person_id, now, pushes, failed_pushes)
        updates = self._updates(email, plan.records)
        # The contact, its decision records and its pulls' announcements in one transaction: a worker
        # stopping at any point (a timeout, a crash) leaves all or none, so no change is without its
        # evidence, and no pull goes unannounced.
        self.contacts.write(
            plan.contact,
            expected_version=None if contact is None else contact.version,
            changed=contact is None or _content(plan.contact) != _content(contact),
            items=self.decisions.items_for(self.chunk.account_id, email, pushes.records + plan.records)
            + self.updates.items_for(updates, now),
        )
        self.written_updates.extend(updates)
        self.reconciled[email] = plan.contact
        self.done_persons.add(person_id)
        if self.importing:
            self.tally.imported(
                linking.outcomes, person_id, push_failed=pushes.failed, conflicts=len(conflicts)
            )
            outcome = contact_cards.outcome_of(linking.outcomes.values())
            if outcome is not None:
                self.cards[email] = contact_cards.card(plan.contact, outcome)
        else:
            self.tally.reconciled(
                pushed=self._pushed_by_this_job(plan, pushes), pulled=plan.pulled, failed=pushes.failed
            )

    def _updates(self, email: str, records: list[DecisionRecord]) -> list[ContactConsentUpdated]:
        """`Contact Consent Updated` of each pull among a contact's decisions."""
        return [
            ContactConsentUpdated(
                account_id=self.chunk.account_id,
                email=email,
                purpose=r.purpose,
                legal_base=r.superoffice.legal_base,
                source=r.superoffice.source,
                changed_at=r.superoffice.changed_at,
                superoffice_person_id=r.superoffice.person_id,
                rule=r.rule,
                trigger=self.trigger,
                update_id=uuid.uuid4().hex,
            )
            for r in records
            if r.action == ACTION_PULL and r.superoffice is not None
        ]

    def announce_updates(self, bus_name: str) -> None:
        """Publish the chunk's pulls (ten per PutEvents) and clear them from the outbox.

        Best effort: what is not published stays in the outbox, and the 30-minute sweep publishes it."""
        if not self.written_updates:
            return
        try:
            completion.publish_updates(bus_name, self.updates, self.written_updates)
        except Exception as exc:  # the outbox keeps them; the chunk's work is done either way
            logger.warning(
                "consent updates not announced now; the sweep publishes them",
                extra={
                    "account_id": self.chunk.account_id,
                    "updates": len(self.written_updates),
                    "problem": str(exc),
                },
            )
            return
        metrics.add_metric(
            name="ConsentUpdatesPublished", unit=MetricUnit.Count, value=len(self.written_updates)
        )

    def _pushed_by_this_job(self, plan: ContactPlan, pushes: _PushResult) -> bool:
        """Pushed now, or by an earlier delivery of this job that stopped before counting the chunk
        (a push it made shows on the contact, or SuperOffice turned out to hold one still owed)."""
        if pushes.pushed or any(r.action == ACTION_PUSH_CONFIRMED for r in plan.records):
            return True
        return any(state.job_id == self.chunk.job.id for state in plan.contact.pushed.values())

    def _plan(
        self, linking: Linking, person_id: int, contact: Contact | None
    ) -> tuple[ContactPlan, datetime, list[int]]:
        """The contact's plan on the states read, the time it was made, and its duplicate conflicts."""
        conflicts = self._conflicts(linking, person_id)
        now = datetime.now(UTC)
        plan = plan_contact(
            linking.contact,
            self.states.get(person_id, {}),
            skew=self.skew,
            push_allowed=self.settings.syncs,
            trigger=self.trigger,
            now=now,
            duplicate_conflicts=conflicts,
            # A contact just created, or just relinked to an older person (whose states replace the
            # displaced one's), takes every state SuperOffice has, a withdrawal too.
            new=contact is None or contact.superoffice_person_id not in (None, person_id),
        )
        return plan, now, conflicts

    def _conflicts(self, linking: Linking, person_id: int) -> list[int]:
        return duplicate_conflicts(
            self.states.get(person_id, {}),
            {d: self.states.get(d, {}) for d in linking.new_duplicates},
        )

    def _read_long_ago(self, person_id: int) -> bool:
        read = self.read_at.get(person_id)
        return read is None or time.monotonic() - read > FRESH_READ_S

    def _read_again(self, person_id: int) -> None:
        """Read SuperOffice's states again: this person's and those of the chunk's persons still to come."""
        again = [person_id, *(p for p in self.read_at if p not in self.done_persons and p != person_id)]
        fresh = _superoffice_states(self.client.consent_rows(again))
        read = time.monotonic()
        for pid in again:
            self.states[pid] = fresh.get(pid, {})
            self.read_at[pid] = read

    def _link(self, email: str, members: list[Member], contact: Contact | None) -> Linking:
        import_id = self.chunk.job.id if self.importing else None
        if contact is None:
            assert import_id is not None  # checked by the caller: only imports create contacts
            return new_contact(
                self.chunk.account_id,
                members,
                import_id=import_id,
                now=datetime.now(UTC),
                import_members=self.member_ids,
            )
        return link_members(contact, members, import_id=import_id, import_members=self.member_ids)

    def _push(
        self,
        plan: ContactPlan,
        person_id: int,
        now: datetime,
        result: _PushResult,
        failed_before: dict[Purpose, tuple[ConsentState, bool]],
    ) -> None:
        """Make the plan's pushes; a failed one stays pending on the contact and fails only this contact."""
        for push in plan.pushes:
            earlier = failed_before.get(push.purpose)
            if earlier is not None and earlier[0] == push.state:
                # Failed on an earlier write attempt of this contact: not tried again in this chunk.
                if earlier[1]:
                    plan.contact.pending[push.purpose] = push.state
                continue
            action, error = self._set_consent(person_id, push)
            if error is None:
                result.pushed = True
                plan.contact.pending.pop(push.purpose, None)
                result.made[push.purpose] = PushedState(
                    legal_base=push.state.legal_base,
                    changed_at=push.state.changed_at,
                    pushed_at=now,
                    confirmed_at=datetime.now(UTC),
                    job_id=self.chunk.job.id,
                    changed_in=push.state.changed_in
                    if isinstance(push.state, StoredConsent)
                    else Side.PLATFORM,
                )
                plan.contact.pushed[push.purpose] = result.made[push.purpose]
                # SuperOffice holds the pushed state now; deciding again (a write conflict) sees it.
                self.states.setdefault(person_id, {})[push.purpose] = push.state.model_copy(
                    update={"changed_at": now}
                )
            else:
                result.failed = True
                # Retrying cannot fix an unknown key or a missing person (the log says what to fix);
                # an unavailable SuperOffice can, so that push stays owed for the next run.
                owed = action == _ERROR_UNAVAILABLE
                failed_before[push.purpose] = (push.state, owed)
                if owed:
                    plan.contact.pending[push.purpose] = push.state
                else:
                    plan.contact.pending.pop(push.purpose, None)
            result.records.append(
                record(
                    push.decision,
                    push.purpose,
                    push.state,
                    push.superoffice,
                    person_id,
                    self.trigger,
                    now,
                    action,
                    push.duplicate_conflicts,
                    error=error,
                )
            )

    def _set_consent(self, person_id: int, push: Push) -> tuple[str, str | None]:
        """One PUT; returns the decision-log action and, when it failed, why.

        The client matches the platform's legal base and source to the tenant's keys itself.
        """
        try:
            self.client.set_consent(
                person_id,
                push.purpose.value,
                push.state.legal_base,
                push.state.source,
                push_comment(push.state),
            )
        except UnknownKey as exc:
            return "error:unknown_key", str(exc)
        except NotFound as exc:
            return "error:person_not_found", str(exc)
        except BadRequest as exc:
            return "error:rejected", str(exc)
        except (Unavailable, Throttled) as exc:
            logger.warning(
                "push to SuperOffice failed; it stays pending",
                extra={"account_id": self.chunk.account_id, "person_id": person_id, "problem": str(exc)},
            )
            return _ERROR_UNAVAILABLE, str(exc)
        return ACTION_PUSH, None


_ERROR_UNAVAILABLE = "error:superoffice_unavailable"


def _content(contact: Contact) -> dict[str, Any]:
    # What a write would change; the store sets these itself.
    return contact.model_dump(exclude={"version", "updated_at", "platform_changed_at"})
