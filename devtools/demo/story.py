"""The demo's story: its contacts, its steps in order, and the check each step makes of its outcome.

The story goes through the real code paths only: the account is configured as `consent-sync account
set` does it (`operator.set_account`), the platform's events are put on the bus, the 30-minute schedule
is fired as EventBridge would fire it, jobs are followed with the functions the CLI uses
(`devtools.imports`, `devtools.syncing`, `devtools.presend`), and contacts and the decision log are
read through the stores. A failed check is recorded against its step; a step the later ones need
stops the story (`StoryAborted`).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from consent_sync.domain.consent import WITHDRAWN, is_active
from consent_sync.domain.contact import Contact, DecisionRecord
from consent_sync.domain.emails import InvalidEmail, normalise_email, validate_email
from consent_sync.domain.vocabulary import JobKind, JobStatus, Purpose, Side
from consent_sync.events import PLATFORM_SOURCE, ContactConsentChanged, SourceKind
from consent_sync.flows.platform_change import platform_run_id
from consent_sync.flows.sync_run import run_id_for
from consent_sync.store.artifacts import ArtifactMissing
from consent_sync.store.aws import client
from consent_sync.store.bus import publish
from consent_sync.store.contacts import ContactStore
from consent_sync.store.decisions import DecisionLog
from consent_sync.store.jobs import JobStore
from devtools import contacts, imports, operator, presend, syncing
from devtools.local import LocalStack
from devtools.local.outgoing import OutgoingEvents
from devtools.progress import progress_bars
from devtools.simulator.testing import SimulatorHandle
from devtools.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"

PERSONS = 3000
SEED = 1
SELECTION = 2  # the seeded "Customers" selection (30 % of the persons)
PROJECT = 2  # the seeded "Partner event" project (5 % of the persons)
STRANGER = "new.subscriber@example.org"  # a platform contact SuperOffice never heard of
SKEW_GAP = timedelta(seconds=2)  # both sides edit contact C this far apart (the window is 5 s)
WAIT_S = 60.0
PUSH_TARGET_S = 10.0
PULL_TARGET_S = 10.0  # a SuperOffice change on the platform through the webhook (design §1)
"""A platform change reaches SuperOffice within this many seconds locally, with no run (docs/architecture.md,
"Platform changes")."""
RESULTS_GRACE_S = 10.0
"""How long a finished check's results file may still be missing (`Story._verdicts`)."""

STEP_INDENT = "  "
"""Bars sit under their step's line."""


class StoryAborted(Exception):
    """A step could not go on; the later steps depend on it."""


@dataclass
class Person:
    """One of the story's contacts: a letter, the SuperOffice person, the contact's e-mail."""

    label: str
    person_id: int
    email: str
    name: str


@dataclass
class Run:
    """A sync, as the summary shows it."""

    what: str
    run_id: str
    document: dict[str, Any]
    trigger: str
    started: datetime
    finished: datetime


@dataclass
class Check:
    """A send-out check (a stage of a send-out) and its verdicts."""

    sendout: str
    stage: str
    channel: str
    check_id: str
    recipients: list[str]
    results: dict[str, Any]
    job_counters: dict[str, int]
    superoffice_calls: int
    started: datetime
    finished: datetime

    def verdict(self, email: str) -> str:
        if email in self.results["allowed"]:
            return "allowed"
        if email in self.results["stale"]:
            return "stale"
        reasons = {item["email"]: item["reason"] for item in self.results["blocked"]}
        return reasons.get(email, "-")


