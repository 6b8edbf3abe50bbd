"""Fan-out and fan-in of jobs: a job's work goes to the reconcile queue in chunks; the last chunk done
(or the fan-out itself, when every chunk finished before the total was known) completes the job.

Whoever `JobStore.try_complete` picks (exactly one caller) announces the completion.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from consent_sync.config import FunctionConfig
from consent_sync.domain.jobs import Job
from consent_sync.domain.vocabulary import JobKind, Trigger
from consent_sync.events import ReconcileChunk
from consent_sync.flows import completion
from consent_sync.store.jobs import JobStore
from consent_sync.store.queue import enqueue

INTERACTIVE = frozenset({Trigger.PRESEND, Trigger.PLATFORM, Trigger.WEBHOOK})
"""Triggers someone waits for (a marketer, the platform's lists): their chunks go to the interactive
queue, never behind bulk work."""


def _by_queue(
    config: FunctionConfig, chunks: Sequence[ReconcileChunk]
) -> list[tuple[str, bool, list[ReconcileChunk]]]:
    interactive = [c for c in chunks if c.trigger in INTERACTIVE]
    bulk = [c for c in chunks if c.trigger not in INTERACTIVE]
    return [(config.interactive_queue_url, False, interactive), (config.reconcile_queue_url, True, bulk)]


def start_job(
    config: FunctionConfig,
    account_id: str,
    kind: JobKind,
    job_id: str,
    chunks: Sequence[ReconcileChunk],
    *,
    meta: Mapping[str, Any],
) -> Job | None:
    """Create the job, queue its chunks, record the total, and complete it if nothing is left to do.

    Returns the job when this call completed it (an empty job, or chunks that all finished already).
    Queuing the same job again (a retried invocation) sends the chunks again; they are counted once.
    """
    jobs = JobStore(config.table_name)
    # The chunk sizes let the sweep count a chunk that died uncounted as that many failures.
    sized = {**meta, "chunk_sizes": [chunk.size for chunk in chunks]}
    jobs.create(account_id, kind, job_id, json.loads(json.dumps(sized, default=str)))
    for queue_url, fair, part in _by_queue(config, chunks):
        enqueue(queue_url, part, fair=fair)
    jobs.set_total(account_id, kind, job_id, len(chunks))
    completed = jobs.try_complete(account_id, kind, job_id)
    if completed is not None:
        completion.announce(completed)
    return completed
