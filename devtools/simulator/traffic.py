"""What the simulator was asked: per-endpoint counts, per-status counts and a request log."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime

LOG_LIMIT = 100_000


@dataclass(frozen=True)
class LoggedRequest:
    """One request as served."""

    at: datetime  # when it arrived, UTC (aware)
    method: str
    path: str  # without the query string
    status: int
    endpoint: str  # the count key, e.g. "GET /Archive/dynamic"


class Traffic:
    """Counters and a bounded log (the newest LOG_LIMIT requests)."""

    def __init__(self) -> None:
        self.endpoints: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.log: deque[LoggedRequest] = deque(maxlen=LOG_LIMIT)

    def record(self, entry: LoggedRequest) -> None:
        """Count and log one served request."""
        self.endpoints[entry.endpoint] += 1
        self.statuses[entry.status] += 1
        self.log.append(entry)

    def counts(self) -> dict[str, int]:
        """Per endpoint key (`"GET /Archive/dynamic"`), plus `"status:<code>"` for every non-2xx status."""
        result = dict(self.endpoints)
        for status, count in sorted(self.statuses.items()):
            if not 200 <= status < 300:
                result[f"status:{status}"] = count
        return result

    def reset(self) -> None:
        """Forget everything counted and logged."""
        self.endpoints.clear()
        self.statuses.clear()
        self.log.clear()
