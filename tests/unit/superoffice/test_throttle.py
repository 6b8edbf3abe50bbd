"""The token bucket (fake clock, no real sleeps) and Retry-After parsing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from consent_sync.superoffice.throttle import TokenBucket, parse_retry_after


class FakeTime:
    """A clock whose sleep just advances it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)


def test_burst_then_steady_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(10.0, burst=10, clock=t.clock, sleep=t.sleep)
    # The first second's worth goes through at once
    assert [bucket.reserve() for _ in range(10)] == [0.0] * 10
    # Then each further request waits one more tenth of a second
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)
    # Time passing refills
    t.now += 1.0
    assert bucket.reserve() == pytest.approx(0.0, abs=1e-9)


def test_default_burst_keeps_any_second_within_rate_plus_one() -> None:
    t = FakeTime()
    bucket = TokenBucket(10.0, clock=t.clock, sleep=t.sleep)
    # Requests sent back to back are spaced 1/rate apart from the second one on
    waits = [bucket.reserve() for _ in range(12)]
    assert waits[0] == 0.0
    assert waits[1:] == [pytest.approx(0.1 * i) for i in range(1, 12)]
    # So the first rolling second (t in [0, 1)) holds 10 requests, never more than rate + 1
    assert sum(1 for w in waits if w < 1.0) <= 11


def test_average_rate_over_many_requests() -> None:
    t = FakeTime()
    bucket = TokenBucket(5.0, burst=1, clock=t.clock, sleep=t.sleep)
    # 51 requests at a 5/s limit with no burst finish no earlier than 10 s after the first
    waits = [bucket.reserve() for _ in range(51)]
    assert max(waits) == pytest.approx(10.0)


def test_acquire_sleeps_only_when_needed() -> None:
    t = FakeTime()
    bucket = TokenBucket(2.0, burst=1, clock=t.clock, sleep=t.sleep)
    bucket.acquire()
    bucket.acquire()
    assert t.slept == [pytest.approx(0.5)]


def test_hold_blocks_everyone_for_the_given_time() -> None:
    t = FakeTime()
    bucket = TokenBucket(10.0, burst=10, clock=t.clock, sleep=t.sleep)
    bucket.hold(3.0)
    assert bucket.reserve() == pytest.approx(3.1)


def test_thread_safe_reservations() -> None:
    # Given many threads taking tokens at once from a 100/s bucket (burst 100)
    t = FakeTime()
    bucket = TokenBucket(100.0, burst=100, clock=t.clock, sleep=t.sleep)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            w = bucket.reserve()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # Then every token was handed out once: 100 free, the other 300 spaced 10 ms apart
    assert sorted(waits)[:100] == [0.0] * 100
    assert sorted(waits)[-1] == pytest.approx(3.0)
    assert len({round(w, 6) for w in waits if w > 0}) == 300


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Sun, 22 Nov 2026 10:00:30 GMT", 30.0),
        ("Sun, 22 Nov 2026 09:00:00 GMT", 0.0),  # in the past
        ("-5", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_retry_after(header: str | None, expected: float | None) -> None:
    now = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == expected
