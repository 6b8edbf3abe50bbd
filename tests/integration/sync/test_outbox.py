"""Exactly one completion event per job: completion is recorded with the job (the outbox), published
after, and the 30-minute schedule's sweep publishes whatever is left, and finishes jobs whose chunks
died uncounted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from consent_sync.domain.vocabulary import JobKind, JobStatus
from consent_sync.store.aws import dynamodb_table
from consent_sync.store.contacts import stored_time
from tests.integration.sync.conftest import Outgoing, People, SyncWorld


def _schedule_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).isoformat(),
        "region": "eu-west-1",
        "resources": [],
        "detail": {},
    }


def _runs(outgoing: Outgoing, run_id: str) -> list[dict[str, Any]]:
    return [e for e in outgoing.take("Sync Run Completed") if e["run_id"] == run_id]


def test_a_completion_whose_publishing_failed_is_published_once_by_the_sweep(
    world: SyncWorld, people: People, outgoing: Outgoing, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = f"ob-{uuid.uuid4().hex[:6]}"
    world.account_in_step(account, people, 1)
    # Given EventBridge refusing the account's next `Sync Run Completed` once
    original = BaseClient._make_api_call
    refused: list[str] = []

    def flaky(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        entries = params.get("Entries", []) if operation == "PutEvents" else []
        if not refused and any(e.get("DetailType") == "Sync Run Completed" for e in entries):
            refused.append(operation)
            raise ClientError({"Error": {"Code": "InternalFailure", "Message": "down"}}, operation)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", flaky)
    # When a run completes
    run_id = world.request_sync(account)
    # Then it is complete, its event was refused, and nothing reached the platform
    assert world.run(account, run_id).status is JobStatus.COMPLETED
    assert refused
    assert _runs(outgoing, run_id) == []
    # When the 30-minute schedule fires, its sweep publishes the event
    world.stack.runtime.invoke("ScheduledSyncFunction", _schedule_event())
    world.drain()
    (event,) = _runs(outgoing, run_id)
    assert event["account_id"] == account
    assert world.run(account, run_id).announced_at is not None
    # and never again
    world.stack.runtime.invoke("ScheduledSyncFunction", _schedule_event())
    world.drain()
    assert _runs(outgoing, run_id) == []


def test_a_job_whose_chunk_died_uncounted_is_finished_by_the_sweep(
    world: SyncWorld, people: People, outgoing: Outgoing
) -> None:
    account = f"ob-{uuid.uuid4().hex[:6]}"
    world.account_in_step(account, people, 1)
    # Given a run of two chunks: one counted, the other's worker killed on its last delivery, so it
    # never gave the chunk up (a timeout, out of memory): the job stays running
    run_id = f"dead-{uuid.uuid4().hex[:6]}"
    world.jobs.create(
        account, JobKind.RUN, run_id, {"kind": "requested", "trigger": "requested", "chunk_sizes": [1, 3]}
    )
    world.jobs.set_total(account, JobKind.RUN, run_id, 2)
    world.jobs.record_chunk(account, JobKind.RUN, run_id, 0, {"reconciled": 1, "unchanged": 1})
    # and no progress for two hours
    dynamodb_table(world.table).update_item(
        Key={"pk": f"JOB#{account}#run#{run_id}", "sk": "JOB"},
        UpdateExpression="SET updated_at = :then",
        ExpressionAttributeValues={":then": stored_time(datetime.now(UTC) - timedelta(hours=2))},
    )
    # When the 30-minute schedule fires, its sweep finishes the job: the dead chunk's contacts failed
    answer = world.stack.runtime.invoke("ScheduledSyncFunction", _schedule_event())
    world.drain()
    job = world.run(account, run_id)
    assert answer["swept"]["finished_stale"] >= 1
    assert (job.status, job.failed, job.failed_chunks) == (JobStatus.COMPLETED_WITH_ERRORS, 3, [1])
    # and announced, once
    (event,) = _runs(outgoing, run_id)
    assert (event["failed"], event["reconciled"]) == (3, 1)
