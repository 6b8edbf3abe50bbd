"""`make chaos`: issue #7's fault-injection scenario on the local stack and the SuperOffice simulator.

`run_chaos(contacts=N, changes=M, seed=S)` builds an account with sync on and N linked contacts in step
with SuperOffice, then, with faults on (5xx, 429 with `Retry-After` from a rate limit, held requests
past the client's request timeout, one outage window), makes M consent changes on both sides
interleaved with runs (`Sync Requested` and the schedule) and `Contact Consent Changed` events. On
the way it duplicates reconcile messages (a copy with a new message id, and the same message
delivered again), sends poison messages on purpose, and **kills the reconcile worker mid-chunk**
once. Then the faults go off, runs go on until nothing is pending, and the checks run:

- every contact's `STORE` and `EMARKETING` are equal on both sides and equal to what `rules.decide`
  says about the last change made on each side;
- no withdrawal was revived (neither in the final states nor in any decision of the log);
- every change made is in the contact's decision log (or was equal to the other side already);
- the dead-letter queues hold exactly the poison messages sent on purpose, each with its reason;
- duplicated messages changed no job's counts.

**The crash** is a real one: the chunk is taken off the reconcile queue as Lambda's poller would, and
the real `ReconcileFunction` handler runs on it in a child process (the function's environment,
the stack's endpoints) that is killed with SIGKILL once part of the chunk's pushes reached
SuperOffice, as Lambda kills a function at its `Timeout` (or out of memory). Nothing of our code is
mocked; whatever the worker wrote before it died stays written, the rest never happens. Its
idempotency record stays "in progress" until the time the handler's context gave it (short here; in
Lambda the `Timeout`, long past when SQS redelivers after the 720 s visibility timeout); then the
message becomes visible again and is redelivered. (The local runtime's own `Timeout` enforcement
cannot do this: it runs a handler to its end and only then records it as failed, so no chunk ever
stops in the middle.) While that chunk runs, the random faults are replaced by a 400 ms latency, and
the kill comes 200 ms after half of its pushes were answered: during the next push, where a timeout
strikes in practice. (A kill in the one DynamoDB call between a contact's write and its decisions'
would still lose those decisions: the window docs/architecture.md names.)
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TextIO

import boto3
import typer
from rich.console import Console
from rich.table import Table

from consent_sync.accounts import AccountSettings
from consent_sync.events import ReconcileChunk
from consent_sync.store.contacts import ContactStore
from consent_sync.store.decisions import DecisionLog
from consent_sync.store.jobs import JobKind, JobStore
from consent_sync.store.secrets import secret_name, write_credentials
from consent_sync.sync.consent import ConsentState, Purpose, Side
from consent_sync.sync.contact import Card, Contact, DecisionRecord, StoredConsent
from consent_sync.sync.emails import normalise_email, validate_email
from consent_sync.sync.rules import Rule, decide
from devtools.local import LocalStack, local_stack
from devtools.local.payloads import sqs_record
from devtools.local.sandbox import function_environment
from devtools.simulator.testing import SimulatorHandle, consent_state, running_simulator

ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-west-1"
ACCOUNT = "chaos"
WITHDRAWN = "WITHDRAWN"
SKEW = timedelta(seconds=5)
# Legal bases the changes pick from; withdrawals twice as likely, so that revivals would show.
LEGAL_BASES = ("61A", "61B", "61C", "61F", WITHDRAWN, WITHDRAWN)
CLIENT_LOGGER = "consent_sync.superoffice.client"
# The SuperOffice client's request timeout: a request held longer is a timeout for the worker.
CLIENT_REQUEST_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Change:
    """One consent change made during the run, on one side."""

    side: Side
    email: str
    person_id: int
    purpose: Purpose
    legal_base: str
    at: datetime
    equal_already: bool
    """The other side held the same value when the change was made: no decision is owed."""

    def state(self) -> ConsentState:
        return ConsentState(legal_base=self.legal_base, changed_at=self.at)


@dataclass
class CrashReport:
    """What the worker crash did."""

    run_id: str = ""
    emails_in_chunk: int = 0
    pushes_owed: int = 0
    pushes_applied_before_kill: int = 0
    killed_after_s: float = 0.0
    killed: bool = False


@dataclass
class ChaosReport:
    """What `run_chaos` did and found. `failures` maps each check to what broke it (empty: passed)."""

    contacts: int
    changes: list[Change]
    faults: dict[str, int]
    requests: int
    successful_requests: int
    retries: dict[str, int]
    duplicates: list[str]
    poison: list[dict[str, str]]
    crash: CrashReport
    runs_to_settle: int
    converge_s: float
    total_s: float
    checks: dict[str, list[str]] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds spent per phase of the scenario."""

    @property
    def ok(self) -> bool:
        return not any(self.checks.values())

    def failed_checks(self) -> dict[str, list[str]]:
        return {name: problems for name, problems in self.checks.items() if problems}


# ------------------------------------------------------------------------------------------- helpers


def _now() -> datetime:
    # SuperOffice keeps whole seconds; so do the changes on both sides.
    return datetime.now(UTC).replace(microsecond=0)


