"""One SuperOffice request budget per tenant, shared by every worker of the deployment.

Item ``pk = BUDGET#<tenant key digest>``, ``sk = BUDGET``: ``tokens`` (a decimal, up to ``burst``),
``at`` (epoch seconds of the last refill) and ``paused_until`` (epoch seconds: a 429 or 503 with
``Retry-After`` seen by any worker holds them all). A worker takes a *lease* of a few tokens in one
conditional UpdateItem (conditional on ``at`` as read, so two workers never spend the same tokens)
and spends it locally; when the bucket is empty it sleeps until the next token is due, never
spinning. However many workers run, the tenant receives at most ``rate`` requests per second on
average, plus one lease per worker in a burst.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from consent_sync.domain.errors import BudgetExhausted
from consent_sync.store.aws import dynamodb_table
from consent_sync.store.contacts import is_condition_failure

BUDGET_SK = "BUDGET"
LEASE_SECONDS = 0.25
"""A lease holds at most this many seconds' worth of the rate (at least one token)."""
_EXPIRES_AFTER_S = 24 * 3600


def budget_key(tenant_key: str) -> dict[str, str]:
    """The item of a tenant's budget (the tenant key names a URL: only its digest is stored)."""
    digest = hashlib.sha256(tenant_key.encode()).hexdigest()[:32]
    return {"pk": f"BUDGET#{digest}", "sk": BUDGET_SK}


class SharedBudget:
    """A token bucket in DynamoDB for one tenant: `acquire` before each request, `hold` on a
    throttling answer (the same interface as the client's own `TokenBucket`)."""

    def __init__(
        self,
        table_name: str,
        tenant_key: str,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, burst if burst is not None else 1.0)
        self._lease = max(1, int(rate * LEASE_SECONDS))
        self._table = dynamodb_table(table_name)
        self._key = budget_key(tenant_key)
        self._clock = clock
        self._sleep = sleep
        self._local = 0
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()

    def acquire(self, deadline: float | None = None) -> float:
        """Wait until a request may be sent; returns the seconds waited. With ``deadline`` (monotonic),
        raises `BudgetExhausted` at once when the wait would pass it."""
        waited = 0.0
        with self._lock:
            while True:
                if self._local > 0:
                    self._local -= 1
                    return waited
                delay = self._lease_or_delay()
                if delay <= 0:
                    continue
                if deadline is not None and time.monotonic() + delay > deadline:
                    raise BudgetExhausted(delay)
                self._sleep(delay)
                waited += delay

    def hold(self, seconds: float) -> None:
        """Let no request of any worker through for ``seconds`` (the tenant asked us to back off)."""
        if seconds <= 0:
            return
        until = Decimal(str(round(self._clock() + seconds, 3)))
        with self._lock:
            self._local = 0
        try:
            self.requests["UpdateItem"] += 1
            self._table.update_item(
                Key=self._key,
                UpdateExpression="SET paused_until = :until, expires_at = :expires",
                ConditionExpression="attribute_not_exists(paused_until) OR paused_until < :until",
                ExpressionAttributeValues={
                    ":until": until,
                    ":expires": int(self._clock()) + _EXPIRES_AFTER_S,
                },
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise  # a later pause is already recorded otherwise

    def _lease_or_delay(self) -> float:
        """Take a lease (returns 0) or say how long to wait before the next token (or a pause) is due."""
        now = self._clock()
        self.requests["GetItem"] += 1
        item: dict[str, Any] = self._table.get_item(Key=self._key, ConsistentRead=True).get("Item") or {}
        paused_until = float(item.get("paused_until", 0))
        if paused_until > now:
            return paused_until - now
        last = float(item["at"]) if "at" in item else None
        tokens = (
            self.capacity
            if last is None
            else min(self.capacity, float(item.get("tokens", 0)) + max(0.0, now - last) * self.rate)
        )
        if tokens < 1:
            return (1 - tokens) / self.rate
        take = min(self._lease, int(tokens))
        values: dict[str, Any] = {
            ":tokens": Decimal(str(round(tokens - take, 6))),
            ":now": Decimal(str(round(now, 6))),
            ":expires": int(now) + _EXPIRES_AFTER_S,
        }
        condition = "attribute_not_exists(#at)"
        if last is not None:
            condition = "#at = :last"
            values[":last"] = item["at"]
        try:
            self.requests["UpdateItem"] += 1
            self._table.update_item(
                Key=self._key,
                UpdateExpression="SET tokens = :tokens, #at = :now, expires_at = :expires",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#at": "at"},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            # Another worker took tokens first: read again after a short, jittered pause.
            return random.uniform(0.005, 0.02)
        self._local = take
        return 0.0