@dataclass
class Story:
    """The running story: the stack, the simulator, what each step did, and what failed."""

    out: Console
    err: Console
    stack: LocalStack
    sim: SimulatorHandle
    cs: Stack
    account: str
    failures: list[str] = field(default_factory=list)
    steps: list[tuple[str, bool, float, str]] = field(default_factory=list)
    crm: dict[int, dict[str, Any]] = field(default_factory=dict)
    imports: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    duplicated: list[tuple[str, int, list[int]]] = field(default_factory=list)
    people: dict[str, Person] = field(default_factory=dict)
    changes: list[dict[str, str]] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    audit_rows: list[dict[str, Any]] = field(default_factory=list)
    _step: str = ""

    def __post_init__(self) -> None:
        self.contacts = ContactStore(self.cs.table_name)
        self.decisions = DecisionLog(self.cs.table_name)
        self.jobs = JobStore(self.cs.table_name)
        # The platform's subscription to consent-sync's events.
        # The platform's subscription to the events the story follows (not the imports' consent updates).
        self.listener = OutgoingEvents(
            client("sqs"),
            client("events"),
            self.cs.bus_name,
            detail_types=("Sync Run Completed", "Sendout Consent Checked"),
            name="demo-platform",
        )

    # ------------------------------------------------------------------ bookkeeping

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[list[str]]:
        """One step: yields a list for its one-line outcome; an exception aborts the story."""
        self._step, before = title, len(self.failures)
        notes: list[str] = []
        started = time.monotonic()
        ok = True
        try:
            yield notes
        except StoryAborted as exc:
            self.failures.append(f"{title}: {exc}")
            ok = False
            raise
        except Exception as exc:  # anything else a step hits is a failure of that step, then stop
            self.failures.append(f"{title}: {type(exc).__name__}: {exc}")
            ok = False
            raise StoryAborted(str(exc)) from exc
        finally:
            ok = ok and len(self.failures) == before
            seconds = time.monotonic() - started
            note = "; ".join(notes)
            failed = [failure.removeprefix(f"{title}: ") for failure in self.failures[before:]]
            self.steps.append((title, ok, seconds, "\n".join(failed)))
            mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
            self.out.print(f"{mark} {title} [dim]({seconds:.1f} s)[/dim]", highlight=False)
            if note:
                self.out.print(f"    {note}", highlight=False)

    def check(self, ok: bool, message: str) -> bool:
        """Record `message` as a failure of the current step unless `ok`."""
        if not ok:
            self.failures.append(f"{self._step}: {message}")
        return ok

    def need(self, ok: bool, message: str) -> None:
        """Like `check`, but the story cannot go on without it."""
        if not ok:
            raise StoryAborted(message)

    def contact(self, email: str) -> Contact:
        found = self.contacts.get(self.account, email)
        if found is None:
            raise StoryAborted(f"no contact {email}")
        return found

    def superoffice_base(self, person_id: int, purpose: str = "EMARKETING") -> str | None:
        info = self.sim.control.consent(person_id, purpose)
        return None if info is None else str(info["LegalBaseKey"])

    def platform_base(self, email: str, purpose: Purpose = Purpose.EMARKETING) -> str | None:
        found = self.contacts.get(self.account, email)
        consent = None if found is None else found.consents.get(purpose)
        return None if consent is None else consent.legal_base

    def superoffice_calls(self) -> int:
        """Tenant API requests served so far (the control API and logins are not counted)."""
        return sum(n for key, n in self.sim.control.counts().items() if not key.startswith("status:"))

    # ------------------------------------------------------------------ the script

    def tell(self) -> None:
        """Every step in order; raises `StoryAborted` at the first step the later ones cannot do without."""
        self.describe_crm()
        self.configure()
        self.import_source("selection", SELECTION, "Customers", only_consented=True)
        self.import_source("project", PROJECT, "Partner event", only_consented=False)
        self.duplicates()
        self.pick_people()
        self.superoffice_withdrawal()
        self.platform_unsubscribe()
        self.both_sides()
        self.dropped_delivery()
        self.scheduled_sync()
        self.checklist()
        self.sms_checklist()
        self.sending()
        self.final_checks()

    # ------------------------------------------------------------------ 1-2: the CRM and the account

    def describe_crm(self) -> None:
        with self.step("read the seeded SuperOffice CRM") as notes:
            self.crm = {int(p["person_id"]): p for p in self.sim.control.export_persons()}
            self.need(len(self.crm) == PERSONS, f"the simulator holds {len(self.crm)} persons, not {PERSONS}")
            groups = Counter(
                normalise_email(p["primary_email"]) for p in self.crm.values() if p["primary_email"]
            )
            notes.append(
                f"{len(self.crm):,} persons, {sum(1 for n in groups.values() if n > 1)} e-mail addresses "
                f"shared by several persons, {len(self.sim.control.selection_ids())} selections, "
                f"{len(self.sim.control.project_ids())} projects"
            )

    def configure(self) -> None:
        with self.step(f"configure account {self.account} (operator.set_account)") as notes:
            sample = json.loads((EVENTS / "integration-settings-updated.json").read_text())["detail"]
            started = datetime.now(UTC)
            settings = operator.set_account(
                self.cs,
                self.account,
                operator.AccountOptions(
                    integration="superoffice",
                    legal_basis_sync=True,
                    superoffice_url=self.sim.api_url,
                    auth="basic",
                    allow_insecure=True,
                    username=self.sim.username,
                    password=self.sim.password,
                    presend_on_superoffice_failure=sample["presend_on_superoffice_failure"],
                ),
            )
            self.check(settings.syncs, "the stored settings do not sync")
            secret = settings.superoffice.credentials_secret_arn if settings.superoffice else ""
            self.check(
                f":secret:{self.cs.secret_prefix}" in secret, "the credentials are not in the stack's secrets"
            )
            # Switching sync on starts a baseline run at once; follow it through its completion event.
            baseline = self.listener.wait_for("Sync Run Completed", lambda d: d["kind"] == "baseline")
            self.need(baseline is not None, "the baseline run did not complete")
            assert baseline is not None
            self.runs.append(
                Run(
                    "baseline (sync switched on)",
                    baseline["run_id"],
                    baseline,
                    "baseline",
                    started,
                    datetime.now(UTC),
                )
            )
            notes.append(
                f"integration {settings.integration}, legal-basis sync on, credentials in Secrets "
                f"Manager; the baseline run completed ({baseline['reconciled']} contacts yet)"
            )

    # ------------------------------------------------------------------ 3: imports

    def import_source(self, kind: str, source_id: int, name: str, only_consented: bool) -> None:
        what = f"{kind} {source_id} \u201c{name}\u201d"
        condition = "only e-marketing consented" if only_consented else "all members"
        with self.step(f"import {what} ({condition})") as notes:
            request = imports.request_import(
                self.cs,
                self.account,
                SourceKind(kind),
                source_id,
                only_emarketing_consented=only_consented,
            )
            label = f"import {kind} {source_id}"
            with progress_bars(self.err, indent=STEP_INDENT) as advance:
                job = imports.wait_for_import(
                    self.cs,
                    request,
                    lambda done, total: advance(label, done, total),
                    timeout_s=WAIT_S,
                )
            document = imports.import_document(request, job)
            self.imports.append((what, condition, document))
            self.need(document["status"] == "completed", f"the import ended {document['status']}")
            skipped = document["skipped"]
            accounted = (
                document["created"]
                + document["updated"]
                + document["duplicates"]
                + document["failed"]
                + sum(skipped.values())
            )
            self.check(accounted == document["members"], f"{accounted} of {document['members']} counted")
            self.check(document["created"] > 0, "nothing was created")
            if only_consented:
                self.check(skipped["no_emarketing_consent"] > 0, "no member was skipped for lack of consent")
            notes.append(
                f"{document['members']} members: {document['created']} created, {document['updated']} "
                f"updated, {document['duplicates']} duplicates, skipped "
                + ", ".join(f"{n} {reason}" for reason, n in skipped.items() if n)
            )

    def duplicates(self) -> None:
        """The contacts whose e-mail several SuperOffice persons share: linked to the oldest one."""
        with self.step("look at the contacts whose e-mail several persons share") as notes:
            linked = [item.email for item in self.contacts.linked(self.account)]
            for email, found in sorted(self.contacts.get_many(self.account, linked).items()):
                if not found.duplicate_person_ids or found.superoffice_person_id is None:
                    continue
                persons = [found.superoffice_person_id, *found.duplicate_person_ids]
                oldest = min(persons, key=lambda p: (self.crm[p]["registered"], p))
                self.check(
                    oldest == found.superoffice_person_id, f"{email} is not linked to the oldest person"
                )
                self.duplicated.append((email, found.superoffice_person_id, list(found.duplicate_person_ids)))
            notes.append(
                f"{len(self.duplicated)} contact(s), each linked to the oldest of its persons: "
                + "; ".join(f"{e} → person {p} (not {d})" for e, p, d in self.duplicated[:3])
            )

    # ------------------------------------------------------------------ 4: consent changes

    def pick_people(self) -> None:
        """A, B, C and D: members of both the selection and the project, e-marketing on, one person each."""
        with self.step("pick the story's contacts A, B, C and D") as notes:
            in_selection = {p for p, _ in self.sim.control.selection_members(SELECTION) if p}
            candidates = [m["person_id"] for m in self.sim.control.project_members(PROJECT)]
            for person_id in sorted(p for p in candidates if p in in_selection):
                person = self.crm[person_id]
                address = person["primary_email"]
                if not address or len(self.sim.control.persons_by_email(address)) != 1:
                    continue
                email = normalise_email(address)
                found = self.contacts.get(self.account, email)
                if found is None or found.superoffice_person_id != person_id:
                    continue
                store = found.consents.get(Purpose.STORE)
                if not is_active(found.consents.get(Purpose.EMARKETING)) or not is_active(store):
                    continue
                label = "ABCD"[len(self.people)]
                name = f"{person['first_name']} {person['last_name']}"
                self.people[label] = Person(label, person_id, email, name)
                if len(self.people) == 4:
                    break
            self.need(len(self.people) == 4, "fewer than 4 suitable contacts in both imports")
            notes.append(
                ", ".join(f"{p.label}: {p.name} (person {p.person_id})" for p in self.people.values())
            )

    def superoffice_withdrawal(self) -> None:
        a = self.people["A"]
        with self.step(
            f"a SuperOffice user withdraws A's e-marketing consent (person {a.person_id})"
        ) as notes:
            before = self.superoffice_base(a.person_id)
            # The platform's subscription to consent updates from now on (the imports announced theirs).
            updates = OutgoingEvents(
                client("sqs"),
                client("events"),
                self.cs.bus_name,
                detail_types=("Contact Consent Updated",),
                name="demo-updates",
            )
            at = datetime.now(UTC).replace(microsecond=0)
            self.sim.control.set_consent(
                a.person_id, "EMARKETING", WITHDRAWN, source="USER", at=at, comment="Asked by phone"
            )
            changed = time.monotonic()
            self.check(self.superoffice_base(a.person_id) == WITHDRAWN, "SuperOffice did not take it")
            # SuperOffice posts person.unconsented to the account's webhook; the pull follows.
            while self.platform_base(a.email) != WITHDRAWN and time.monotonic() - changed < WAIT_S:
                time.sleep(0.1)
            seconds = time.monotonic() - changed
            self.check(self.platform_base(a.email) == WITHDRAWN, "the webhook did not bring it over")
            self.check(seconds <= PULL_TARGET_S, f"it took {seconds:.1f} s to reach the platform")
            announced = updates.wait_for(
                "Contact Consent Updated", lambda d: d["email"] == a.email and d["trigger"] == "webhook"
            )
            self.check(announced is not None, "the platform was not told (Contact Consent Updated)")
            self.changes.append(
                {
                    "contact": "A",
                    "where": "SuperOffice user",
                    "change": f"EMARKETING {before} → WITHDRAWN at {at:%H:%M:%S}",
                    "expected": f"webhook: on the platform after {seconds:.1f} s, announced",
                }
            )
            notes.append(
                f"person.unconsented webhook: on the platform after {seconds:.1f} s "
                f"(target {PULL_TARGET_S:.0f} s), no sync run; Contact Consent Updated sent"
            )

    def dropped_delivery(self) -> None:
        d = self.people["D"]
        with self.step(
            f"SuperOffice drops the webhook of D's withdrawal (person {d.person_id}; it gives up after 3 tries)"
        ) as notes:
            before = self.platform_base(d.email)
            at = datetime.now(UTC).replace(microsecond=0)
            self.sim.control.set_webhook_settings(drop_all=True)
            try:
                self.sim.control.set_consent(d.person_id, "EMARKETING", WITHDRAWN, source="USER", at=at)
                self.sim.control.wait_webhooks_idle()
            finally:
                self.sim.control.clear_webhook_settings()
            time.sleep(1.5)  # what a delivery and its pull would take
            self.check(self.platform_base(d.email) == before, "the platform changed with no delivery")
            self.changes.append(
                {
                    "contact": "D",
                    "where": "SuperOffice user (delivery dropped)",
                    "change": f"EMARKETING {before} → WITHDRAWN at {at:%H:%M:%S}",
                    "expected": "pulled by the 30-minute sync, the safety net",
                }
            )
            notes.append("the platform still shows the consent: the 30-minute sync is the safety net")

    def platform_change(
        self, person: Person, legal_base: str, at: datetime, comment: str
    ) -> tuple[dict[str, Any], float]:
        """Put `Contact Consent Changed` on the bus as the platform does; follow the push it queues.

        Returns the push's run document and the seconds until SuperOffice showed the new state.
        """
        change = ContactConsentChanged(
            account_id=self.account,
            email=person.email,
            purpose=Purpose.EMARKETING,
            legal_base=legal_base,
            source="WEBFORM",
            comment=comment,
            changed_at=at,
        )
        sent = time.monotonic()
        event_id = publish(self.cs.bus_name, change, source=PLATFORM_SOURCE)
        request = syncing.RunRequest(self.account, platform_run_id(event_id), "platform")
        started = datetime.now(UTC)
        with progress_bars(self.err, indent=STEP_INDENT) as advance:
            (document,) = syncing.wait_for_runs(
                self.cs, [request], lambda _, done, total: advance(f"push {person.label}", done, total), 30
            )
        while self.superoffice_base(person.person_id) != WITHDRAWN and time.monotonic() - sent < 30:
            time.sleep(0.1)
        seconds = time.monotonic() - sent
        self.runs.append(
            Run(
                f"platform change of {person.label}",
                request.run_id,
                document,
                "platform",
                started,
                datetime.now(UTC),
            )
        )
        return document, seconds

    def platform_unsubscribe(self) -> None:
        b = self.people["B"]
        with self.step("B unsubscribes on the platform (Contact Consent Changed)") as notes:
            before = self.platform_base(b.email)
            at = datetime.now(UTC).replace(microsecond=0)
            document, seconds = self.platform_change(b, WITHDRAWN, at, "Unsubscribe link in a newsletter")
            self.check(document["status"] == "completed", f"the push ended {document['status']}")
            self.check(document["pushed"] == 1, f"pushed {document['pushed']}, not 1")
            self.check(self.superoffice_base(b.person_id) == WITHDRAWN, "SuperOffice does not show it")
            self.check(seconds <= PUSH_TARGET_S, f"it took {seconds:.1f} s to reach SuperOffice")
            self.check(self.contact(b.email).pending == {}, "a push is still owed")
            self.changes.append(
                {
                    "contact": "B",
                    "where": "platform (unsubscribe)",
                    "change": f"EMARKETING {before} → WITHDRAWN at {at:%H:%M:%S}",
                    "expected": f"pushed at once: in SuperOffice after {seconds:.1f} s",
                }
            )
            notes.append(
                f"in SuperOffice after {seconds:.1f} s (target {PUSH_TARGET_S:.0f} s), no run needed"
            )

    def both_sides(self) -> None:
        c = self.people["C"]
        gap = int(SKEW_GAP.total_seconds())
        title = f"both sides edit C within {gap} s: platform withdraws, SuperOffice re-confirms later"
        with self.step(title) as notes:
            before = self.platform_base(c.email)
            t = datetime.now(UTC).replace(microsecond=0)
            # The SuperOffice user's edit is the LATER one: "the later change wins" alone would keep
            # the consent. Within the skew window the more restrictive state wins: the withdrawal.
            self.sim.control.set_consent(
                c.person_id, "EMARKETING", "61A", source="USER", at=t, comment="Confirmed on the phone"
            )
            document, seconds = self.platform_change(
                c, WITHDRAWN, t - SKEW_GAP, "Unsubscribe link in a newsletter"
            )
            self.check(document["pushed"] == 1, f"pushed {document['pushed']}, not 1")
            self.check(self.superoffice_base(c.person_id) == WITHDRAWN, "SuperOffice kept the consent")
            self.check(self.platform_base(c.email) == WITHDRAWN, "the platform lost the withdrawal")
            latest = self._latest(c.email, "platform")
            rule = "-" if latest is None else latest.rule
            self.check(rule == "skew_restrictive", f"decided by {rule}, not skew_restrictive")
            self.changes.append(
                {
                    "contact": "C",
                    "where": f"both, {gap} s apart",
                    "change": f"platform EMARKETING {before} → WITHDRAWN at {t - SKEW_GAP:%H:%M:%S}; "
                    f"SuperOffice user 61A at {t:%H:%M:%S}",
                    "expected": f"the withdrawal wins on both sides ({rule})",
                }
            )
            notes.append(f"rule {rule}: WITHDRAWN on both sides, pushed to SuperOffice in {seconds:.1f} s")

    def _latest(self, email: str, trigger: str) -> DecisionRecord | None:
        for record in self.decisions.for_contact(self.account, email, 20):
            if record.purpose is Purpose.EMARKETING and record.trigger.value == trigger:
                return record
        return None

    # ------------------------------------------------------------------ 5: the 30-minute sync

    def scheduled_sync(self) -> None:
        d = self.people["D"]
        with self.step("the 30-minute schedule fires (ScheduledSyncFunction)") as notes:
            started = datetime.now(UTC)
            (event,) = self.stack.runtime.fire_schedule("ScheduledSyncFunction")
            request = syncing.RunRequest(self.account, run_id_for(None, event["id"]), "scheduled")
            with progress_bars(self.err, indent=STEP_INDENT) as advance:
                (document,) = syncing.wait_for_runs(
                    self.cs,
                    [request],
                    lambda account, done, total: advance(f"sync {account}", done, total),
                    WAIT_S,
                )
            self.runs.append(
                Run(
                    "the 30-minute schedule",
                    request.run_id,
                    document,
                    "scheduled",
                    started,
                    datetime.now(UTC),
                )
            )
            self.check(document["status"] == "completed", f"the run ended {document['status']}")
            self.check(document["pulled"] >= 1, "nothing was pulled")
            self.check(document["failed"] == 0, f"{document['failed']} contacts failed")
            announced = self.listener.wait_for("Sync Run Completed", lambda d: d["run_id"] == request.run_id)
            counts = ("kind", *syncing.RUN_COUNTERS)
            self.check(
                announced is not None and all(announced[k] == document[k] for k in counts),
                f"Sync Run Completed says {announced}, the run job {document}",
            )
            consent = self.contact(d.email).consents.get(Purpose.EMARKETING)
            self.check(
                consent is not None
                and (consent.legal_base, consent.changed_in) == (WITHDRAWN, Side.SUPEROFFICE),
                "D's withdrawal did not reach the platform",
            )
            latest = self._latest(d.email, "scheduled")
            self.check(latest is not None and latest.action == "pull", "no pull of D in the decision log")
            notes.append(
                "Sync Run Completed: "
                + ", ".join(f"{name} {document[name]}" for name in syncing.RUN_COUNTERS)
                + "; D's withdrawal is on the platform"
            )

    # ------------------------------------------------------------------ 6: send-out checks

    def run_check(self, sendout: str, stage: str, channel: str, recipients: list[str]) -> Check:
        calls = self.superoffice_calls()
        started = datetime.now(UTC)
        check_id = presend.request_check(self.cs, self.account, sendout, channel, stage, recipients)
        with progress_bars(self.err, indent=STEP_INDENT) as advance:
            results = self._verdicts(
                check_id, lambda done, total: advance(f"{stage} {sendout} ({channel})", done, total)
            )
        job = self.jobs.get(self.account, JobKind.SENDOUT, check_id)
        check = Check(
            sendout,
            stage,
            channel,
            check_id,
            recipients,
            results,
            {} if job is None else dict(job.counters),
            self.superoffice_calls() - calls,
            started,
            datetime.now(UTC),
        )
        self.checks.append(check)
        self.check(job is not None and job.status is JobStatus.COMPLETED, "the check did not complete")
        judged = results["allowed"] + results["stale"] + [b["email"] for b in results["blocked"]]
        self.check(sorted(judged) == sorted(set(recipients)), "not every recipient has one verdict")
        self.check(not results["stale"], f"{len(results['stale'])} verdicts are stale")
        self.check(len(results["allowed"]) > 0, "nobody may receive it")
        announced = self.listener.wait_for(
            "Sendout Consent Checked", lambda d: d["results_uri"].endswith(f"/{check_id}.json")
        )
        self.check(announced is not None, "no Sendout Consent Checked event")
        return check

    def _verdicts(self, check_id: str, progress: presend.Progress) -> dict[str, Any]:
        """`presend.wait_for_verdicts`, asked again while the results file is not there yet.

        The worker marks the check's job completed (`try_complete`) before it writes the merged
        results, so for a moment a finished job has no results file.
        """
        deadline = time.monotonic() + RESULTS_GRACE_S
        while True:
            try:
                return presend.wait_for_verdicts(self.cs, self.account, check_id, progress)
            except ArtifactMissing:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def expect_blocked(self, check: Check, labels: str) -> None:
        for label in labels:
            person = self.people[label]
            verdict = check.verdict(person.email)
            self.check(verdict == "emarketing_withdrawn", f"{label} is {verdict}, not emarketing_withdrawn")

    def checklist(self) -> None:
        with self.step("the newsletter reaches Checklist (e-mail, every contact)") as notes:
            everyone = [linked.email for linked in self.contacts.linked(self.account)]
            check = self.run_check("newsletter", "checklist", "email", [*everyone, STRANGER])
            self.expect_blocked(check, "ABC")
            self.check(check.verdict(STRANGER) == "unknown_contact", "the stranger is not unknown_contact")
            notes.append(self._check_note(check))

    def partner_event_recipients(self) -> list[str]:
        """The project's members as the platform addresses them: valid primary e-mails, each once."""
        emails: dict[str, None] = {}
        for member in self.sim.control.project_members(PROJECT):
            address = self.crm[member["person_id"]]["primary_email"]
            try:
                emails[validate_email(address)] = None
            except InvalidEmail:
                continue
        return list(emails)

    def sms_checklist(self) -> None:
        with self.step("an SMS reminder reaches Checklist (partner-event contacts with a mobile)") as notes:
            invited = self.contacts.get_many(self.account, self.partner_event_recipients())
            with_mobile = [email for email, found in invited.items() if found.card.mobile]
            self.need(len(with_mobile) > 0, "no invited contact has a mobile number")
            check = self.run_check("partner-event-sms", "checklist", "sms", with_mobile)
            for person in self.people.values():
                if person.email in with_mobile:
                    self.expect_blocked(check, person.label)
            notes.append(self._check_note(check))

    def sending(self) -> None:
        with self.step("the scheduled partner-event invitation is sent (Sending, e-mail)") as notes:
            recipients = self.partner_event_recipients()
            check = self.run_check("partner-event", "sending", "email", recipients)
            self.expect_blocked(check, "ABC")
            notes.append(self._check_note(check))

    def _check_note(self, check: Check) -> str:
        reasons = Counter(item["reason"] for item in check.results["blocked"])
        ours = [p.label for p in self.people.values() if p.email in check.recipients]
        return (
            f"{len(check.results['allowed'])} allowed, {len(check.results['blocked'])} blocked ("
            + ", ".join(f"{n} {reason}" for reason, n in reasons.most_common())
            + f"); {_and(ours)} blocked; {check.superoffice_calls} SuperOffice calls"
        )

    # ------------------------------------------------------------------ the end

    def final_checks(self) -> None:
        c = self.people["C"]
        with self.step("both sides agree, nothing rejected, no handler failed") as notes:
            for person in self.people.values():
                so, pf = self.superoffice_base(person.person_id), self.platform_base(person.email)
                self.check(so == pf == WITHDRAWN, f"{person.label}: SuperOffice {so}, platform {pf}")
                self.check(self.contact(person.email).pending == {}, f"{person.label}: a push is still owed")
            self.audit_rows = contacts.audit(self.cs, self.account, c.email)
            self.check(len(self.audit_rows) > 0, "C's decision log is empty")
            sqs = client("sqs")
            for output in ("EventsDeadLetterQueueUrl", "ReconcileDeadLetterQueueUrl"):
                attributes = sqs.get_queue_attributes(
                    QueueUrl=self.cs.output(output), AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]
                waiting = int(attributes["ApproximateNumberOfMessages"])
                self.check(waiting == 0, f"{waiting} messages in {output.removesuffix('Url')}")
            failed = [
                (function, invocation.error)
                for function in self.stack.runtime.functions
                for invocation in self.stack.runtime.invocations(function)
                if invocation.error is not None
            ]
            self.check(not failed, f"handler invocations failed: {failed}")
            runs = Counter(self.stack.runtime.invocation_counts)
            notes.append(
                f"{sum(runs.values())} handler invocations ("
                + ", ".join(f"{name} {n}" for name, n in sorted(runs.items()) if n)
                + ")"
            )


def _and(items: list[str]) -> str:
    """`A`, `A and B`, `A, B and C`."""
    return " and ".join(filter(None, [", ".join(items[:-1]), *items[-1:]]))