def _same(a: str | None, b: str | None) -> bool:
    """Equal values by the rules: the same key, or both inactive (withdrawn or absent)."""
    return a == b or (a in (None, WITHDRAWN) and b in (None, WITHDRAWN))


def _expected(
    platform: ConsentState | None, superoffice: ConsentState | None, *, same_clock: bool = False
) -> str | None:
    """The legal base both sides should end with, by `rules.decide` on each side's last state."""
    decision = decide(platform, superoffice, skew=SKEW, same_clock=same_clock)
    if decision.write_superoffice is not None:
        return decision.write_superoffice.legal_base
    if decision.write_platform is not None:
        return decision.write_platform.legal_base
    return platform.legal_base if platform is not None else None


def _expected_step_by_step(initial: ConsentState | None, changes: list[Change]) -> str | None:
    """The legal base by the rules applied after every change, in time order (a sync that never waits).

    Both this and `_expected` (the rules applied once, to each side's last state) are what the rules
    can give; they differ only when three or more changes fall inside one skew window, where the order
    of reconciliations decides. A winner's state is copied with its clock: a pull gives the platform
    SuperOffice's time, a push gives SuperOffice the pushed change's (its echo, see `plan.without_echo`).
    """
    platform: tuple[ConsentState | None, Side] = (initial, Side.SUPEROFFICE)
    superoffice: tuple[ConsentState | None, Side] = (initial, Side.SUPEROFFICE)
    for change in sorted(changes, key=lambda c: c.at):
        if change.side is Side.PLATFORM:
            platform = (change.state(), Side.PLATFORM)
        else:
            superoffice = (change.state(), Side.SUPEROFFICE)
        decision = decide(platform[0], superoffice[0], skew=SKEW, same_clock=platform[1] is superoffice[1])
        if decision.write_platform is not None:
            platform = superoffice
        elif decision.write_superoffice is not None:
            superoffice = platform
    state = platform[0]
    return None if state is None else state.legal_base


class _RetryLog(logging.Handler):
    """Counts the SuperOffice client's retries (its `before_sleep` warnings) by what failed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.retries: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if str(record.msg).startswith("SuperOffice %s failed") and len(args) >= 3:
            self.retries[f"{args[1]}{args[2]}".strip()] += 1


@contextlib.contextmanager
def _retry_log() -> Iterator[_RetryLog]:
    handler = _RetryLog()
    target = logging.getLogger(CLIENT_LOGGER)
    target.addHandler(handler)
    try:
        yield handler
    finally:
        target.removeHandler(handler)


def _event(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    """An EventBridge event as a rule delivers it (for direct invocations)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "marketing.platform",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


# ------------------------------------------------------------------------------------------- the world


