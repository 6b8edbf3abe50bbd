"""Events consent-sync will not process go to the events dead-letter queue, with their reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from consent_sync.store.aws import client

# SQS takes 256 KiB; an event larger than that is kept by its id and size only.
_MAX_BODY = 200_000


def send_to_dead_letters(queue_url: str, event: Any, reason: str, message: str, errors: list[Any]) -> None:
    """Keep a rejected event with a specific reason so an operator can inspect or redrive it."""
    record: dict[str, Any] = {
        "rejected_at": datetime.now(UTC).isoformat(),
        "reason": reason,
        "message": message,
        "errors": errors,
        "event": event,
    }
    body = json.dumps(record, default=str)
    if len(body.encode()) > _MAX_BODY:
        record["event"] = {
            "id": event.get("id") if isinstance(event, dict) else None,
            "omitted": f"event too large to keep ({len(body.encode())} bytes)",
        }
        body = json.dumps(record, default=str)
    client("sqs").send_message(
        QueueUrl=queue_url,
        MessageBody=body,
        MessageAttributes={"reason": {"DataType": "String", "StringValue": reason}},
    )
