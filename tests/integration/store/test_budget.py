"""One SuperOffice budget per tenant, shared by all workers: never more than the tenant's rate, and a
throttling answer seen by one worker holds every worker."""

from __future__ import annotations

import threading
import time

from consent_sync.store.budget import SharedBudget

TENANT = "onsite:https://crm.example.com/api/v1"


def _spend(budget: SharedBudget, until: float, sent: list[float]) -> None:
    while True:
        budget.acquire()
        now = time.monotonic()
        if now >= until:
            return
        sent.append(now)


def test_workers_together_stay_within_the_tenants_rate(table_name: str) -> None:
    # Given three workers (each its own budget object, as in three Lambda containers) of one tenant
    rate, seconds = 10.0, 1.5
    workers = [SharedBudget(table_name, TENANT, rate) for _ in range(3)]
    sent: list[float] = []
    until = time.monotonic() + seconds
    # When they all send as fast as the budget lets them
    threads = [threading.Thread(target=_spend, args=(w, until, sent)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then together they sent about rate × seconds, never three times that (one bucket, not three)
    assert len(sent) <= rate * seconds + 1 + 3 * workers[0]._lease
    # and the budget let work through (a loose bound: the workers share two cores with other tests)
    assert len(sent) >= rate * seconds * 0.2


def test_a_budget_is_per_tenant(table_name: str) -> None:
    # Another tenant's budget is untouched by this one's spending
    busy = SharedBudget(table_name, TENANT + "/busy", 2.0)
    other = SharedBudget(table_name, TENANT + "/other", 2.0)
    busy.acquire()
    started = time.monotonic()
    assert other.acquire() == 0.0
    assert time.monotonic() - started < 0.4


def test_a_pause_seen_by_one_worker_holds_the_others(table_name: str) -> None:
    tenant = TENANT + "/paused"
    first, second = SharedBudget(table_name, tenant, 50.0), SharedBudget(table_name, tenant, 50.0)
    # When one worker gets a 429 with Retry-After: 1
    first.hold(1.0)
    # Then the other waits about that long before its next request
    started = time.monotonic()
    second.acquire()
    assert time.monotonic() - started >= 0.8
