"""``sync-1k`` / ``sync-100k``: one incremental sync run over 1,000 or 100,000 linked contacts, 100 changes.

What the issue asks: SuperOffice calls and DynamoDB reads of a run must not grow with the number of
linked contacts (``sync-100k`` / ``sync-1k`` ≤ 1.1 for both; the runner adds that comparison to
``sync-100k.json`` as ``growth``).

Setup (not timed), through the real handlers wherever the platform would use them:

1. a simulator with enough seeded persons; the account configured through the settings function (sync
   on: its baseline run, on an empty account, queues nothing and sets the account's first watermark);
2. ``contacts`` linked contacts, as an import leaves them (SuperOffice's states copied, nothing pending),
   for the first persons (by id) that have a valid primary e-mail no other person has and are not
   retired; written with BatchWriteItem (importing 100,000 through the handlers would take ~20 minutes
   on moto), each item exactly what ``ContactStore.put_new`` writes;
3. ``changes`` changes in total on contacts drawn with the seed: half on the SuperOffice side (a user
   flips ``EMARKETING`` with ``control.set_consent(…, at=now)``: withdrawn if active, else ``61A``), half
   on the platform side (``Contact Consent Changed`` events, ``EMARKETING`` flipped the same way, now).
   The platform consent function records them and, as designed, pushes each to SuperOffice at once
   (a one-contact chunk): that happens here, in setup, because it is not part of the run.

Measured: ``Sync Requested`` (the account, a run id) → ``drain`` until idle; the run job must be
completed. The incremental run finds the persons whose consent rows changed since its watermark (the 50
SuperOffice edits and the 50 rows the platform pushes wrote) and the contacts the platform changed
(ChangedIndex) → one ``person_ids`` chunk and one ``emails`` chunk. It pulls the 50 SuperOffice edits
and finds the 50 platform changes in step (both sides equal: nothing written), so ``reconciled`` counts
150 (a contact named from both sides is reconciled twice, by design).

Figures: SuperOffice calls (the simulator's count of tenant-API requests), their lower bound
``⌈changed rows / 1000⌉ + 2 × ⌈changes / chunk⌉ + 3`` (one changed-rows page; ``Archive/Person`` and one
consent-row read per chunk of changed persons; the three key lists), DynamoDB calls (all, and reads:
GetItem, BatchGetItem, Query, Scan) and calls per reconciled contact, the run's counts.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from consent_sync.domain.consent import WITHDRAWN
from consent_sync.domain.emails import InvalidEmail, validate_email
from consent_sync.domain.vocabulary import JobKind, JobStatus
from consent_sync.store.contacts import ContactStore
from consent_sync.superoffice.queries import PAGE_SIZE
from devtools.bench.awscalls import count_aws_calls
from devtools.bench.model import BenchContext, ScenarioResult
from devtools.bench.registry import scenario
from devtools.bench.scenarios._stack import (
    REQUESTS_PER_SECOND,
    BenchStack,
    bench_stack,
    dynamodb_split,
    linked_contact,
    pages,
    served,
    write_contacts,
)
from devtools.simulator.testing import SimulatorControl

#: Key lists read once per run (``LegalBase``, ``ConsentPurpose``, ``ConsentSource``).
LIST_CALLS = 3
#: ``sync-100k`` / ``sync-1k`` may be at most this for SuperOffice calls and for DynamoDB reads.
GROWTH_LIMIT = 1.1
#: Seeded persons per contact wanted: ~3% have no e-mail, ~4% share theirs, 1% are retired.
PERSONS_PER_CONTACT = 1.12
PURPOSE = "EMARKETING"
DRAIN_TIMEOUT_S = 900


def flipped(legal_base: str | None) -> str:
    """The legal base a change sets: withdrawn when the current one is active, else ``61A``."""
    return WITHDRAWN if legal_base not in (None, WITHDRAWN) else "61A"


def usable_persons(persons: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(normalised e-mail, person) for persons whose valid primary e-mail no other person has, and who
    are not retired, by ascending id: each stands for exactly one contact (no duplicates to link)."""
    owners: Counter[str] = Counter()
    usable: list[tuple[str, dict[str, Any]]] = []
    for person in persons:
        try:
            email = validate_email(person["primary_email"] or "")
        except InvalidEmail:
            continue
        owners[email] += 1
        if not person["retired"]:
            usable.append((email, person))
    return [(email, person) for email, person in usable if owners[email] == 1]


def link_in_step(bench: BenchStack, count: int) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    """``count`` usable persons of the seeded CRM as linked contacts in step, written straight to the
    table: the persons (e-mail, person) and how many items were written."""
    usable = usable_persons(list(bench.sim.control.export_persons()))
    if len(usable) < count:
        raise RuntimeError(f"the seeded CRM has {len(usable)} usable persons, {count} are needed")
    linked = usable[:count]
    written = write_contacts(
        bench.table, (linked_contact(bench.account_id, email, person) for email, person in linked)
    )
    return linked, written


def lower_bound(changes: int, chunk: int) -> int:
    """The fewest SuperOffice calls of a run with ``changes`` changed persons (see the module doc)."""
    return pages(changes, PAGE_SIZE) + 2 * math.ceil(changes / chunk) + LIST_CALLS


