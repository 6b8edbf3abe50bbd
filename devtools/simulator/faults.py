"""Injected trouble for the tenant API: latency, a rate limit, 5xx, slow requests, outages.

The faults sit in front of authentication (as a load balancer or throttle would) and apply to the
tenant API (`/{CustId}/api/...`) only: login, `/api/state` and `/_sim/` are never disturbed, so a
test can always see and reset what it set up. Random draws come from their own seeded generator.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_SKIP_COST_US = 20.0


@dataclass
class FaultSettings:
    """The knobs; the defaults mean "behave"."""

    latency_ms: float = 0.0
    rate_limit_per_s: float | None = None  # accepted requests per rolling second; None = unlimited
    retry_after_s: int = 1  # the Retry-After of a 429 (and of an open-ended outage's 503)
    error_ratio: float = 0.0  # share of requests answered 500, 502 or 503
    timeout_ratio: float = 0.0  # share of requests held for timeout_s before being served
    timeout_s: float = DEFAULT_TIMEOUT_S
    outage_s: float | None = None  # 503 for every call during this many seconds; math.inf = until cleared
    seed: int = 0
    # What `$skip` costs per skipped row: the real server reads and drops them (O(offset)).
    skip_cost_us: float = DEFAULT_SKIP_COST_US

    def validate(self) -> None:
        """Raise ValueError for settings that make no sense."""
        if self.latency_ms < 0 or self.timeout_s < 0 or self.retry_after_s < 0 or self.skip_cost_us < 0:
            raise ValueError("latency_ms, timeout_s, retry_after_s and skip_cost_us must not be negative")
        if self.rate_limit_per_s is not None and self.rate_limit_per_s <= 0:
            raise ValueError("rate_limit_per_s must be positive (or null for no limit)")
        if not (0.0 <= self.error_ratio <= 1.0 and 0.0 <= self.timeout_ratio <= 1.0):
            raise ValueError("error_ratio and timeout_ratio must be between 0 and 1")
        if self.outage_s is not None and self.outage_s < 0:
            raise ValueError("outage_s must not be negative")


@dataclass(frozen=True)
class Refusal:
    """A fault's answer instead of the real one."""

    status: int
    message: str
    retry_after_s: int | None = None


class Faults:
    """The current settings plus the state they need (rate window, outage end, random generator)."""

    def __init__(self) -> None:
        self.settings = FaultSettings()
        self._rng = random.Random(0)
        self._accepted: deque[float] = deque()
        self._outage_ends: float | None = None

    def configure(self, settings: FaultSettings) -> None:
        """Replace all settings (unset knobs go back to their defaults); the window starts now."""
        settings.validate()
        self.settings = settings
        self._rng = random.Random(settings.seed)
        self._accepted.clear()
        self._outage_ends = None
        if settings.outage_s is not None:
            self._outage_ends = (
                math.inf if math.isinf(settings.outage_s) else time.monotonic() + settings.outage_s
            )

    def clear(self) -> None:
        """Back to normal service."""
        self.configure(FaultSettings())

    def describe(self) -> dict[str, Any]:
        """The settings as JSON-able data, plus how long an outage still lasts."""
        data = asdict(self.settings)
        if data["outage_s"] is not None and math.isinf(data["outage_s"]):
            data["outage_s"] = "until_cleared"
        data["outage_remaining_s"] = self._outage_remaining()
        return data

    def _outage_remaining(self) -> float | str | None:
        if self._outage_ends is None:
            return None
        if math.isinf(self._outage_ends):
            return "until_cleared"
        remaining = self._outage_ends - time.monotonic()
        if remaining <= 0:
            self._outage_ends = None
            return None
        return remaining

    async def apply(self) -> Refusal | None:
        """Run the faults for one API request: a Refusal to send instead, or None to serve it."""
        settings = self.settings
        remaining = self._outage_remaining()
        if remaining is not None:
            retry = settings.retry_after_s if isinstance(remaining, str) else max(1, math.ceil(remaining))
            return Refusal(503, "The service is unavailable (maintenance)", retry)
        if settings.rate_limit_per_s is not None:
            now = time.monotonic()
            while self._accepted and now - self._accepted[0] >= 1.0:
                self._accepted.popleft()
            if len(self._accepted) >= settings.rate_limit_per_s:
                return Refusal(429, "Too many requests", settings.retry_after_s)
            self._accepted.append(now)
        if settings.latency_ms > 0:
            await asyncio.sleep(settings.latency_ms / 1000.0)
        if settings.error_ratio > 0 and self._rng.random() < settings.error_ratio:
            status = self._rng.choice((500, 502, 503))
            return Refusal(status, f"Injected server error {status}")
        if settings.timeout_ratio > 0 and self._rng.random() < settings.timeout_ratio:
            # Held, then served: a client that gave up earlier never learns whether a write happened.
            await asyncio.sleep(settings.timeout_s)
        return None

    async def charge_skip(self, skipped_rows: int) -> None:
        """Make `$skip` cost time proportional to the rows skipped, like the real server."""
        if skipped_rows > 0 and self.settings.skip_cost_us > 0:
            await asyncio.sleep(skipped_rows * self.settings.skip_cost_us / 1_000_000)
