"""Account settings through the real SettingsFunction on the local stack."""

from __future__ import annotations

import copy

from consent_sync.domain.settings import AccountSettings
from consent_sync.store.accounts import AccountStore
from devtools.local import LocalStack
from devtools.simulator.testing import SimulatorHandle
from tests.integration.conftest import Platform


def stored(stack: LocalStack, account_id: str) -> AccountSettings | None:
    return AccountStore(stack.outputs["ConsentTableName"]).get(account_id)


def test_settings_round_trip_and_baseline_on_first_save(
    consent_stack: LocalStack, platform: Platform, simulator: SimulatorHandle
) -> None:
    # Given a new account whose credentials are in Secrets Manager
    settings = platform.onsite_settings("round-trip", simulator)
    before = consent_stack.runtime.invocation_counts.get("ScheduledSyncFunction", 0)
    # When the platform saves its settings with sync on
    platform.send("Integration Settings Updated", settings)
    consent_stack.runtime.drain()
    # Then they are stored as sent, and the first save already asked for a baseline run
    assert stored(consent_stack, "round-trip") == AccountSettings.model_validate(settings)
    assert consent_stack.runtime.invocation_counts["ScheduledSyncFunction"] == before + 1
    assert consent_stack.runtime.last_result("SettingsFunction")["baseline_requested"] is True

    # When the same settings are saved again, no second baseline run starts
    platform.send("Integration Settings Updated", settings)
    consent_stack.runtime.drain()
    assert consent_stack.runtime.last_result("SettingsFunction")["baseline_requested"] is False
    assert consent_stack.runtime.invocation_counts["ScheduledSyncFunction"] == before + 1

    # When integration goes to none and back to superoffice, switching back starts one
    platform.send("Integration Settings Updated", {**settings, "integration": "none", "superoffice": None})
    consent_stack.runtime.drain()
    assert stored(consent_stack, "round-trip").integration == "none"  # type: ignore[union-attr]
    platform.send("Integration Settings Updated", settings)
    consent_stack.runtime.drain()
    assert consent_stack.runtime.last_result("SettingsFunction")["baseline_requested"] is True
    # No event was rejected on the way
    assert platform.dead_letters() == []


def test_malformed_settings_are_rejected_and_kept(
    consent_stack: LocalStack, platform: Platform, simulator: SimulatorHandle
) -> None:
    settings = platform.onsite_settings("malformed", simulator)
    broken = copy.deepcopy(settings)
    broken["superoffice"]["base_url"] = "http://crm.example.com/api/v1"
    broken["superoffice"]["allow_insecure"] = False
    broken["password"] = "should-never-be-kept"
    platform.send("Integration Settings Updated", broken)
    consent_stack.runtime.drain()
    assert stored(consent_stack, "malformed") is None
    (rejected,) = platform.dead_letters()
    assert rejected["reason"] == "invalid_event"
    assert "https" in rejected["message"]
    assert "password" in rejected["message"]  # the extra field is named...
    assert "should-never-be-kept" not in str(rejected)  # ...but its value is not kept


def test_a_secret_outside_the_stack_prefix_is_refused(consent_stack: LocalStack, platform: Platform) -> None:
    settings = {
        "account_id": "foreign-secret",
        "integration": "superoffice",
        "legal_basis_sync": False,
        "superoffice": {
            "kind": "onsite",
            "base_url": "https://crm.example.com/api/v1",
            "auth": "basic",
            "credentials_secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:other-app/db-AbCdEf",
        },
    }
    platform.send("Integration Settings Updated", settings)
    consent_stack.runtime.drain()
    assert stored(consent_stack, "foreign-secret") is None
    (rejected,) = platform.dead_letters()
    assert rejected["reason"] == "credentials_secret_outside_prefix"


def test_events_for_an_unknown_account_are_reported_as_such(
    consent_stack: LocalStack, platform: Platform
) -> None:
    for sample in ("import-requested.json", "sendout-checklist.json", "contact-consent-changed.json"):
        platform.send_sample(sample, account_id="nobody-here")
    consent_stack.runtime.drain()
    rejected = platform.dead_letters()
    assert [r["reason"] for r in rejected] == ["unknown_account"] * 3
    assert all("nobody-here" in r["message"] for r in rejected)


def test_integration_none_refuses_an_import_without_calling_superoffice(
    consent_stack: LocalStack, platform: Platform, simulator: SimulatorHandle
) -> None:
    platform.send("Integration Settings Updated", {"account_id": "no-crm", "integration": "none"})
    consent_stack.runtime.drain()
    simulator.control.reset_counts()
    platform.send_sample("import-requested.json", account_id="no-crm")
    consent_stack.runtime.drain()
    (rejected,) = platform.dead_letters()
    assert rejected["reason"] == "integration_none"
    assert sum(n for key, n in simulator.control.counts().items() if not key.startswith("status:")) == 0


def test_every_incoming_sample_reaches_its_function(consent_stack: LocalStack, platform: Platform) -> None:
    expected = {
        "integration-settings-updated.json": "SettingsFunction",
        "import-requested.json": "ImportFunction",
        "sync-requested.json": "ScheduledSyncFunction",
        "sendout-checklist.json": "PresendFunction",
        "sendout-sending.json": "PresendFunction",
        "contact-consent-changed.json": "PlatformConsentFunction",
    }
    for sample, function in expected.items():
        before = dict(consent_stack.runtime.invocation_counts)
        platform.send_sample(sample)
        consent_stack.runtime.drain()
        after = consent_stack.runtime.invocation_counts
        changed = {name for name in after if after[name] != before.get(name, 0)}
        assert function in changed, sample
        # and no other function saw it (a settings save may legitimately start a baseline run)
        assert changed <= {function, "ScheduledSyncFunction"}, (sample, changed)
    platform.dead_letters()


def test_the_schedule_reaches_the_scheduled_sync(consent_stack: LocalStack) -> None:
    before = len(consent_stack.runtime.invocations("ScheduledSyncFunction"))
    consent_stack.runtime.fire_schedule("ScheduledSyncFunction")
    consent_stack.runtime.drain()
    new = consent_stack.runtime.invocations("ScheduledSyncFunction")[before:]
    # The schedule's event once; then one scheduled `Sync Requested` per account with sync on, if any
    assert [i.event["source"] for i in new].count("aws.events") == 1
    fanned = [i.event for i in new if i.event["source"] != "aws.events"]
    assert all(e["detail-type"] == "Sync Requested" and e["detail"]["scheduled"] for e in fanned)
