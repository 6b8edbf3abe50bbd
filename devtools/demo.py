"""`make run` (issue #7): the local stack and the SuperOffice simulator, a scripted story, a summary.

The story goes through the real code paths only: the account is configured as `consent-sync account
set` does it (`operator.set_account`), the platform's events are put on the bus, the 30-minute schedule
is fired as EventBridge would fire it, jobs are followed with the functions the CLI uses
(`devtools.imports`, `devtools.syncing`, `devtools.presend`), and contacts and the decision log are
read through the stores. Every step checks its own outcome; the demo exits 1 naming what failed.

1. start the simulator (a seeded CRM of 3,000 persons) and the local stack from template.yaml;
2. configure the account (credentials into Secrets Manager, settings through the bus, baseline run);
3. import a selection (only e-marketing consented) and a project (all members);
4. change consents on both sides: a SuperOffice user withdraws person A, contact B unsubscribes on
   the platform, and contact C is edited on both sides 2 s apart (within the 5 s skew window);
5. fire the 30-minute schedule and follow its run;
6. check the newsletter at Checklist (e-mail), an SMS reminder at Checklist, and send the scheduled
   partner-event invitation (the Sending stage);
7. print the summary.

The handlers' JSON logs go to build/demo-handlers.log, so the terminal shows the story.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from consent_sync.events import PLATFORM_SOURCE, ContactConsentChanged, SourceKind
from consent_sync.store.artifacts import ArtifactMissing
from consent_sync.store.aws import client
from consent_sync.store.bus import publish
from consent_sync.store.contacts import ContactStore
from consent_sync.store.decisions import DecisionLog
from consent_sync.store.jobs import JobKind, JobStatus, JobStore
from consent_sync.sync.consent import WITHDRAWN, Purpose, Side, is_active
from consent_sync.sync.contact import Contact, DecisionRecord
from consent_sync.sync.emails import InvalidEmail, normalise_email, validate_email
from consent_sync.sync.platform import platform_run_id
from consent_sync.sync.schedule import run_id_for
from devtools import contacts, imports, operator, presend, syncing
from devtools.local import LocalStack, local_stack
from devtools.local.outgoing import OutgoingEvents
from devtools.progress import progress_bars
from devtools.simulator.testing import SimulatorHandle, running_simulator
from devtools.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
STACK_NAME = "consent-sync-demo"
HANDLER_LOG = ROOT / "build" / "demo-handlers.log"

PERSONS = 3000
SEED = 1
SELECTION = 2  # the seeded "Customers" selection (30 % of the persons)
PROJECT = 2  # the seeded "Partner event" project (5 % of the persons)
STRANGER = "new.subscriber@example.org"  # a platform contact SuperOffice never heard of
SKEW_GAP = timedelta(seconds=2)  # both sides edit contact C this far apart (the window is 5 s)
WAIT_S = 60.0
PUSH_TARGET_S = 10.0
RESULTS_GRACE_S = 10.0  # design §1.2: a platform change reaches SuperOffice within 10 s locally

STEP_INDENT = "  "
"""Bars sit under their step's line."""