@scenario(
    "sync-100k",
    "incremental sync run, 100,000 linked contacts, 100 changes (50 SuperOffice, 50 platform)",
    params={"contacts": 100_000, "changes": 100, "chunk": 200},
    quick={"contacts": 5_000},
    timeout_s=DRAIN_TIMEOUT_S + 900,
    compare_to="sync-1k",
    compare_keys=("superoffice_calls", "dynamodb_reads"),
    compare_limit=GROWTH_LIMIT,
)
@scenario(
    "sync-1k",
    "incremental sync run, 1,000 linked contacts, 100 changes (50 SuperOffice, 50 platform)",
    params={"contacts": 1_000, "changes": 100, "chunk": 200},
    timeout_s=DRAIN_TIMEOUT_S + 300,
)
def scheduled_sync(ctx: BenchContext) -> ScenarioResult:
    """One incremental run after ``changes`` changes among ``contacts`` linked contacts."""
    contacts = ctx.int_param("contacts")
    changes = ctx.int_param("changes")
    chunk = ctx.int_param("chunk")
    if not 0 < changes <= contacts:
        raise ValueError("changes must be between 1 and the number of contacts")
    superoffice_changes = changes // 2
    platform_changes = changes - superoffice_changes
    persons = math.ceil(contacts * PERSONS_PER_CONTACT) + 100
    run_id = f"bench-{uuid.uuid4().hex[:10]}"
    setup_started = time.perf_counter()
    with bench_stack(persons=persons, seed=ctx.seed, chunk_size=chunk, name="sync") as bench:
        linked, written = link_in_step(bench, contacts)
        chosen = [linked[i] for i in random.Random(ctx.seed).sample(range(contacts), changes)]
        change_in_superoffice(bench.sim.control, chosen[:superoffice_changes])
        _change_on_platform(bench, chosen[superoffice_changes:])
        bench.drain(timeout_s=120)
        owed = list(ContactStore(bench.table).pending(bench.account_id))
        pushes = bench.superoffice_calls().get("PUT /Person/{id}/Consent/{purpose}", 0)
        if owed or pushes != platform_changes:
            raise RuntimeError(f"setup: {pushes} platform pushes made, {len(owed)} still owed")
        setup_s = time.perf_counter() - setup_started

        bench.sim.control.reset_counts()
        before = bench.stack.runtime.invocation_counts
        request = {"account_id": bench.account_id, "run_id": run_id}
        with count_aws_calls() as aws, ctx.stopwatch() as watch:
            bench.send("Sync Requested", [request])
            bench.drain(timeout_s=DRAIN_TIMEOUT_S)
        calls = bench.superoffice_calls()
        invocations = bench.invocations_since(before)
        job = bench.job(JobKind.RUN, run_id)
    if job.status is not JobStatus.COMPLETED:
        raise RuntimeError(f"the run did not complete: {job.model_dump_json()}")
    reconciled = job.counters.get("reconciled", 0)
    if reconciled < changes:
        raise RuntimeError(f"the run reconciled {reconciled} contacts, fewer than the {changes} changed")
    superoffice_calls = served(calls)
    reads, dynamodb_calls, by_operation = dynamodb_split(aws)
    run = {
        "kind": job.meta.get("kind"),
        "chunks": job.total_chunks,
        "person_ids": job.meta.get("person_ids"),
        "emails": job.meta.get("emails"),
        **{k: job.counters.get(k, 0) for k in ("reconciled", "pushed", "pulled", "unchanged")},
        "failed": job.failed,
    }
    return ScenarioResult(
        wall_s=watch.seconds,
        superoffice_calls=superoffice_calls,
        lower_bound_calls=lower_bound(changes, chunk),
        dynamodb_calls_per_contact=round(dynamodb_calls / reconciled, 4),
        headline=(
            f"{contacts:,} contacts, {changes} changes · {reconciled} reconciled in {job.total_chunks} chunks"
            f" · DDB reads {reads}"
        ),
        figures={
            "contacts": written,
            "persons": persons,
            "changes": changes,
            "superoffice_changes": superoffice_changes,
            "platform_changes": platform_changes,
            "chunk": chunk,
            "requests_per_second": REQUESTS_PER_SECOND,
            "dynamodb_calls": dynamodb_calls,
            "dynamodb_reads": reads,
            "superoffice_calls_by_endpoint": calls,
            "dynamodb_calls_by_operation": by_operation,
            "aws_calls_by_operation": dict(sorted(aws.calls.items())),
            "run": run,
            "handler_invocations": invocations,
            "setup_s": round(setup_s, 1),
        },
        tables=("superoffice_calls_by_endpoint", "dynamodb_calls_by_operation"),
    )


def change_in_superoffice(control: SimulatorControl, chosen: list[tuple[str, dict[str, Any]]]) -> None:
    """A SuperOffice user flips ``EMARKETING`` of each chosen person, now."""
    now = datetime.now(UTC)
    for _, person in chosen:
        current = person["consents"].get(PURPOSE)
        control.set_consent(
            int(person["person_id"]),
            PURPOSE,
            flipped(None if current is None else current["LegalBaseKey"]),
            source="USER",
            at=now,
        )


def _change_on_platform(bench: BenchStack, chosen: list[tuple[str, dict[str, Any]]]) -> None:
    """The platform reports an ``EMARKETING`` flip of each chosen contact, now (``Contact Consent Changed``)."""
    now = datetime.now(UTC)
    details = []
    for email, person in chosen:
        current = person["consents"].get(PURPOSE)
        details.append(
            {
                "account_id": bench.account_id,
                "email": email,
                "purpose": PURPOSE,
                "legal_base": flipped(None if current is None else current["LegalBaseKey"]),
                "source": "WEBFORM",
                "changed_at": now.isoformat(),
            }
        )
    bench.send("Contact Consent Changed", details)
