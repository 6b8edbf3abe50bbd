"""The watermark never passes a change that was not reconciled: a run whose chunk dead-letters leaves
it where it was, and the next run reads that chunk's SuperOffice changes again."""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime

from tests.integration.sync.conftest import People, SyncWorld
from tests.integration.sync.test_run_fanout import envelope, invoke


def test_the_next_run_pulls_what_a_dead_lettered_chunk_did_not(world: SyncWorld, people: People) -> None:
    # Given an account in step (its baseline ran: a watermark), with no overlap to hide the effect
    account = f"wm-{uuid.uuid4().hex[:6]}"
    ((person_id, email),) = world.account_in_step(account, people, 1, sync_overlap_minutes=0)
    before = world.accounts.sync_watermark(account)
    assert before is not None
    # and a SuperOffice user's withdrawal made after it
    world.simulator.control.set_consent(person_id, "EMARKETING", "WITHDRAWN", source="USER")
    time.sleep(2.1)  # the run below starts more than a second after the change (afterTime is strict)

    # When a run queues that person, and SuperOffice is down for every delivery of the chunk
    run_id = "wm-failing"
    invoke(
        world, "ScheduledSyncFunction", envelope("Sync Requested", {"account_id": account, "run_id": run_id})
    )
    world.simulator.control.set_faults(outage_s=math.inf, retry_after_s=0)
    try:
        world.drain()
    finally:
        world.simulator.control.clear_faults()

    # Then the run ends with its chunk failed, and the watermark has not moved past the change
    failed = world.run(account, run_id)
    assert (failed.status.value, failed.failed_chunks) == ("completed_with_errors", [0])
    assert world.accounts.sync_watermark(account) == before
    assert not world.contact(account, email).consents["EMARKETING"].withdrawn  # type: ignore[index]

    # When the next run comes, it reads that change again and pulls it
    world.request_sync(account)
    contact = world.contact(account, email)
    assert contact.suppressed
    moved = world.accounts.sync_watermark(account)
    assert moved is not None
    assert before < moved <= datetime.now(UTC)
