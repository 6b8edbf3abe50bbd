"""The chaos scenario's faults: what the simulator injects, the client's retries they cause, and the
worker killed at each of the points where a stop could lose or double something.

**The kills** are real ones, at a chosen instant. A sync run's chunk owing a few pushes is taken off the
reconcile queue as Lambda's poller would, and the real `ReconcileFunction` handler runs on it in a
child process (`devtools/chaos/child.py`: the function's environment, the stack's endpoints) whose
hooks end it with `os._exit(137)` right after the call that makes the point: nothing of our code is
mocked, whatever the worker wrote before stays written, the rest never happens. The points, in turn:

1. after a SuperOffice consent PUT was answered (the Nth, half-way through the chunk's pushes);
2. after a contact's write (its `TransactWriteItems`, or `PutItem` without records; the Nth);
3. after a decision log write: the records are in the contact's own `TransactWriteItems`
   (`ContactStore.write`), so this is point 2's instant for a contact with decisions; run anyway;
4. after `try_complete` (the job completed and in the outbox, its event not claimed);
5. after `PutEvents` of the completion event returned, before `mark_announced`.

The message then comes back: the idempotency record stays "in progress" until the time the
handler's context gave it (short here; in Lambda the `Timeout`, long gone when SQS redelivers after
the 720 s visibility timeout), then the message is made visible and delivered again. For points 4 and
5 the redelivered chunk is counted already, so it neither completes nor announces the job: the
30-minute schedule's sweep (`completion.sweep`) publishes what is in the outbox. At point 5 the claim
taken before the kill holds for `ANNOUNCE_LEASE` (2 minutes, against the real clock); the sweep is
fired once inside the lease, then the claim's time is set back past the lease (no knob lets the sweep
pass its own `now` to `claim_announcement`) and the sweep fired again: that publication is the second
one of the documented at-least-once window.

After each point: the decision records of every change owed by the chunk (one each, neither lost nor
doubled), the PUTs SuperOffice served (one per owed push, none other), the completion events of the
job on the bus (one; two only in point 5's window, identical), the job's counts (the chunk counted
once) and the chunk's contacts (nothing pending, both sides equal, the owed value on both).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
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
from typing import Any

from consent_sync.domain.consent import ConsentState
from consent_sync.domain.contact import Contact, DecisionRecord
from consent_sync.domain.jobs import Job
from consent_sync.domain.vocabulary import JobKind, Purpose
from consent_sync.events import ReconcileChunk
from consent_sync.store.contacts import stored_time
from consent_sync.store.jobs import ANNOUNCE_LEASE, OUTBOX_INDEX_KEY
from devtools.chaos import child
from devtools.chaos.world import ACCOUNT, REGION, ROOT, SKEW, WITHDRAWN, World, same
from devtools.local.payloads import sqs_record
from devtools.local.sandbox import function_environment
from devtools.simulator.testing import consent_state

CLIENT_LOGGER = "consent_sync.superoffice.client"
# The SuperOffice client's request timeout: a request held longer is a timeout for the worker.
CLIENT_REQUEST_TIMEOUT_S = 10.0


def fault_settings(
    *, seed: int, rate_limit_per_s: float, timeout_ratio: float, held_s: float
) -> dict[str, Any]:
    """The simulator's faults while the scenario runs (`SimulatorControl.set_faults`): 10 % of tenant
    requests answered 5xx, 429 with `Retry-After` above `rate_limit_per_s`, and `timeout_ratio` of
    them held for `held_s`."""
    return {
        "error_ratio": 0.10,
        "rate_limit_per_s": rate_limit_per_s,
        "retry_after_s": 1,
        "timeout_ratio": timeout_ratio,
        "timeout_s": held_s,
        "seed": seed,
    }


class RetryLog(logging.Handler):
    """Counts the SuperOffice client's retries (its `before_sleep` warnings) by what failed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.retries: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if str(record.msg).startswith("SuperOffice %s failed") and len(args) >= 3:
            self.retries[f"{args[1]}{args[2]}".strip()] += 1


