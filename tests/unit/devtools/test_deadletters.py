"""Dead-letter reasons as each writer leaves them (devtools.deadletters)."""

from __future__ import annotations

import json
from typing import Any

from devtools.deadletters import reason, top_reasons


def _attributes(**values: str) -> dict[str, Any]:
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def test_each_writers_reason_is_read() -> None:
    rejected = {"Body": "{}", "MessageAttributes": _attributes(reason="unknown_account")}
    eventbridge = {"Body": "{}", "MessageAttributes": _attributes(ERROR_CODE="SQS_QUEUE_FULL")}
    function_dlq = {
        "Body": "{}",
        "MessageAttributes": _attributes(ErrorMessage="boom for a.b@example.com\nmore"),
    }
    destination = {
        "Body": json.dumps(
            {
                "requestContext": {"condition": "RetriesExhausted"},
                "responsePayload": {"errorType": "StoreBusy"},
            }
        )
    }
    redriven = {"Body": "{}", "MessageAttributes": _attributes(trigger="import", account_id="acme")}
    assert reason(rejected) == "unknown_account"
    assert reason(eventbridge) == "eventbridge:SQS_QUEUE_FULL"
    assert reason(function_dlq).startswith("lambda:boom for a")
    assert "example.com" not in reason(function_dlq)  # addresses are masked
    assert reason(destination) == "RetriesExhausted:StoreBusy"
    assert reason(redriven) == "max_receives:import"
    assert reason({"Body": "not json"}) == "unknown"


def test_top_reasons_are_the_most_frequent_first() -> None:
    messages = [
        {"MessageAttributes": _attributes(reason=name)} for name in ("b", "a", "b", "c", "a", "b", "d")
    ]
    assert top_reasons(messages) == [("b", 3), ("a", 2), ("c", 1)]
