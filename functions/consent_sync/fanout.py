"""Fan-out and fan-in of jobs: a job's work goes to the reconcile queue in chunks; the last chunk done
(or the fan-out itself, when every chunk finished before the total was known) completes the job.

Whoever `JobStore.try_complete` picks — exactly one caller — announces the completion with the job's
outgoing event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from consent_sync.config import FunctionConfig
from consent_sync.events import ReconcileChunk
from consent_sync.store.aws import client
from consent_sync.store.jobs import Job, JobKind, JobStore

# SQS takes up to 10 messages per SendMessageBatch call.
_SQS_BATCH = 10

Announcer = Callable[[Job], None]
"""Emits a completed job's outgoing event (Import Completed, Sync Run Completed, …)."""


class FanOutFailed(RuntimeError):
    """SQS refused some chunks; the job must not be marked complete or the watermark moved."""


def chunked(items: Sequence[Any], size: int) -> list[list[Any]]:
    """`items` in lists of at most `size`, order kept (itertools.batched needs Python 3.12)."""
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def enqueue(config: FunctionConfig, chunks: Iterable[ReconcileChunk]) -> int:
    """Send chunks to the reconcile queue, 10 per call; return how many were sent."""
    sqs = client("sqs")
    sent = 0
    for batch in chunked(list(chunks), _SQS_BATCH):
        entries = [
            {"Id": str(i), "MessageBody": chunk.model_dump_json(), "MessageAttributes": _attributes(chunk)}
            for i, chunk in enumerate(batch)
        ]
        result = sqs.send_message_batch(QueueUrl=config.reconcile_queue_url, Entries=entries)
        if result.get("Failed"):
            codes = sorted({f.get("Code", "?") for f in result["Failed"]})
            raise FanOutFailed(f"SQS refused {len(result['Failed'])} chunk(s): {', '.join(codes)}")
        sent += len(entries)
    return sent


def _attributes(chunk: ReconcileChunk) -> dict[str, Any]:
    # Visible in the console and the DLQ without parsing the body.
    return {
        "account_id": {"DataType": "String", "StringValue": chunk.account_id},
        "trigger": {"DataType": "String", "StringValue": chunk.trigger},
        "job": {"DataType": "String", "StringValue": f"{chunk.job.kind}/{chunk.job.id}/{chunk.job.chunk_no}"},
    }


def start_job(
    config: FunctionConfig,
    account_id: str,
    kind: JobKind,
    job_id: str,
    chunks: Sequence[ReconcileChunk],
    *,
    meta: Mapping[str, Any],
    announce: Announcer,
) -> Job | None:
    """Create the job, queue its chunks, record the total, and complete it if nothing is left to do.

    Returns the job when this call completed it (an empty job, or chunks that all finished already).
    Queuing the same job again (a retried invocation) sends the chunks again; they are counted once.
    """
    jobs = JobStore(config.table_name)
    jobs.create(account_id, kind, job_id, json.loads(json.dumps(meta, default=str)))
    enqueue(config, chunks)
    jobs.set_total(account_id, kind, job_id, len(chunks))
    completed = jobs.try_complete(account_id, kind, job_id)
    if completed is not None:
        announce(completed)
    return completed
