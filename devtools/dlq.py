"""The stack's dead-letter queues, read without consuming them: `consent-sync dlq list|show|redrive`,
and the dead-letter part of `consent-sync status`.

Four queues, named by the stack's outputs:

- ``reconcile`` (`ReconcileDeadLetterQueue`) and ``interactive`` (`InteractiveDeadLetterQueue`): SQS
  redrive targets of the bulk and interactive queues. SQS moves a chunk there after
  ``maxReceiveCount`` failed deliveries and adds no reason: the body (the chunk: trigger, job) is what
  says which work died.
- ``webhook-pulls`` (`WebhookPullDeadLetterQueue`): the redrive target of the pull queue; SQS moves a
  pull there (one person SuperOffice named in a webhook delivery, a :class:`WebhookPull`) after
  ``maxReceiveCount`` failed deliveries, and the body says which person it was.
- ``events`` (`EventsDeadLetterQueue`): events consent-sync would not process (message attribute
  ``reason``, body ``{"rejected_at", "reason", "message", "errors", "event"}``), Lambda's async
  ``OnFailure`` destination records (body ``requestContext.condition`` and ``responsePayload``
  ``errorType``/``errorMessage``, the event in ``requestPayload``), and the shapes AWS gives an
  EventBridge target dead-letter queue (attributes ``ERROR_CODE``/``ERROR_MESSAGE``, the event as body)
  or a function dead-letter queue (attributes ``ErrorCode``/``ErrorMessage``, the event as body).

Redrive of a queue SQS filled is SQS's own ``StartMessageMoveTask`` back to the source queue, followed
with ``ListMessageMoveTasks``. The events queue's source is no queue, so redrive puts each original
event on the bus again (with its own ``time``, which orders settings) and deletes the message once the
bus took it, as AWS advises for EventBridge DLQs.

Peeking receives with a short visibility timeout and sets it back to 0 at once, so messages stay for
their consumers (their receive counts go up, which a dead-letter queue, having no redrive of its own,
does not act on); what is shown passes through the log scrubber (e-mails masked, secrets redacted).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import ValidationError

from consent_sync.events import ReconcileChunk, WebhookPull
from consent_sync.observability import scrub
from consent_sync.store.aws import client
from devtools.operator import OperatorError
from devtools.stack import Stack

BodyKind = Literal["chunk", "pull", "event"]


@dataclass(frozen=True)
class DeadLetterQueue:
    """A dead-letter queue of the stack: its CLI name, the stack output holding its URL, and what its
    source sends (the body a message SQS moved there holds: a chunk, a pull; events for the bus's)."""

    name: str
    output: str
    body: BodyKind


QUEUES: dict[str, DeadLetterQueue] = {
    queue.name: queue
    for queue in (
        DeadLetterQueue("reconcile", "ReconcileDeadLetterQueueUrl", "chunk"),
        DeadLetterQueue("interactive", "InteractiveDeadLetterQueueUrl", "chunk"),
        DeadLetterQueue("events", "EventsDeadLetterQueueUrl", "event"),
        DeadLetterQueue("webhook-pulls", "WebhookPullDeadLetterQueueUrl", "pull"),
    )
}
"""Each dead-letter queue by its CLI name."""

PEEK_LEASE_S = 30
"""How long peeked messages are hidden while they are read (set back to 0 right after)."""
PEEK_LIMIT = 1000
"""At most this many messages are read per queue for `list` and `show`."""
TOP_REASONS = 5
MOVE_TIMEOUT_S = 600.0
ACTIVE_MOVE = "RUNNING"
REDACTED = "*****"

Progress = Callable[[str, int, int | None], None]
"""`progress(label, done, total)`, as `devtools.progress.progress_bars` gives it."""


@dataclass(frozen=True)
class Reason:
    """Why a message is dead: a short ``code`` to group by, and ``detail`` (masked) to read."""

    code: str
    detail: str | None = None


@dataclass(frozen=True)
class DeadLetter:
    """One message of a dead-letter queue as peeked (receipt handle only while the lease lasts)."""

    message_id: str
    body: str
    attributes: dict[str, str]
    """SQS system attributes (``SentTimestamp``, ``ApproximateReceiveCount``, …)."""
    message_attributes: dict[str, str]
    receipt_handle: str

    @property
    def sent_at(self) -> str | None:
        sent = self.attributes.get("SentTimestamp")
        return None if sent is None else datetime.fromtimestamp(int(sent) / 1000, UTC).isoformat()


def _string_attributes(raw: dict[str, Any] | None) -> dict[str, str]:
    return {name: str(value.get("StringValue", "")) for name, value in (raw or {}).items()}


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _first_line(text: Any, limit: int = 200) -> str:
    line = str(scrub(str(text))).strip().splitlines()[0] if str(text).strip() else ""
    return line[:limit]


def reason_of(message_attributes: dict[str, str], body: str, kind: BodyKind = "chunk") -> Reason:
    """Why a dead letter is dead, read the way its writer gives it (module docstring); ``kind``: what
    the queue's source sends, which is what a message SQS moved there without a reason holds."""
    if "reason" in message_attributes:  # consent-sync's own rejection
        record = _json(body)
        detail = record.get("message") if isinstance(record, dict) else None
        return Reason(message_attributes["reason"], None if detail is None else _first_line(detail))
    if "ERROR_CODE" in message_attributes:  # an EventBridge target dead-letter queue
        return Reason(
            message_attributes["ERROR_CODE"], _first_line(message_attributes.get("ERROR_MESSAGE", ""))
        )
    if "ErrorMessage" in message_attributes:  # a function dead-letter queue (async invocation)
        # Lambda's ErrorCode is the invocation's HTTP status (200 for a function error): the message
        # is what tells failures apart.
        text = _first_line(message_attributes["ErrorMessage"], 120)
        return Reason(f"function_error: {text}", f"ErrorCode {message_attributes.get('ErrorCode', '?')}")
    record = _json(body)
    if isinstance(record, dict) and isinstance(record.get("requestContext"), dict):  # OnFailure record
        condition = record["requestContext"].get("condition", "failure")
        payload = record.get("responsePayload") or {}
        error_type = payload.get("errorType", "error") if isinstance(payload, dict) else "error"
        detail = payload.get("errorMessage") if isinstance(payload, dict) else payload
        return Reason(f"{condition}: {error_type}", None if detail is None else _first_line(detail))
    if kind == "pull":
        return _pull_reason(body)
    if kind == "event":
        return Reason("unrecognised", "the body is no record this stack or AWS writes there")
    return _chunk_reason(body)


_EVERY_DELIVERY_FAILED = "every delivery failed (maxReceiveCount)"


def _chunk_reason(body: str) -> Reason:
    try:
        chunk = ReconcileChunk.model_validate_json(body)
    except ValidationError:
        return Reason("not_a_chunk", "the body is neither a chunk nor a record this stack writes")
    return Reason(
        f"{chunk.trigger.value} chunk of {chunk.job.kind.value} {chunk.job.id}",
        f"chunk {chunk.job.chunk_no}, {chunk.size} contacts; {_EVERY_DELIVERY_FAILED}",
    )


def _pull_reason(body: str) -> Reason:
    try:
        pull = WebhookPull.model_validate_json(body)
    except ValidationError as exc:
        return Reason("not_a_pull", _first_line(f"the body is no webhook pull: {exc}"))
    return Reason(
        f"webhook pull of person {pull.person_id}",
        f"account {pull.account_id}, {pull.event} (delivery {pull.event_id}); {_EVERY_DELIVERY_FAILED}",
    )


def top_reasons(
    messages: Iterable[DeadLetter], kind: BodyKind, limit: int = TOP_REASONS
) -> list[dict[str, Any]]:
    """The ``limit`` most frequent reason codes among ``messages``, most frequent first (ties by name)."""
    counts = Counter(reason_of(m.message_attributes, m.body, kind).code for m in messages)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [{"reason": reason, "count": count} for reason, count in ranked]


def original_event(body: str) -> dict[str, Any] | None:
    """The EventBridge event a message of the events dead-letter queue holds, if it holds one whole."""
    record = _json(body)
    if not isinstance(record, dict):
        return None
    for candidate in (record.get("event"), record.get("requestPayload"), record):
        if isinstance(candidate, dict) and {"source", "detail-type", "detail"} <= candidate.keys():
            return candidate
    return None


class DeadLetterQueues:
    """The stack's dead-letter queues (one boto3 SQS client)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.sqs = client("sqs")

    @staticmethod
    def queue(name: str) -> DeadLetterQueue:
        """The queue of that CLI name (exit 1 ``unknown_queue`` for another)."""
        if name not in QUEUES:
            raise OperatorError("unknown_queue", f"no dead-letter queue {name!r}; one of {', '.join(QUEUES)}")
        return QUEUES[name]

    def url(self, queue: str) -> str:
        return self.stack.output(self.queue(queue).output)

    def arn(self, queue: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url(queue), AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def depth(self, queue: str) -> dict[str, int]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url(queue), AttributeNames=names)[
            "Attributes"
        ]
        return {"visible": int(attributes[names[0]]), "in_flight": int(attributes[names[1]])}

    @contextmanager
    def peeked(self, queue: str, limit: int = PEEK_LIMIT) -> Iterator[list[DeadLetter]]:
        """Up to ``limit`` of the queue's messages, oldest first, hidden while the block runs and
        visible again after.

        A message received again (its lease ran out while reading) is kept once, with its latest
        receipt handle, the only one SQS still honours; reading stops at the first batch that brings
        nothing new, so a queue smaller than ``limit`` is read once round.
        """
        url = self.url(queue)
        found: dict[str, DeadLetter] = {}
        try:
            while len(found) < limit:
                batch = self.sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(10, limit - len(found)),
                    VisibilityTimeout=PEEK_LEASE_S,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                fresh = [raw for raw in batch if raw["MessageId"] not in found]
                for raw in batch:
                    found[raw["MessageId"]] = DeadLetter(
                        message_id=raw["MessageId"],
                        body=raw["Body"],
                        attributes=dict(raw.get("Attributes") or {}),
                        message_attributes=_string_attributes(raw.get("MessageAttributes")),
                        receipt_handle=raw["ReceiptHandle"],
                    )
                if not fresh:
                    break
            yield sorted(found.values(), key=lambda m: int(m.attributes.get("SentTimestamp", 0)))
        finally:
            self._release(url, [m.receipt_handle for m in found.values()])

    def _release(self, url: str, handles: list[str]) -> None:
        """Make peeked messages visible again (those deleted meanwhile are refused, which is fine)."""
        for start in range(0, len(handles), 10):
            entries = [
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for n, handle in enumerate(handles[start : start + 10])
            ]
            self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


def list_queues(stack: Stack) -> list[dict[str, Any]]:
    """`dlq list`: per queue its depth and the most frequent reasons of the messages in it."""
    queues = DeadLetterQueues(stack)
    rows: list[dict[str, Any]] = []
    for name, queue in QUEUES.items():
        depth = queues.depth(name)
        with queues.peeked(name) as messages:
            reasons = top_reasons(messages, queue.body)
        rows.append(
            {
                "queue": name,
                "url": queues.url(name),
                "messages": depth["visible"] + depth["in_flight"],
                "in_flight": depth["in_flight"],
                "top_reasons": reasons,
            }
        )
    return rows


def show_message(
    stack: Stack, queue: str, *, index: int | None = None, message_id: str | None = None
) -> dict[str, Any]:
    """`dlq show`: one message (by its place, oldest first from 0, or by id), e-mails masked."""
    queues = DeadLetterQueues(stack)
    with queues.peeked(queue) as messages:
        if message_id is not None:
            chosen = next((m for m in messages if m.message_id == message_id), None)
            if chosen is None:
                raise OperatorError("unknown_message", f"no message {message_id!r} in the {queue} queue")
        else:
            position = index or 0
            if not 0 <= position < len(messages):
                raise OperatorError(
                    "unknown_message",
                    f"the {queue} queue holds {len(messages)} messages; no index {position}",
                )
            chosen = messages[position]
        reason = reason_of(chosen.message_attributes, chosen.body, queues.queue(queue).body)
        body = _json(chosen.body)
        return {
            "queue": queue,
            "message_id": chosen.message_id,
            "sent_at": chosen.sent_at,
            "receive_count": int(chosen.attributes.get("ApproximateReceiveCount", 0)),
            "reason": reason.code,
            "detail": reason.detail,
            "message_attributes": scrub(chosen.message_attributes),
            "body": scrub(body if body is not None else chosen.body),
        }


def redrive(
    stack: Stack, queue: str, *, progress: Progress | None = None, reason: str | None = None
) -> dict[str, Any]:
    """`dlq redrive`: the queue's messages back where they came from (module docstring)."""
    if queue == "events":
        return _redrive_events(stack, progress=progress, reason=reason)
    if reason is not None:
        raise OperatorError(
            "unsupported", "--reason applies to the events queue; SQS moves a queue's messages all at once"
        )
    return _move_back(stack, queue, progress=progress)


def _move_back(stack: Stack, queue: str, *, progress: Progress | None) -> dict[str, Any]:
    """SQS's message move task from the dead-letter queue to its source queue, followed to its end."""
    queues = DeadLetterQueues(stack)
    source_arn = queues.arn(queue)
    sqs = queues.sqs
    try:
        handle = sqs.start_message_move_task(SourceArn=source_arn)["TaskHandle"]
    except ClientError as exc:
        raise OperatorError("redrive_refused", exc.response["Error"]["Message"]) from exc
    deadline = time.monotonic() + MOVE_TIMEOUT_S
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=1)["Results"]
        task = tasks[0] if tasks else {}
        moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
        total = task.get("ApproximateNumberOfMessagesToMove")
        if progress is not None:
            progress(f"{queue}: messages moved", moved, None if total is None else int(total))
        if task.get("Status", ACTIVE_MOVE) != ACTIVE_MOVE:
            break
        if time.monotonic() > deadline:
            raise OperatorError(
                "redrive_timeout", f"the move task of the {queue} queue still runs; see the console"
            )
        time.sleep(1.0)
    document = {
        "queue": queue,
        "task_handle": handle,
        "status": task.get("Status"),
        "moved": moved,
        "to_move": None if total is None else int(total),
    }
    if task.get("FailureReason"):
        document["failure_reason"] = task["FailureReason"]
    if document["status"] != "COMPLETED":
        raise OperatorError(
            "redrive_failed", f"the move task ended {document['status']}: {task.get('FailureReason')}"
        )
    return document


