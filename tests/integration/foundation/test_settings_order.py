"""Settings saves are ordered (settings_version, then the event's time), and a baseline run owed by a
save is not lost when publishing it fails: through the real SettingsFunction on the local stack."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from consent_sync import config
from consent_sync.domain.settings import AccountSettings
from consent_sync.events import IntegrationSettingsUpdated, SyncRequested, parse_event
from consent_sync.flows import apply_settings as flow
from consent_sync.store.accounts import AccountStore
from consent_sync.store.secrets import CredentialsUnavailable, forget_credentials, read_credentials
from devtools.local import LocalStack
from devtools.simulator.testing import SimulatorHandle
from tests.integration.conftest import Platform


def _envelope(detail: dict[str, Any], time: str, event_id: str | None = None) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Integration Settings Updated",
        "source": "marketing.platform",
        "account": "123456789012",
        "time": time,
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }


def _apply(stack: LocalStack, event: dict[str, Any]) -> dict[str, Any]:
    return dict(stack.runtime.invoke("SettingsFunction", event))


def _stored(stack: LocalStack, account_id: str) -> AccountSettings | None:
    return AccountStore(stack.outputs["ConsentTableName"]).get(account_id)


def test_an_older_settings_version_is_refused(consent_stack: LocalStack, platform: Platform) -> None:
    account = f"order-v-{uuid.uuid4().hex[:6]}"
    newer = {"account_id": account, "integration": "none", "settings_version": 2}
    older = {"account_id": account, "integration": "none", "settings_version": 1, "skew_seconds": 30}
    assert _apply(consent_stack, _envelope(newer, "2026-11-22T10:00:00Z"))["status"] == "stored"
    # An older version refused, even when its event is later
    answer = _apply(consent_stack, _envelope(older, "2026-11-22T10:05:00Z"))
    assert (answer["status"], answer["reason"]) == ("rejected", "stale_settings")
    assert _stored(consent_stack, account) == AccountSettings.model_validate(newer)
    (letter,) = platform.dead_letters()
    assert letter["reason"] == "stale_settings"
    # The next version is stored
    nxt = {**older, "settings_version": 3}
    assert _apply(consent_stack, _envelope(nxt, "2026-11-22T10:06:00Z"))["status"] == "stored"
    assert _stored(consent_stack, account) == AccountSettings.model_validate(nxt)


def test_a_late_retry_of_an_older_event_does_not_revert_newer_settings(
    consent_stack: LocalStack, platform: Platform
) -> None:
    # Given settings A (10:00:00), then newer settings B (10:00:10), neither with a version
    account = f"order-t-{uuid.uuid4().hex[:6]}"
    a = _envelope({"account_id": account, "integration": "none", "skew_seconds": 1}, "2026-11-22T10:00:00Z")
    b = _envelope({"account_id": account, "integration": "none", "skew_seconds": 2}, "2026-11-22T10:00:10Z")
    assert _apply(consent_stack, a)["status"] == "stored"
    assert _apply(consent_stack, b)["status"] == "stored"
    # When A is delivered again (Lambda's retry: the same event, the same time)
    answer = _apply(consent_stack, a)
    # Then it is refused, and B stays
    assert (answer["status"], answer["reason"]) == ("rejected", "stale_settings")
    stored = _stored(consent_stack, account)
    assert stored is not None
    assert stored.skew_seconds == 2
    assert [letter["reason"] for letter in platform.dead_letters()] == ["stale_settings"]
    # A retry of B itself (the same time) is applied again, harmlessly
    assert _apply(consent_stack, b)["status"] == "stored"


@pytest.fixture
def settings_environment(consent_stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process configured as the stack's SettingsFunction (to call the flow itself)."""
    for name, value in consent_stack.runtime.functions["SettingsFunction"].environment.items():
        monkeypatch.setenv(name, value)
    config.get_config.cache_clear()
    yield
    config.get_config.cache_clear()


