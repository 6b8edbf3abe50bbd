"""Delivery: EventBridge rules, SQS event sources, schedules, environments and contexts."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any

import pytest

from devtools.local import LocalStack

pytestmark = pytest.mark.xdist_group("local-runtime")

_SQS_RECORD_KEYS = {
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
}


def _thing(detail_type: str, **detail: Any) -> dict[str, Any]:
    return {"Source": "fixture.app", "DetailType": detail_type, "Detail": {"id": uuid.uuid4().hex, **detail}}


def _send(stack: LocalStack, aws: Any, *bodies: dict[str, Any], **extra: Any) -> None:
    for body in bodies:
        aws("sqs").send_message(QueueUrl=stack.resources["WorkQueue"], MessageBody=json.dumps(body), **extra)


def _batches(stack: LocalStack, since: int) -> list[list[dict[str, Any]]]:
    return [item.event["Records"] for item in stack.runtime.invocations("BatchFunction")[since:]]


def test_matching_event_runs_only_its_handler(stack: LocalStack, aws: Any) -> None:
    # Given the invocation counts so far
    before = stack.runtime.invocation_counts
    event = _thing("Thing Happened")

    # When one matching and one non-matching event are put on the bus
    stack.runtime.put_events([event, {**_thing("Thing Happened"), "Source": "somebody.else"}], bus="Bus")
    stack.runtime.drain(timeout=10)

    # Then only the matching function ran, once, with the EventBridge event
    after = stack.runtime.invocation_counts
    assert {name: after[name] - before[name] for name in after if after[name] != before[name]} == {
        "RecordFunction": 1
    }
    result = stack.runtime.last_result("RecordFunction")
    assert result["event"]["detail"] == event["Detail"]
    assert set(result["event"]) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    # And the handler reached DynamoDB through AWS_ENDPOINT_URL
    item = aws("dynamodb").get_item(
        TableName=stack.resources["Table"],
        Key={"pk": {"S": event["Detail"]["id"]}, "sk": {"S": stack.resources["RecordFunction"]}},
    )
    assert item["Item"]["kind"] == {"S": "seen"}


def test_environment_is_resolved_and_isolated_per_function(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a host variable that no Lambda function would have
    monkeypatch.setenv("HOST_ONLY", "leak")

    # When two functions sharing one handler module both run
    stack.runtime.put_events([_thing("Thing Happened"), _thing("Other Thing")], bus="Bus")
    stack.runtime.drain(timeout=10)

    # Then each saw its own environment, resolved from the template's intrinsics
    record = stack.runtime.last_result("RecordFunction")
    other = stack.runtime.last_result("OtherFunction")
    expected = {
        "TABLE_NAME": stack.resources["Table"],
        "QUEUE_URL": stack.resources["WorkQueue"],
        "BUS_NAME": stack.resources["Bus"],
        "MODE": "testing",
        "PREFIX": f"{stack.template.stack_name}/test/${{literal}}",
        "JOINED": ":".join(
            [
                stack.template.region,
                stack.template.get_att("WorkQueue", "QueueName"),
                stack.template.get_att("Bus", "Arn"),
            ]
        ),
        "POWERTOOLS_SERVICE_NAME": "fixture",
        "AWS_LAMBDA_FUNCTION_NAME": stack.resources["RecordFunction"],
        "AWS_ENDPOINT_URL": stack.endpoint_url,
        "AWS_DEFAULT_REGION": stack.template.region,
        "HOST_ONLY": None,
    }
    assert record["environment"] == expected
    assert other["environment"]["MODE"] == "other"
    assert other["environment"]["AWS_LAMBDA_FUNCTION_NAME"] == stack.resources["OtherFunction"]
    # And configuration read at import (cold start) is per function: each imported its own modules
    assert (record["config_mode"], other["config_mode"]) == ("testing", "other")
    # And neither the host's environment nor its modules were touched
    assert "localfix" not in sys.modules
    assert os.environ["HOST_ONLY"] == "leak"
    assert "AWS_LAMBDA_FUNCTION_NAME" not in os.environ


def test_context_is_shaped_like_lambdas(stack: LocalStack) -> None:
    # When a function runs
    stack.runtime.put_events([_thing("Thing Happened")], bus="Bus")
    stack.runtime.drain(timeout=10)

    # Then its context carries Lambda's attributes and a deadline from the template's Timeout (10 s)
    context = stack.runtime.last_result("RecordFunction")["context"]
    name = stack.resources["RecordFunction"]
    assert context["function_name"] == name
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == stack.template.get_att("RecordFunction", "Arn")
    assert context["invoked_function_arn"].endswith(f":function:{name}")
    assert context["memory_limit_in_mb"] == 256
    assert context["aws_request_id"] == stack.runtime.invocations("RecordFunction")[-1].request_id
    assert context["log_group_name"] == f"/aws/lambda/{name}"
    assert "[$LATEST]" in context["log_stream_name"]
    assert 0 < context["remaining_ms"] <= 10_000


def test_partial_batch_failure_redelivers_only_the_failed_record(stack: LocalStack, aws: Any) -> None:
    # Given three messages in one batch, the second failing its first delivery, one with attributes
    since = len(stack.runtime.invocations("BatchFunction"))
    _send(stack, aws, {"id": "a"})
    _send(stack, aws, {"id": "b", "fail": "once"})
    _send(
        stack,
        aws,
        {"id": "c"},
        MessageAttributes={
            "trace": {"DataType": "String", "StringValue": "t-1"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )

    # When the event source is drained
    stack.runtime.drain(timeout=10)

    # Then the first batch held all three, and only the failed one came back, on its second receive
    first, second = _batches(stack, since)
    assert [json.loads(record["body"])["id"] for record in first] == ["a", "b", "c"]
    assert [json.loads(record["body"])["id"] for record in second] == ["b"]
    assert second[0]["attributes"]["ApproximateReceiveCount"] == "2"
    # And records are shaped as Lambda delivers them
    record = first[2]
    assert set(record) == _SQS_RECORD_KEYS | {"md5OfMessageAttributes"}
    assert set(first[0]) == _SQS_RECORD_KEYS
    assert (record["eventSource"], record["eventSourceARN"]) == (
        "aws:sqs",
        stack.template.get_att("WorkQueue", "Arn"),
    )
    assert record["awsRegion"] == stack.template.region
    assert {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    } <= set(record["attributes"])
    assert record["messageAttributes"] == {
        "trace": {"stringValue": "t-1", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }
    # And nothing is left on the queue or in its dead-letter queue
    assert stack.runtime.pending() == {}
    assert "Messages" not in aws("sqs").receive_message(QueueUrl=stack.resources["WorkDeadLetterQueue"])


def test_raised_exception_fails_the_whole_batch(stack: LocalStack, aws: Any) -> None:
    # Given a batch whose handler raises on first delivery
    since = len(stack.runtime.invocations("BatchFunction"))
    _send(stack, aws, {"id": "x"}, {"id": "y", "fail": "raise-once"})

    # When drained
    stack.runtime.drain(timeout=10)

    # Then both records came back (nothing was deleted), and the second delivery succeeded
    first, second = _batches(stack, since)
    assert [json.loads(record["body"])["id"] for record in first] == ["x", "y"]
    assert [json.loads(record["body"])["id"] for record in second] == ["x", "y"]
    assert isinstance(stack.runtime.invocations("BatchFunction")[since].error, RuntimeError)
    assert stack.runtime.pending() == {}


def test_poison_record_reaches_the_dead_letter_queue(stack: LocalStack, aws: Any) -> None:
    # Given a record that always fails (maxReceiveCount is 2 in the template)
    since = len(stack.runtime.invocations("BatchFunction"))
    _send(stack, aws, {"id": "poison", "fail": "always"})

    # When drained
    stack.runtime.drain(timeout=10)

    # Then it was delivered twice, then moved to the dead-letter queue
    assert [[json.loads(record["body"])["id"] for record in batch] for batch in _batches(stack, since)] == [
        ["poison"],
        ["poison"],
    ]
    moved = aws("sqs").receive_message(QueueUrl=stack.resources["WorkDeadLetterQueue"])["Messages"]
    assert [json.loads(message["Body"])["id"] for message in moved] == ["poison"]
    aws("sqs").delete_message(
        QueueUrl=stack.resources["WorkDeadLetterQueue"], ReceiptHandle=moved[0]["ReceiptHandle"]
    )


def test_async_failure_is_retried_then_sent_to_the_on_failure_destination(
    stack: LocalStack, aws: Any
) -> None:
    # Given a function that always raises, with MaximumRetryAttempts 1 (Globals)
    since = len(stack.runtime.invocations("FlakyFunction"))
    event = _thing("Flaky Thing")

    # When its event is delivered
    stack.runtime.put_events([event], bus="Bus")
    stack.runtime.drain(timeout=10)

    # Then it ran twice under one request id
    attempts = stack.runtime.invocations("FlakyFunction")[since:]
    assert len(attempts) == 2
    assert len({attempt.request_id for attempt in attempts}) == 1
    # And Lambda's failure record reached the OnFailure queue
    (message,) = aws("sqs").receive_message(QueueUrl=stack.resources["FailedEventsQueue"])["Messages"]
    record = json.loads(message["Body"])
    assert set(record) == {
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    }
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestContext"]["requestId"] == attempts[0].request_id
    assert record["requestPayload"]["detail"] == event["Detail"]
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "FixtureFailure"
    aws("sqs").delete_message(
        QueueUrl=stack.resources["FailedEventsQueue"], ReceiptHandle=message["ReceiptHandle"]
    )


def test_schedule_fires_on_demand(stack: LocalStack) -> None:
    # Given no events on the bus
    before = stack.runtime.invocation_counts["TickFunction"]

    # When the schedule is fired by function and then by event name
    (sent,) = stack.runtime.fire_schedule("TickFunction")
    stack.runtime.fire_schedule("EveryFiveMinutes")
    stack.runtime.drain(timeout=10)

    # Then the function got EventBridge's scheduled event, naming its rule
    assert stack.runtime.invocation_counts["TickFunction"] == before + 2
    received = stack.runtime.invocations("TickFunction")[-2].event
    assert received == sent
    (route,) = stack.runtime.schedule_routes("TickFunction")
    assert received["detail-type"] == "Scheduled Event"
    assert received["source"] == "aws.events"
    assert received["resources"] == [route.rule_arn]
    assert received["detail"] == {}
    with pytest.raises(KeyError):
        stack.runtime.fire_schedule("NoSuchSchedule")


def test_events_on_the_bus_never_reach_schedules(stack: LocalStack) -> None:
    # Given a schedule rule (no pattern) on the default bus
    before = stack.runtime.invocation_counts["TickFunction"]

    # When an event is put on the default bus
    stack.runtime.put_events([_thing("Anything")])
    stack.runtime.drain(timeout=10)

    # Then the scheduled function did not run (moto alone would have delivered it)
    assert stack.runtime.invocation_counts["TickFunction"] == before


def test_filter_criteria_drop_unmatched_records(stack: LocalStack, aws: Any) -> None:
    # Given one record matching the source's filter and one not
    since = len(stack.runtime.invocations("FilteredFunction"))
    for kind in ("keep", "drop"):
        aws("sqs").send_message(
            QueueUrl=stack.resources["FilteredQueue"], MessageBody=json.dumps({"kind": kind})
        )

    # When drained
    stack.runtime.drain(timeout=10)

    # Then the function saw only the matching record, and the other was deleted, as Lambda does
    (invocation,) = stack.runtime.invocations("FilteredFunction")[since:]
    assert [json.loads(record["body"]) for record in invocation.event["Records"]] == [{"kind": "keep"}]
    assert stack.runtime.pending() == {}


def test_background_threads_deliver_events_and_fire_schedules(stack: LocalStack) -> None:
    # Given the counts so far
    before = stack.runtime.invocation_counts

    # When the runtime pumps in threads with a short schedule period and an event arrives
    stack.runtime.start(schedule_period_s=0.2)
    try:
        stack.runtime.put_events([_thing("Thing Happened")], bus="Bus")
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            now = stack.runtime.invocation_counts
            if (
                now["RecordFunction"] > before["RecordFunction"]
                and now["TickFunction"] >= before["TickFunction"] + 2
            ):
                break
            time.sleep(0.05)
    finally:
        stack.runtime.stop()
    stack.runtime.drain(timeout=10)

    # Then both the event and repeated schedule firings were delivered without explicit pumping
    after = stack.runtime.invocation_counts
    assert after["RecordFunction"] == before["RecordFunction"] + 1
    assert after["TickFunction"] >= before["TickFunction"] + 2
