"""The real handlers on the local stack, driven as the platform drives them: ``import-50k``, ``sync-*``,
``gate-*`` and ``freshness``.

:func:`bench_stack` starts ``template.yaml`` on moto (the local runtime delivers events and SQS batches
to the handlers in this process, so :func:`devtools.bench.count_aws_calls` sees their boto3 calls) next
to a seeded SuperOffice simulator, and configures one on-site account on it (Basic auth, ``allow_insecure``,
``requests_per_second`` = :data:`REQUESTS_PER_SECOND`) through ``Integration Settings Updated``, as the
integration tests do. SuperOffice's webhooks are off unless a scenario asks for them (``webhooks``):
with them on, every SuperOffice change a scenario makes in setup would also be pulled at once, and the
scheduled-run figures would depend on how far those pulls got. Everything here is setup: the scenarios
time only what they measure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consent_sync.domain.contact import Card, Contact, StoredConsent
from consent_sync.domain.jobs import Job
from consent_sync.domain.vocabulary import JobKind, Purpose, Side
from consent_sync.store.accounts import AccountStore
from consent_sync.store.contacts import ContactStore
from consent_sync.store.jobs import JobStore
from consent_sync.store.secrets import secret_name
from devtools.bench.awscalls import AwsCallCounter
from devtools.bench.scenarios._common import served_requests
from devtools.local import LocalStack, local_stack
from devtools.simulator.accounts import simulator_settings
from devtools.simulator.testing import SimulatorHandle, consent_state, running_simulator
from devtools.uploads import write_credentials

REGION = "eu-west-1"
ACCOUNT_ID = "bench"
#: The account's ``requests_per_second``: the most the settings model allows (``le=100``). Handlers run
#: one at a time here and a call takes ≥ 50 ms at the simulated latency, so one worker makes at most
#: ~15 calls/s and the client's limiter never makes a request wait: SuperOffice and the handlers are
#: measured, not the limiter (production: 5/s per worker).
REQUESTS_PER_SECOND = 100
#: How often, and how many times in a row, :meth:`BenchStack.wait_idle` must find no message pending.
IDLE_POLL_S = 0.2
IDLE_CHECKS = 3
#: DynamoDB operations that read (what "DynamoDB reads" counts).
DYNAMODB_READS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")


@dataclass
class BenchStack:
    """The local stack, the simulator and the benchmark's account on them."""

    stack: LocalStack
    sim: SimulatorHandle
    account_id: str
    #: The runtime pumps in background threads (``local_stack(background=True)``): wait, never drain.
    background: bool = False

    @property
    def table(self) -> str:
        """The consent table's name."""
        return str(self.stack.outputs["ConsentTableName"])

    def send(self, detail_type: str, details: Sequence[Mapping[str, Any]]) -> None:
        """Put platform events (``source`` ``marketing.platform``) on the stack's bus, 10 per PutEvents."""
        self.stack.runtime.put_events(
            [{"Source": "marketing.platform", "DetailType": detail_type, "Detail": dict(d)} for d in details],
            bus="EventBus",
        )

    def drain(self, timeout_s: float) -> int:
        """Deliver everything (events, reconcile batches) until the stack is idle; returns deliveries
        (0 with a background runtime, whose own threads deliver: this only waits for them)."""
        if self.background:
            self.wait_idle(timeout_s)
            return 0
        return self.stack.runtime.drain(timeout=timeout_s)

    def wait_idle(self, timeout_s: float) -> None:
        """Wait until no message is pending on any queue the runtime polls, :data:`IDLE_CHECKS` times in a
        row (for a background runtime: a message being handled stays in flight until it is deleted, and
        what a handler sends is queued before it returns). TimeoutError after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while quiet < IDLE_CHECKS:
            waiting = self.stack.runtime.pending()
            quiet = 0 if waiting else quiet + 1
            if waiting and time.monotonic() > deadline:
                raise TimeoutError(f"not idle after {timeout_s} s: pending {waiting}")
            time.sleep(IDLE_POLL_S)

    def job(self, kind: JobKind, job_id: str) -> Job:
        """A job that must exist."""
        job = JobStore(self.table).get(self.account_id, kind, job_id)
        if job is None:
            raise RuntimeError(f"no {kind.value} job {job_id!r}: the handlers never started it")
        return job

    def invocations_since(self, before: Mapping[str, int]) -> dict[str, int]:
        """Handler invocations per function since ``before`` (a ``runtime.invocation_counts``), non-zero only."""
        now = self.stack.runtime.invocation_counts
        return {name: n - before.get(name, 0) for name, n in now.items() if n - before.get(name, 0)}

    def superoffice_calls(self) -> dict[str, int]:
        """Tenant-API requests since the last ``reset_counts`` per endpoint (control calls, logins and
        the ``status:`` counters left out), sorted."""
        counts = self.sim.control.counts()
        return dict(sorted((k, n) for k, n in counts.items() if not k.startswith("status:")))


@contextmanager
def bench_stack(
    *,
    persons: int,
    seed: int,
    chunk_size: int,
    name: str,
    legal_basis_sync: bool = True,
    requests_per_second: int = REQUESTS_PER_SECOND,
    webhooks: bool = False,
    background: bool = False,
) -> Iterator[BenchStack]:
    """A simulator of ``persons`` seeded persons and the local stack (``ChunkSize`` = ``chunk_size``), with
    the account configured through the real settings function (sync on: its baseline run, on an empty
    account, queues nothing and sets the account's first watermark). ``requests_per_second`` is the
    account's setting (the client's own limiter); the default keeps the limiter out of the figures.

    ``webhooks`` deploys the stack with ``SuperOfficeWebhooks`` on, so the settings function registers the
    account's webhook (its test ping answered by the receiver's function URL); ``background`` has the
    runtime pump in threads, with the schedules at their template rates (the 30-minute run does not fire
    within a scenario of a few minutes)."""
    root = Path(__file__).resolve().parents[3]
    with (
        running_simulator(persons=persons, seed=seed) as sim,
        local_stack(
            template=root / "template.yaml",
            port=0,
            stack_name=f"bench-{name}",
            region=REGION,
            parameters={"ChunkSize": chunk_size, "SuperOfficeWebhooks": "on" if webhooks else "off"},
            failed_visibility_timeout_s=0,
            background=background,
            warm_function_urls=webhooks,
        ) as stack,
    ):
        bench = BenchStack(stack, sim, ACCOUNT_ID, background=background)
        arn = write_credentials(
            secret_name(stack.outputs["SecretPrefix"], ACCOUNT_ID),
            {"username": sim.username, "password": sim.password},
        )
        settings = simulator_settings(
            ACCOUNT_ID,
            sim,
            arn,
            legal_basis_sync=legal_basis_sync,
            requests_per_second=requests_per_second,
        )
        applied = stack.runtime.invocation_counts["SettingsFunction"]
        bench.send("Integration Settings Updated", [settings])
        if background:
            # Counted once the handler returned (webhook registered); only then is "idle" meaningful.
            deadline = time.monotonic() + 60
            while stack.runtime.invocation_counts["SettingsFunction"] == applied:
                if time.monotonic() > deadline:
                    raise TimeoutError("the settings function was not invoked within 60 s")
                time.sleep(IDLE_POLL_S)
        bench.drain(timeout_s=60)
        if AccountStore(bench.table).get(ACCOUNT_ID) is None:
            raise RuntimeError("the settings function did not store the benchmark account")
        yield bench


def dynamodb_split(aws: AwsCallCounter) -> tuple[int, int, dict[str, int]]:
    """(reads, all calls, calls per operation) of DynamoDB in ``aws``."""
    by_operation = {
        key.removeprefix("dynamodb."): n
        for key, n in sorted(aws.calls.items())
        if key.startswith("dynamodb.")
    }
    reads = sum(n for op, n in by_operation.items() if op in DYNAMODB_READS)
    return reads, sum(by_operation.values()), by_operation


def served(counts: Mapping[str, int]) -> int:
    """Requests in a ``superoffice_calls()`` mapping."""
    return served_requests(dict(counts))


# ---------------------------------------------------------------- linked contacts, written in bulk (setup)


def linked_contact(account_id: str, email: str, person: Mapping[str, Any]) -> Contact:
    """The contact an import leaves for a person with a unique e-mail: linked, SuperOffice's states copied
    (``changed_in: superoffice``, so not in the ChangedIndex), nothing pending."""
    consents: dict[Purpose, StoredConsent] = {}
    for purpose in Purpose:
        state = consent_state(person["consents"].get(purpose.value))
        if state is not None:
            consents[purpose] = StoredConsent.of(state, Side.SUPEROFFICE)
    return Contact(
        account_id=account_id,
        email=email,
        # The card as the import takes it from the person's row (names, company, e-mail, mobile).
        card=Card(
            first_name=person["first_name"].strip() or None,
            last_name=person["last_name"].strip() or None,
            company=person["company"].strip() or None,
            email_display=person["primary_email"].strip() or None,
            mobile=person["mobile"].strip() or None,
        ),
        superoffice_person_id=int(person["person_id"]),
        superoffice_registered_at=datetime.fromisoformat(person["registered"]).replace(tzinfo=UTC),
        consents=consents,
    )


def write_contacts(table: str, contacts: Iterable[Contact]) -> int:
    """Store never-stored contacts in bulk (BatchWriteItem of 25): setup only, ~25× fewer requests than
    ``put_new`` one by one. Each item is exactly what ``ContactStore.put_new`` would write (the store
    builds it, index attributes included), just without the per-item condition. Returns how many."""
    store = ContactStore(table)
    written = 0
    # The store's own table resource: its batch writer resends unprocessed items.
    with store._table.batch_writer() as batch:
        for contact in contacts:
            _, item = store._prepared(contact, version=1)
            batch.put_item(Item=item)
            written += 1
    return written


def pages(items: int, page_size: int) -> int:
    """Pages needed for ``items`` (at least one: an empty answer is still a call)."""
    return max(1, math.ceil(items / page_size))
