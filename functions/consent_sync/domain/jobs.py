"""Jobs (imports, sync runs, send-out checks): the model of one, its counter names, and chunking."""

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from consent_sync.domain.vocabulary import JobKind, JobStatus

# Counter names on jobs, shared by the worker (which adds them) and the completion events (which read them).
MEMBERS = "members"
CREATED = "created"
UPDATED = "updated"
DUPLICATES = "duplicates"
DUPLICATE_CONFLICTS = "duplicate_conflicts"
FAILED = "failed"
RECONCILED = "reconciled"
PUSHED = "pushed"
PULLED = "pulled"
UNCHANGED = "unchanged"
ALLOWED = "allowed"
BLOCKED = "blocked"
STALE = "stale"

T = TypeVar("T")

_NOT_IN_IDENTIFIER = r"[^A-Za-z0-9_.:-]"  # compiled by `re` at first use


def job_id_part(event_id: str) -> str:
    """An event id made safe for a job id (EventBridge ids are UUIDs; anything else is replaced)."""
    return re.sub(_NOT_IN_IDENTIFIER, "-", event_id)[:100]


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    """`items` in lists of at most `size`, order kept (itertools.batched needs Python 3.12)."""
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


class Job(BaseModel):
    """A job as stored."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    account_id: str
    kind: JobKind
    job_id: str
    status: JobStatus
    meta: dict[str, Any] = Field(default_factory=dict)
    total_chunks: int | None = None
    done_chunks: int = 0
    counters: dict[str, int] = Field(default_factory=dict)
    skipped: dict[str, int] = Field(default_factory=dict)
    failed_chunks: list[int] = Field(default_factory=list)
    """Chunks that went to the dead-letter queue."""
    counted_chunks: list[int] = Field(default_factory=list)
    """Chunks counted in (done or failed)."""
    announced_at: datetime | None = None
    """When the completion event was published (None: not yet, or the job has none)."""
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None

    @property
    def failed(self) -> int:
        """The ``failed`` counter (items that could not be processed)."""
        return self.counters.get(FAILED, 0)

    @property
    def finished(self) -> bool:
        """True once the job reached a final status."""
        return self.status is not JobStatus.RUNNING

    @property
    def may_complete(self) -> bool:
        """Running with every chunk counted: worth a :meth:`JobStore.try_complete`.

        A chunk whose recording leaves this False can skip the call: the chunk (or the fan-out's
        ``set_total``) that counts last sees it True, since each of those updates is atomic.
        """
        return (
            self.status is JobStatus.RUNNING
            and self.total_chunks is not None
            and self.done_chunks >= self.total_chunks
        )
