"""Pacing requests: a token-bucket rate limiter and ``Retry-After`` parsing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

from consent_sync.domain.errors import BudgetExhausted


class RateLimiter(Protocol):
    """What paces a client's requests: this process's `TokenBucket`, or a budget shared by every worker
    of the deployment (`consent_sync.store.budget.SharedBudget`)."""

    def acquire(self, deadline: float | None = None) -> float:
        """Wait until a request may be sent; return the seconds waited. With ``deadline`` (monotonic),
        raise :class:`BudgetExhausted` at once rather than wait past it."""
        ...

    def hold(self, seconds: float) -> None:
        """Let no request through for ``seconds`` (the server asked to back off)."""
        ...


class TokenBucket:
    """A thread-safe token bucket: ``rate`` requests per second on average, bursts up to ``burst``.

    The default burst of 1 keeps any rolling one-second window at no more than ``rate + 1`` requests, so
    a server counting requests per rolling second never sees more than we promised; a larger burst lets
    idle time be spent in a quick run of requests (up to ``burst + rate`` in one second).

    :meth:`acquire` reserves a token under the lock and sleeps outside it, so concurrent callers queue
    fairly without holding the lock while they wait. ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, burst if burst is not None else 1.0)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._updated = now

    def reserve(self) -> float:
        """Take a token and return how long the caller must wait before using it (0 when available)."""
        with self._lock:
            self._refill(self._clock())
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self, deadline: float | None = None) -> float:
        """Wait until a request may be sent; returns the seconds waited (see :class:`RateLimiter`)."""
        delay = self.reserve()
        if deadline is not None and delay > 0 and time.monotonic() + delay > deadline:
            with self._lock:
                self._tokens += 1.0  # not spent: give the token back
            raise BudgetExhausted(delay)
        if delay > 0:
            self._sleep(delay)
        return delay

    def hold(self, seconds: float) -> None:
        """Let no request through for ``seconds`` (the server asked us to back off)."""
        if seconds <= 0:
            return
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, -seconds * self.rate)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date; ``None`` if unusable.

    A date in the past gives 0. Negative or unparsable values give ``None``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds != seconds or seconds < 0 or seconds == float("inf"):
            return None
        return seconds
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    moment = now or datetime.now(UTC)
    return max(0.0, (when - moment).total_seconds())
