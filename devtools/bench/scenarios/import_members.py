"""``import-50k``: a 50,000-member selection imported through the real handlers on the local stack.

Setup (not timed): a simulator of ``persons`` seeded persons (a few more than the members, so the
selection is a sample, not the whole CRM), a static selection of ``members`` persons drawn with the seed
(``control.create_selection``; the seeded selections are a share of the CRM and far too small), the
account configured through the settings function, and then 50 ms added to every tenant-API answer.

Measured: ``Import Requested`` put on the bus → ``drain`` (ImportFunction lists the members and fans out
chunks of ``ChunkSize``; ReconcileFunction reconciles each) until the stack is idle; the import job must
then be ``completed`` with every member counted. Figures: SuperOffice calls (the simulator's own count
of tenant-API requests) against the lower bound ``3 × ⌈members / chunk⌉ + 4`` (``Archive/Person`` by id,
the search of the chunk's addresses for older duplicates anywhere in SuperOffice, ``Archive/Person`` by
e-mail, and the consent rows, ``Archive/dynamic``, per chunk; the ``Members`` listing and the key lists once;
the issue's bound is 1.1 × that), DynamoDB calls per member (every boto3 call the handlers made in this
process during the import), members/s, the job's counts.
"""

from __future__ import annotations

import random
import uuid

from consent_sync.domain.vocabulary import JobKind, JobStatus
from devtools.bench.awscalls import count_aws_calls
from devtools.bench.model import BenchContext, ScenarioResult, chunked_lower_bound
from devtools.bench.registry import scenario
from devtools.bench.scenarios._common import rate
from devtools.bench.scenarios._stack import (
    REQUESTS_PER_SECOND,
    bench_stack,
    dynamodb_split,
    served,
)

#: Calls made once per import whatever its size: the ``Members`` listing and the three key lists
#: (``LegalBase``, ``ConsentPurpose``, ``ConsentSource``, cached per worker container).
FIXED_CALLS = 4
#: Per chunk: the persons (``Archive/Person`` by id), the search of their addresses across SuperOffice
#: for older duplicates (``Archive/Person`` by e-mail) and their consent rows (``Archive/dynamic``).
CALLS_PER_CHUNK = 3
#: The issue's bound on SuperOffice calls: at most this many times the lower bound.
CALLS_LIMIT = 1.1
#: How long the import may take before the scenario fails (moto takes ~5 ms per PutItem).
DRAIN_TIMEOUT_S = 2_000


@scenario(
    "import-50k",
    "import of a 50,000-member selection through the real handlers, 50 ms SuperOffice latency",
    params={"members": 50_000, "persons": 52_000, "chunk": 200, "latency_ms": 50},
    quick={"members": 1_000, "persons": 1_100},
    timeout_s=DRAIN_TIMEOUT_S + 400,
)
def import_selection(ctx: BenchContext) -> ScenarioResult:
    """Import a seeded selection of ``members`` persons into an empty account."""
    members = ctx.int_param("members")
    persons = ctx.int_param("persons")
    chunk = ctx.int_param("chunk")
    latency_ms = ctx.int_param("latency_ms")
    if members > persons:
        raise ValueError("a selection cannot have more members than the CRM has persons")
    import_id = f"bench-{uuid.uuid4().hex[:10]}"
    with bench_stack(persons=persons, seed=ctx.seed, chunk_size=chunk, name="import") as bench:
        person_ids = sorted(random.Random(ctx.seed).sample(range(1, persons + 1), members))
        selection_id = bench.sim.control.create_selection(person_ids, name=f"Benchmark {members}")
        bench.sim.control.set_faults(latency_ms=latency_ms)
        bench.sim.control.reset_counts()
        detail = {
            "account_id": bench.account_id,
            "import_id": import_id,
            "source": {"kind": "selection", "id": selection_id},
            "only_emarketing_consented": False,
        }
        before = bench.stack.runtime.invocation_counts
        with count_aws_calls() as aws, ctx.stopwatch() as watch:
            bench.send("Import Requested", [detail])
            bench.drain(timeout_s=DRAIN_TIMEOUT_S)
        calls = bench.superoffice_calls()
        bench.sim.control.clear_faults()
        job = bench.job(JobKind.IMPORT, import_id)
        invocations = bench.invocations_since(before)
    if job.status is not JobStatus.COMPLETED or job.meta.get("members") != members:
        raise RuntimeError(f"the import did not complete with {members} members: {job.model_dump_json()}")
    counted = sum(job.counters.get(k, 0) for k in ("created", "updated", "duplicates")) + job.failed
    if counted + sum(job.skipped.values()) != members:
        raise RuntimeError(f"members counted do not add up to {members}: {job.model_dump_json()}")
    superoffice_calls = served(calls)
    lower = chunked_lower_bound(members, chunk, calls_per_chunk=CALLS_PER_CHUNK) + FIXED_CALLS
    reads, dynamodb_calls, by_operation = dynamodb_split(aws)
    ratio = superoffice_calls / lower
    within = ratio <= CALLS_LIMIT
    per_s = rate(members, watch.seconds)
    return ScenarioResult(
        wall_s=watch.seconds,
        superoffice_calls=superoffice_calls,
        lower_bound_calls=lower,
        dynamodb_calls_per_contact=round(dynamodb_calls / members, 4),
        headline=(
            f"{per_s:,.0f} members/s · {members:,} members, {job.counters.get('created', 0):,} created · "
            f"calls ≤ {CALLS_LIMIT} × bound: {'yes' if within else 'NO'}"
        ),
        figures={
            "members": members,
            "persons": persons,
            "chunk": chunk,
            "chunks": job.total_chunks,
            "latency_ms": latency_ms,
            "requests_per_second": REQUESTS_PER_SECOND,
            "members_per_s": round(per_s, 1),
            "calls_limit": CALLS_LIMIT,
            "calls_within_limit": within,
            "superoffice_calls_by_endpoint": calls,
            "superoffice_calls_per_chunk": round(
                (superoffice_calls - FIXED_CALLS) / max(1, -(-members // chunk)), 2
            ),
            "superoffice_calls_per_chunk_without_duplicate_search": CALLS_PER_CHUNK - 1,
            "dynamodb_calls": dynamodb_calls,
            "dynamodb_reads": reads,
            "dynamodb_calls_by_operation": by_operation,
            "aws_calls_by_operation": dict(sorted(aws.calls.items())),
            "job": {
                "status": job.status.value,
                **{k: job.counters.get(k, 0) for k in ("created", "updated", "duplicates")},
                "duplicate_conflicts": job.counters.get("duplicate_conflicts", 0),
                "failed": job.failed,
                "skipped": {reason: n for reason, n in sorted(job.skipped.items()) if n},
            },
            "handler_invocations": invocations,
        },
        tables=("superoffice_calls_by_endpoint", "dynamodb_calls_by_operation"),
    )
