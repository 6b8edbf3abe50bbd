"""The reconcile queue: chunks of work, sent in batches of ten."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from consent_sync.domain.jobs import chunked
from consent_sync.events import ReconcileChunk
from consent_sync.store.aws import client

# SQS takes up to 10 messages per SendMessageBatch call.
_SQS_BATCH = 10


class FanOutFailed(RuntimeError):
    """SQS refused some chunks; the job must not be marked complete or the watermark moved."""


def enqueue(queue_url: str, chunks: Iterable[ReconcileChunk]) -> int:
    """Send chunks to the queue, 10 per call; return how many were sent."""
    sqs = client("sqs")
    sent = 0
    for batch in chunked(list(chunks), _SQS_BATCH):
        entries = [
            {"Id": str(i), "MessageBody": chunk.model_dump_json(), "MessageAttributes": _attributes(chunk)}
            for i, chunk in enumerate(batch)
        ]
        result = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if result.get("Failed"):
            codes = sorted({f.get("Code", "?") for f in result["Failed"]})
            raise FanOutFailed(f"SQS refused {len(result['Failed'])} chunk(s): {', '.join(codes)}")
        sent += len(entries)
    return sent


def _attributes(chunk: ReconcileChunk) -> dict[str, Any]:
    # Visible in the console and the DLQ without parsing the body.
    return {
        "account_id": {"DataType": "String", "StringValue": chunk.account_id},
        "trigger": {"DataType": "String", "StringValue": chunk.trigger.value},
        "job": {
            "DataType": "String",
            "StringValue": f"{chunk.job.kind.value}/{chunk.job.id}/{chunk.job.chunk_no}",
        },
    }