SECTIONS = (
    "SuperOffice CRM",
    "Imports",
    "Consent changes",
    "Sync runs",
    "Send-out checks",
    "Blocked recipients",
    "Decision log",
    "Steps",
)
"""The summary's section titles, in order (the end-to-end test looks for them)."""


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
        self.listener = OutgoingEvents(
            client("sqs"), client("events"), self.cs.bus_name, name="demo-platform"
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
        """A, B and C: members of both the selection and the project, e-marketing on, one person each."""
        with self.step("pick the story's contacts A, B and C") as notes:
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
                label = "ABC"[len(self.people)]
                name = f"{person['first_name']} {person['last_name']}"
                self.people[label] = Person(label, person_id, email, name)
                if len(self.people) == 3:
                    break
            self.need(len(self.people) == 3, "fewer than 3 suitable contacts in both imports")
            notes.append(
                ", ".join(f"{p.label}: {p.name} (person {p.person_id})" for p in self.people.values())
            )

    def superoffice_withdrawal(self) -> None:
        a = self.people["A"]
        with self.step(
            f"a SuperOffice user withdraws A's e-marketing consent (person {a.person_id})"
        ) as notes:
            before = self.superoffice_base(a.person_id)
            at = datetime.now(UTC).replace(microsecond=0)
            self.sim.control.set_consent(
                a.person_id, "EMARKETING", WITHDRAWN, source="USER", at=at, comment="Asked by phone"
            )
            self.check(self.superoffice_base(a.person_id) == WITHDRAWN, "SuperOffice did not take it")
            self.check(self.platform_base(a.email) == before, "the platform changed before any sync")
            self.changes.append(
                {
                    "contact": "A",
                    "where": "SuperOffice user",
                    "change": f"EMARKETING {before} → WITHDRAWN at {at:%H:%M:%S}",
                    "expected": "pulled by the 30-minute sync",
                }
            )
            notes.append("the platform still shows the consent: only the next sync brings it over")

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
        a = self.people["A"]
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
            consent = self.contact(a.email).consents.get(Purpose.EMARKETING)
            self.check(
                consent is not None
                and (consent.legal_base, consent.changed_in) == (WITHDRAWN, Side.SUPEROFFICE),
                "A's withdrawal did not reach the platform",
            )
            latest = self._latest(a.email, "scheduled")
            self.check(latest is not None and latest.action == "pull", "no pull of A in the decision log")
            notes.append(
                "Sync Run Completed: "
                + ", ".join(f"{name} {document[name]}" for name in syncing.RUN_COUNTERS)
                + "; A's withdrawal is on the platform"
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
        results, so for a moment a finished job has no results file (see the demo's report).
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


# ---------------------------------------------------------------------- the summary


def print_summary(story: Story) -> None:
    out = story.out
    out.print()
    out.rule("[bold]Summary")
    if story.crm:
        _crm_section(story)
    if story.imports:
        _imports_section(story)
    if story.changes:
        _changes_section(story)
    if story.runs:
        _runs_section(story)
    if story.checks:
        _checks_sections(story)
    if story.audit_rows:
        _decision_log_section(story)
    out.rule(f"[bold]{SECTIONS[7]}")
    table = Table("", "step", "seconds", "what failed")
    for title, ok, seconds, failed in story.steps:
        table.add_row("[green]✓[/green]" if ok else "[red]✗[/red]", title, f"{seconds:.1f}", failed)
    out.print(table)


def _decision_log_section(story: Story) -> None:
    c = story.people["C"]
    story.out.rule(f"[bold]{SECTIONS[6]}[/bold] of C: {c.name}, {c.email} (newest first, times UTC)")
    table = Table("at", "purpose", "trigger", "SuperOffice", "platform", "winner", "rule", "action")
    for row in story.audit_rows:
        action = row["action"] if not row.get("error") else f"{row['action']} ({row['error']})"
        if row.get("duplicate_conflicts"):
            action += f"\nconflicting duplicates: {row['duplicate_conflicts']}"
        table.add_row(
            _time(row["at"]),
            row["purpose"],
            row["trigger"],
            _side(row["superoffice"]),
            _side(row["platform"]),
            row["winner"] or "",
            row["rule"],
            action,
        )
    story.out.print(table)


def _time(text: str) -> str:
    """An audit time (ISO 8601, UTC) to the second: `2026-11-23 01:04:09`."""
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _side(value: dict[str, Any] | None) -> str:
    if value is None:
        return "(absent)"
    source = f" ({value['source']})" if value.get("source") else ""
    person = f"\nperson {value['person_id']}" if value.get("person_id") else ""
    return f"{value['legal_base']}{source} changed {_time(value['changed_at'])}{person}"


def _crm_section(story: Story) -> None:
    story.out.rule(f"[bold]{SECTIONS[0]}[/bold] (the simulator, seed {SEED})")
    persons = story.crm.values()
    bases = Counter((p["consents"].get("EMARKETING") or {}).get("LegalBaseKey", "(no row)") for p in persons)
    groups = Counter(normalise_email(p["primary_email"]) for p in persons if p["primary_email"])
    table = Table("persons", "without e-mail", "sharing an e-mail", "EMARKETING legal bases", title=None)
    table.add_row(
        f"{len(story.crm):,}",
        str(sum(1 for p in persons if not p["primary_email"])),
        str(sum(n for n in groups.values() if n > 1)),
        ", ".join(f"{base} {n}" for base, n in sorted(bases.items())),
    )
    story.out.print(table)


def _imports_section(story: Story) -> None:
    story.out.rule(f"[bold]{SECTIONS[1]}[/bold]: what was imported and skipped (by reason)")
    reasons = sorted({reason for _, _, doc in story.imports for reason in doc.get("skipped", {})})
    table = Table(
        "source",
        "members",
        "created",
        "updated",
        "duplicates",
        "duplicate\nconflicts",
        *(f"skipped\n{reason}" for reason in reasons),
        "failed",
        "status",
    )
    for what, condition, doc in story.imports:
        table.add_row(
            f"{what}\n[dim]{condition}[/dim]",
            *(str(doc.get(name, "")) for name in ("members", "created", "updated", "duplicates")),
            str(doc.get("duplicate_conflicts", "")),
            *(str(doc.get("skipped", {}).get(reason, 0)) for reason in reasons),
            str(doc.get("failed", "")),
            doc["status"],
        )
    story.out.print(table)
    story.out.print(
        "[dim]duplicates: members not linked because an older person has the same e-mail; duplicate "
        "conflicts: a duplicate whose EMARKETING legal base differs from the linked person's (named in "
        "the decision log)[/dim]"
    )
    for email, person_id, others in story.duplicated:
        story.out.print(
            f"{email}: linked to person {person_id}, the oldest; also persons {others}", highlight=False
        )


def _changes_section(story: Story) -> None:
    story.out.rule(f"[bold]{SECTIONS[2]}[/bold] on both sides")
    table = Table(
        "contact", "changed by", "change", "how it reached the other side", "SuperOffice now", "platform now"
    )
    for row in story.changes:
        person = story.people[row["contact"]]
        table.add_row(
            f"{person.label}: {person.name}\n[dim]{person.email}[/dim]",
            row["where"],
            row["change"],
            row["expected"],
            story.superoffice_base(person.person_id) or "(absent)",
            story.platform_base(person.email) or "(absent)",
        )
    story.out.print(table)


def _runs_section(story: Story) -> None:
    story.out.rule(f"[bold]{SECTIONS[3]}[/bold]: what each sync pushed and pulled, and why")
    table = Table("sync", "run", *syncing.RUN_COUNTERS, "why (the decisions about A, B and C)")
    rows: list[tuple[str, str, dict[str, Any], str, datetime, datetime]] = [
        (run.what, run.run_id, run.document, run.trigger, run.started, run.finished) for run in story.runs
    ]
    for check in story.checks:
        what = f"send-out gate: {check.sendout} at {check.stage} ({check.channel})"
        rows.append((what, check.check_id, check.job_counters, "presend", check.started, check.finished))
    for what, run_id, counts, trigger, started, finished in rows:
        why = _why(story, trigger, started, finished)
        if not why:
            if not counts.get("reconciled"):
                why = "no contacts to reconcile yet"
            elif counts.get("pushed") or counts.get("pulled"):
                why = "decisions about other contacts"
            else:
                why = "both sides equal: nothing to write"
        table.add_row(what, _short(run_id), *(str(counts.get(name, 0)) for name in syncing.RUN_COUNTERS), why)
    story.out.print(table)


def _short(identifier: str) -> str:
    """A run or check id cut to what tells it apart on screen: `scheduled-648972d1…`."""
    return identifier if len(identifier) <= 20 else identifier[:18] + "…"


def _why(story: Story, trigger: str, started: datetime, finished: datetime) -> str:
    lines = []
    for person in story.people.values():
        for record in story.decisions.for_contact(story.account, person.email, 50):
            if record.trigger.value != trigger or not started <= record.at <= finished:
                continue
            if record.action not in ("push", "pull") and not record.action.startswith("error"):
                continue
            side = record.superoffice if record.winner is Side.SUPEROFFICE else record.platform
            value = "-" if side is None else side.legal_base
            lines.append(f"{person.label}: {record.action} {record.purpose.value} {value} ({record.rule})")
    return "\n".join(lines)


def _checks_sections(story: Story) -> None:
    out = story.out
    out.rule(f"[bold]{SECTIONS[4]}[/bold] (the send-out gate)")
    table = Table(
        "send-out", "stage", "channel", "recipients", "allowed", "blocked", "stale", "SuperOffice calls"
    )
    for check in story.checks:
        table.add_row(
            check.sendout,
            check.stage,
            check.channel,
            str(len(set(check.recipients))),
            str(len(check.results["allowed"])),
            str(len(check.results["blocked"])),
            str(len(check.results["stale"])),
            str(check.superoffice_calls),
        )
    out.print(table)

    out.rule(f"[bold]{SECTIONS[5]}[/bold] and why")
    names = [f"{c.sendout}\n{c.stage} ({c.channel})" for c in story.checks]
    counts = [Counter(item["reason"] for item in c.results["blocked"]) for c in story.checks]
    reasons = sorted(set().union(*counts))
    table = Table("reason", *names, title="blocked recipients by reason")
    for reason in reasons:
        table.add_row(reason, *(str(count.get(reason, 0)) for count in counts))
    out.print(table)
    table = Table("recipient", *names, title="the story's recipients")
    for person in story.people.values():
        table.add_row(
            f"{person.label}: {person.email}",
            *(_verdict_cell(c, person.email) for c in story.checks),
        )
    table.add_row(f"stranger: {STRANGER}", *(_verdict_cell(c, STRANGER) for c in story.checks))
    out.print(table)


def _verdict_cell(check: Check, email: str) -> str:
    if email not in check.recipients:
        return "[dim]not a recipient[/dim]"
    verdict = check.verdict(email)
    return f"[green]{verdict}[/green]" if verdict == "allowed" else f"[red]{verdict}[/red]"


# ---------------------------------------------------------------------- running it


@contextlib.contextmanager
def handler_output(log_file: Path) -> Iterator[None]:
    """Send everything but the story to `log_file`: the handlers' JSON logs (stdout, as in Lambda), the
    local runtime's REPORT and failure lines, and warnings."""
    log_file.parent.mkdir(exist_ok=True)
    root = logging.getLogger()
    runtime_log = logging.getLogger("devtools.local")
    with log_file.open("w") as sink, contextlib.redirect_stdout(sink):
        handler = logging.StreamHandler(sink)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        previous = (root.level, runtime_log.level)
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
        runtime_log.setLevel(logging.INFO)
        logging.captureWarnings(True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                yield
        finally:
            logging.captureWarnings(False)
            root.removeHandler(handler)
            root.setLevel(previous[0])
            runtime_log.setLevel(previous[1])


def run_demo(out: Console, err: Console) -> int:
    """Run the story; return the exit status (0 when every step did what it should)."""
    started = time.monotonic()
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    # The story prints to the real stdout; the handlers' stdout goes to the log file.
    out = Console(file=sys.stdout, width=out.width if out.is_terminal else max(out.width, 160))
    story: Story | None = None
    failures: list[str] = []
    with contextlib.ExitStack() as resources:
        resources.enter_context(handler_output(HANDLER_LOG))
        try:
            with progress_bars(err, indent=STEP_INDENT) as advance:
                advance(f"start the SuperOffice simulator ({PERSONS:,} persons)", 0, 1)
                sim = resources.enter_context(running_simulator(persons=PERSONS, seed=SEED))
                advance(f"start the SuperOffice simulator ({PERSONS:,} persons)", 1, 1)
                advance("start the local stack (template.yaml on moto)", 0, 1)
                stack = resources.enter_context(
                    local_stack(template=ROOT / "template.yaml", stack_name=STACK_NAME, background=True)
                )
                advance("start the local stack (template.yaml on moto)", 1, 1)
        except Exception as exc:  # nothing to tell a story with
            err.print(f"[red]failed:[/red] starting the simulator and the local stack: {exc}")
            return 1
        out.print(
            f"[bold]local stack[/bold] {STACK_NAME} on {stack.endpoint_url}; "
            f"[bold]SuperOffice simulator[/bold] on {sim.api_url}",
            highlight=False,
        )
        account = json.loads((EVENTS / "integration-settings-updated.json").read_text())["detail"][
            "account_id"
        ]
        story = Story(out, err, stack, sim, Stack.resolve(STACK_NAME), account)
        try:
            story.describe_crm()
            story.configure()
            story.import_source("selection", SELECTION, "Customers", only_consented=True)
            story.import_source("project", PROJECT, "Partner event", only_consented=False)
            story.duplicates()
            story.pick_people()
            story.superoffice_withdrawal()
            story.platform_unsubscribe()
            story.both_sides()
            story.scheduled_sync()
            story.checklist()
            story.sms_checklist()
            story.sending()
            story.final_checks()
        except StoryAborted:
            out.print("[red]the story stopped here[/red]")
        print_summary(story)
        failures = story.failures
        _wait_until_idle(stack)
    out.print(f"handler logs (JSON, e-mail addresses masked): {HANDLER_LOG.relative_to(ROOT)}")
    for failure in failures:
        err.print(f"[red]failed:[/red] {failure}", highlight=False)
    out.print(f"done in {time.monotonic() - started:.1f} s", highlight=False)
    return 1 if failures else 0


def _wait_until_idle(stack: LocalStack, timeout_s: float = 15.0) -> None:
    """Let the runtime finish what is queued before the stack goes down (a handler still running
    when the local stack stops would lose its endpoint and credentials half-way)."""
    deadline = time.monotonic() + timeout_s
    while stack.runtime.pending() and time.monotonic() < deadline:
        time.sleep(0.1)
