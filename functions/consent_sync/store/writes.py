"""Optimistic writes: decide on what is stored, write conditionally on the version read, and on a
conflict read again and decide again. One helper for every writer of contacts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from consent_sync.store.contacts import VersionConflict

T = TypeVar("T")


class ContactBusy(RuntimeError):
    """A contact changed under every write attempt; the caller's message or invocation is retried as a
    whole (safe: deciding again after a successful write changes nothing)."""


def write_optimistically(attempt: Callable[[], T], *, attempts: int, what: str) -> T:
    """Call ``attempt`` (read, decide, write) until it does not raise :class:`VersionConflict`.

    Between attempts a short jittered pause, so that workers racing for one contact do not retry in
    step. Raises :class:`ContactBusy` after ``attempts`` conflicts.
    """
    # Imported at the first write, not with the module (see `contacts.until_processed`).
    from tenacity import (
        RetryError,
        Retrying,
        retry_if_exception_type,
        stop_after_attempt,
        wait_random_exponential,
    )

    retrying = Retrying(
        retry=retry_if_exception_type(VersionConflict),
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.05, max=1.0),
    )
    try:
        return retrying(attempt)
    except RetryError:
        raise ContactBusy(f"{what} changed under {attempts} write attempts") from None
