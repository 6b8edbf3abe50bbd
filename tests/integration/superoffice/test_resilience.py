"""Retries under injected 5xx, 429 and timeouts; a clear Unavailable once the budget is spent."""

from __future__ import annotations

import math
import time
from datetime import timedelta

import pytest

from consent_sync.superoffice import RetryPolicy, Unavailable
from consent_sync.superoffice import queries as q
from devtools.simulator.testing import SimulatorHandle

from .conftest import OpenClient, online


def test_server_errors_are_retried(sim: SimulatorHandle, open_client: OpenClient) -> None:
    # Given a server failing 40% of requests with 500/502/503
    sim.control.set_faults(error_ratio=0.4, seed=7, retry_after_s=0)
    client = open_client()
    # When a batch of reads runs
    for person_id in range(1, 31):
        assert [row.person_id for row in client.persons_by_ids([person_id])] == [person_id]
    # Then all succeeded, and the log shows errors that were retried
    counts = sim.control.counts()
    failures = sum(v for k, v in counts.items() if k in ("status:500", "status:502", "status:503"))
    assert failures > 0
    assert client.calls[q.EP_PERSON_ARCHIVE] == 30 + failures


def test_retry_after_is_respected_under_rate_limiting(sim: SimulatorHandle, open_client: OpenClient) -> None:
    # Given a server accepting 5 requests per second, asking for 1 s of patience when exceeded
    sim.control.set_faults(rate_limit_per_s=5, retry_after_s=1)
    client = open_client(requests_per_second=1000.0)
    # When 12 calls are made as fast as the client may
    for person_id in range(1, 13):
        client.persons_by_ids([person_id])
    # Then some got 429, and the next request came no sooner than Retry-After
    log = sim.control.request_log()
    throttled = [i for i, entry in enumerate(log) if entry[3] == 429]
    assert throttled
    for i in throttled:
        if i + 1 < len(log):
            assert log[i + 1][0] - log[i][0] >= timedelta(seconds=0.95)
    assert sum(1 for entry in log if entry[3] == 200) == 12


def test_own_rate_limit_avoids_throttling(sim: SimulatorHandle, open_client: OpenClient) -> None:
    # Given the same server limit, and the client limited to fewer requests per second than that
    sim.control.set_faults(rate_limit_per_s=10, retry_after_s=1)
    client = open_client(requests_per_second=8.0)
    started = time.monotonic()
    for person_id in range(1, 15):
        client.persons_by_ids([person_id])
    # Then it is never throttled, and paced at 8/s
    assert "status:429" not in sim.control.counts()
    assert time.monotonic() - started >= 13 / 8.0 * 0.9


def test_timeouts_are_retried(sim: SimulatorHandle, open_client: OpenClient) -> None:
    # Given a server that holds a third of requests for 1 s, longer than the client waits
    sim.control.set_faults(timeout_ratio=0.35, timeout_s=1.0, seed=11)
    client = open_client(request_timeout_s=0.25)
    for person_id in range(1, 16):
        assert [row.person_id for row in client.persons_by_ids([person_id])] == [person_id]
    assert client.calls[q.EP_PERSON_ARCHIVE] > 15


def test_short_outage_is_ridden_out(sim: SimulatorHandle, open_client: OpenClient) -> None:
    sim.control.set_faults(outage_s=1.0)
    client = open_client()
    assert client.legal_bases()
    statuses = [entry[3] for entry in sim.control.request_log()]
    assert statuses[0] == 503
    assert statuses[-1] == 200


def test_outage_beyond_the_budget_is_unavailable(sim: SimulatorHandle, open_client: OpenClient) -> None:
    # Given SuperOffice down until further notice (maintenance window)
    sim.control.set_faults(outage_s=math.inf, retry_after_s=1)
    client = open_client(
        timeout_s=2.5, retry=RetryPolicy(max_attempts=10, initial_wait_s=0.05, max_wait_s=0.2)
    )
    started = time.monotonic()
    # When a call is made, it ends within its budget with a clear error
    with pytest.raises(Unavailable) as info:
        client.consent_rows([1, 2, 3])
    elapsed = time.monotonic() - started
    assert elapsed < 3.5
    assert info.value.status == 503
    assert info.value.retryable
    assert "maintenance" in str(info.value)
    # Having honoured Retry-After: 1 s between attempts, so only about three attempts fit
    attempts = sim.control.counts()[q.EP_CONSENT_ARCHIVE]
    assert 2 <= attempts <= 4


def test_online_client_rides_out_errors_too(sim: SimulatorHandle, open_client: OpenClient) -> None:
    sim.control.set_faults(error_ratio=0.3, seed=5)
    conn, creds = online(sim)
    client = open_client(conn, creds)
    rows = client.persons_by_ids(range(1, 101))
    assert len(rows) == 100