@contextlib.contextmanager
def counting_retries() -> Iterator[RetryLog]:
    """A `RetryLog` on the SuperOffice client's logger for as long as the block runs."""
    handler = RetryLog()
    target = logging.getLogger(CLIENT_LOGGER)
    target.addHandler(handler)
    try:
        yield handler
    finally:
        target.removeHandler(handler)


# -- the points -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrashPoint:
    """Where the worker is killed, and how the child's hook knows the instant."""

    number: int
    kind: str
    """The child's call kind (`devtools.chaos.child`)."""
    title: str
    trigger: str
    mid_chunk: bool
    """Killed at the Nth call, half-way through the chunk's pushes (else at the first)."""
    note: str = ""


POINTS: tuple[CrashPoint, ...] = (
    CrashPoint(
        1,
        child.SUPEROFFICE_PUT,
        "after the SuperOffice PUT",
        "httpx.Client.send returned 2xx for PUT …/Person/{id}/Consent/{purpose}",
        mid_chunk=True,
    ),
    CrashPoint(
        2,
        child.CONTACT_WRITE,
        "after the contact write",
        "BaseClient._make_api_call returned for TransactWriteItems (or PutItem) of a CONTACT# item",
        mid_chunk=True,
    ),
    CrashPoint(
        3,
        child.DECISION_WRITE,
        "after the decision log write",
        "BaseClient._make_api_call returned for TransactWriteItems holding DECISION# records",
        mid_chunk=True,
        note="the decision records are written in the contact's own TransactWriteItems "
        "(ContactStore.write): no instant lies between the two, so this is point 2's instant, "
        "for a contact with decisions",
    ),
    CrashPoint(
        4,
        child.TRY_COMPLETE,
        "after try_complete",
        "BaseClient._make_api_call returned for UpdateItem SET #status … :outbox (JobStore.try_complete)",
        mid_chunk=False,
    ),
    CrashPoint(
        5,
        child.PUBLISHED,
        "after publishing",
        "BaseClient._make_api_call returned for PutEvents of the completion event (before mark_announced)",
        mid_chunk=False,
    ),
)
POINTS_BY_NUMBER = {point.number: point for point in POINTS}
ALL_POINTS = tuple(POINTS_BY_NUMBER)

KILLED_CHECK = "killed at the point"
DECISIONS_CHECK = "no decision record lost or doubled"
PUSHES_CHECK = "every owed push reached SuperOffice once"
COMPLETION_CHECK = "exactly one completion event"
REDELIVERED_CHECK = "redelivered and processed"
COUNTED_CHECK = "chunk counted once"
CONVERGED_CHECK = "affected contacts converged"
POINT_CHECKS = (
    KILLED_CHECK,
    REDELIVERED_CHECK,
    DECISIONS_CHECK,
    PUSHES_CHECK,
    COMPLETION_CHECK,
    COUNTED_CHECK,
    CONVERGED_CHECK,
)


@dataclass
class CrashReport:
    """What one kill did, what came after it, and what its checks found (empty list: passed)."""

    point: CrashPoint
    run_id: str = ""
    chunk: str = ""
    contacts_in_chunk: int = 0
    pushes_owed: int = 0
    nth: int = 0
    exit_code: int | None = None
    killed: bool = False
    killed_after: str = ""
    """The call after which the child died (from its hook)."""
    calls_before_kill: dict[str, int] = field(default_factory=dict)
    pushes_before_kill: int = 0
    killed_after_s: float = 0.0
    job_at_kill: str = ""
    redelivery: list[str] = field(default_factory=list)
    sweep: list[str] = field(default_factory=list)
    window: str = ""
    """Point 5: the second publication of the job (the documented at-least-once window), or why none."""
    observations: list[str] = field(default_factory=list)
    checks: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in POINT_CHECKS})
    seconds: float = 0.0

    @property
    def label(self) -> str:
        return f"point {self.point.number} ({self.point.title})"

    @property
    def ok(self) -> bool:
        return not any(self.checks.values())


_CRASH_CAP_S = 60.0
"""The child is killed from outside at this age at the latest (a point it never reaches)."""
_REDELIVERY_CAP_S = 60.0
_PUSH_VALUES = ("61A", "61B", "61F", WITHDRAWN)


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


