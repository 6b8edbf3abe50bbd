"""Counting AWS API calls (DynamoDB calls per contact) for the scenarios that run the handlers.

Every boto3 client, whatever its session, sends each operation through
``botocore.client.BaseClient._make_api_call``; :func:`count_aws_calls` wraps it for the duration of a
``with`` block. One logical call counts once (the SDK's own retries are inside it).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.client import BaseClient


class AwsCallCounter:
    """Calls per ``"<service>.<Operation>"`` (e.g. ``"dynamodb.BatchWriteItem"``), thread-safe; also the
    wall seconds spent in them (``seconds``: from the SDK call to its answer, the server's work included)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def record(self, service: str, operation: str, seconds: float = 0.0) -> None:
        """Count one call (and the seconds it took, when known)."""
        with self._lock:
            self.calls[f"{service}.{operation}"] += 1
            self.seconds[f"{service}.{operation}"] += seconds

    def total(self, service: str | None = None) -> int:
        """All calls, or those of one service (``"dynamodb"``)."""
        with self._lock:
            return sum(n for key, n in self.calls.items() if service is None or key.startswith(f"{service}."))

    def per(self, units: int, service: str | None = None) -> float | None:
        """Calls per unit (``counter.per(contacts, "dynamodb")``); None for zero units."""
        return self.total(service) / units if units else None


@contextmanager
def count_aws_calls() -> Iterator[AwsCallCounter]:
    """Count every boto3 API call made in this process (any thread) inside the block.

    Only clients in this process are seen: run the handlers in-process (as the local runtime does) for
    their calls to count; whether the server is moto or AWS does not matter.
    """
    counter = AwsCallCounter()
    original = BaseClient._make_api_call

    def counting(self: BaseClient, operation_name: str, api_params: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, operation_name, api_params)
        finally:
            counter.record(
                self.meta.service_model.service_name, operation_name, time.perf_counter() - started
            )

    BaseClient._make_api_call = counting
    try:
        yield counter
    finally:
        BaseClient._make_api_call = original