class _World:
    """The stack, the simulator and what the scenario did to them."""

    def __init__(self, stack: LocalStack, sim: SimulatorHandle, rng: random.Random) -> None:
        self.stack = stack
        self.sim = sim
        self.rng = rng
        self.table = stack.outputs["ConsentTableName"]
        self.contacts = ContactStore(self.table)
        self.decisions = DecisionLog(self.table)
        self.jobs = JobStore(self.table)
        self.events = boto3.client("events", endpoint_url=stack.endpoint_url, region_name=REGION)
        self.sqs = boto3.client("sqs", endpoint_url=stack.endpoint_url, region_name=REGION)
        self.queue_url = stack.resources["ReconcileQueue"]
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.linked: list[tuple[int, str]] = []
        self.initial: dict[tuple[str, Purpose], ConsentState | None] = {}
        self.changes: list[Change] = []
        self.duplicates: list[str] = []
        self.poison: list[dict[str, str]] = []
        self.counts_checked: list[tuple[str, dict[str, int], dict[str, int]]] = []

    # -- setup ------------------------------------------------------------------------------------

    def pick_persons(self, count: int) -> None:
        """`count` persons whose valid primary e-mail no other person has."""
        persons = list(self.sim.control.export_persons())
        by_email = Counter(normalise_email(p["primary_email"]) for p in persons if p["primary_email"])
        for person in persons:
            raw = person["primary_email"]
            if not raw or person.get("retired"):
                continue
            try:
                email = normalise_email(validate_email(raw))
            except ValueError:
                continue
            if by_email[email] == 1:
                self.linked.append((int(person["person_id"]), email))
                if len(self.linked) == count:
                    return
        raise LookupError(f"the simulator has fewer than {count} persons with an e-mail of their own")

    def link_contacts(self) -> None:
        """Linked contacts in step with SuperOffice (as an import leaves them), `EMARKETING` 61A since yesterday."""
        yesterday = _now() - timedelta(days=1)
        for person_id, email in self.linked:
            self.sim.control.set_consent(person_id, "EMARKETING", "61A", source="WEBFORM", at=yesterday)
            person = self.sim.control.person(person_id)
            assert person is not None
            consents: dict[Purpose, StoredConsent] = {}
            for purpose in Purpose:
                state = consent_state(self.sim.control.consent(person_id, purpose.value))
                self.initial[(email, purpose)] = state
                if state is not None:
                    consents[purpose] = StoredConsent.of(state, Side.SUPEROFFICE)
            self.contacts.put_new(
                Contact(
                    account_id=ACCOUNT,
                    email=email,
                    card=Card(email_display=person["primary_email"]),
                    superoffice_person_id=person_id,
                    superoffice_registered_at=datetime.fromisoformat(person["registered"]).replace(
                        tzinfo=UTC
                    ),
                    consents=consents,
                )
            )

    def switch_sync_on(self, requests_per_second: float) -> None:
        arn = write_credentials(
            secret_name(self.stack.outputs["SecretPrefix"], ACCOUNT),
            {"username": self.sim.username, "password": self.sim.password},
        )
        settings = AccountSettings.model_validate(
            {
                "account_id": ACCOUNT,
                "integration": "superoffice",
                "legal_basis_sync": True,
                "superoffice": {
                    "kind": "onsite",
                    "base_url": self.sim.api_url,
                    "auth": "basic",
                    "allow_insecure": True,
                    "credentials_secret_arn": arn,
                    "requests_per_second": requests_per_second,
                },
            }
        )
        self.send("Integration Settings Updated", settings.model_dump(mode="json", exclude_none=True))
        self.drain()

    # -- doing --------------------------------------------------------------------------------------

    def send(self, detail_type: str, detail: dict[str, Any]) -> None:
        result = self.events.put_events(
            Entries=[
                {
                    "EventBusName": self.stack.outputs["EventBusName"],
                    "Source": "marketing.platform",
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                }
            ]
        )
        assert result["FailedEntryCount"] == 0, result

    def drain(self) -> None:
        self.stack.runtime.drain(timeout=600)

    def platform_value(self, email: str, purpose: Purpose) -> str | None:
        contact = self.contacts.get(ACCOUNT, email)
        consent = contact.consents.get(purpose) if contact else None
        return consent.legal_base if consent else None

    def superoffice_value(self, person_id: int, purpose: Purpose) -> str | None:
        info = self.sim.control.consent(person_id, purpose.value)
        return None if info is None else str(info["LegalBaseKey"])

    def change_superoffice(self, index: int, purpose: Purpose, legal_base: str) -> None:
        person_id, email = self.linked[index]
        equal = _same(self.platform_value(email, purpose), legal_base)
        state = consent_state(
            self.sim.control.set_consent(person_id, purpose.value, legal_base, source="USER")
        )
        assert state is not None
        self.changes.append(
            Change(Side.SUPEROFFICE, email, person_id, purpose, legal_base, state.changed_at, equal)
        )

    def platform_detail(self, index: int, purpose: Purpose, legal_base: str) -> dict[str, Any]:
        """Records the change; returns the `Contact Consent Changed` detail to deliver."""
        person_id, email = self.linked[index]
        equal = _same(self.superoffice_value(person_id, purpose), legal_base)
        at = _now()
        self.changes.append(Change(Side.PLATFORM, email, person_id, purpose, legal_base, at, equal))
        return {
            "account_id": ACCOUNT,
            "email": email,
            "purpose": purpose.value,
            "legal_base": legal_base,
            "source": "WEBFORM",
            "changed_at": at.isoformat(),
        }

    def run(self, round_no: int) -> None:
        """A sync run: `Sync Requested` on the bus, or the 30-minute schedule firing."""
        if round_no % 2 == 0:
            self.send(
                "Sync Requested",
                {"account_id": ACCOUNT, "run_id": f"chaos-{round_no}-{uuid.uuid4().hex[:6]}"},
            )
        else:
            self.stack.runtime.fire_schedule("ScheduledSyncFunction")

    # -- duplicates and poison ------------------------------------------------------------------------

    def _last_chunk_record(self) -> tuple[dict[str, Any], ReconcileChunk] | None:
        for invocation in reversed(self.stack.runtime.invocations("ReconcileFunction")):
            if invocation.error is not None or invocation.result != {"batchItemFailures": []}:
                continue
            for record in invocation.event["Records"]:
                with contextlib.suppress(ValueError):
                    chunk = ReconcileChunk.model_validate_json(record["body"])
                    if chunk.account_id == ACCOUNT and chunk.job.id != "no-such-job":
                        return record, chunk
        return None

    def duplicate_messages(self) -> None:
        """A processed chunk arrives again: as a copy (new message id) and as the same message."""
        found = self._last_chunk_record()
        if found is None:
            return
        record, chunk = found
        job_before = self.jobs.get(ACCOUNT, chunk.job.kind, chunk.job.id)
        assert job_before is not None
        label = f"{chunk.job.kind}/{chunk.job.id}/{chunk.job.chunk_no}"
        # SQS delivers the same message again after it was processed: the idempotency record answers.
        calls_before = _api_requests(self.sim.control.counts())
        response = self.stack.runtime.invoke("ReconcileFunction", {"Records": [record]})
        calls = _api_requests(self.sim.control.counts()) - calls_before
        self.duplicates.append(f"{label}: same message id again → {response}, {calls} SuperOffice call(s)")
        if calls or response != {"batchItemFailures": []}:
            self.counts_checked.append((f"{label} (same message id)", {"calls": calls}, {"calls": 0}))
        # A copy of the body under a new message id: reconciled again, counted once.
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=record["body"])
        self.drain()
        job_after = self.jobs.get(ACCOUNT, chunk.job.kind, chunk.job.id)
        assert job_after is not None
        self.duplicates.append(f"{label}: copy under a new message id, job counts unchanged")
        self.counts_checked.append((label, dict(job_before.counters), dict(job_after.counters)))

    def send_poison(self) -> None:
        """Poison on purpose: a reconcile message that is not a chunk, a chunk of a job that does not
        exist, and an incoming event without its e-mail address."""
        not_a_chunk = json.dumps({"chaos": "this is not a reconcile chunk"})
        no_job = ReconcileChunk.model_validate(
            {
                "account_id": ACCOUNT,
                "trigger": "requested",
                "job": {"kind": "run", "id": "no-such-job", "chunk_no": 0},
                "emails": [self.linked[0][1]],
            }
        ).model_dump_json()
        for body, reason in ((not_a_chunk, "not a chunk"), (no_job, "chunk of a job that does not exist")):
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)
            self.poison.append({"queue": "reconcile", "body": body, "expected": reason})
        self.send(
            "Contact Consent Changed",
            {
                "account_id": ACCOUNT,
                "purpose": "EMARKETING",
                "legal_base": WITHDRAWN,
                "changed_at": _now().isoformat(),
            },
        )
        self.poison.append(
            {"queue": "events", "body": "Contact Consent Changed without email", "expected": "invalid_event"}
        )


