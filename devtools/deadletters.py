"""Dead letters: what waits in a dead-letter queue, and why, as the message itself says.

Each queue that receives dead letters gets them from a different writer, and each writer says why in
its own way; :func:`reason` reads them all:

- consent-sync's own rejections (malformed or unknown-account events): message attribute ``reason``
  (:func:`consent_sync.store.rejections.send_to_dead_letters`);
- EventBridge (a rule's target dead-letter queue): attributes ``ERROR_CODE`` and ``ERROR_MESSAGE``;
- Lambda's function dead-letter queue: attributes ``ErrorCode`` and ``ErrorMessage``;
- Lambda's on-failure destination (an async invocation that failed after its retries): no attributes,
  a body of ``requestContext.condition`` (e.g. ``RetriesExhausted``) and the function's error in
  ``responsePayload.errorType``;
- SQS redrive (a reconcile chunk that failed ``maxReceiveCount`` times): the chunk's own attributes,
  of which ``trigger`` says what kind of work it was.

Reading a dead-letter queue receives its messages (SQS has no peek): :func:`peek` holds them a few
seconds and makes them visible again at once, so nothing is consumed; it raises each one's receive
count, which a dead-letter queue (no redrive of its own) does not act on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from consent_sync.domain.redaction import mask_emails
from consent_sync.store.aws import client

PEEK_LIMIT = 100
"""How many messages :func:`peek` looks at, at most (the reasons are those of this sample)."""
_HOLD_S = 10
_MAX_DETAIL = 80


def peek(queue_url: str, limit: int = PEEK_LIMIT) -> list[dict[str, Any]]:
    """Up to ``limit`` messages of the queue, with their attributes, left on the queue (visible again)."""
    sqs = client("sqs")
    seen: dict[str, dict[str, Any]] = {}
    try:
        while len(seen) < limit:
            messages = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(10, limit - len(seen)),
                VisibilityTimeout=_HOLD_S,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            fresh = [message for message in messages if message["MessageId"] not in seen]
            if not fresh:
                break
            seen.update((message["MessageId"], message) for message in fresh)
    finally:
        _release(sqs, queue_url, list(seen.values()))
    return list(seen.values())


def _release(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> None:
    for start in range(0, len(messages), 10):
        entries = [
            {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
            for index, message in enumerate(messages[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def _attribute(message: Mapping[str, Any], name: str) -> str | None:
    value = (message.get("MessageAttributes") or {}).get(name)
    return None if value is None else str(value.get("StringValue"))


def _short(text: str) -> str:
    """An error message fit for a reason: its first line, e-mail addresses masked, cut short."""
    line = mask_emails(text.strip().splitlines()[0] if text.strip() else "")
    return line if len(line) <= _MAX_DETAIL else line[: _MAX_DETAIL - 1] + "…"


def reason(message: Mapping[str, Any]) -> str:
    """Why the message is a dead letter, in the words of whoever put it there (see the module docstring)."""
    own = _attribute(message, "reason")
    if own:
        return own
    code = _attribute(message, "ERROR_CODE")
    if code:
        return f"eventbridge:{code}"
    lambda_error = _attribute(message, "ErrorMessage")
    if lambda_error is not None:
        return f"lambda:{_short(lambda_error)}"
    destination = _destination_failure(str(message.get("Body", "")))
    if destination:
        return destination
    trigger = _attribute(message, "trigger")
    if trigger:
        return f"max_receives:{trigger}"
    return "unknown"


def _destination_failure(body: str) -> str | None:
    """``<condition>:<errorType>`` of a Lambda on-failure destination record, or None for another body."""
    try:
        record = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("requestContext"), dict):
        return None
    condition = str(record["requestContext"].get("condition") or "Failed")
    payload = record.get("responsePayload")
    error = payload.get("errorType") if isinstance(payload, dict) else None
    return f"{condition}:{error}" if error else condition


def top_reasons(messages: Iterable[Mapping[str, Any]], limit: int = 3) -> list[tuple[str, int]]:
    """The ``limit`` most frequent reasons among ``messages``, most frequent first (ties by name)."""
    counts = Counter(reason(message) for message in messages)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
