"""A stack with SuperOffice webhooks on, the simulator delivering them, and what the tests do to both."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from consent_sync.domain.webhook import signature, webhook_name
from devtools.local import LocalStack
from devtools.simulator.testing import SimulatorHandle, running_simulator
from tests.integration.conftest import Platform, stack_for_tests
from tests.integration.sync.conftest import People, SyncWorld

#: Shrunk from SuperOffice's 1 s and 4 s, so a failing delivery's three tries take a moment.
RETRY_DELAYS_S = (0.2, 0.4)


@pytest.fixture(scope="module")
def hook_stack() -> Iterator[LocalStack]:
    with stack_for_tests("wh", webhooks=True) as stack:
        yield stack


@pytest.fixture(scope="module")
def hook_simulator() -> Iterator[SimulatorHandle]:
    with running_simulator(persons=120, seed=11) as sim:
        yield sim


#: Above any `settings_version` a test sends, so that retiring an account is never refused as stale.
RETIRING_SETTINGS_VERSION = 1_000_000


class HookWorld(SyncWorld):
    """The sync world, with SuperOffice's webhooks and the receiver's URL."""

    def __init__(self, stack: LocalStack, simulator: SimulatorHandle, platform: Platform) -> None:
        super().__init__(stack, simulator, platform)
        self.configured: set[str] = set()

    def settings(self, account_id: str, **overrides: Any) -> dict[str, Any]:
        self.configured.add(account_id)
        return super().settings(account_id, **overrides)

    def retire(self) -> None:
        """Sync off for every account the test configured, so the product removes their webhooks.

        The module's accounts share one simulated tenant, and SuperOffice delivers each change to every
        webhook of the tenant: left registered, each test's accounts would be delivered (and pull) every
        later test's changes, and the module would slow down test by test.
        """
        for account_id in sorted(self.configured):
            retiring = SyncWorld.settings(
                self, account_id, legal_basis_sync=False, settings_version=RETIRING_SETTINGS_VERSION
            )
            self.platform.send("Integration Settings Updated", retiring)
        self.settle()

    @property
    def receiver(self) -> str:
        return self.stack.function_urls["WebhookReceiverFunction"]

    def url(self, account_id: str) -> str:
        return f"{self.receiver}accounts/{account_id}"

    def hooks(self, account_id: str) -> list[dict[str, Any]]:
        name = webhook_name(self.stack.template.stack_name, account_id)
        return [hook for hook in self.simulator.control.webhooks() if hook["name"] == name]

    def secret(self, account_id: str) -> str:
        secrets = boto3.client(
            "secretsmanager", endpoint_url=self.stack.endpoint_url, region_name="eu-west-1"
        )
        name = f"{self.stack.template.stack_name}/webhooks/{account_id}"
        return str(secrets.get_secret_value(SecretId=name)["SecretString"])

    def settle(self) -> None:
        """Every delivery made (retries included), then every event and queue drained."""
        self.simulator.control.wait_webhooks_idle(timeout_s=30)
        self.drain()

    def deliver(
        self,
        account_id: str,
        payload: dict[str, Any],
        *,
        secret: str | None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Post a delivery as SuperOffice would, signed with `secret` (None: unsigned)."""
        body = json.dumps(payload).encode()
        sent = {"Content-Type": "application/json", "X-SuperOffice-EventId": str(payload.get("EventId", ""))}
        if secret is not None:
            sent["X-SuperOffice-Signature"] = signature(secret, body)
        sent.update(headers or {})
        return httpx.post(self.url(account_id), content=body, headers=sent, timeout=30)

    def pull_queue_depth(self) -> int:
        sqs = boto3.client("sqs", endpoint_url=self.stack.endpoint_url, region_name="eu-west-1")
        attributes = sqs.get_queue_attributes(
            QueueUrl=self.stack.outputs["WebhookPullQueueUrl"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


def consent_payload(
    person_id: int, *, event: str = "person.unconsented", event_id: str | None = None
) -> dict[str, Any]:
    return {
        "EventId": event_id or str(uuid.uuid4()),
        "Timestamp": "2026-12-02T10:00:00Z",
        "Changes": ["legalbase_id"],
        "Event": event,
        "PrimaryKey": person_id,
        "Entity": "person",
        "ContextIdentifier": "",
        "ChangedByAssociateId": 5,
        "WebhookName": "whatever",
    }


@pytest.fixture(scope="module")
def hook_people(hook_simulator: SimulatorHandle) -> People:
    return People(hook_simulator)


@pytest.fixture
def hooks(hook_stack: LocalStack, hook_simulator: SimulatorHandle) -> Iterator[HookWorld]:
    hook_simulator.control.clear_faults()
    hook_simulator.control.set_webhook_settings(retry_delays_s=RETRY_DELAYS_S)
    hook_stack.forget_tenant_budgets()
    platform = Platform(hook_stack)
    platform.dead_letters()
    world = HookWorld(hook_stack, hook_simulator, platform)
    yield world
    hook_simulator.control.clear_faults()
    hook_simulator.control.set_webhook_settings(retry_delays_s=RETRY_DELAYS_S)
    world.retire()  # against a simulator that answers /Webhook again (a test may have forbidden it)
    hook_stack.forget_tenant_budgets()