def _api_requests(counts: dict[str, int]) -> int:
    return sum(n for key, n in counts.items() if not key.startswith("status:"))


def _puts(counts: dict[str, int]) -> int:
    return sum(n for key, n in counts.items() if key.startswith("PUT "))


# ------------------------------------------------------------------------------------------- the crash


_CHILD = """
import json, sys, time, uuid
sys.path.insert(0, {code_dir!r})
class Context:
    function_name = {name!r}
    function_version = "$LATEST"
    invoked_function_arn = {arn!r}
    memory_limit_in_mb = 512
    aws_request_id = str(uuid.uuid4())
    log_group_name = "/aws/lambda/" + {name!r}
    log_stream_name = "chaos"
    def __init__(self):
        self._deadline = time.monotonic() + {timeout_s!r}
    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))
from consent_sync.handlers.reconcile import handler
context = Context()
print(json.dumps(handler(json.load(open({event_path!r})), context)))
"""


_CRASH_LATENCY_MS = 400
"""Every request's latency while the crashing chunk runs (no random faults then)."""
_INTO_NEXT_PUSH_S = 0.2
"""How long after the last push observed the worker is killed: inside the next push's latency."""
_CRASH_CAP_S = 60.0
"""The worker is killed at this age at the latest (a chunk that never reaches its pushes)."""


