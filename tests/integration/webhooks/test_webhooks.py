"""SuperOffice's consent webhooks end to end: registration, verified deliveries, pulls in seconds, repair,
removal, the echo, and the poll as the safety net (docs/webhooks.md)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx
import pytest

from consent_sync.domain.vocabulary import Purpose
from consent_sync.domain.webhook import WebhookStatus
from consent_sync.store.decisions import DecisionLog
from consent_sync.store.webhooks import WebhookStore
from tests.integration.sync.conftest import People
from tests.integration.sync.test_outbox import _schedule_event
from tests.integration.webhooks.conftest import RETRY_DELAYS_S, HookWorld, consent_payload

# About two minutes on one worker: handed out early (tests/conftest.py), not left for the end.
pytestmark = pytest.mark.slow


def _account() -> str:
    return f"wh-{uuid.uuid4().hex[:6]}"


def _fire_schedule(hooks: HookWorld) -> None:
    hooks.stack.runtime.invoke("ScheduledSyncFunction", _schedule_event())
    hooks.drain()


def _emarketing(hooks: HookWorld, account: str, email: str) -> str:
    consent = hooks.contact(account, email).consents.get(Purpose.EMARKETING)
    assert consent is not None
    return consent.legal_base


def test_sync_on_registers_one_active_webhook_at_the_accounts_receiver_url(
    hooks: HookWorld, hook_people: People
) -> None:
    # When an account's settings switch sync on
    account = _account()
    hooks.account_in_step(account, hook_people, 1)
    # Then its tenant holds one active webhook for both consent events, pointing at the receiver
    (hook,) = hooks.hooks(account)
    assert hook["state"] == "Active"
    assert hook["target_url"] == hooks.url(account)
    assert set(hook["events"]) == {"person.consented", "person.unconsented"}
    assert hook["has_secret"]
    # registered after SuperOffice's test ping was answered 200
    pings = [a for a in hooks.simulator.control.webhook_deliveries() if a.event == "test"]
    assert any(a.target == hooks.url(account) and a.status == 200 for a in pings)
    state = WebhookStore(hooks.table).get(account)
    assert state is not None
    assert state.status is WebhookStatus.ACTIVE
    assert state.webhook_id == hook["webhook_id"]
    # and applying the settings again keeps it one
    hooks.platform.send("Integration Settings Updated", hooks.settings(account, settings_version=2))
    hooks.drain()
    assert [h["webhook_id"] for h in hooks.hooks(account)] == [hook["webhook_id"]]


def test_a_superoffice_withdrawal_reaches_the_contact_in_seconds_without_a_run(
    hooks: HookWorld, hook_people: People
) -> None:
    account = _account()
    ((person_id, email),) = hooks.account_in_step(account, hook_people, 1)
    outgoing = hooks.stack.catch_outgoing(("Contact Consent Updated", "Sync Run Completed"), name="w1")
    # When a SuperOffice user withdraws the person's marketing consent
    hooks.simulator.control.set_consent(person_id, "EMARKETING", "WITHDRAWN", source="USER")
    hooks.settle()
    # Then the contact has it, pulled by the webhook (no sync run)
    assert _emarketing(hooks, account, email) == "WITHDRAWN"
    (decision,) = [d for d in DecisionLog(hooks.table).for_contact(account, email) if d.action == "pull"]
    assert decision.trigger.value == "webhook"
    # and the platform heard of it
    (update,) = outgoing.take("Contact Consent Updated")
    assert update["email"] == email
    assert update["legal_base"] == "WITHDRAWN"
    assert update["purpose"] == "EMARKETING"
    assert update["trigger"] == "webhook"
    assert update["superoffice_person_id"] == person_id
    assert update["changed_in"] == "superoffice"
    assert outgoing.take("Sync Run Completed") == []


@pytest.mark.parametrize(
    ("why", "secret_of", "headers"),
    [
        ("unsigned", None, {}),
        ("wrongly signed", "not-the-secret", {}),
        ("another account's secret", "other", {}),
        ("tampered signature", "own", {"X-SuperOffice-Signature": "AAAA"}),
    ],
)
def test_a_delivery_not_signed_with_the_accounts_secret_is_refused_and_reads_nothing(
    hooks: HookWorld, hook_people: People, why: str, secret_of: str | None, headers: dict[str, str]
) -> None:
    account, other = _account(), _account()
    ((person_id, email),) = hooks.account_in_step(account, hook_people, 1)
    hooks.account_in_step(other, hook_people, 1)
    secret = {
        None: None,
        "not-the-secret": "not-the-secret",
        "other": hooks.secret(other),
        "own": hooks.secret(account),
    }[secret_of]
    hooks.simulator.control.reset_counts()
    before = hooks.contact(account, email)
    # When a delivery naming the person arrives not signed with this account's secret
    answer = hooks.deliver(account, consent_payload(person_id), secret=secret, headers=headers)
    # Then it is refused with a 4xx, and nothing is queued, read or changed
    assert answer.status_code == 401, why
    assert hooks.pull_queue_depth() == 0
    hooks.drain()
    assert hooks.superoffice_calls() == 0
    assert hooks.contact(account, email) == before


def test_a_signed_but_malformed_or_oversized_delivery_is_refused(
    hooks: HookWorld, hook_people: People
) -> None:
    account = _account()
    hooks.account_in_step(account, hook_people, 1)
    secret = hooks.secret(account)
    from consent_sync.domain.webhook import signature

    for body, status in [(b"not json", 400), (b'{"Event": "person.consented"}', 400), (b"x" * 70_000, 413)]:
        answer = httpx.post(
            hooks.url(account),
            content=body,
            headers={"X-SuperOffice-Signature": signature(secret, body)},
            timeout=30,
        )
        assert answer.status_code == status, body[:40]
    assert httpx.get(hooks.url(account), timeout=30).status_code == 405
    assert httpx.post(f"{hooks.receiver}elsewhere", content=b"{}", timeout=30).status_code == 404
    assert hooks.pull_queue_depth() == 0


def test_a_replayed_event_id_queues_one_pull_and_the_test_event_none(
    hooks: HookWorld, hook_people: People
) -> None:
    account = _account()
    ((person_id, _email),) = hooks.account_in_step(account, hook_people, 1)
    secret = hooks.secret(account)
    payload = consent_payload(person_id)
    # When SuperOffice delivers the same event twice (it missed our first answer)
    assert hooks.deliver(account, payload, secret=secret).status_code == 200
    assert (
        hooks.deliver(account, payload, secret=secret, headers={"X-SuperOffice-Retry": "1"}).status_code
        == 200
    )
    # Then one pull is queued
    assert hooks.pull_queue_depth() == 1
    # and a signed test event is answered 200 and queues nothing
    test = consent_payload(0, event="test")
    assert hooks.deliver(account, test, secret=secret).status_code == 200
    assert hooks.deliver(account, {"Event": "test"}, secret=secret).status_code == 200  # bare, still 200
    assert hooks.pull_queue_depth() == 1
    hooks.drain()
    assert hooks.pull_queue_depth() == 0


def test_a_tenant_refusing_the_webhook_agent_is_unavailable_and_still_polled(
    hooks: HookWorld, hook_people: People
) -> None:
    # Given a tenant whose app may not use webhooks (SuperOffice Online answers 403)
    hooks.simulator.control.set_webhook_settings(forbidden=True)
    account = _account()
    ((person_id, email),) = hooks.account_in_step(account, hook_people, 1)
    # Then the account's webhook is unavailable, with why
    state = WebhookStore(hooks.table).get(account)
    assert state is not None
    assert state.status is WebhookStatus.UNAVAILABLE
    assert state.detail
    assert "403" in state.detail
    # and the scheduled run still brings a SuperOffice change over
    hooks.simulator.control.set_consent(person_id, "EMARKETING", "WITHDRAWN", source="USER")
    hooks.settle()
    assert _emarketing(hooks, account, email) == "61A"
    _fire_schedule(hooks)
    assert _emarketing(hooks, account, email) == "WITHDRAWN"


def test_the_scheduled_run_reactivates_a_webhook_superoffice_stopped(
    hooks: HookWorld, hook_people: People
) -> None:
    account = _account()
    hooks.account_in_step(account, hook_people, 1)
    (hook,) = hooks.hooks(account)
    # Given SuperOffice turned the webhook TooManyErrors (after 9 failed deliveries)
    sim = hooks.simulator
    body = {**{k: v for k, v in _api_hook(hooks, hook["webhook_id"]).items() if not k.startswith("_")}}
    body["State"] = "TooManyErrors"
    answer = httpx.put(
        f"{sim.api_url}/Webhook/{hook['webhook_id']}",
        json=body,
        auth=(sim.username, sim.password),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert hooks.hooks(account)[0]["state"] == "TooManyErrors"
    # When the 30-minute run fires
    _fire_schedule(hooks)
    # Then the webhook is active again, and the state says it was repaired
    assert hooks.hooks(account)[0]["state"] == "Active"
    state = WebhookStore(hooks.table).get(account)
    assert state is not None
    assert state.status is WebhookStatus.ACTIVE
    assert state.detail
    assert state.detail.startswith("repaired")


def _api_hook(hooks: HookWorld, webhook_id: int) -> dict[str, Any]:
    sim = hooks.simulator
    answer = httpx.get(f"{sim.api_url}/Webhook/{webhook_id}", auth=(sim.username, sim.password), timeout=30)
    answer.raise_for_status()
    return dict(answer.json())


def test_our_own_push_echoed_by_the_webhook_causes_no_second_push_or_pull(
    hooks: HookWorld, hook_people: People
) -> None:
    account = _account()
    ((_person_id, email),) = hooks.account_in_step(account, hook_people, 1)
    outgoing = hooks.stack.catch_outgoing(("Contact Consent Updated",), name="w2")
    hooks.simulator.control.reset_counts()
    # When the platform withdraws: the push reaches SuperOffice, whose webhook fires for it
    hooks.platform_change(account, email, "EMARKETING", "WITHDRAWN", datetime.now(UTC))
    hooks.settle()
    hooks.settle()
    # Then SuperOffice was written once, the echo was pulled and found equal, and nothing flowed back
    counts = hooks.simulator.control.counts()
    assert counts.get("PUT /Person/{id}/Consent/{purpose}") == 1
    echoes = [a for a in hooks.simulator.control.webhook_deliveries() if a.event == "person.unconsented"]
    assert any(a.status == 200 for a in echoes)
    assert _emarketing(hooks, account, email) == "WITHDRAWN"
    actions = [d.action for d in DecisionLog(hooks.table).for_contact(account, email)]
    assert "pull" not in actions
    assert actions.count("push") == 1
    assert outgoing.take("Contact Consent Updated") == []
    assert hooks.superoffice_calls() >= 1  # the echo's pull read SuperOffice: it was really received


def test_a_dropped_delivery_is_caught_by_the_next_scheduled_run(
    hooks: HookWorld, hook_people: People
) -> None:
    account = _account()
    ((person_id, email),) = hooks.account_in_step(account, hook_people, 1)
    outgoing = hooks.stack.catch_outgoing(("Contact Consent Updated",), name="w3")
    # Given SuperOffice drops the delivery (best effort: it gives up after three tries); every webhook
    # of the tenant is dropped, since other accounts on the same tenant get the event too
    hooks.simulator.control.set_webhook_settings(retry_delays_s=RETRY_DELAYS_S, drop_all=True)
    hooks.simulator.control.set_consent(person_id, "EMARKETING", "WITHDRAWN", source="USER")
    hooks.settle()
    hooks.simulator.control.set_webhook_settings(retry_delays_s=RETRY_DELAYS_S)
    assert any(a.outcome == "dropped" for a in hooks.simulator.control.webhook_deliveries())
    assert _emarketing(hooks, account, email) == "61A"
    # When the 30-minute run fires
    _fire_schedule(hooks)
    # Then the withdrawal is on the platform, announced with the run as its trigger
    assert _emarketing(hooks, account, email) == "WITHDRAWN"
    (update,) = outgoing.take("Contact Consent Updated")
    assert update["trigger"] == "scheduled"


def test_sync_off_removes_the_webhook_and_its_secret(hooks: HookWorld, hook_people: People) -> None:
    account = _account()
    hooks.account_in_step(account, hook_people, 1)
    assert len(hooks.hooks(account)) == 1
    # When sync is switched off
    hooks.platform.send(
        "Integration Settings Updated", hooks.settings(account, settings_version=2, legal_basis_sync=False)
    )
    hooks.drain()
    # Then the tenant holds no webhook of the account, and its secret is gone
    assert hooks.hooks(account) == []
    state = WebhookStore(hooks.table).get(account)
    assert state is not None
    assert state.status is WebhookStatus.NONE
    secrets = boto3.client("secretsmanager", endpoint_url=hooks.stack.endpoint_url, region_name="eu-west-1")
    with pytest.raises(secrets.exceptions.ResourceNotFoundException):
        secrets.get_secret_value(SecretId=f"{hooks.stack.template.stack_name}/webhooks/{account}")
