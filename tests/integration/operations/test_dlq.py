"""Dead letters on the local stack: a chunk that keeps failing, a webhook pull the pull function keeps
failing, and an event a function rejects, listed, shown and redriven through `devtools.dlq` (SQS's
message move task; the events back on the bus), and read by `devtools.status`."""

from __future__ import annotations

import json
from typing import Any

from consent_sync.store.contacts import ContactStore
from devtools import dlq, status
from devtools.local import LocalStack
from devtools.stack import Stack
from tests.integration.conftest import Platform

ADDRESS = "late.comer@example.com"


def _depth(platform: Platform, output: str) -> int:
    attributes = platform.sqs.get_queue_attributes(
        QueueUrl=platform.outputs[output],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _by_queue(stack: Stack) -> dict[str, dict[str, Any]]:
    return {row["queue"]: row for row in dlq.list_queues(stack)}


def test_a_chunk_that_keeps_failing_is_listed_shown_and_moved_back(
    consent_stack: LocalStack, platform: Platform
) -> None:
    stack = Stack.resolve(consent_stack.template.stack_name)
    # Given a chunk of a run whose job does not exist: every delivery fails, and SQS dead-letters it
    chunk = {
        "account_id": "ghost",
        "trigger": "requested",
        "job": {"kind": "run", "id": "ghost-run", "chunk_no": 0},
        "emails": [ADDRESS],
    }
    platform.sqs.send_message(QueueUrl=platform.outputs["ReconcileQueueUrl"], MessageBody=json.dumps(chunk))
    consent_stack.runtime.drain()
    assert _depth(platform, "ReconcileDeadLetterQueueUrl") == 1

    # When the operator lists the queues
    queues = _by_queue(stack)
    # Then the reconcile queue holds it, with the work it was as its reason
    assert queues["reconcile"]["messages"] == 1
    assert queues["reconcile"]["top_reasons"] == [{"reason": "requested chunk of run ghost-run", "count": 1}]
    assert queues["interactive"]["messages"] == 0

    # And showing it masks the address and leaves it in the queue
    shown = dlq.show_message(stack, "reconcile", index=0)
    assert shown["reason"] == "requested chunk of run ghost-run"
    assert shown["receive_count"] >= 3
    assert ADDRESS not in json.dumps(shown)
    assert shown["body"]["emails"] == ["l***@e***.com"]
    assert (
        dlq.show_message(stack, "reconcile", message_id=shown["message_id"])["message_id"]
        == shown["message_id"]
    )
    assert _depth(platform, "ReconcileDeadLetterQueueUrl") == 1

    # When it is redriven: SQS's move task takes it back to the bulk queue, followed to its end
    progress: list[tuple[str, int, int | None]] = []
    moved = dlq.redrive(stack, "reconcile", progress=lambda *a: progress.append(a))
    assert (moved["status"], moved["moved"], moved["to_move"]) == ("COMPLETED", 1, 1)
    assert progress[-1] == ("reconcile: messages moved", 1, 1)
    assert _depth(platform, "ReconcileDeadLetterQueueUrl") == 0
    (back,) = platform.sqs.receive_message(QueueUrl=platform.outputs["ReconcileQueueUrl"])["Messages"]
    assert json.loads(back["Body"]) == chunk
    platform.sqs.delete_message(
        QueueUrl=platform.outputs["ReconcileQueueUrl"], ReceiptHandle=back["ReceiptHandle"]
    )


def test_a_rejected_event_is_put_on_the_bus_again_once_its_cause_is_fixed(
    consent_stack: LocalStack, platform: Platform
) -> None:
    stack = Stack.resolve(consent_stack.template.stack_name)
    # Given a platform change for an account that has no settings yet: rejected as unknown_account
    change = {
        "account_id": "late-account",
        "email": ADDRESS,
        "purpose": "EMARKETING",
        "legal_base": "WITHDRAWN",
        "source": "WEBFORM",
        "comment": "Unsubscribed",
        "changed_at": "2026-11-30T10:00:00+00:00",
    }
    platform.send("Contact Consent Changed", change)
    consent_stack.runtime.drain()
    queues = _by_queue(stack)
    assert queues["events"]["top_reasons"] == [{"reason": "unknown_account", "count": 1}]
    shown = dlq.show_message(stack, "events")
    assert (shown["reason"], shown["message_attributes"]) == (
        "unknown_account",
        {"reason": "unknown_account"},
    )
    assert shown["body"]["event"]["detail"]["email"] == "l***@e***.com"

    # When the account gets its settings and the events queue is redriven (only that reason)
    platform.send("Integration Settings Updated", {"account_id": "late-account", "integration": "none"})
    consent_stack.runtime.drain()
    done = dlq.redrive(stack, "events", reason="unknown_account")
    assert (done["redriven"], done["kept"]) == (1, {})
    consent_stack.runtime.drain()

    # Then the change is recorded, and nothing is dead any more
    contact = ContactStore(platform.outputs["ConsentTableName"]).get("late-account", ADDRESS)
    assert contact is not None
    assert contact.consents["EMARKETING"].legal_base == "WITHDRAWN"  # type: ignore[index]
    assert _depth(platform, "EventsDeadLetterQueueUrl") == 0


def test_the_events_queue_keeps_what_the_bus_would_refuse(
    consent_stack: LocalStack, platform: Platform
) -> None:
    stack = Stack.resolve(consent_stack.template.stack_name)
    # Given a malformed event (rejected) and a Lambda failure record of the schedule's event
    platform.send("Import Requested", {"account_id": "nobody"})
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}, "id": "e1"}
    failure = {
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": scheduled,
        "responsePayload": {"errorType": "StoreBusy", "errorMessage": "throttled"},
    }
    url = platform.outputs["EventsDeadLetterQueueUrl"]
    platform.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(failure))
    consent_stack.runtime.drain()
    reasons = {r["reason"] for r in _by_queue(stack)["events"]["top_reasons"]}
    assert reasons == {"invalid_event", "RetriesExhausted: StoreBusy"}

    # When everything is redriven: the malformed event goes back on the bus (and is rejected again);
    # the schedule's event stays, since PutEvents refuses an aws. source
    done = dlq.redrive(stack, "events")
    assert done == {"queue": "events", "redriven": 1, "kept": {"aws_source": 1}}
    consent_stack.runtime.drain()
    reasons = {r["reason"] for r in _by_queue(stack)["events"]["top_reasons"]}
    assert reasons == {"invalid_event", "RetriesExhausted: StoreBusy"}
    platform.dead_letters()