def _crash_worker(world: _World, rng: random.Random, faults: dict[str, Any], timeout_s: float) -> CrashReport:
    """Platform changes for a few contacts, a run whose chunk owes their pushes, and that chunk's worker
    killed once part of the pushes reached SuperOffice."""
    report = CrashReport()
    picks = rng.sample(range(len(world.linked)), k=max(3, min(8, len(world.linked) // 4)))
    for index in picks:
        email = world.linked[index][1]
        current = world.platform_value(email, Purpose.EMARKETING)
        legal_base = rng.choice([b for b in ("61A", "61B", "61F", WITHDRAWN) if b != current])
        detail = world.platform_detail(index, Purpose.EMARKETING, legal_base)
        # Straight to the function (as its rule would deliver it): the push it queues must stay queued.
        world.stack.runtime.invoke("PlatformConsentFunction", _event("Contact Consent Changed", detail))
    report.run_id = f"chaos-crash-{uuid.uuid4().hex[:6]}"
    world.stack.runtime.invoke(
        "ScheduledSyncFunction", _event("Sync Requested", {"account_id": ACCOUNT, "run_id": report.run_id})
    )
    # Take the queue's messages as Lambda's poller would, and keep the run's chunk with the pushes.
    messages: list[dict[str, Any]] = []
    while True:
        batch = world.sqs.receive_message(
            QueueUrl=world.queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=300,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        messages.extend(batch)
    picked_emails = {world.linked[i][1] for i in picks}
    target: dict[str, Any] | None = None
    best = 0
    for message in messages:
        with contextlib.suppress(ValueError):
            chunk = ReconcileChunk.model_validate_json(message["Body"])
            owed = len(picked_emails & set(chunk.emails)) if chunk.job.id == report.run_id else 0
            if owed > best:
                target, best = message, owed
    for message in messages:
        if message is not target:
            world.sqs.change_message_visibility(
                QueueUrl=world.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    if target is None:
        return report
    report.emails_in_chunk = len(ReconcileChunk.model_validate_json(target["Body"]).emails)
    report.pushes_owed = best
    # Slow requests (and no random failures) while this chunk runs, so that the kill lands between pushes.
    world.sim.control.set_faults(latency_ms=_CRASH_LATENCY_MS)
    spec = world.stack.runtime.functions["ReconcileFunction"]
    environment = function_environment(spec, endpoint_url=world.stack.endpoint_url, region=REGION)
    environment["PYTHONPATH"] = os.pathsep.join([str(spec.code_dir), str(ROOT)])
    environment["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    with tempfile.TemporaryDirectory() as folder:
        event_path = Path(folder) / "event.json"
        event_path.write_text(json.dumps({"Records": [sqs_record(target, world.queue_arn, REGION)]}))
        script = _CHILD.format(
            code_dir=str(spec.code_dir),
            name=spec.name,
            arn=spec.arn,
            timeout_s=timeout_s,
            event_path=str(event_path),
        )
        puts_before = _puts(world.sim.control.counts())
        started = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-c", script],
            env=environment,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wanted = max(1, math.ceil(best / 2))
        try:
            while child.poll() is None:
                applied = _puts(world.sim.control.counts()) - puts_before
                if applied >= wanted or time.monotonic() - started > _CRASH_CAP_S:
                    # Into the next push: a timeout strikes during a slow call, where a chunk spends
                    # its time, not in the one DynamoDB call between a contact's write and its log.
                    time.sleep(_INTO_NEXT_PUSH_S)
                    child.send_signal(signal.SIGKILL)
                    child.wait()
                    report.killed = True
                    break
                time.sleep(0.02)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        report.killed_after_s = time.monotonic() - started
        time.sleep(_CRASH_LATENCY_MS / 1000)  # a push in flight at the kill is still applied: count it
        report.pushes_applied_before_kill = _puts(world.sim.control.counts()) - puts_before
    # The idempotency record stays "in progress" until the time the handler's context gave it has
    # passed; in Lambda that is the function's Timeout, long gone when the message comes back after its
    # visibility timeout (720 s). Here the context's budget is short, so a moment's wait is enough.
    time.sleep(max(0.0, started + timeout_s + 0.5 - time.monotonic()))
    world.sqs.change_message_visibility(
        QueueUrl=world.queue_url, ReceiptHandle=target["ReceiptHandle"], VisibilityTimeout=0
    )
    world.sim.control.set_faults(**faults)
    return report


# ------------------------------------------------------------------------------------------- the checks


def _check(world: _World, skew: timedelta = SKEW) -> dict[str, list[str]]:
    last: dict[tuple[str, Purpose, Side], ConsentState] = {}
    for change in world.changes:
        key = (change.email, change.purpose, change.side)
        if key not in last or change.at >= last[key].changed_at:
            last[key] = change.state()
    equal: list[str] = []
    revived: list[str] = []
    logged: list[str] = []
    echoes: list[str] = []
    in_flight: list[str] = []
    logs: dict[str, list[DecisionRecord]] = {}
    for person_id, email in world.linked:
        contact = world.contacts.get(ACCOUNT, email)
        assert contact is not None
        logs[email] = world.decisions.for_contact(ACCOUNT, email, limit=1000)
        for purpose in Purpose:
            initial = world.initial[(email, purpose)]
            platform = last.get((email, purpose, Side.PLATFORM), initial)
            superoffice = last.get((email, purpose, Side.SUPEROFFICE), initial)
            # The initial state is SuperOffice's, copied: with no platform change, one clock.
            expected = _expected(
                platform, superoffice, same_clock=(email, purpose, Side.PLATFORM) not in last
            )
            mine = [c for c in world.changes if c.email == email and c.purpose is purpose]
            allowed = {expected, _expected_step_by_step(initial, mine)}
            held = contact.consents.get(purpose)
            on_platform = held.legal_base if held else None
            in_superoffice = world.superoffice_value(person_id, purpose)
            where = f"{email} {purpose.value}"
            if not (_same(on_platform, in_superoffice) and any(_same(on_platform, a) for a in allowed)):
                overwritten = _overwritten_in_flight(world, email, logs[email], purpose)
                if overwritten is not None:
                    in_flight.append(
                        f"{where}: expected {expected}; {overwritten}"
                        + _story(world, email, logs[email], purpose, initial)
                    )
                    continue
                if _lost_to_an_echo(world, email, logs[email], purpose, on_platform, in_superoffice):
                    echoes.append(
                        f"{where}: both {on_platform}, expected {expected}: the later platform change "
                        "lost to the echo of an earlier push (SuperOffice's time is the push's)"
                    )
                    continue
                equal.append(
                    f"{where}: platform {on_platform}, SuperOffice {in_superoffice}, expected "
                    + " or ".join(sorted(str(a) for a in allowed))
                    + _story(world, email, logs[email], purpose, initial)
                )
                if allowed <= {WITHDRAWN, None} and on_platform not in (None, WITHDRAWN):
                    revived.append(f"{where}: withdrawn by the later change, ends {on_platform}")
        if contact.pending:
            equal.append(f"{email}: pushes still pending {sorted(p.value for p in contact.pending)}")
    # No decision wrote an active consent over a withdrawal that was later (or within the skew).
    for email, records in logs.items():
        for record in records:
            if record.action not in ("push", "pull") or record.platform is None or record.superoffice is None:
                continue
            winner, loser = (
                (record.platform, record.superoffice)
                if record.action == "push"
                else (record.superoffice, record.platform)
            )
            # On one clock (rule same_clock) the order is trusted: only a later consent may win.
            window = timedelta(0) if record.rule == Rule.SAME_CLOCK.value else skew
            if (
                loser.legal_base == WITHDRAWN
                and winner.legal_base != WITHDRAWN
                and winner.changed_at - loser.changed_at <= window
            ):
                revived.append(
                    f"{email} {record.purpose.value}: {record.action} of {winner.legal_base} "
                    f"({winner.changed_at:%H:%M:%S}) over WITHDRAWN ({loser.changed_at:%H:%M:%S})"
                )
    for change in world.changes:
        if change.equal_already:
            continue
        found = False
        for record in logs[change.email]:
            if record.purpose is not change.purpose:
                continue
            value = record.platform if change.side is Side.PLATFORM else record.superoffice
            if value is not None and value.legal_base == change.legal_base and value.changed_at == change.at:
                found = True
                break
        if not found:
            logged.append(
                f"{change.email} {change.purpose.value}: {change.side.value} change to {change.legal_base} "
                f"at {change.at:%H:%M:%S} is not in the decision log"
            )
    counts = [
        f"{label}: counts {before} became {after}"
        for label, before, after in world.counts_checked
        if before != after
    ]
    return {
        "both sides equal and as the rules say": equal,
        "no withdrawal revived": revived,
        "every change in the decision log": logged,
        "dead-letter queues hold exactly the poison": _check_dead_letters(world),
        "duplicates absorbed": counts,
        ECHO_CHECK: echoes,
        IN_FLIGHT_CHECK: in_flight,
    }


def _story(
    world: _World, email: str, records: list[DecisionRecord], purpose: Purpose, initial: ConsentState | None
) -> str:
    """What happened to one contact's purpose, for a failed check: its changes and decisions in order."""

    def value(state: Any) -> str:
        return "-" if state is None else f"{state.legal_base}@{state.changed_at:%H:%M:%S}"

    lines = [f"initial {value(initial)}"]
    events: list[tuple[datetime, str]] = [
        (
            c.at,
            f"change {c.side.value} -> {c.legal_base}@{c.at:%H:%M:%S}"
            + (" (equal already)" if c.equal_already else ""),
        )
        for c in world.changes
        if c.email == email and c.purpose is purpose
    ]
    events += [
        (
            r.at,
            f"decision at {r.at:%H:%M:%S.%f} {r.trigger.value}: platform {value(r.platform)}, "
            f"SuperOffice {value(r.superoffice)} -> {r.rule} {r.action}"
            + (f" ({r.error})" if r.error else ""),
        )
        for r in records
        if r.purpose is purpose
    ]
    lines += [text for _, text in sorted(events, key=lambda e: e[0])]
    return "".join(f"\n    {line}" for line in lines)


IN_FLIGHT_CHECK = "no SuperOffice change overwritten by a push in flight (known limitation)"
"""SuperOffice's consent PUT has no condition (no version, no If-Match): a push decided on a read taken
before a SuperOffice user's change, and written after it (its retries through an outage widen the
window), overwrites that change, and SuperOffice keeps no history to notice it by. The scenario names
each such case precisely on its own line; the small test leaves this line out (docs/architecture.md)."""


def _overwritten_in_flight(
    world: _World, email: str, records: list[DecisionRecord], purpose: Purpose
) -> str | None:
    """A push decided before the last SuperOffice change of this contact and purpose, written after it."""
    changes = [
        c for c in world.changes if c.side is Side.SUPEROFFICE and c.email == email and c.purpose is purpose
    ]
    if not changes:
        return None
    last = max(changes, key=lambda c: c.at)
    for record in records:
        if record.purpose is not purpose or record.action not in ("push", "push_confirmed"):
            continue
        seen = record.superoffice.changed_at if record.superoffice is not None else None
        if record.at >= last.at and (seen is None or seen < last.at):
            return (
                f"the SuperOffice change to {last.legal_base} at {last.at:%H:%M:%S} was overwritten by a push "
                f"decided on an older read and written at {record.at:%H:%M:%S}"
            )
    return None


ECHO_CHECK = "no change lost to a push's echo"
"""An issue the chaos run found and that is fixed (tests/integration/chaos/test_push_echo.py): a push
gives the SuperOffice row the push's time, so a later platform change made within the skew window of
that push (but more than the skew after the change pushed) lost to its own side's older withdrawal.
It depends on timing, so the scenario still names it on its own line if it ever comes back."""


def _lost_to_an_echo(
    world: _World,
    email: str,
    records: list[DecisionRecord],
    purpose: Purpose,
    platform: str | None,
    superoffice: str | None,
) -> bool:
    """Both sides agree, and a skew decision went against a SuperOffice time no SuperOffice change had."""
    if not _same(platform, superoffice):
        return False
    human = {
        c.at
        for c in world.changes
        if c.side is Side.SUPEROFFICE and c.email == email and c.purpose is purpose
    }
    return any(
        r.purpose is purpose
        and r.rule == "skew_restrictive"
        and r.superoffice is not None
        and r.superoffice.changed_at not in human
        for r in records
    )


def _take_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    taken: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
            "Messages", []
        )
        if not batch:
            return taken
        for message in batch:
            taken.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _check_dead_letters(world: _World) -> list[str]:
    problems: list[str] = []
    reconcile = _take_all(world.sqs, world.stack.resources["ReconcileDeadLetterQueue"])
    expected = Counter(p["body"] for p in world.poison if p["queue"] == "reconcile")
    found = Counter(m["Body"] for m in reconcile)
    for body in (found - expected).elements():
        problems.append(f"reconcile DLQ holds an unexpected message: {body[:120]}")
    for body in (expected - found).elements():
        problems.append(f"poison message missing from the reconcile DLQ: {body[:120]}")
    for poison in world.poison:
        if poison["queue"] == "reconcile" and poison["body"] in found:
            poison["found"] = _reconcile_dlq_reason(world, poison["body"])
    events = [
        json.loads(m["Body"]) for m in _take_all(world.sqs, world.stack.outputs["EventsDeadLetterQueueUrl"])
    ]
    wanted = [p for p in world.poison if p["queue"] == "events"]
    for entry in events:
        reason = entry.get("reason")
        match = next((p for p in wanted if p["expected"] == reason and "found" not in p), None)
        if match is None:
            problems.append(f"events DLQ holds an unexpected entry: {reason}: {entry.get('message')}")
        else:
            match["found"] = f"{reason}: {entry.get('message')}"
    problems += [f"poison event missing from the events DLQ: {p['body']}" for p in wanted if "found" not in p]
    return problems


def _reconcile_dlq_reason(world: _World, body: str) -> str:
    """Why a reconcile message is dead (SQS keeps no reason): what its body is."""
    try:
        chunk = ReconcileChunk.model_validate_json(body)
    except ValueError as exc:
        return f"not a reconcile chunk ({str(exc).splitlines()[0]})"
    if world.jobs.get(chunk.account_id, JobKind(chunk.job.kind), chunk.job.id) is None:
        return f"names job {chunk.job.kind}/{chunk.job.id}, which does not exist"
    return "a chunk of an existing job (failed on every delivery)"


# ------------------------------------------------------------------------------------------- the scenario


def run_chaos(
    contacts: int = 200,
    changes: int = 150,
    seed: int = 7,
    *,
    outage_s: float = 4.0,
    timeout_ratio: float = 0.02,
    held_s: float = CLIENT_REQUEST_TIMEOUT_S + 1,
    rate_limit_per_s: float = 5.0,
    requests_per_second: float = 25.0,
    chunk_size: int = 25,
    crash_timeout_s: float = 2.0,
    log: TextIO | None = None,
) -> ChaosReport:
    """The scenario (module docstring) at this size; returns what happened and the checks' findings.

    ``held_s`` is how long the simulator holds a "timed out" request: past the client's request
    timeout (10 s) the worker gives up on it while the simulator still applies it.
    """
    rng = random.Random(seed)
    started = time.monotonic()
    sink = log if log is not None else io.StringIO()
    with (
        contextlib.redirect_stdout(sink),  # the functions' JSON log lines
        running_simulator(persons=max(300, contacts * 3), seed=seed) as sim,
        local_stack(
            template=ROOT / "template.yaml",
            port=0,
            stack_name=f"chaos-{uuid.uuid4().hex[:8]}",
            region=REGION,
            parameters={"ChunkSize": chunk_size},
            failed_visibility_timeout_s=0,
        ) as stack,
        _retry_log() as retry_log,
    ):
        phases: dict[str, float] = {"start": time.monotonic() - started}
        mark = time.monotonic()
        world = _World(stack, sim, rng)
        world.pick_persons(contacts)
        world.link_contacts()
        world.switch_sync_on(requests_per_second)
        sim.control.reset_counts()
        phases["setup"] = time.monotonic() - mark
        mark = time.monotonic()
        faults: dict[str, Any] = {
            "error_ratio": 0.10,
            "rate_limit_per_s": rate_limit_per_s,
            "retry_after_s": 1,
            "timeout_ratio": timeout_ratio,
            "timeout_s": held_s,
            "seed": seed,
        }
        sim.control.set_faults(**faults)
        rounds = max(3, min(12, changes // 7))
        per_round = [changes // rounds + (1 if r < changes % rounds else 0) for r in range(rounds)]
        crash = CrashReport()
        for round_no, count in enumerate(per_round):
            if round_no == 0:
                world.send_poison()
            pairs = rng.sample([(i, p) for i in range(contacts) for p in Purpose], k=min(count, contacts * 2))
            platform: list[dict[str, Any]] = []
            for index, purpose in pairs:
                roll = rng.random()
                if roll < 0.55:
                    world.change_superoffice(index, purpose, rng.choice(LEGAL_BASES))
                if roll >= 0.45:
                    platform.append(world.platform_detail(index, purpose, rng.choice(LEGAL_BASES)))
            # Interleaved: half of the platform's events, the run, the other half.
            half = len(platform) // 2
            for detail in platform[:half]:
                world.send("Contact Consent Changed", detail)
            world.run(round_no)
            for detail in platform[half:]:
                world.send("Contact Consent Changed", detail)
            if round_no == 1:
                sim.control.set_faults(**faults, outage_s=outage_s)  # the window starts now
            world.drain()
            if round_no % 4 == 1:
                duplicating = time.monotonic()
                world.duplicate_messages()
                phases["duplicates"] = phases.get("duplicates", 0.0) + time.monotonic() - duplicating
            if round_no == rounds // 2:
                crashing = time.monotonic()
                crash = _crash_worker(world, rng, faults, crash_timeout_s)
                world.drain()
                phases["crash"] = time.monotonic() - crashing
        # Faults off: runs until nothing is pending and both sides agree.
        sim.control.clear_faults()
        faults_off = time.monotonic()
        phases["faults on"] = faults_off - mark
        settle_runs = 0
        converge_s = math.nan
        for settle_runs in range(1, 6):
            world.run(settle_runs * 2)
            world.drain()
            if not list(world.contacts.pending(ACCOUNT)) and not stack.runtime.pending():
                converge_s = time.monotonic() - faults_off
                break
        phases["settling"] = time.monotonic() - faults_off
        mark = time.monotonic()
        counts = sim.control.counts()
        checks = _check(world)
        phases["checks"] = time.monotonic() - mark
        statuses = {key: n for key, n in counts.items() if key.startswith("status:")}
        total = _api_requests(counts)
        return ChaosReport(
            contacts=contacts,
            changes=world.changes,
            faults=statuses,
            requests=total,
            successful_requests=total - sum(statuses.values()),
            retries=dict(retry_log.retries),
            duplicates=world.duplicates,
            poison=world.poison,
            crash=crash,
            runs_to_settle=settle_runs,
            converge_s=converge_s,
            total_s=time.monotonic() - started,
            checks=checks,
            phases=phases,
        )


# ------------------------------------------------------------------------------------------- printing


def print_report(report: ChaosReport, console: Console) -> None:
    """The report as `make chaos` prints it."""
    changes = Table(title=f"Changes made ({len(report.changes)} on {report.contacts} contacts)")
    for column in ("side", "purpose", "to", "count", "equal already"):
        changes.add_column(column)
    grouped = Counter((c.side.value, c.purpose.value, c.legal_base, c.equal_already) for c in report.changes)
    for (side, purpose, legal_base, equal), n in sorted(grouped.items()):
        changes.add_row(side, purpose, legal_base, str(n), "yes" if equal else "")
    console.print(changes)

    faults = Table(title="Faults injected (simulator) and the client's retries")
    faults.add_column("what")
    faults.add_column("count", justify="right")
    faults.add_row("tenant API requests", str(report.requests))
    faults.add_row("  answered 2xx/3xx", str(report.successful_requests))
    for key, n in sorted(report.faults.items()):
        faults.add_row(f"  {key}", str(n))
    for key, n in sorted(report.retries.items()):
        faults.add_row(f"retries after {key}", str(n))
    faults.add_row("retries in all", str(sum(report.retries.values())))
    console.print(faults)

    crash = report.crash
    console.print(
        f"[bold]Worker crash[/]: run {crash.run_id}, chunk of {crash.emails_in_chunk} contacts owing "
        f"{crash.pushes_owed} pushes; worker process killed={crash.killed} after {crash.killed_after_s:.1f} s, "
        f"{crash.pushes_applied_before_kill} push(es) already in SuperOffice"
    )
    for line in report.duplicates:
        console.print(f"[bold]Duplicate[/]: {line}")
    for poison in report.poison:
        console.print(
            f"[bold]Poison[/] ({poison['queue']} DLQ, sent as {poison['expected']}): "
            f"{poison.get('found', '[red]not found[/]')}"
        )
    console.print(
        f"[bold]Converged[/] {report.converge_s:.1f} s after the faults went off "
        f"({report.runs_to_settle} run(s)); scenario took {report.total_s:.1f} s "
        f"({', '.join(f'{name} {seconds:.1f} s' for name, seconds in report.phases.items())})"
    )
    checks = Table(title="Checks")
    checks.add_column("check")
    checks.add_column("result")
    for name, problems in report.checks.items():
        checks.add_row(name, "[green]ok[/]" if not problems else f"[red]{len(problems)} problem(s)[/]")
    console.print(checks)
    for name, problems in report.failed_checks().items():
        for problem in problems[:20]:
            console.print(f"[red]{name}[/]: {problem}")


def main(
    contacts: Annotated[int, typer.Option(help="linked contacts of the account")] = 200,
    changes: Annotated[int, typer.Option(help="consent changes, on both sides")] = 150,
    seed: Annotated[int, typer.Option(help="seeds the CRM, the changes and the faults")] = 7,
    outage_s: Annotated[float, typer.Option(help="length of the outage window, seconds")] = 4.0,
    log_file: Annotated[Path | None, typer.Option(help="the functions' log lines (build/chaos.log)")] = None,
) -> None:
    """Run the fault-injection scenario and print what happened; exit 1 when a check fails."""
    console = Console()
    log_file = log_file or ROOT / "build" / "chaos.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=log_file, level=logging.WARNING, force=True)
    logging.captureWarnings(True)  # the functions' runtime warnings belong with their logs
    with log_file.open("a") as log:
        console.print(f"chaos: {contacts} contacts, {changes} changes, seed {seed} (logs: {log_file})")
        report = run_chaos(contacts, changes, seed, outage_s=outage_s, log=log)
    print_report(report, console)
    raise typer.Exit(0 if report.ok else 1)


if __name__ == "__main__":
    typer.run(main)
