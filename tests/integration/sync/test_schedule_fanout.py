"""The 30-minute run fans out: the schedule's invocation reconciles no account itself, it puts one
`Sync Requested` per account with sync on, and each account's run is an invocation of its own."""

from __future__ import annotations

import uuid

from tests.integration.sync.conftest import Outgoing, People, SyncWorld
from tests.integration.sync.test_outbox import _schedule_event


def test_the_schedule_puts_one_request_per_syncing_account(
    world: SyncWorld, people: People, outgoing: Outgoing
) -> None:
    # Given two accounts with sync on and one with sync off
    on = [f"fo-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    for account in on:
        world.account_in_step(account, people, 1)
    off = f"fo-off-{uuid.uuid4().hex[:6]}"
    world.store_settings(off, legal_basis_sync=False)
    outgoing.take("Sync Requested")
    world.simulator.control.reset_counts()
    # When the schedule fires (its invocation alone, nothing delivered yet)
    answer = world.stack.runtime.invoke("ScheduledSyncFunction", _schedule_event())
    # Then it asked SuperOffice nothing and put one request per syncing account, all of one run
    assert answer["status"] == "fanned_out"
    assert world.superoffice_calls() == 0
    requests = {e["account_id"]: e for e in outgoing.take("Sync Requested")}
    assert set(on) <= set(requests)
    assert off not in requests
    assert {requests[a]["run_id"] for a in on} == {answer["run_id"]}
    assert all(requests[a]["scheduled"] for a in on)
    # When they are delivered, each account runs, as a scheduled run
    world.drain()
    for account in on:
        assert world.run(account, answer["run_id"]).meta["kind"] == "scheduled"