def _pull_back(platform: Platform) -> list[dict[str, Any]]:
    """Take what waits on the pull queue (without the pull function seeing it)."""
    url = platform.outputs["WebhookPullQueueUrl"]
    messages = platform.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        platform.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def test_a_pull_the_function_keeps_failing_is_listed_shown_read_by_status_and_moved_back(
    consent_stack: LocalStack, platform: Platform
) -> None:
    stack = Stack.resolve(consent_stack.template.stack_name)
    # Given a malformed body on the pull queue: the pull function fails it at every delivery, and after
    # maxReceiveCount SQS moves it to the pull dead-letter queue
    malformed = {"person_id": 12, "email": ADDRESS}
    url = platform.outputs["WebhookPullQueueUrl"]
    platform.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(malformed), MessageGroupId="acme")
    consent_stack.runtime.drain()
    assert _depth(platform, "WebhookPullDeadLetterQueueUrl") == 1
    assert _depth(platform, "WebhookPullQueueUrl") == 0
    # and a well-formed pull as SQS leaves one there (the body the receiver sent, moved unchanged)
    pull = {"account_id": "acme", "event_id": "d-1", "person_id": 4711, "event": "consent.changed"}
    platform.sqs.send_message(
        QueueUrl=platform.outputs["WebhookPullDeadLetterQueueUrl"], MessageBody=json.dumps(pull)
    )

    # When the operator lists the queues: the pull dead-letter queue with both reasons
    row = _by_queue(stack)["webhook-pulls"]
    assert (row["messages"], row["url"]) == (2, platform.outputs["WebhookPullDeadLetterQueueUrl"])
    assert row["top_reasons"] == [
        {"reason": "not_a_pull", "count": 1},
        {"reason": "webhook pull of person 4711", "count": 1},
    ]

    # And shows the dead-lettered one: its deliveries counted, the address masked, the message kept
    shown = dlq.show_message(stack, "webhook-pulls", index=0)
    assert (shown["reason"], shown["receive_count"] >= 3) == ("not_a_pull", True)
    assert shown["body"] == {"person_id": 12, "email": "l***@e***.com"}
    assert ADDRESS not in json.dumps(shown)
    assert dlq.show_message(stack, "webhook-pulls", index=1)["detail"].startswith("account acme")

    # And status reads the pull queue and its dead letters the same way, consuming nothing
    queues = {queue["name"]: queue for queue in status.status(stack)["queues"]}
    assert (queues["webhook-pulls"]["visible"], queues["webhook-pulls"]["dead_letters"]) == (0, False)
    assert "top_reasons" not in queues["webhook-pulls"]
    dead = queues["webhook-pulls-dlq"]
    assert (dead["dead_letters"], dead["visible"], dead["in_flight"], dead["sampled"]) == (True, 2, 0, 2)
    assert dead["top_reasons"] == row["top_reasons"]
    assert _depth(platform, "WebhookPullDeadLetterQueueUrl") == 2

    # When it is redriven: SQS's move task takes both back to the pull queue
    moved = dlq.redrive(stack, "webhook-pulls")
    assert (moved["queue"], moved["status"], moved["moved"]) == ("webhook-pulls", "COMPLETED", 2)
    assert _depth(platform, "WebhookPullDeadLetterQueueUrl") == 0
    back = platform.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(message["Body"])["person_id"] for message in back) == [12, 4711]
    for message in back:
        platform.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
