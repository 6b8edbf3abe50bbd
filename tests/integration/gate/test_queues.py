"""Interactive work apart from bulk work: send-out checks and platform pushes go to the interactive
queue (workers of their own), imports and runs to the bulk queue, each message there in its account's
message group (an SQS fair queue)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import boto3

from consent_sync.events import ReconcileChunk
from tests.integration.sync.conftest import People, SyncWorld
from tests.integration.sync.test_run_fanout import envelope


def _take(world: SyncWorld, output: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", endpoint_url=world.stack.endpoint_url, region_name="eu-west-1")
    url = world.stack.outputs[output]
    taken: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return taken
        for message in messages:
            taken.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_checks_and_pushes_go_to_the_interactive_queue_runs_to_the_fair_bulk_queue(
    world: SyncWorld, people: People
) -> None:
    account = f"q-{uuid.uuid4().hex[:6]}"
    ((_, email),) = world.account_in_step(account, people, 1)
    _take(world, "ReconcileQueueUrl")
    _take(world, "InteractiveQueueUrl")
    # When a send-out check, a platform change and a requested run arrive (handlers only, no workers)
    runtime = world.stack.runtime
    runtime.invoke(
        "PresendFunction",
        envelope(
            "Sendout Checklist",
            {"account_id": account, "sendout_id": "news-1", "channel": "email", "recipients": [email]},
        ),
    )
    runtime.invoke(
        "PlatformConsentFunction",
        envelope(
            "Contact Consent Changed",
            {
                "account_id": account,
                "email": email,
                "purpose": "EMARKETING",
                "legal_base": "WITHDRAWN",
                "source": "WEBFORM",
                "changed_at": datetime.now(UTC).isoformat(),
            },
        ),
    )
    runtime.invoke(
        "ScheduledSyncFunction", envelope("Sync Requested", {"account_id": account, "baseline": True})
    )
    # Then the check's chunk and the push wait on the interactive queue
    interactive = [ReconcileChunk.model_validate_json(m["Body"]) for m in _take(world, "InteractiveQueueUrl")]
    assert sorted(c.trigger.value for c in interactive) == ["platform", "presend"]
    # and the run's chunks on the bulk queue, each in its account's message group
    bulk = _take(world, "ReconcileQueueUrl")
    assert [ReconcileChunk.model_validate_json(m["Body"]).trigger.value for m in bulk] == ["baseline"]
    assert all(m["Attributes"].get("MessageGroupId") == account for m in bulk)
