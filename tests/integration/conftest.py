"""Fixtures for tests that run the real handlers on the local stack (moto server) and the simulator."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from consent_sync.store.secrets import secret_name
from devtools.local import LocalStack, local_stack
from devtools.simulator.accounts import simulator_settings
from devtools.simulator.testing import SimulatorHandle, running_simulator
from devtools.uploads import write_credentials

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


@contextmanager
def stack_for_tests(prefix: str, *, webhooks: bool) -> Iterator[LocalStack]:
    """template.yaml on moto in eu-west-1, events delivered by calling `stack.runtime.drain()`."""
    with local_stack(
        template=ROOT / "template.yaml",
        port=0,
        stack_name=f"{prefix}-{uuid.uuid4().hex[:8]}",
        region="eu-west-1",
        failed_visibility_timeout_s=0,
        parameters={"SuperOfficeWebhooks": "on" if webhooks else "off"},
        warm_function_urls=webhooks,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def consent_stack() -> Iterator[LocalStack]:
    """The stack with SuperOffice webhooks off: these tests follow the poll and the platform's events
    deterministically, while deliveries arrive on their own clock (tests/integration/webhooks runs
    them on)."""
    with stack_for_tests("cs", webhooks=False) as stack:
        yield stack


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    with running_simulator(persons=300, seed=7) as sim:
        yield sim


class Platform:
    """What the marketing platform does to consent-sync: put events on the bus."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.events = boto3.client("events", endpoint_url=stack.endpoint_url, region_name="eu-west-1")
        self.sqs = boto3.client("sqs", endpoint_url=stack.endpoint_url, region_name="eu-west-1")

    @property
    def outputs(self) -> dict[str, Any]:
        return self.stack.outputs

    def send(self, detail_type: str, detail: dict[str, Any], *, source: str = "marketing.platform") -> None:
        result = self.events.put_events(
            Entries=[
                {
                    "EventBusName": self.outputs["EventBusName"],
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                }
            ]
        )
        assert result["FailedEntryCount"] == 0, result

    def send_sample(self, name: str, **overrides: Any) -> dict[str, Any]:
        sample = json.loads((EVENTS / name).read_text())
        detail = {**sample["detail"], **overrides}
        self.send(sample["detail-type"], detail)
        return detail

    def dead_letters(self) -> list[dict[str, Any]]:
        """Take every message from the events dead-letter queue."""
        taken: list[dict[str, Any]] = []
        url = self.outputs["EventsDeadLetterQueueUrl"]
        while True:
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return taken
            for message in messages:
                taken.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def store_credentials(self, account_id: str, credentials: dict[str, str]) -> str:
        return write_credentials(secret_name(self.outputs["SecretPrefix"], account_id), credentials)

    def onsite_settings(self, account_id: str, sim: SimulatorHandle, **overrides: Any) -> dict[str, Any]:
        arn = self.store_credentials(account_id, {"username": sim.username, "password": sim.password})
        settings = simulator_settings(account_id, sim, arn)
        settings.update(overrides)
        return settings


@pytest.fixture
def platform(consent_stack: LocalStack) -> Platform:
    platform = Platform(consent_stack)
    platform.dead_letters()  # start every test with an empty dead-letter queue
    return platform