@pytest.mark.usefixtures("settings_environment")
def test_a_baseline_lost_to_a_failed_publish_is_requested_by_the_retry(
    consent_stack: LocalStack, platform: Platform, simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a new account with sync on, whose settings event is saved but whose baseline cannot be published
    account = f"order-b-{uuid.uuid4().hex[:6]}"
    event = _envelope(platform.onsite_settings(account, simulator), "2026-11-22T10:00:00Z")
    update = parse_event(event, IntegrationSettingsUpdated)
    published: list[SyncRequested] = []
    real_publish = flow.publish

    def failing(bus: str, detail: Any, **kwargs: Any) -> None:
        raise ConnectionError("EventBridge is unavailable")

    def recording(bus: str, detail: Any, **kwargs: Any) -> Any:
        published.append(detail)
        return real_publish(bus, detail, **kwargs)

    monkeypatch.setattr(flow, "publish", failing)
    with pytest.raises(ConnectionError):
        flow.apply_settings(update, event["id"])
    store = AccountStore(consent_stack.outputs["ConsentTableName"])
    assert store.get(account) == AccountSettings.model_validate(event["detail"])  # saved...
    assert store.baseline_pending(account)  # ...and the run is recorded as owed

    # When Lambda retries the event and publishing works again
    monkeypatch.setattr(flow, "publish", recording)
    answer = flow.apply_settings(update, event["id"])
    # Then the retry requests the baseline run, and it is owed no longer
    assert answer["baseline_requested"] is True
    assert [(d.account_id, d.baseline) for d in published] == [(account, True)]
    assert not store.baseline_pending(account)
    # And a third delivery requests nothing more
    assert flow.apply_settings(update, event["id"])["baseline_requested"] is False
    assert len(published) == 1
    consent_stack.runtime.drain()


def test_a_baseline_of_every_account_is_rejected(consent_stack: LocalStack, platform: Platform) -> None:
    before = consent_stack.runtime.invocation_counts.get("ReconcileFunction", 0)
    platform.send("Sync Requested", {"baseline": True})
    consent_stack.runtime.drain()
    (letter,) = platform.dead_letters()
    assert letter["reason"] == "invalid_event"
    assert "account_id" in letter["message"]
    assert consent_stack.runtime.invocation_counts.get("ReconcileFunction", 0) == before


def test_settings_naming_another_accounts_secret_are_refused(
    consent_stack: LocalStack, platform: Platform, simulator: SimulatorHandle
) -> None:
    # Given the credentials of account victim, under the stack's prefix
    victim_arn = platform.store_credentials("victim", {"username": "v", "password": "victims-password"})
    # When account acme names that secret
    settings = platform.onsite_settings("acme-thief", simulator)
    settings["superoffice"]["credentials_secret_arn"] = victim_arn
    platform.send("Integration Settings Updated", settings)
    consent_stack.runtime.drain()
    # Then the settings are refused: a secret of the stack is not enough, it must be the account's own
    assert _stored(consent_stack, "acme-thief") is None
    (letter,) = platform.dead_letters()
    assert letter["reason"] == "credentials_secret_not_this_account"
    assert "acme-thief" in letter["message"]


@pytest.mark.parametrize(
    ("part", "replacement"),
    [(":eu-west-1:", ":us-east-1:"), (":123456789012:", ":210987654321:")],
    ids=["another region", "another AWS account"],
)
def test_settings_naming_a_secret_elsewhere_are_refused(
    consent_stack: LocalStack, platform: Platform, simulator: SimulatorHandle, part: str, replacement: str
) -> None:
    settings = platform.onsite_settings("elsewhere", simulator)
    own = settings["superoffice"]["credentials_secret_arn"]
    assert part in own
    settings["superoffice"]["credentials_secret_arn"] = own.replace(part, replacement)
    platform.send("Integration Settings Updated", settings)
    consent_stack.runtime.drain()
    (letter,) = platform.dead_letters()
    assert letter["reason"] == "credentials_secret_outside_prefix"


def test_a_partial_arn_cannot_read_another_accounts_secret(
    consent_stack: LocalStack, platform: Platform
) -> None:
    # Account "victim-AbCdEf"'s secret; "victim" + "-AbCdEf" looks like account victim's ARN suffix, and
    # Secrets Manager matches an ARN without its suffix by name.
    full = platform.store_credentials("victim-AbCdEf", {"password": "victims-password"})
    partial = full[: -len("-XXXXXX")]
    assert partial.endswith("victim-AbCdEf")
    forget_credentials()
    assert read_credentials(full) == {"password": "victims-password"}
    with pytest.raises(CredentialsUnavailable, match="not the full ARN"):
        read_credentials(partial)
