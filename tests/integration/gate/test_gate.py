"""The send-out gate through the real PresendFunction and reconcile worker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consent_sync.domain.consent import ConsentState
from consent_sync.domain.contact import StoredConsent
from consent_sync.domain.vocabulary import JobKind, Purpose, Side
from consent_sync.store.artifacts import get_json
from devtools.uploads import put_text_lines
from tests.integration.sync.conftest import Outgoing, People, SyncWorld, superoffice_state


def check(
    world: SyncWorld,
    outgoing: Outgoing,
    account_id: str,
    recipients: list[str] | None = None,
    *,
    recipients_uri: str | None = None,
    stage: str = "checklist",
    channel: str = "email",
) -> dict[str, Any]:
    """Send a stage event, let the stack work, return the results document (checked against the event)."""
    check_id = f"chk-{uuid.uuid4().hex[:10]}"
    detail: dict[str, Any] = {
        "account_id": account_id,
        "sendout_id": "spring-campaign",
        "channel": channel,
        "check_id": check_id,
    }
    if recipients_uri:
        detail["recipients_uri"] = recipients_uri
    else:
        detail["recipients"] = recipients
    world.platform.send("Sendout Checklist" if stage == "checklist" else "Sendout Sending", detail)
    world.stack.runtime.drain(timeout=120)
    job = world.jobs.get(account_id, JobKind.SENDOUT, check_id)
    assert job is not None
    assert job.finished
    (event,) = [e for e in outgoing.take("Sendout Consent Checked") if check_id in e["results_uri"]]
    results = get_json(event["results_uri"])
    assert event["stage"] == stage
    assert event["channel"] == channel
    assert event["allowed_count"] == len(results["allowed"])
    assert event["blocked_count"] == len(results["blocked"])
    assert event["stale_count"] == len(results["stale"])
    return dict(results)


def blocked(results: dict[str, Any]) -> dict[str, str]:
    return {item["email"]: item["reason"] for item in results["blocked"]}


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_a_withdrawal_in_superoffice_a_minute_before_the_check_blocks(
    world: SyncWorld, people: People, outgoing: Outgoing, channel: str
) -> None:
    # Given a contact in step with SuperOffice, allowed yesterday
    account = f"gate-withdrawn-{channel}"
    ((person_id, email),) = world.account_in_step(account, people, 1)
    # When a SuperOffice user withdraws the person a minute before the check
    minute_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    world.simulator.control.set_consent(person_id, "EMARKETING", "WITHDRAWN", source="USER", at=minute_ago)
    results = check(world, outgoing, account, [email], channel=channel)
    # Then the recipient is blocked, and the platform holds the withdrawal
    assert blocked(results) == {email: "emarketing_withdrawn"}
    assert results["allowed"] == []
    assert world.contact(account, email).consents[Purpose.EMARKETING].legal_base == "WITHDRAWN"


def test_a_platform_opt_in_newer_than_the_withdrawal_is_allowed_and_pushed(
    world: SyncWorld, people: People, outgoing: Outgoing
) -> None:
    # Given SuperOffice withdrew the person two hours ago, and the contact opted in on the platform an
    # hour ago (recorded on the contact, not pushed yet)
    account = "gate-opt-in"
    ((person_id, email),) = world.account_in_step(account, people, 1)
    now = datetime.now(UTC).replace(microsecond=0)
    world.simulator.control.set_consent(person_id, "EMARKETING", "WITHDRAWN", at=now - timedelta(hours=2))
    contact = world.contact(account, email)
    opt_in = ConsentState(legal_base="61A", source="WEBFORM", changed_at=now - timedelta(hours=1))
    world.contacts.save(
        contact.model_copy(
            update={
                "consents": {**contact.consents, Purpose.EMARKETING: StoredConsent.of(opt_in, Side.PLATFORM)}
            }
        )
    )
    # When the send-out is checked
    results = check(world, outgoing, account, [email], stage="sending")
    # Then the recipient is allowed and SuperOffice now has the opt-in
    assert results["allowed"] == [email]
    state = superoffice_state(world.simulator, person_id, "EMARKETING")
    assert state is not None
    assert state.legal_base == "61A"


def test_duplicates_in_the_list_are_checked_once_and_strangers_are_unknown(
    world: SyncWorld, people: People, outgoing: Outgoing
) -> None:
    account = "gate-duplicates"
    ((_, email),) = world.account_in_step(account, people, 1)
    results = check(world, outgoing, account, [email.upper(), f"  {email} ", email, "stranger@example.org"])
    assert results["allowed"] == [email]
    assert blocked(results) == {"stranger@example.org": "unknown_contact"}


def test_sync_off_answers_from_platform_state_without_calling_superoffice(
    world: SyncWorld, people: People, outgoing: Outgoing
) -> None:
    account = "gate-sync-off"
    linked = world.account_in_step(account, people, 2, legal_basis_sync=False)
    world.simulator.control.reset_counts()
    results = check(world, outgoing, account, [email for _, email in linked])
    assert sorted(results["allowed"]) == sorted(email for _, email in linked)
    assert world.superoffice_calls() == 0


@pytest.mark.parametrize(("policy", "expected"), [("use_last_known", "stale"), ("block", "blocked")])
def test_superoffice_outage_during_the_check(
    world: SyncWorld, people: People, outgoing: Outgoing, policy: str, expected: str
) -> None:
    # Given an account whose policy for an unreachable SuperOffice is `policy`
    account = f"gate-outage-{policy}"
    ((_, email),) = world.account_in_step(account, people, 1, presend_on_superoffice_failure=policy)
    # When SuperOffice is down during the check
    world.simulator.control.set_faults(outage_s=3600)
    results = check(world, outgoing, account, [email, "stranger@example.org"])
    world.simulator.control.clear_faults()
    world.stack.forget_tenant_budgets()
    # Then the check still answers: on the last known state marked stale, or blocked
    if expected == "stale":
        assert results["allowed"] == [email]
        assert results["stale"] == [email]
    else:
        assert blocked(results)[email] == "superoffice_unavailable"
    assert blocked(results)["stranger@example.org"] == "unknown_contact"
    # And the contact stays pending, so the next run reconciles it
    assert world.contact(account, email).pending


def test_a_repeated_check_does_not_read_superoffice_again(
    world: SyncWorld, people: People, outgoing: Outgoing
) -> None:
    account = "gate-repeat"
    linked = world.account_in_step(account, people, 3)
    emails = [email for _, email in linked]
    first = check(world, outgoing, account, emails)
    world.simulator.control.reset_counts()
    second = check(world, outgoing, account, emails)
    assert world.superoffice_calls() == 0
    assert sorted(second["allowed"]) == sorted(first["allowed"])


def test_a_25000_recipient_list_through_s3(world: SyncWorld, people: People, outgoing: Outgoing) -> None:
    # Given an account with three contacts and a list of 25,000 recipients in S3, mostly strangers
    account = "gate-large"
    linked = world.account_in_step(account, people, 3)
    known = [email for _, email in linked]
    strangers = [f"recipient{n:05d}@example.net" for n in range(25_000 - len(known))]
    uri = put_text_lines(
        world.stack.outputs["ArtifactsBucketName"], f"recipients/{account}/list.txt", strangers + known
    )
    # When the send-out is checked with the list's URI
    results = check(world, outgoing, account, recipients_uri=uri)
    # Then every recipient has exactly one verdict
    assert sorted(results["allowed"]) == sorted(known)
    assert len(results["blocked"]) == len(strangers)
    assert set(blocked(results).values()) == {"unknown_contact"}
