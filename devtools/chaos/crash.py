"""The chaos scenario's faults: what the simulator injects, the client's retries they cause, and the crash.

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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consent_sync.domain.vocabulary import Purpose
from consent_sync.events import ReconcileChunk
from devtools.chaos.world import ACCOUNT, REGION, ROOT, WITHDRAWN, World
from devtools.local.payloads import sqs_record
from devtools.local.sandbox import function_environment

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


@dataclass
class CrashReport:
    """What the worker crash did."""

    run_id: str = ""
    emails_in_chunk: int = 0
    pushes_owed: int = 0
    pushes_applied_before_kill: int = 0
    killed_after_s: float = 0.0
    killed: bool = False


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


def _puts(counts: dict[str, int]) -> int:
    return sum(n for key, n in counts.items() if key.startswith("PUT "))


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


def crash_worker(world: World, rng: random.Random, faults: dict[str, Any], timeout_s: float) -> CrashReport:
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
