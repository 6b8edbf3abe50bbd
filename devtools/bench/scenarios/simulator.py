"""``simulator-throughput``: requests/s the SuperOffice simulator sustains over a real socket.

Two phases, each a fixed number of GETs spread over a few client threads (one keep-alive connection
each): a cheap tenant-API call (``List/LegalBase/Items``) and a bulk ``Archive/Person`` query for as many
consecutive person ids as fit in one URL. The server runs in a thread of the same process
(``running_simulator``), so client and server share the GIL: the figures are what one process of both
sustains, a floor for the simulator alone.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from consent_sync.superoffice import queries as q
from consent_sync.superoffice.odata import int_literal, split_in_list, url_length
from devtools.bench.model import BenchContext, ScenarioResult
from devtools.bench.registry import scenario
from devtools.bench.scenarios._common import percentile_ms, rate, served_requests
from devtools.simulator.testing import SimulatorHandle, running_simulator


@dataclass
class _Phase:
    """The outcome of one phase: requests sent, wall time, per-request durations, rows received."""

    requests: int
    wall_s: float
    durations_s: list[float]
    rows: int


def _archive_params(joined_ids: str) -> dict[str, str]:
    """The query of ``persons_by_ids`` for a comma-separated id list."""
    return {
        "$select": q.select(q.PERSON_ARCHIVE_SELECT),
        "$filter": q.PERSONS_BY_ID_FILTER.format(ids=joined_ids),
    }


def _ids_per_url(sim: SimulatorHandle, persons: int) -> int:
    """How many ids surely fit in one Archive/Person URL, by the client's own splitting rule."""
    url = f"{sim.api_url}/{q.PERSON_ARCHIVE_PATH}"
    longest = [int_literal(persons)] * 1000  # every id as long as the longest: any window fits
    chunks = split_in_list(longest, lambda joined: url_length(url, _archive_params(joined)), q.MAX_URL_LENGTH)
    return len(chunks[0])


def _run_phase(sim: SimulatorHandle, threads: int, jobs: list[tuple[str, dict[str, str]]]) -> _Phase:
    """Send every (path, params) GET from ``threads`` threads; every answer must be 200."""
    lock = threading.Lock()
    durations: list[float] = []
    rows = 0
    shares = [jobs[i::threads] for i in range(threads)]
    clients = [
        httpx.Client(base_url=sim.api_url, auth=(sim.username, sim.password), timeout=30.0)
        for _ in range(threads)
    ]
    barrier = threading.Barrier(threads + 1)

    def worker(client: httpx.Client, share: list[tuple[str, dict[str, str]]]) -> None:
        nonlocal rows
        mine: list[float] = []
        received = 0
        barrier.wait()
        for path, params in share:
            started = time.perf_counter()
            response = client.get(path, params=params)
            mine.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:200]}")
            body = response.json()
            received += len(body["value"]) if isinstance(body, dict) and "value" in body else 1
        with lock:
            durations.extend(mine)
            rows += received

    try:
        # One untimed request per connection so that connecting is not part of the figures.
        for client in clients:
            client.get(q.LEGAL_BASES_PATH).raise_for_status()
        sim.control.reset_counts()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            futures = [pool.submit(worker, c, s) for c, s in zip(clients, shares, strict=True)]
            barrier.wait()
            started = time.perf_counter()
            for future in futures:
                future.result()
            wall = time.perf_counter() - started
    finally:
        for client in clients:
            client.close()
    served = served_requests(sim.control.counts())
    if served != len(jobs):
        raise RuntimeError(f"sent {len(jobs)} requests but the simulator counted {served}")
    return _Phase(requests=len(jobs), wall_s=wall, durations_s=durations, rows=rows)


@scenario(
    "simulator-throughput",
    "requests/s the simulator serves: a cheap List call and a bulk Archive/Person query, 4 client threads",
    params={"persons": 10_000, "threads": 4, "cheap_requests": 2_000, "bulk_requests": 400},
    quick={"persons": 500, "cheap_requests": 80, "bulk_requests": 20},
)
def simulator_throughput(ctx: BenchContext) -> ScenarioResult:
    """Fixed request counts, so the call counts are the same on every run; the rates are the figures."""
    persons = ctx.int_param("persons")
    threads = ctx.int_param("threads")
    rng = random.Random(ctx.seed)
    with running_simulator(persons=persons, seed=ctx.seed) as sim:
        per_url = _ids_per_url(sim, persons)
        cheap = _run_phase(sim, threads, [(q.LEGAL_BASES_PATH, {})] * ctx.int_param("cheap_requests"))
        bulk_jobs: list[tuple[str, dict[str, str]]] = []
        for _ in range(ctx.int_param("bulk_requests")):
            first = rng.randint(1, max(1, persons - per_url + 1))
            ids = list(range(first, min(persons, first + per_url - 1) + 1))
            joined = ",".join(int_literal(i) for i in ids)
            bulk_jobs.append((q.PERSON_ARCHIVE_PATH, _archive_params(joined)))
        bulk = _run_phase(sim, threads, bulk_jobs)
    cheap_rps = rate(cheap.requests, cheap.wall_s)
    bulk_rps = rate(bulk.requests, bulk.wall_s)
    sent = cheap.requests + bulk.requests
    return ScenarioResult(
        wall_s=cheap.wall_s + bulk.wall_s,
        superoffice_calls=sent,  # verified above: every request sent was served and counted
        lower_bound_calls=sent,
        headline=f"List {cheap_rps:,.0f} req/s · Archive/Person {bulk_rps:,.0f} req/s × {per_url} ids",
        figures={
            "threads": threads,
            "cheap_endpoint": f"GET /{q.LEGAL_BASES_PATH}",
            "cheap_requests": cheap.requests,
            "cheap_requests_per_s": round(cheap_rps, 1),
            "cheap_p50_ms": round(percentile_ms(cheap.durations_s, 50), 2),
            "cheap_p95_ms": round(percentile_ms(cheap.durations_s, 95), 2),
            "bulk_endpoint": f"GET /{q.PERSON_ARCHIVE_PATH}",
            "bulk_ids_per_request": per_url,
            "bulk_requests": bulk.requests,
            "bulk_requests_per_s": round(bulk_rps, 1),
            "bulk_rows": bulk.rows,
            "bulk_rows_per_s": round(rate(bulk.rows, bulk.wall_s), 1),
            "bulk_p50_ms": round(percentile_ms(bulk.durations_s, 50), 2),
            "bulk_p95_ms": round(percentile_ms(bulk.durations_s, 95), 2),
        },
    )
