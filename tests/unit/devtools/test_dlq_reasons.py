"""Reading why a dead letter is dead, in each shape AWS and consent-sync give it, and ranking the
reasons (`devtools.dlq`)."""

from __future__ import annotations

import json

from devtools.dlq import DeadLetter, Reason, original_event, reason_of, top_reasons

EVENT = {"source": "marketing.platform", "detail-type": "Sync Requested", "detail": {"account_id": "a"}}


def test_a_rejection_gives_its_reason_attribute_and_message() -> None:
    body = json.dumps(
        {"reason": "unknown_account", "message": "no settings for x@example.com", "event": EVENT}
    )
    assert reason_of({"reason": "unknown_account"}, body) == Reason(
        "unknown_account", "no settings for x***@e***.com"
    )


def test_an_eventbridge_target_dlq_gives_error_code_and_message() -> None:
    attributes = {
        "RULE_ARN": "arn:r",
        "TARGET_ARN": "arn:t",
        "ERROR_CODE": "SDK_CLIENT_ERROR",
        "ERROR_MESSAGE": "Unable",
    }
    assert reason_of(attributes, json.dumps(EVENT)) == Reason("SDK_CLIENT_ERROR", "Unable")


def test_a_function_dlq_is_told_apart_by_its_message_not_its_code() -> None:
    attributes = {"RequestID": "r", "ErrorCode": "200", "ErrorMessage": "boom for a@b.se\ntrace"}
    assert reason_of(attributes, json.dumps(EVENT)) == Reason(
        "function_error: boom for a***@b***.se", "ErrorCode 200"
    )


def test_an_on_failure_record_gives_condition_and_error_type() -> None:
    record = {
        "requestContext": {"condition": "RetriesExhausted"},
        "requestPayload": EVENT,
        "responsePayload": {"errorType": "StoreBusy", "errorMessage": "throttled"},
    }
    assert reason_of({}, json.dumps(record)) == Reason("RetriesExhausted: StoreBusy", "throttled")
    assert original_event(json.dumps(record)) == EVENT


def test_a_redriven_chunk_names_its_work_and_anything_else_is_not_a_chunk() -> None:
    chunk = {
        "account_id": "a",
        "trigger": "import",
        "job": {"kind": "import", "id": "i1", "chunk_no": 2},
        "person_ids": [1, 2],
    }
    reason = reason_of({}, json.dumps(chunk))
    assert reason.code == "import chunk of import i1"
    assert reason.detail is not None
    assert "chunk 2, 2 contacts" in reason.detail
    assert reason_of({}, "not json").code == "not_a_chunk"


def test_a_pull_sqs_gave_up_on_names_its_person() -> None:
    pull = {"account_id": "acme", "event_id": "d-17", "person_id": 4711, "event": "consent.changed"}
    reason = reason_of({"account_id": "acme"}, json.dumps(pull), "pull")
    assert reason.code == "webhook pull of person 4711"
    assert reason.detail is not None
    assert "account acme, consent.changed (delivery d-17)" in reason.detail
    assert "maxReceiveCount" in reason.detail


def test_a_malformed_pull_is_not_a_pull_and_its_body_is_not_repeated() -> None:
    reason = reason_of({}, json.dumps({"person_id": "x", "email": "p@example.com"}), "pull")
    assert reason.code == "not_a_pull"
    assert reason.detail is not None
    assert reason.detail.startswith("the body is no webhook pull")
    assert "example.com" not in reason.detail


def test_an_unrecognised_body_in_the_events_queue_says_so() -> None:
    assert reason_of({}, "[]", "event").code == "unrecognised"
    # the shapes its writers leave are read whatever the queue
    assert reason_of({"reason": "invalid_event"}, "{}", "event").code == "invalid_event"


def _letter(n: int, **attributes: str) -> DeadLetter:
    return DeadLetter(str(n), "{}", {}, attributes, f"handle-{n}")


def test_top_reasons_are_the_most_frequent_first_ties_by_name() -> None:
    letters = [_letter(n, reason=name) for n, name in enumerate("bdcabd")]
    assert top_reasons(letters, "event", limit=3) == [
        {"reason": "b", "count": 2},
        {"reason": "d", "count": 2},
        {"reason": "a", "count": 1},
    ]
    assert top_reasons([], "chunk") == []


def test_the_original_event_is_found_in_each_shape_or_not_at_all() -> None:
    assert original_event(json.dumps({"reason": "x", "event": EVENT})) == EVENT
    assert original_event(json.dumps(EVENT)) == EVENT
    assert original_event(json.dumps({"reason": "x", "event": {"id": "1", "omitted": "too large"}})) is None
    assert original_event("[]") is None