def _redrive_events(stack: Stack, *, progress: Progress | None, reason: str | None) -> dict[str, Any]:
    """Put each kept event on the bus again; delete its message once the bus took it.

    Kept (and counted in ``kept`` by why): messages of another ``reason`` than asked, messages holding
    no whole event (too large to keep, or not an event), events whose secret fields were redacted when
    they were kept, and events of an ``aws.`` source (the schedule's), which PutEvents refuses.
    """
    queues = DeadLetterQueues(stack)
    url = queues.url("events")
    events = client("events")
    redriven = 0
    kept: Counter[str] = Counter()
    with queues.peeked("events") as messages:
        total = len(messages)
        for done, message in enumerate(messages, start=1):
            why = _not_redrivable(message, reason)
            if why is not None:
                kept[why] += 1
            else:
                event = original_event(message.body)
                assert event is not None  # checked by _not_redrivable
                answer = events.put_events(Entries=[_entry(event, stack.bus_name)])
                if answer.get("FailedEntryCount"):
                    kept["put_failed: " + str(answer["Entries"][0].get("ErrorCode"))] += 1
                else:
                    queues.sqs.delete_message(QueueUrl=url, ReceiptHandle=message.receipt_handle)
                    redriven += 1
            if progress is not None:
                progress("events: messages redriven", done, total)
    return {"queue": "events", "redriven": redriven, "kept": dict(kept)}


def _not_redrivable(message: DeadLetter, reason: str | None) -> str | None:
    if reason is not None and reason_of(message.message_attributes, message.body, "event").code != reason:
        return "other_reason"
    event = original_event(message.body)
    if event is None:
        return "no_event"
    if REDACTED in json.dumps(event):
        return "redacted"
    if str(event["source"]).startswith("aws."):
        return "aws_source"
    return None


def _entry(event: dict[str, Any], bus_name: str) -> dict[str, Any]:
    """A PutEvents entry re-creating ``event`` (its source, type, detail, resources and time)."""
    entry: dict[str, Any] = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "EventBusName": bus_name,
        "Resources": list(event.get("resources") or []),
    }
    if event.get("time"):
        entry["Time"] = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
    return entry
