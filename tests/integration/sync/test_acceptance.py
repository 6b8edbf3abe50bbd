"""Issue #5's acceptance, end to end on the local stack and the simulator: the schedule, `Sync
Requested`, platform changes and the reconcile worker together (these tests need the worker)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from consent_sync.domain.vocabulary import JobStatus, Purpose, Side
from consent_sync.store.decisions import DecisionLog
from tests.integration.sync.conftest import Outgoing, People, SyncWorld


def now() -> datetime:
    # SuperOffice keeps whole seconds; so do the tests' changes, on both sides.
    return datetime.now(UTC).replace(microsecond=0)


def legal_base_in_superoffice(world: SyncWorld, person_id: int, purpose: str = "EMARKETING") -> str | None:
    info = world.simulator.control.consent(person_id, purpose)
    return None if info is None else str(info["LegalBaseKey"])


def legal_base_on_platform(
    world: SyncWorld, account: str, email: str, purpose: Purpose = Purpose.EMARKETING
) -> str:
    return world.contact(account, email).consents[purpose].legal_base


def test_superoffice_changes_reach_the_platform_at_the_next_scheduled_run(
    world: SyncWorld, people: People, outgoing: Outgoing
) -> None:
    # Given an account in step with SuperOffice
    account = "acc-schedule"
    (unsubscribed, e1), (store_only, e2) = world.account_in_step(account, people, 2)
    outgoing.take("Sync Run Completed")
    # When a user withdraws e-marketing in SuperOffice, and another person's Store-and-process alone
    world.simulator.control.set_consent(unsubscribed, "EMARKETING", "WITHDRAWN")
    world.simulator.control.set_consent(store_only, "STORE", "WITHDRAWN")
    # and the 30-minute schedule fires
    world.stack.runtime.fire_schedule("ScheduledSyncFunction")
    world.drain()

    # Then both changes are on the platform, as SuperOffice's
    for email, purpose in ((e1, Purpose.EMARKETING), (e2, Purpose.STORE)):
        consent = world.contact(account, email).consents[purpose]
        assert (consent.legal_base, consent.changed_in) == ("WITHDRAWN", Side.SUPEROFFICE)
    # and the run announced what it did
    (completed,) = [d for d in outgoing.take("Sync Run Completed") if d["account_id"] == account]
    assert completed["kind"] == "scheduled"
    assert completed["pulled"] == 2
    assert (completed["pushed"], completed["failed"]) == (0, 0)
    # and the decision log holds the evidence, newest first
    (latest, *_) = DecisionLog(world.table).for_contact(account, e1)
    assert (latest.trigger.value, latest.action, latest.winner) == ("scheduled", "pull", Side.SUPEROFFICE)
    assert latest.superoffice is not None
    assert (latest.superoffice.legal_base, latest.superoffice.person_id) == ("WITHDRAWN", unsubscribed)


def test_a_platform_withdrawal_reaches_superoffice_without_waiting_for_the_schedule(
    world: SyncWorld, people: People
) -> None:
    # Given an account in step, e-marketing on in SuperOffice
    account = "acc-unsubscribe"
    ((person_id, email),) = world.account_in_step(account, people, 1)
    runs_before = world.stack.runtime.invocation_counts["ScheduledSyncFunction"]

    # When the contact unsubscribes on the platform
    world.platform_change(account, email, "EMARKETING", "WITHDRAWN", now())
    world.drain()

    # Then SuperOffice has the withdrawal, and no scheduled run was needed for it
    assert legal_base_in_superoffice(world, person_id) == "WITHDRAWN"
    assert world.stack.runtime.invocation_counts["ScheduledSyncFunction"] == runs_before
    contact = world.contact(account, email)
    assert contact.pending == {}
    (latest, *_) = DecisionLog(world.table).for_contact(account, email)
    assert (latest.trigger.value, latest.action, latest.winner) == ("platform", "push", Side.PLATFORM)


def test_both_sides_changed_the_later_wins_and_within_the_skew_the_withdrawal_wins(
    world: SyncWorld, people: People
) -> None:
    # Given four contacts in step
    account = "acc-both-sides"
    a, b, c, d = world.account_in_step(account, people, 4)
    t = now() - timedelta(minutes=10)
    so = world.simulator.control
    # When both sides change each contact, SuperOffice first
    so.set_consent(a[0], "EMARKETING", "WITHDRAWN", at=t)  # a: the platform's consent is later
    so.set_consent(b[0], "EMARKETING", "61F", at=t + timedelta(seconds=60))  # b: SuperOffice's is later
    so.set_consent(c[0], "EMARKETING", "61B", at=t)  # c: the platform withdraws 2 s later
    so.set_consent(d[0], "EMARKETING", "WITHDRAWN", at=t + timedelta(seconds=2))  # d: SuperOffice withdraws
    world.platform_change(account, a[1], "EMARKETING", "61F", t + timedelta(seconds=60))
    world.platform_change(account, b[1], "EMARKETING", "WITHDRAWN", t)
    world.platform_change(account, c[1], "EMARKETING", "WITHDRAWN", t + timedelta(seconds=2))
    world.platform_change(account, d[1], "EMARKETING", "61B", t)
    world.drain()

    # Then the later change wins, and within the skew window the withdrawal wins, on both sides
    expected = {a: "61F", b: "61F", c: "WITHDRAWN", d: "WITHDRAWN"}
    for (person_id, email), legal_base in expected.items():
        assert legal_base_in_superoffice(world, person_id) == legal_base, email
        assert legal_base_on_platform(world, account, email) == legal_base, email

    # When the next run comes, nothing flows back: both sides are equal
    run = world.run(account, world.request_sync(account))
    assert run.status is JobStatus.COMPLETED
    assert (run.counters.get("pushed", 0), run.counters.get("pulled", 0), run.failed) == (0, 0, 0)


def test_duplicates_use_the_oldest_person(world: SyncWorld, people: People) -> None:
    # Given a contact whose e-mail several SuperOffice persons share, linked to the oldest one
    account = "acc-duplicates"
    email, oldest, others = people.duplicated()
    world.link(account, oldest, email, duplicates=others)
    world.platform.send("Integration Settings Updated", world.settings(account))
    world.drain()
    theirs = {other: legal_base_in_superoffice(world, other) for other in others}

    # When the contact unsubscribes on the platform
    world.platform_change(account, email, "EMARKETING", "WITHDRAWN", now())
    world.drain()
    # Then the oldest person is written, the newer ones are not
    assert legal_base_in_superoffice(world, oldest) == "WITHDRAWN"
    assert {other: legal_base_in_superoffice(world, other) for other in others} == theirs

    # When a newer duplicate's consent changes in SuperOffice, the next run still follows the oldest
    world.simulator.control.set_consent(others[0], "EMARKETING", "61A")
    world.request_sync(account)
    contact = world.contact(account, email)
    assert contact.superoffice_person_id == oldest
    assert set(others) <= set(contact.duplicate_person_ids)
    assert contact.consents[Purpose.EMARKETING].legal_base == "WITHDRAWN"


def test_integration_none_and_sync_off_make_no_superoffice_call(
    world: SyncWorld, people: People, outgoing: Outgoing
) -> None:
    # Given an account with sync off and one with integration none, each with a linked contact
    accounts = {
        "acc-sync-off": {"legal_basis_sync": False},
        "acc-none": {"integration": "none", "superoffice": None},
    }
    emails = {}
    for account, overrides in accounts.items():
        person_id, emails[account] = people.take()
        world.link(account, person_id, emails[account])
        world.platform.send("Integration Settings Updated", world.settings(account, **overrides))
    world.drain()
    outgoing.take("Sync Run Completed")
    world.simulator.control.reset_counts()

    # When the platform reports changes, and syncs (incremental and baseline) are asked for
    for account in accounts:
        world.platform_change(account, emails[account], "EMARKETING", "WITHDRAWN", now())
        world.drain()
        world.request_sync(account)
        world.request_sync(account, baseline=True)

    # Then SuperOffice was not called at all, the platform state is recorded, and every run completed
    # with zeros
    assert world.superoffice_calls() == 0
    for account in accounts:
        assert legal_base_on_platform(world, account, emails[account]) == "WITHDRAWN"
        assert world.contact(account, emails[account]).pending == {}
    completed = outgoing.take("Sync Run Completed")
    assert sorted((d["account_id"], d["kind"]) for d in completed) == sorted(
        (account, kind) for account in accounts for kind in ("requested", "baseline")
    )
    assert {(d["reconciled"], d["pushed"], d["pulled"], d["failed"]) for d in completed} == {(0, 0, 0, 0)}


def test_after_an_outage_the_next_run_converges_with_nothing_lost(world: SyncWorld, people: People) -> None:
    # Given an account in step
    account = "acc-outage"
    (crm_side, crm_email), (platform_side, platform_email) = world.account_in_step(account, people, 2)
    watermark = world.accounts.sync_watermark(account)
    # and a change in SuperOffice just before it goes down
    world.simulator.control.set_consent(crm_side, "EMARKETING", "WITHDRAWN")
    world.simulator.control.set_faults(outage_s=math.inf, retry_after_s=0)

    # When the platform reports an unsubscribe and a run is asked for during the outage
    world.platform_change(account, platform_email, "EMARKETING", "WITHDRAWN", now())
    world.drain()
    world.request_sync(account)
    # Then neither side has the other's change yet, the push is still owed and the watermark stayed
    assert legal_base_in_superoffice(world, platform_side) == "61A"
    assert legal_base_on_platform(world, account, crm_email) == "61A"
    assert Purpose.EMARKETING in world.contact(account, platform_email).pending
    assert world.accounts.sync_watermark(account) == watermark
    world.platform.dead_letters()

    # When SuperOffice is back and the next run comes
    world.simulator.control.clear_faults()
    run = world.run(account, world.request_sync(account))

    # Then both changes went across: nothing was lost
    assert legal_base_in_superoffice(world, platform_side) == "WITHDRAWN"
    assert legal_base_on_platform(world, account, crm_email) == "WITHDRAWN"
    assert world.contact(account, platform_email).pending == {}
    assert run.status is JobStatus.COMPLETED
    assert (run.counters["pushed"], run.counters["pulled"], run.failed) == (1, 1, 0)
