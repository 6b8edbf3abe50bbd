"""consent-sync's outgoing events, caught as a subscriber would catch them.

A rule on the stack's bus matching ``source: consent-sync`` (optionally some detail types) with an SQS
queue of our own as its target; the caught events are read off that queue. Tests, the demo and the
benchmarks all listen this way, so what they see is what a marketing platform subscribed to the bus
would receive.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

SOURCE = "consent-sync"


class OutgoingEvents:
    """A rule on ``bus`` with a queue target; :meth:`take` and :meth:`wait_for` read what it caught."""

    def __init__(
        self,
        sqs: Any,
        events: Any,
        bus: str,
        *,
        detail_types: Sequence[str] = (),
        name: str = "outgoing",
    ) -> None:
        """``sqs`` and ``events`` are boto3 clients of the endpoint the bus is on."""
        self._sqs = sqs
        rule = f"{name}-{uuid.uuid4().hex[:8]}"
        self._url = self._sqs.create_queue(QueueName=rule)["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        pattern: dict[str, Any] = {"source": [SOURCE]}
        if detail_types:
            pattern["detail-type"] = list(detail_types)
        events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "outgoing", "Arn": arn}])
        self.received: list[tuple[str, dict[str, Any]]] = []
        """Every event caught and not taken yet: (detail type, detail), oldest first."""

    def _receive(self) -> None:
        while True:
            messages = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return
            for message in messages:
                event = json.loads(message["Body"])
                self.received.append((event["detail-type"], event["detail"]))
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])

    def take(self, detail_type: str) -> list[dict[str, Any]]:
        """The details of every ``detail_type`` event caught so far, oldest first; they are not seen again."""
        self._receive()
        taken = [detail for kind, detail in self.received if kind == detail_type]
        self.received = [(kind, detail) for kind, detail in self.received if kind != detail_type]
        return taken

    def wait_for(
        self,
        detail_type: str,
        matches: Callable[[dict[str, Any]], bool] = lambda _: True,
        timeout_s: float = 15.0,
    ) -> dict[str, Any] | None:
        """The first ``detail_type`` event that ``matches`` (taken), waiting up to ``timeout_s``; else None."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._receive()
            for index, (kind, detail) in enumerate(self.received):
                if kind == detail_type and matches(detail):
                    del self.received[index]
                    return detail
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
