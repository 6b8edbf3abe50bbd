"""A push is decided on a fresh read of SuperOffice, not on one a slow chunk has held for seconds.

SuperOffice's consent PUT takes no condition. Found by `make chaos`: a chunk slowed by retries decided
a push on a read taken before a SuperOffice user's withdrawal, and overwrote it. The worker now reads
again (in bulk) before a push when its read is older than `reconcile.FRESH_READ_S`.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from consent_sync.domain.consent import ConsentState
from consent_sync.domain.contact import StoredConsent
from consent_sync.domain.vocabulary import Purpose, Side
from consent_sync.flows.reconcile_chunk import FRESH_READ_S
from tests.integration.sync.conftest import People, SyncWorld

# Each tenant request takes longer than the freshness bound, so one push makes the chunk's read stale.
LATENCY_MS = FRESH_READ_S * 1000 + 300


def _legal_base(world: SyncWorld, person_id: int) -> str | None:
    info = world.simulator.control.consent(person_id, "EMARKETING")
    return None if info is None else str(info["LegalBaseKey"])


def _platform_change_owed(world: SyncWorld, account: str, email: str, legal_base: str, at: datetime) -> None:
    """A platform change recorded and owed to SuperOffice, as the platform consent function leaves it
    when its own push could not be made: the next run's chunk makes the push."""
    contact = world.contact(account, email)
    state = ConsentState(legal_base=legal_base, source="WEBFORM", changed_at=at)
    contact.consents[Purpose.EMARKETING] = StoredConsent.of(state, Side.PLATFORM)
    contact.pending[Purpose.EMARKETING] = state
    world.contacts.save(contact)


def test_a_superoffice_withdrawal_made_while_the_chunk_pushes_is_not_overwritten(
    world: SyncWorld, people: People
) -> None:
    # Given two contacts in step, each with a platform change owed to SuperOffice (one run chunk)
    account = "acc-fresh-read"
    (first, first_email), (second, second_email) = world.account_in_step(account, people, 2)
    # (after the baseline's watermark, the first a second before the second: the chunk's order)
    time.sleep(1)
    at = datetime.now(UTC).replace(microsecond=0)
    _platform_change_owed(world, account, first_email, "WITHDRAWN", at)
    _platform_change_owed(world, account, second_email, "61C", at + timedelta(seconds=1))
    # and a slow SuperOffice
    world.simulator.control.set_faults(latency_ms=LATENCY_MS)

    # When a run starts, and a SuperOffice user withdraws the second person while the worker is
    # still busy with the first person's push (after the chunk's bulk read)
    world.platform.send("Sync Requested", {"account_id": account, "run_id": f"t-{uuid.uuid4().hex[:10]}"})
    drainer = threading.Thread(target=world.stack.runtime.drain, kwargs={"timeout": 120})
    drainer.start()
    try:
        deadline = time.monotonic() + 90
        while _legal_base(world, first) != "WITHDRAWN":
            assert time.monotonic() < deadline, "the run made no push"
            time.sleep(0.02)
        world.simulator.control.set_consent(second, "EMARKETING", "WITHDRAWN", source="USER")
    finally:
        drainer.join()
        world.simulator.control.clear_faults()

    # Then the user's withdrawal stands in SuperOffice and reached the platform
    assert _legal_base(world, second) == "WITHDRAWN"
    consent = world.contact(account, second_email).consents[Purpose.EMARKETING]
    assert (consent.legal_base, consent.changed_in) == ("WITHDRAWN", Side.SUPEROFFICE)
    assert world.contact(account, second_email).pending == {}
    # and the first person's push was made
    assert _legal_base(world, first) == "WITHDRAWN"
