"""``client-bulk-read-0ms`` / ``-50ms``: the real SuperOffice client reading persons in bulk.

``SuperOfficeClient`` (on-site Basic against the simulator) reads N persons in chunks of 200 as the
reconcile worker does: ``persons_by_ids`` then ``consent_rows`` per chunk, one thread, with the
simulator adding 0 or 50 ms to every tenant-API answer. Figures: persons/s, the client's own call count
(``client.calls``, retries and list look-ups included) against the lower bound of two calls per chunk.
"""

from __future__ import annotations

import random

from consent_sync.superoffice import RetryPolicy, SuperOfficeClient
from devtools.bench.model import BenchContext, ScenarioResult, chunked_lower_bound
from devtools.bench.registry import scenario
from devtools.bench.scenarios._common import onsite_basic, percentile_ms, rate
from devtools.simulator.testing import running_simulator

#: Contacts per reconcile chunk (the template's ``ChunkSize`` default).
CHUNK = 200
#: High enough that the client's token bucket never makes a request wait at these latencies: what is
#: measured is the client and the server, not the limiter (production runs at 5 per second).
REQUESTS_PER_SECOND = 10_000.0

_COMMON = {"persons": 50_000, "chunk": CHUNK, "requests_per_second": REQUESTS_PER_SECOND}


@scenario(
    "client-bulk-read-50ms",
    "SuperOfficeClient: persons_by_ids + consent_rows per 200 persons, 50 ms added per call",
    params={**_COMMON, "latency_ms": 50},
    quick={"persons": 600},
)
@scenario(
    "client-bulk-read-0ms",
    "SuperOfficeClient: persons_by_ids + consent_rows per 200 persons, no added latency",
    params={**_COMMON, "latency_ms": 0},
    quick={"persons": 600},
)
def client_bulk_read(ctx: BenchContext) -> ScenarioResult:
    """Read every person of a seeded CRM (ids in a seeded order) and their consent rows."""
    persons = ctx.int_param("persons")
    chunk = ctx.int_param("chunk")
    latency_ms = ctx.param("latency_ms")
    rps = float(ctx.param("requests_per_second"))
    ids = list(range(1, persons + 1))
    random.Random(ctx.seed).shuffle(ids)  # chunks mix id lengths, as a real selection would
    chunks = [ids[i : i + chunk] for i in range(0, len(ids), chunk)]
    read = consent_rows = 0
    chunk_s: list[float] = []
    with running_simulator(persons=persons, seed=ctx.seed) as sim:
        sim.control.set_faults(latency_ms=latency_ms)
        connection, credentials = onsite_basic(sim)
        with (
            SuperOfficeClient.open(
                connection, credentials, requests_per_second=rps, retry=RetryPolicy(), timeout_s=60.0
            ) as client,
            ctx.stopwatch() as watch,
        ):
            for part in chunks:
                started = watch.seconds
                read += len(client.persons_by_ids(part))
                consent_rows += len(client.consent_rows(part))
                chunk_s.append(watch.seconds - started)
        calls = dict(sorted(client.calls.items()))
    if read != persons:
        raise RuntimeError(f"asked for {persons} persons, read {read}")
    lower = chunked_lower_bound(persons, chunk, calls_per_chunk=2)
    per_s = rate(read, watch.seconds)
    return ScenarioResult(
        wall_s=watch.seconds,
        superoffice_calls=sum(calls.values()),
        lower_bound_calls=lower,
        headline=f"{per_s:,.0f} persons/s · {persons:,} persons · limiter {rps:,.0f} req/s",
        figures={
            "persons": persons,
            "latency_ms": latency_ms,
            "chunk": chunk,
            "requests_per_second": rps,
            "persons_per_s": round(per_s, 1),
            "consent_rows": consent_rows,
            "chunk_p50_ms": round(percentile_ms(chunk_s, 50), 2),
            "chunk_p95_ms": round(percentile_ms(chunk_s, 95), 2),
            "superoffice_calls_by_endpoint": calls,
        },
    )
