"""The reconcile queues: chunks of work, sent in batches of ten.

Two queues: *interactive* (send-out checks, platform pushes: a marketer waits for them) and *bulk*
(imports, baselines, scheduled and requested runs), each with its own workers, so a check never waits
behind somebody's import. The bulk queue is an SQS fair queue: every message carries its account as
`MessageGroupId`, so one tenant's backlog does not raise the others' dwell time."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from consent_sync.domain.jobs import chunked
from consent_sync.events import ReconcileChunk, WebhookPull
from consent_sync.store.aws import client

# SQS takes up to 10 messages per SendMessageBatch call.
_SQS_BATCH = 10


class FanOutFailed(RuntimeError):
    """SQS refused some chunks; the job must not be marked complete or the watermark moved."""


def enqueue(queue_url: str, chunks: Iterable[ReconcileChunk], *, fair: bool = False) -> int:
    """Send chunks to the queue, 10 per call; return how many were sent. ``fair``: each message in its
    account's message group (the bulk queue)."""
    sqs = client("sqs")
    sent = 0
    for batch in chunked(list(chunks), _SQS_BATCH):
        entries: list[dict[str, Any]] = [
            {"Id": str(i), "MessageBody": chunk.model_dump_json(), "MessageAttributes": _attributes(chunk)}
            for i, chunk in enumerate(batch)
        ]
        if fair:
            for entry, chunk in zip(entries, batch, strict=True):
                entry["MessageGroupId"] = chunk.account_id
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


def send_pull(queue_url: str, pull: WebhookPull) -> str:
    """Queue one person SuperOffice named in a webhook delivery; returns the SQS message id.

    In its account's message group: a tenant whose users change thousands of persons at once does not
    hold up the others' pulls."""
    answer = client("sqs").send_message(
        QueueUrl=queue_url,
        MessageBody=pull.model_dump_json(),
        MessageGroupId=pull.account_id,
        MessageAttributes={"account_id": {"DataType": "String", "StringValue": pull.account_id}},
    )
    return str(answer["MessageId"])
