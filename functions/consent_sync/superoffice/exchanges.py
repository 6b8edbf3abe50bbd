"""What one HTTP exchange with SuperOffice looked like, for a connection check: endpoint, status,
latency and the rate-limit headers the server sent. Never a URL (filters can hold e-mail addresses),
never a request header (credentials), never a body."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

_RATE_LIMIT_PREFIXES = ("x-ratelimit-", "x-rate-limit-", "ratelimit-")
_RATE_LIMIT_NAMES = frozenset({"retry-after", "ratelimit", "ratelimit-policy"})


def rate_limit_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The response headers that speak of rate limits (``Retry-After``, ``X-RateLimit-*``,
    ``RateLimit-*``), by their name as sent."""
    return {
        name: value
        for name, value in headers
        if name.lower() in _RATE_LIMIT_NAMES or name.lower().startswith(_RATE_LIMIT_PREFIXES)
    }


@dataclass(frozen=True)
class Exchange:
    """One request sent and how it ended: ``status`` None when no response came (``error`` says why)."""

    endpoint: str
    latency_s: float
    status: int | None = None
    rate_limit_headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