def crash_points(
    world: World, rng: random.Random, points: tuple[int, ...], timeout_s: float
) -> list[CrashReport]:
    """Each point in turn, on contacts of its own (as far as the account has enough of them)."""
    used: set[str] = set()
    picks = max(3, min(8, len(world.linked) // max(1, 2 * len(points))))
    reports = []
    for number in points:
        started = time.monotonic()
        report = CrashReport(POINTS_BY_NUMBER[number])
        try:
            _crash_at(world, report, rng, used, picks, timeout_s)
        finally:
            report.seconds = time.monotonic() - started
        reports.append(report)
    return reports


def _quiet(world: World, index: int, purpose: Purpose, now: datetime) -> bool:
    """Neither side of this contact's purpose changed within twice the skew: a platform change now wins."""
    person_id, email = world.linked[index]
    contact = world.contacts.get(ACCOUNT, email)
    if contact is None or contact.pending:
        return False
    held = contact.consents.get(purpose)
    theirs = consent_state(world.sim.control.consent(person_id, purpose.value))
    recent = now - 2 * SKEW
    return all(state is None or state.changed_at < recent for state in (held, theirs))


def _pick(world: World, rng: random.Random, used: set[str], count: int) -> list[int]:
    """`count` contacts whose `EMARKETING` is quiet, fresh ones first; if fewer than two are quiet (a
    round just changed most of a small account), once more after the quiet time."""
    order = list(range(len(world.linked)))
    rng.shuffle(order)
    # Contacts already used by an earlier point come last, when the account has too few.
    candidates = [i for i in order if world.linked[i][1] not in used]
    candidates += [i for i in order if world.linked[i][1] in used]
    picked: list[int] = []
    for attempt in range(2):
        if attempt:
            time.sleep(2 * SKEW.total_seconds())
        now = datetime.now(UTC)
        picked = [i for i in candidates if _quiet(world, i, Purpose.EMARKETING, now)][:count]
        if len(picked) >= min(2, count):
            break
    used.update(world.linked[i][1] for i in picked)
    return picked


def _platform_changes(world: World, rng: random.Random, picks: list[int]) -> None:
    """A platform change of `EMARKETING` per pick, to a value neither side holds: a push owed each."""
    for index in picks:
        person_id, email = world.linked[index]
        held = (
            world.platform_value(email, Purpose.EMARKETING),
            world.superoffice_value(person_id, Purpose.EMARKETING),
        )
        legal_base = rng.choice([b for b in _PUSH_VALUES if not any(same(b, h) for h in held)])
        detail = world.platform_detail(index, Purpose.EMARKETING, legal_base)
        # Straight to the function (as its rule would deliver it): the one-contact chunk it queues
        # is held off until the point is over, so the run's chunk is the one that owes the push.
        world.stack.runtime.invoke("PlatformConsentFunction", _event("Contact Consent Changed", detail))


def _take_queue(world: World) -> list[dict[str, Any]]:
    """Every message on the reconcile queue, taken as Lambda's poller takes them (in flight for 5 min)."""
    messages: list[dict[str, Any]] = []
    while True:
        batch = world.sqs.receive_message(
            QueueUrl=world.queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=300,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)


def _chunk_of(message: dict[str, Any]) -> ReconcileChunk | None:
    try:
        return ReconcileChunk.model_validate_json(message["Body"])
    except ValueError:
        return None


def _release(world: World, messages: list[dict[str, Any]]) -> None:
    for message in messages:
        world.sqs.change_message_visibility(
            QueueUrl=world.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )


def _process_now(world: World, message: dict[str, Any]) -> None:
    """Deliver a message to the function at once (as the poller would) and delete it if it succeeded."""
    record = sqs_record(message, world.queue_arn, REGION)
    response = world.stack.runtime.invoke("ReconcileFunction", {"Records": [record]})
    if response == {"batchItemFailures": []}:
        world.sqs.delete_message(QueueUrl=world.queue_url, ReceiptHandle=message["ReceiptHandle"])
    else:
        _release(world, [message])


def _chunk_contacts(world: World, chunk: ReconcileChunk) -> dict[str, Contact]:
    by_person = {person_id: email for person_id, email in world.linked}
    emails = dict.fromkeys([*chunk.emails, *(by_person[p] for p in chunk.person_ids if p in by_person)])
    contacts = {}
    for email in emails:
        contact = world.contacts.get(ACCOUNT, email)
        if contact is not None:
            contacts[email] = contact
    return contacts


def _crash_at(
    world: World, report: CrashReport, rng: random.Random, used: set[str], count: int, timeout_s: float
) -> None:
    point = report.point
    picks = _pick(world, rng, used, count)
    _platform_changes(world, rng, picks)
    report.run_id = f"chaos-crash{point.number}-{uuid.uuid4().hex[:6]}"
    world.stack.runtime.invoke(
        "ScheduledSyncFunction", _event("Sync Requested", {"account_id": ACCOUNT, "run_id": report.run_id})
    )
    # The run's chunk owing the most of the picks' pushes is the one killed; the platform's one-contact
    # pushes wait until the point is over.
    messages = _take_queue(world)
    picked = {world.linked[i][1] for i in picks}
    target: dict[str, Any] | None = None
    best = 0
    runs: list[dict[str, Any]] = []
    for message in messages:
        chunk = _chunk_of(message)
        if chunk is None or chunk.job.id != report.run_id:
            continue
        runs.append(message)
        owing = len(picked & set(chunk.emails))
        if owing > best:
            target, best = message, owing
    # Points 4 and 5 need the target to be the chunk that completes the job: the run's other chunks go
    # first. Points 1 to 3 are about the chunk's own pushes: the other chunks (SuperOffice's changed
    # persons, who may be picks too) wait, so that every pick's push is owed by the target.
    first = [m for m in runs if m is not target] if not point.mid_chunk else []
    held = [m for m in messages if m is not target and m not in first]
    for message in first:
        _process_now(world, message)
    if target is None:
        _release(world, held)
        world.drain()
        report.checks[KILLED_CHECK].append(f"no chunk of run {report.run_id} owed the picks' pushes")
        return
    chunk = ReconcileChunk.model_validate_json(target["Body"])
    report.chunk = f"{chunk.job.kind}/{chunk.job.id}/{chunk.job.chunk_no}"
    before = _chunk_contacts(world, chunk)
    report.contacts_in_chunk = len(before)
    owed: dict[tuple[str, Purpose], ConsentState] = {
        (email, purpose): state
        for email, contact in before.items()
        for purpose, state in contact.pending.items()
    }
    persons = {email: contact.superoffice_person_id for email, contact in before.items()}
    report.pushes_owed = len(owed)
    report.nth = max(1, math.ceil(len(owed) / 2)) if point.mid_chunk else 1
    mark = datetime.now(UTC)

    killed_at, log = _run_child(world, target, point, report, timeout_s)
    job = world.jobs.get(ACCOUNT, JobKind.RUN, report.run_id)
    item = world.job_item(JobKind.RUN.value, report.run_id)
    puts = world.consent_puts(mark)
    owed_pairs = {(persons[email], purpose.value) for email, purpose in owed}
    report.pushes_before_kill = sum(
        1
        for p in puts
        if (p.person_id, p.purpose) in owed_pairs and 200 <= p.status < 300 and p.at <= killed_at
    )
    report.job_at_kill = _job_state(job, item)
    events_at_kill = len(world.completions(report.run_id))
    _check_kill(report, job, item, events_at_kill)
    counters_at_kill = dict(job.counters) if job is not None else {}

    # The idempotency record is "in progress" until the child's context deadline: then SQS redelivers.
    deadline = max((float(line["deadline"]) for line in log if "deadline" in line), default=time.time())
    time.sleep(max(0.0, deadline + 0.3 - time.time()))
    redelivered_at = datetime.now(UTC)
    report.redelivery, processed = _redeliver(world, target)
    if not processed:
        report.checks[REDELIVERED_CHECK] += report.redelivery
    job_after = world.jobs.get(ACCOUNT, JobKind.RUN, report.run_id)
    report.redelivery.append(_effects(world, before, persons, redelivered_at, job, job_after, report.run_id))
    if job is not None and job_after is not None and job.done_chunks == 0 and job_after.done_chunks == 1:
        # The run's other chunks are still held back: the job's counts are this chunk's, as the
        # redelivery tallied them (the killed attempt's tally died with it).
        _compare_tally(report, dict(job_after.counters))
    _release(world, held)
    world.drain()
    if held:
        state = _job_state(
            world.jobs.get(ACCOUNT, JobKind.RUN, report.run_id),
            world.job_item(JobKind.RUN.value, report.run_id),
        )
        report.redelivery.append(
            f"then the {len(held)} message(s) held back (the platform's one-contact pushes"
            + (", the run's other chunks" if any(m in runs for m in held) else "")
            + f") delivered: job {state}, completion events of the job: {len(world.completions(report.run_id))}"
        )

    if point.kind in (child.TRY_COMPLETE, child.PUBLISHED):
        report.sweep.append(_sweep(world, report.run_id))
        if point.kind == child.PUBLISHED:
            item = world.job_item(JobKind.RUN.value, report.run_id)
            if item.get("gsi3pk") == OUTBOX_INDEX_KEY and item.get("announce_claimed_at"):
                # The lease is against the real clock (claim_announcement takes `now`, the sweep does not
                # pass its own): the claim is dated back past the lease, as two minutes later.
                lapsed = stored_time(datetime.now(UTC) - ANNOUNCE_LEASE - timedelta(seconds=1))
                world.set_job_attribute(JobKind.RUN.value, report.run_id, "announce_claimed_at", lapsed)
                report.sweep.append("claim dated back past its lease (ANNOUNCE_LEASE), as 2 minutes later")
                report.sweep.append(_sweep(world, report.run_id))
    final = world.jobs.get(ACCOUNT, JobKind.RUN, report.run_id)
    _check_after(world, report, owed, persons, mark, final, counters_at_kill)


def _run_child(
    world: World, target: dict[str, Any], point: CrashPoint, report: CrashReport, timeout_s: float
) -> tuple[datetime, list[dict[str, Any]]]:
    """The handler on the target's record in a child process that dies at the point; returns when it
    died (the hook's time, or now) and the lines its hook wrote."""
    spec = world.stack.runtime.functions["ReconcileFunction"]
    environment = function_environment(spec, endpoint_url=world.stack.endpoint_url, region=REGION)
    environment["PYTHONPATH"] = os.pathsep.join([str(spec.code_dir), str(ROOT)])
    environment["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    with tempfile.TemporaryDirectory() as folder:
        event_path = Path(folder) / "event.json"
        event_path.write_text(json.dumps({"Records": [sqs_record(target, world.queue_arn, REGION)]}))
        log_path = Path(folder) / "hook.jsonl"
        spec_path = Path(folder) / "spec.json"
        spec_path.write_text(
            json.dumps(
                {
                    "code_dir": str(spec.code_dir),
                    "name": spec.name,
                    "arn": spec.arn,
                    "timeout_s": timeout_s,
                    "event_path": str(event_path),
                    "point": point.kind,
                    "nth": report.nth,
                    "log": str(log_path),
                }
            )
        )
        stderr_path = Path(folder) / "stderr.txt"
        started = time.monotonic()
        with stderr_path.open("wb") as stderr:
            worker = subprocess.Popen(
                [sys.executable, str(Path(child.__file__)), str(spec_path)],
                env=environment,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            try:
                report.exit_code = worker.wait(timeout=_CRASH_CAP_S)
            except subprocess.TimeoutExpired:
                worker.kill()
                report.exit_code = worker.wait()
                report.checks[KILLED_CHECK].append(
                    f"still running after {_CRASH_CAP_S:.0f} s: killed from outside"
                )
        report.killed_after_s = time.monotonic() - started
        lines = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
        failure = stderr_path.read_text(errors="replace").strip().splitlines()[-3:]
    kill = next((line for line in lines if line.get("killed")), None)
    if kill is not None and report.exit_code == child.KILLED_EXIT:
        report.killed = True
        report.killed_after = str(kill["call"])
        report.calls_before_kill = {k: int(v) for k, v in kill["counts"].items()}
        return datetime.fromtimestamp(float(kill["at"]), UTC), lines
    finished = next((line for line in lines if "finished" in line), None)
    why = (
        f"the point was never reached (the handler returned {finished['finished']}, calls {finished['counts']})"
        if finished is not None
        else f"the child ended with {report.exit_code} and no kill by its hook: {' | '.join(failure)}"
    )
    report.checks[KILLED_CHECK].append(why)
    return datetime.now(UTC), lines


def _job_state(job: Job | None, item: dict[str, Any]) -> str:
    if job is None:
        return "no such job"
    where = "in the outbox" if item.get("gsi3pk") == OUTBOX_INDEX_KEY else "not in the outbox"
    claim = ", claimed" if item.get("announce_claimed_at") else ""
    announced = ", announced" if job.announced_at is not None else ""
    return f"{job.status.value}, {job.done_chunks}/{job.total_chunks} chunk(s) counted, {where}{claim}{announced}"


def _check_kill(report: CrashReport, job: Job | None, item: dict[str, Any], events: int) -> None:
    """The child died where the point says, with part of the chunk done (mid-chunk points)."""
    problems = report.checks[KILLED_CHECK]
    if not report.killed:
        return
    if job is None:
        problems.append(f"job {report.run_id} not found after the kill")
        return
    kind = report.point.kind
    if report.point.mid_chunk:
        # Part of the chunk done, part left to the redelivery.
        if report.pushes_before_kill >= report.pushes_owed:
            problems.append(
                f"nothing left to the redelivery: {report.pushes_before_kill} of {report.pushes_owed} "
                "owed push(es) made before the kill"
            )
        if job.done_chunks == job.total_chunks:
            problems.append("the chunk was counted before the kill")
    elif kind == child.TRY_COMPLETE:
        if (
            job.status.value == "running"
            or item.get("gsi3pk") != OUTBOX_INDEX_KEY
            or item.get("announce_claimed_at")
        ):
            problems.append(f"the job is not completed and unclaimed in the outbox: {report.job_at_kill}")
        if events:
            problems.append(f"{events} completion event(s) already published at the kill")
    elif kind == child.PUBLISHED:
        if item.get("gsi3pk") != OUTBOX_INDEX_KEY or not item.get("announce_claimed_at"):
            problems.append(f"the job is not claimed in the outbox: {report.job_at_kill}")
        if events != 1:
            problems.append(
                f"{events} completion event(s) on the bus at the kill, expected the one published"
            )


def _redeliver(world: World, target: dict[str, Any]) -> tuple[list[str], bool]:
    """The target message visible again and delivered (alone: everything else is still in flight)."""
    runtime = world.stack.runtime
    _release(world, [target])
    lines = []
    deadline = time.monotonic() + _REDELIVERY_CAP_S
    while time.monotonic() < deadline:
        before = runtime.invocation_counts["ReconcileFunction"]
        runtime.pump_once()
        made = runtime.invocation_counts["ReconcileFunction"] - before
        mine = [
            invocation
            for invocation in (runtime.invocations("ReconcileFunction")[-made:] if made else [])
            if any(record["messageId"] == target["MessageId"] for record in invocation.event["Records"])
        ]
        for invocation in mine:
            receive = invocation.event["Records"][0]["attributes"]["ApproximateReceiveCount"]
            outcome = (
                f"{type(invocation.error).__name__}: {invocation.error}"
                if invocation.error is not None
                else str(invocation.result)
            )
            lines.append(f"delivered again (receive #{receive}) → {outcome}")
            if invocation.error is None and invocation.result == {"batchItemFailures": []}:
                return lines, True
        time.sleep(0.05)
    lines.append(f"not processed within {_REDELIVERY_CAP_S:.0f} s")
    return lines, False


def _effects(
    world: World,
    before: dict[str, Contact],
    persons: dict[str, int | None],
    since: datetime,
    job_before: Job | None,
    job_after: Job | None,
    run_id: str,
) -> str:
    """What the redelivery did: PUTs, decision records, the job's count, the completion."""
    chunk_persons = {p for p in persons.values() if p is not None}
    puts = [p for p in world.consent_puts(since) if p.person_id in chunk_persons]
    actions: Counter[str] = Counter()
    for email in before:
        for record in world.decisions.for_contact(ACCOUNT, email, limit=1000):
            if record.at >= since:
                actions[record.action] += 1
    counted = (
        "counted the chunk"
        if job_before is not None and job_after is not None and job_after.done_chunks > job_before.done_chunks
        else "found the chunk counted already (counts unchanged)"
    )
    completed = (
        f", completed the job ({job_after.status.value})"
        if job_before is not None
        and job_after is not None
        and job_before.status.value == "running"
        and job_after.status.value != "running"
        else ""
    )
    events = len(world.completions(run_id))
    records = ", ".join(f"{action} ×{n}" for action, n in sorted(actions.items())) or "none"
    return (
        f"{len(puts)} PUT(s), decision records: {records}; {counted}{completed}; "
        f"completion events of the job on the bus now: {events}"
    )


def _sweep(world: World, run_id: str) -> str:
    """The 30-minute schedule fired (its sweep first), drained; what the sweep answered."""
    runtime = world.stack.runtime
    before = runtime.invocation_counts["ScheduledSyncFunction"]
    events_before = len(world.completions(run_id))
    runtime.fire_schedule("ScheduledSyncFunction")
    world.drain()
    made = runtime.invocation_counts["ScheduledSyncFunction"] - before
    swept = [
        invocation.result["swept"]
        for invocation in (runtime.invocations("ScheduledSyncFunction")[-made:] if made else [])
        if isinstance(invocation.result, dict) and "swept" in invocation.result
    ]
    events = len(world.completions(run_id))
    return (
        f"schedule fired: sweep {swept[-1] if swept else 'did not answer'}; "
        f"completion events of the job: {events_before} → {events}"
    )


def _key(state: Any) -> tuple[str, datetime] | None:
    return None if state is None else (state.legal_base, state.changed_at)


def _check_after(
    world: World,
    report: CrashReport,
    owed: dict[tuple[str, Purpose], ConsentState],
    persons: dict[str, int | None],
    since: datetime,
    job: Job | None,
    counters_at_kill: dict[str, int],
) -> None:
    checks = report.checks
    # Decision records: one push (or push_confirmed) per owed change; no decision logged twice.
    records: dict[str, list[DecisionRecord]] = {
        email: [r for r in world.decisions.for_contact(ACCOUNT, email, limit=1000) if r.at >= since]
        for email in persons
    }
    for (email, purpose), state in sorted(owed.items()):
        found = [
            r
            for r in records[email]
            if r.purpose is purpose
            and r.action in ("push", "push_confirmed")
            and _key(r.platform) == _key(state)
        ]
        where = f"{email} {purpose.value} {state.legal_base}@{state.changed_at:%H:%M:%S}"
        if not found:
            checks[DECISIONS_CHECK].append(f"{where}: the push is not in the decision log (lost)")
        elif len(found) > 1:
            checks[DECISIONS_CHECK].append(
                f"{where}: logged {len(found)} times ({', '.join(r.action for r in found)})"
            )
    for email, mine in records.items():
        seen: Counter[tuple[Any, ...]] = Counter(
            (r.purpose, r.action, _key(r.platform), _key(r.superoffice))
            for r in mine
            if not r.action.startswith("error")
        )
        for (purpose, action, platform, superoffice), n in seen.items():
            if n > 1:
                checks[DECISIONS_CHECK].append(
                    f"{email} {purpose.value}: {action} of {platform} over {superoffice} logged {n} times"
                )
    # SuperOffice: one PUT per owed push, none other for the chunk's persons.
    served: Counter[tuple[int, str]] = Counter(
        (p.person_id, p.purpose) for p in world.consent_puts(since) if 200 <= p.status < 300
    )
    owed_pairs = {(persons[email], purpose.value): email for email, purpose in owed}
    for (person_id, purpose_key), email in sorted(owed_pairs.items(), key=lambda kv: kv[1]):
        n = served.get((person_id, purpose_key), 0) if person_id is not None else 0
        if n != 1:
            checks[PUSHES_CHECK].append(f"{email} {purpose_key}: {n} PUT(s) for one owed push")
    for (person_id, purpose_key), n in served.items():
        if person_id in persons.values() and (person_id, purpose_key) not in owed_pairs:
            checks[PUSHES_CHECK].append(f"person {person_id} {purpose_key}: {n} PUT(s), none owed")
    # The completion: one event, the job's id and counts; two only in point 5's window, identical.
    _check_completion(world, report, job)
    # The chunk counted once; a counted chunk's counters untouched by the redelivery and the sweep.
    if job is None:
        checks[COUNTED_CHECK].append("the job is gone")
    else:
        if not job.done_chunks == job.total_chunks == len(job.counted_chunks):
            checks[COUNTED_CHECK].append(
                f"done {job.done_chunks}, total {job.total_chunks}, counted {sorted(job.counted_chunks)}"
            )
        if not report.point.mid_chunk and dict(job.counters) != counters_at_kill:
            checks[COUNTED_CHECK].append(f"counts {counters_at_kill} at the kill became {dict(job.counters)}")
    # Every contact of the chunk: nothing pending, both sides equal, the owed value on both.
    for email, person_id in persons.items():
        contact = world.contacts.get(ACCOUNT, email)
        if contact is None or person_id is None:
            continue
        if contact.pending:
            checks[CONVERGED_CHECK].append(
                f"{email}: still pending {sorted(p.value for p in contact.pending)}"
            )
        for purpose in Purpose:
            held = contact.consents.get(purpose)
            ours = held.legal_base if held else None
            theirs = world.superoffice_value(person_id, purpose)
            wanted = owed.get((email, purpose))
            if not same(ours, theirs):
                checks[CONVERGED_CHECK].append(
                    f"{email} {purpose.value}: platform {ours}, SuperOffice {theirs}"
                )
            elif wanted is not None and not same(ours, wanted.legal_base):
                checks[CONVERGED_CHECK].append(
                    f"{email} {purpose.value}: both {ours}, the change owed was {wanted.legal_base}"
                )


_EVENT_COUNTS = ("reconciled", "pushed", "pulled", "unchanged", "failed")


def _compare_tally(report: CrashReport, counters: dict[str, int]) -> None:
    """The chunk's counts against what it did: each owed push was made once (the pushes check), and
    those made by the killed attempt are still counted as pushed by the redelivery (which finds them
    made: `push_confirmed`, or in step with the push recorded as this run's)."""
    pushed = counters.get("pushed", 0)
    if pushed != report.pushes_owed:
        report.checks[COMPLETION_CHECK].append(
            f"the chunk is counted pushed={pushed}, unchanged={counters.get('unchanged', 0)} for "
            f"{report.pushes_owed} owed push(es), each made once ({report.pushes_before_kill} before "
            "the kill): Sync Run Completed.pushed would be short"
        )


def _check_completion(world: World, report: CrashReport, job: Job | None) -> None:
    problems = report.checks[COMPLETION_CHECK]
    events = world.completions(report.run_id)
    item = world.job_item(JobKind.RUN.value, report.run_id)
    if job is None:
        problems.append("the job is gone")
        return
    if item.get("gsi3pk") == OUTBOX_INDEX_KEY:
        problems.append(f"the completion is still in the outbox ({_job_state(job, item)})")
    for event in events:
        wanted = {name: job.counters.get(name, 0) for name in _EVENT_COUNTS} | {"failed": job.failed}
        found = {name: event.detail.get(name) for name in _EVENT_COUNTS}
        if event.detail_type != "Sync Run Completed" or found != wanted:
            problems.append(f"{event.detail_type} of {event.job_id} says {found}, the job {wanted}")
    if report.point.kind == child.PUBLISHED and len(events) == 2:
        first, second = events
        if first.detail == second.detail:
            report.window = (
                f"job {report.run_id} published twice (the documented at-least-once window: killed between "
                f"PutEvents and mark_announced, published again by the sweep once the claim lapsed); both "
                f"events carry run_id {first.job_id} and the same counts "
                + ", ".join(f"{name}={first.detail.get(name)}" for name in _EVENT_COUNTS)
            )
            world.at_least_once[report.run_id] = report.window
        else:
            problems.append(f"the two publications differ: {first.detail} and {second.detail}")
        return
    if report.point.kind == child.PUBLISHED:
        report.window = f"no second publication of job {report.run_id} ({len(events)} event(s))"
    if len(events) != 1:
        problems.append(f"{len(events)} completion event(s) for job {report.run_id}")
