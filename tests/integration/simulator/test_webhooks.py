"""The simulator's webhooks: registration with its test ping, deliveries, retries, states and knobs.

Every target is a real HTTP receiver on loopback (receiver.py) that checks the signature itself.
Retry delays are shrunk through the delivery knobs; each test starts with no webhooks, an empty
delivery log and SuperOffice's default behaviour.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest

from devtools.simulator.auth import TICKET_CLAIM, sign_system_user_token
from devtools.simulator.crm import API_ASSOCIATE_ID, CONTROL_ASSOCIATE_ID
from devtools.simulator.testing import SimulatorHandle

from .receiver import Receiver, running_receiver

pytestmark = pytest.mark.xdist_group("simulator-webhooks")

SECRET = "s3cret-ø-key"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$")
FAST = (0.2, 0.5)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver(SECRET) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _clean(sim: SimulatorHandle, receiver: Receiver) -> Iterator[None]:
    sim.control.clear_webhooks()
    sim.control.clear_faults()
    sim.control.reset_counts()
    receiver.clear()
    yield
    sim.control.wait_webhooks_idle(30)
    sim.control.clear_webhooks()


def _definition(receiver: Receiver, **overrides: Any) -> dict[str, Any]:
    return {
        "Name": "consent-sync",
        "Events": ["person.consented", "person.unconsented"],
        "TargetUrl": receiver.url,
        "Secret": SECRET,
        "State": "Active",
        "Type": "webhook",
        **overrides,
    }


def _register(api: httpx.Client, receiver: Receiver, **overrides: Any) -> dict[str, Any]:
    response = api.post("/Webhook", json=_definition(receiver, **overrides))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _withdraw(api: httpx.Client, person_id: int) -> None:
    response = api.put(
        f"/Person/{person_id}/Consent/EMARKETING", params={"legalBase": "WITHDRAWN", "source": "API"}
    )
    assert response.status_code == 204


def _consent(api: httpx.Client, person_id: int) -> None:
    response = api.put(
        f"/Person/{person_id}/Consent/EMARKETING", params={"legalBase": "61A", "source": "API"}
    )
    assert response.status_code == 204


def _state(sim: SimulatorHandle, webhook_id: int) -> dict[str, Any]:
    return next(hook for hook in sim.control.webhooks() if hook["webhook_id"] == webhook_id)


# ---- registration ------------------------------------------------------------------------------


def test_post_pings_the_target_with_a_signed_test_event_and_stores_the_webhook(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    created = _register(api, receiver, Headers={"X-Account": "acc-1"}, Properties={"account": "acc-1"})

    assert created["WebhookId"] > 0
    assert created["Secret"] == ""
    assert created["State"] == "Active"
    assert created["RegisteredAssociate"]["AssociateId"] == API_ASSOCIATE_ID
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$", created["Registered"])
    assert created["_Links"]["Self"].endswith(f"/Webhook/{created['WebhookId']}")
    (ping,) = receiver.received()
    assert ping.signature_ok
    assert ping.event == "test"
    assert ping.headers["x-account"] == "acc-1"
    assert ping.payload["Event"] == "test"
    assert ping.payload["Entity"] == "test"
    assert ping.payload["PrimaryKey"] == 0
    assert ping.payload["Changes"] == []
    assert ping.payload["WebhookName"] == "consent-sync"
    assert ping.headers["x-superoffice-eventid"] == ping.payload["EventId"]
    assert sim.control.webhooks()[0]["has_secret"] is True


def test_crud(api: httpx.Client, receiver: Receiver) -> None:
    first = _register(api, receiver, Name="one", Events=["person.consented"])
    second = _register(api, receiver, Name="two", Events=["person.unconsented"], State="Stopped")

    fetched = api.get(f"/Webhook/{first['WebhookId']}")
    assert fetched.status_code == 200
    assert fetched.json()["Name"] == "one"
    assert fetched.json()["Secret"] == ""

    def names(**params: str) -> list[str]:
        response = api.get("/Webhook", params=params)
        assert response.status_code == 200
        return [hook["Name"] for hook in response.json()]

    assert names() == ["one", "two"]
    assert names(nameFilter="two") == ["two"]
    assert names(eventFilter="person.consented") == ["one"]
    assert names(statusFilter="Stopped") == ["two"]
    assert names(statusFilter="Unknown") == ["one", "two"]
    assert api.get("/Webhook", params={"statusFilter": "Sleepy"}).status_code == 400

    pings = len(receiver.received("test"))
    renamed = api.put(f"/Webhook/{first['WebhookId']}", json={**fetched.json(), "Name": "uno"})
    assert renamed.status_code == 200
    assert renamed.json()["Name"] == "uno"
    assert renamed.json()["UpdatedAssociate"]["AssociateId"] == API_ASSOCIATE_ID
    assert len(receiver.received("test")) == pings  # same target, still Active: no ping

    assert api.delete(f"/Webhook/{second['WebhookId']}").status_code == 204
    assert api.get(f"/Webhook/{second['WebhookId']}").status_code == 404
    assert api.delete(f"/Webhook/{second['WebhookId']}").status_code == 404
    assert api.put(f"/Webhook/{second['WebhookId']}", json={"Name": "x"}).status_code == 404
    assert names() == ["uno"]


def test_put_with_a_blank_secret_keeps_the_stored_one(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    created = _register(api, receiver)
    assert created["Secret"] == ""
    api.put(f"/Webhook/{created['WebhookId']}", json={**created, "Name": "renamed"})
    _consent(api, 3)
    sim.control.wait_webhooks_idle(10)
    (delivery,) = receiver.received("person.consented")
    assert delivery.signature_ok


def test_patch_merge_and_json_patch(api: httpx.Client, receiver: Receiver) -> None:
    created = _register(api, receiver)
    hook_id = created["WebhookId"]
    merged = api.patch(f"/Webhook/{hook_id}", json={"Name": "merged"})
    assert merged.status_code == 200
    assert merged.json()["Name"] == "merged"
    patched = api.patch(
        f"/Webhook/{hook_id}",
        json=[
            {"op": "test", "path": "/name", "value": "merged"},
            {"op": "replace", "path": "Name", "value": "p"},
        ],
    )
    assert patched.status_code == 200
    assert patched.json()["Name"] == "p"
    conflict = api.patch(f"/Webhook/{hook_id}", json=[{"op": "test", "path": "/Name", "value": "other"}])
    assert conflict.status_code == 409
    assert api.patch("/Webhook/999", json={"Name": "x"}).status_code == 404


def test_default_webhook(api: httpx.Client) -> None:
    default = api.get("/Webhook/default")
    assert default.status_code == 200
    assert default.json()["WebhookId"] == 0
    assert default.json()["State"] == "Active"
    assert default.json()["Type"] == "webhook"


@pytest.mark.parametrize("status", [500, 204, 404])
def test_post_fails_with_400_and_stores_nothing_unless_the_ping_answers_200(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver, status: int
) -> None:
    receiver.answer(status)
    response = api.post("/Webhook", json=_definition(receiver))
    assert response.status_code == 400
    body = response.json()
    assert body["Error"] is True
    assert str(status) in body["ErrorMessage"]
    assert receiver.url in body["ErrorMessage"]
    assert sim.control.webhooks() == []
    assert api.get("/Webhook").json() == []


def test_post_fails_when_the_target_refuses_connections(sim: SimulatorHandle, api: httpx.Client) -> None:
    response = api.post(
        "/Webhook", json={**_definition(Receiver(SECRET)), "TargetUrl": "http://127.0.0.1:9/hook"}
    )
    assert response.status_code == 400
    assert "ConnectError" in response.json()["ErrorMessage"]
    assert sim.control.webhooks() == []


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://hooks.example.com/x", "must be an https URL"),
        ("ftp://127.0.0.1/x", "must be an https URL"),
        ("https://hooks.example.com/x", "loopback hosts only"),
        ("https://10.0.0.1/x", "loopback hosts only"),
    ],
)
def test_target_must_be_https_or_loopback_http(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver, target: str, reason: str
) -> None:
    response = api.post("/Webhook", json=_definition(receiver, TargetUrl=target))
    assert response.status_code == 400
    assert reason in response.json()["ErrorMessage"]
    assert sim.control.webhooks() == []
    assert receiver.received() == []
    assert sim.control.webhook_deliveries() == []  # nothing was even tried


def test_localhost_and_ipv4_loopback_are_accepted(api: httpx.Client, receiver: Receiver) -> None:
    created = _register(api, receiver, TargetUrl=receiver.url.replace("127.0.0.1", "localhost"))
    assert created["TargetUrl"].startswith("http://localhost:")


def test_put_that_changes_the_target_pings_the_new_one_first(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    created = _register(api, receiver)
    moved_url = receiver.url + "/moved"
    receiver.answer(503)
    refused = api.put(f"/Webhook/{created['WebhookId']}", json={**created, "TargetUrl": moved_url})
    assert refused.status_code == 400
    assert api.get(f"/Webhook/{created['WebhookId']}").json()["TargetUrl"] == receiver.url

    moved = api.put(f"/Webhook/{created['WebhookId']}", json={**created, "TargetUrl": moved_url})
    assert moved.status_code == 200
    assert moved.json()["TargetUrl"] == moved_url
    assert receiver.received("test")[-1].path == "/hook/moved"


def test_webhook_test_endpoint_answers_a_webhook_result(api: httpx.Client, receiver: Receiver) -> None:
    good = api.post("/Webhook/Test", json=_definition(receiver))
    assert good.status_code == 200
    assert good.json()["Success"] is True
    receiver.answer(500)
    bad = api.post("/Webhook/Test", json=_definition(receiver))
    assert bad.status_code == 200
    assert bad.json()["Success"] is False
    assert "500" in bad.json()["Message"]
    assert api.get("/Webhook").json() == []  # testing stores nothing
    assert [r.signature_ok for r in receiver.received("test")] == [True, True]


# ---- deliveries --------------------------------------------------------------------------------


def _wait_for(found: Any, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("nothing arrived in time")


def test_an_api_consent_change_fires_person_consented_with_the_documented_payload(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    sim.control.set_consent(5, "EMARKETING", "WITHDRAWN")  # the row exists, by a user
    _register(api, receiver)
    _consent(api, 5)
    (delivery,) = _wait_for(lambda: receiver.received("person.consented"))
    payload = delivery.payload
    assert delivery.signature_ok
    assert uuid.UUID(payload["EventId"])
    assert delivery.headers["x-superoffice-eventid"] == payload["EventId"]
    assert delivery.headers["x-superoffice-retry"] == "0"
    assert delivery.headers["content-type"] == "application/json"
    assert TIMESTAMP.match(payload["Timestamp"])
    sent_at = datetime.fromisoformat(payload["Timestamp"][:26]).replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - sent_at).total_seconds()) < 10
    assert payload["Event"] == "person.consented"
    assert payload["PrimaryKey"] == 5
    assert payload["Entity"] == "person"
    assert payload["ContextIdentifier"] == ""  # registered on-site (Basic)
    assert payload["ChangedByAssociateId"] == API_ASSOCIATE_ID
    assert payload["WebhookName"] == "consent-sync"
    assert payload["Changes"][0] == "consentperson_id"
    assert {"updated", "updated_associate_id"} <= set(payload["Changes"]) or "registered" in payload[
        "Changes"
    ]


def test_a_withdrawal_fires_person_unconsented_and_only_to_webhooks_subscribed_to_it(
    api: httpx.Client, receiver: Receiver
) -> None:
    _register(api, receiver, Name="both")
    _register(api, receiver, Name="consented only", Events=["person.consented"])
    _consent(api, 6)
    _withdraw(api, 6)
    _wait_for(
        lambda: len(receiver.received("person.consented")) == 2 and receiver.received("person.unconsented")
    )
    time.sleep(0.2)
    unconsented = receiver.received("person.unconsented")
    assert [r.payload["WebhookName"] for r in unconsented] == ["both"]
    assert unconsented[0].payload["PrimaryKey"] == 6
    assert "legalBase_id" in unconsented[0].payload["Changes"]
    consented = receiver.received("person.consented")
    assert {r.payload["WebhookName"] for r in consented} == {"both", "consented only"}
    assert len({r.payload["EventId"] for r in consented}) == 2  # each delivery its own event id


def test_a_superoffice_users_change_fires_too(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    _register(api, receiver)
    sim.control.set_consent(7, "EMARKETING", "WITHDRAWN")
    (delivery,) = _wait_for(lambda: receiver.received("person.unconsented"))
    assert delivery.payload["ChangedByAssociateId"] == CONTROL_ASSOCIATE_ID
    assert delivery.payload["PrimaryKey"] == 7
    sim.control.set_consent(7, "EMARKETING", "61A")
    _wait_for(lambda: receiver.received("person.consented"))


def test_a_new_person_with_its_store_row_fires_person_consented(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    _register(api, receiver)
    person_id = sim.control.create_person("Nina", "Nyström", "nina@example.com")
    (delivery,) = _wait_for(lambda: receiver.received("person.consented"))
    assert delivery.payload["PrimaryKey"] == person_id
    assert "registered" in delivery.payload["Changes"]


def test_the_signature_is_over_the_exact_raw_bytes(api: httpx.Client, receiver: Receiver) -> None:
    _register(api, receiver, Name="Samtykke ø", Properties={"account": "acc-ø"})
    _consent(api, 8)
    (delivery,) = _wait_for(lambda: receiver.received("person.consented"))
    expected = base64.b64encode(hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).digest()).decode()
    assert delivery.headers["x-superoffice-signature"] == expected
    assert "Samtykke ø".encode() in delivery.body  # UTF-8 as is, not \\u escapes
    assert delivery.payload["account"] == "acc-ø"  # Properties are injected into the body
    # A receiver that re-serialises the JSON before hashing gets another signature
    reserialised = json.dumps(json.loads(delivery.body)).encode()
    assert reserialised != delivery.body
    assert (
        base64.b64encode(hmac.new(SECRET.encode(), reserialised, hashlib.sha256).digest()).decode()
        != expected
    )


def test_a_webhook_without_a_secret_gets_no_signature_header(api: httpx.Client, receiver: Receiver) -> None:
    _register(api, receiver, Secret="")
    _consent(api, 9)
    (delivery,) = _wait_for(lambda: receiver.received("person.consented"))
    assert "x-superoffice-signature" not in delivery.headers


def test_deliveries_never_slow_the_api_call(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    _register(api, receiver)
    receiver.delay_s = 1.5
    started = time.perf_counter()
    _consent(api, 10)
    assert time.perf_counter() - started < 0.5
    sim.control.wait_webhooks_idle(10)
    assert time.perf_counter() - started >= 1.5
    assert [a.outcome for a in sim.control.webhook_deliveries() if a.event != "test"] == ["delivered"]


def test_retries_after_the_delays_with_the_same_event_id(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    created = _register(api, receiver)
    sim.control.set_webhook_settings(retry_delays_s=FAST)
    receiver.answer(500, 502)
    _consent(api, 11)
    sim.control.wait_webhooks_idle(10)
    tries = receiver.received("person.consented")
    assert [t.headers["x-superoffice-retry"] for t in tries] == ["0", "1", "2"]
    assert len({t.payload["EventId"] for t in tries}) == 1
    assert tries[1].at - tries[0].at >= FAST[0]
    assert tries[2].at - tries[1].at >= FAST[1]
    log = [a for a in sim.control.webhook_deliveries() if a.event == "person.consented"]
    assert [(a.retry, a.status, a.outcome) for a in log] == [
        (0, 500, "failed"),
        (1, 502, "failed"),
        (2, 200, "delivered"),
    ]
    assert {a.webhook_id for a in log} == {created["WebhookId"]}
    assert {a.target for a in log} == {receiver.url}
    assert _state(sim, created["WebhookId"])["consecutive_errors"] == 0


@pytest.mark.slow
def test_superoffices_own_delays_are_one_and_four_seconds(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    _register(api, receiver)
    receiver.answer(500, 500)
    _consent(api, 14)
    sim.control.wait_webhooks_idle(15)
    first, second, third = receiver.received("person.consented")
    assert 1.0 <= second.at - first.at < 2.0
    assert 4.0 <= third.at - second.at < 5.0


def test_an_event_is_dropped_after_three_failed_tries(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    created = _register(api, receiver)
    sim.control.set_webhook_settings(retry_delays_s=(0.0, 0.0))
    receiver.default_status = 503
    _consent(api, 12)
    sim.control.wait_webhooks_idle(10)
    time.sleep(0.2)
    assert len(receiver.received("person.consented")) == 3
    assert _state(sim, created["WebhookId"])["consecutive_errors"] == 1
    assert _state(sim, created["WebhookId"])["state"] == "Active"


def test_a_try_that_times_out_fails(sim: SimulatorHandle, api: httpx.Client, receiver: Receiver) -> None:
    _register(api, receiver)
    sim.control.set_webhook_settings(retry_delays_s=(0.0, 0.0), timeout_s=0.3)
    receiver.delay_s = 1.0
    _consent(api, 13)
    sim.control.wait_webhooks_idle(10)
    log = [a for a in sim.control.webhook_deliveries() if a.event == "person.consented"]
    assert [a.outcome for a in log] == ["failed"] * 3
    assert all(a.status is None and a.error and "0.3 s" in a.error for a in log)


def _fail_events(sim: SimulatorHandle, api: httpx.Client, receiver: Receiver, count: int) -> None:
    receiver.default_status = 500
    for number in range(count):
        _consent(api, 20 + number)
        sim.control.wait_webhooks_idle(10)  # one after another: a "consecutive" count


def _failing_webhook(sim: SimulatorHandle, api: httpx.Client, receiver: Receiver, failed: int) -> int:
    """A registered webhook (retries without delay) whose target has failed `failed` events."""
    created = _register(api, receiver)
    sim.control.set_webhook_settings(retry_delays_s=(0.0, 0.0))
    _fail_events(sim, api, receiver, failed)
    return int(created["WebhookId"])


def test_nine_dropped_events_in_a_row_turn_the_webhook_too_many_errors(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    hook_id = _failing_webhook(sim, api, receiver, 8)
    assert _state(sim, hook_id)["state"] == "Active"
    _fail_events(sim, api, receiver, 1)
    assert _state(sim, hook_id)["state"] == "TooManyErrors"
    assert api.get(f"/Webhook/{hook_id}").json()["State"] == "TooManyErrors"
    assert [h["Name"] for h in api.get("/Webhook", params={"statusFilter": "TooManyErrors"}).json()] == [
        "consent-sync"
    ]

    tries = len(receiver.received("person.consented"))
    assert tries == 27
    receiver.default_status = 200
    _consent(api, 40)
    sim.control.wait_webhooks_idle(10)
    time.sleep(0.2)
    assert len(receiver.received("person.consented")) == tries  # no more deliveries


def test_a_delivered_event_resets_the_error_count(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    hook_id = _failing_webhook(sim, api, receiver, 8)
    assert _state(sim, hook_id)["consecutive_errors"] == 8
    receiver.default_status = 200
    _consent(api, 41)
    sim.control.wait_webhooks_idle(10)
    assert _state(sim, hook_id)["consecutive_errors"] == 0
    _fail_events(sim, api, receiver, 8)
    assert _state(sim, hook_id)["state"] == "Active"


def test_put_back_to_active_pings_and_reactivates(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    hook_id = _failing_webhook(sim, api, receiver, 9)
    current = api.get(f"/Webhook/{hook_id}").json()
    assert current["State"] == "TooManyErrors"

    receiver.default_status = 500
    refused = api.put(f"/Webhook/{hook_id}", json={**current, "State": "Active"})
    assert refused.status_code == 400
    assert _state(sim, hook_id)["state"] == "TooManyErrors"

    receiver.default_status = 200
    pings = len(receiver.received("test"))
    reactivated = api.put(f"/Webhook/{hook_id}", json={**current, "State": "Active"})
    assert reactivated.status_code == 200
    assert reactivated.json()["State"] == "Active"
    assert len(receiver.received("test")) == pings + 1
    assert _state(sim, hook_id)["consecutive_errors"] == 0
    _consent(api, 42)
    sim.control.wait_webhooks_idle(10)
    assert receiver.received("person.consented")[-1].payload["PrimaryKey"] == 42


def test_stopped_webhooks_get_nothing(sim: SimulatorHandle, api: httpx.Client, receiver: Receiver) -> None:
    stopped = _register(api, receiver, State="Stopped")
    assert len(receiver.received("test")) == 1  # registering pings whatever the state
    active = _register(api, receiver, Name="later stopped")
    assert api.put(f"/Webhook/{active['WebhookId']}", json={"State": "Stopped"}).status_code == 200
    _consent(api, 43)
    sim.control.wait_webhooks_idle(10)
    time.sleep(0.2)
    assert receiver.received("person.consented") == []
    assert _state(sim, stopped["WebhookId"])["state"] == "Stopped"


@pytest.mark.parametrize("end", ["stop", "delete"])
def test_stopping_or_deleting_a_webhook_ends_its_retries(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver, end: str
) -> None:
    created = _register(api, receiver)
    sim.control.set_webhook_settings(retry_delays_s=(0.5, 0.5))
    receiver.default_status = 500
    _consent(api, 44)
    _wait_for(lambda: receiver.received("person.consented"))
    url = f"/Webhook/{created['WebhookId']}"
    ended = api.put(url, json={"State": "Stopped"}) if end == "stop" else api.delete(url)
    assert ended.status_code in (200, 204)
    sim.control.wait_webhooks_idle(10)
    assert len(receiver.received("person.consented")) == 1


# ---- knobs -------------------------------------------------------------------------------------


def test_drop_next_loses_that_many_deliveries(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    created = _register(api, receiver)
    assert sim.control.set_webhook_settings(drop_next=2)["drop_next"] == 2
    for person_id in (50, 51, 52):
        _consent(api, person_id)
    sim.control.wait_webhooks_idle(10)
    delivered = receiver.received("person.consented")
    assert [r.payload["PrimaryKey"] for r in delivered] == [52]
    log = [a for a in sim.control.webhook_deliveries() if a.event == "person.consented"]
    assert [a.outcome for a in log] == ["dropped", "dropped", "delivered"]
    assert _state(sim, created["WebhookId"])["consecutive_errors"] == 0  # not the receiver's fault


def test_drop_all_until_cleared(sim: SimulatorHandle, api: httpx.Client, receiver: Receiver) -> None:
    _register(api, receiver)
    sim.control.set_webhook_settings(drop_all=True)
    _consent(api, 53)
    _withdraw(api, 53)
    sim.control.wait_webhooks_idle(10)
    assert receiver.received("person.consented") == receiver.received("person.unconsented") == []
    sim.control.clear_webhook_settings()
    _consent(api, 54)
    sim.control.wait_webhooks_idle(10)
    assert [r.payload["PrimaryKey"] for r in receiver.received("person.consented")] == [54]


def test_forbidden_answers_403_on_every_webhook_call(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    created = _register(api, receiver)
    sim.control.set_webhook_settings(forbidden=True)
    calls = [
        api.get("/Webhook"),
        api.get("/Webhook/default"),
        api.post("/Webhook", json=_definition(receiver)),
        api.post("/Webhook/Test", json=_definition(receiver)),
        api.get(f"/Webhook/{created['WebhookId']}"),
        api.put(f"/Webhook/{created['WebhookId']}", json={"Name": "x"}),
        api.patch(f"/Webhook/{created['WebhookId']}", json={"Name": "x"}),
        api.delete(f"/Webhook/{created['WebhookId']}"),
    ]
    assert [c.status_code for c in calls] == [403] * len(calls)
    body = calls[0].json()
    assert body["Error"] is True
    assert "Webhook agent" in body["ErrorMessage"]
    assert body["ErrorType"] == "SoAccessDeniedException"
    assert len(receiver.received("test")) == 1  # only the registration before the knob
    sim.control.clear_webhook_settings()
    assert api.get("/Webhook").status_code == 200


def test_request_counts_include_the_webhook_calls(
    sim: SimulatorHandle, api: httpx.Client, receiver: Receiver
) -> None:
    created = _register(api, receiver)
    api.get(f"/Webhook/{created['WebhookId']}")
    api.get("/Webhook/999")
    api.delete(f"/Webhook/{created['WebhookId']}")
    counts = sim.control.counts()
    assert counts["POST /Webhook"] == 1
    assert counts["GET /Webhook/{id}"] == 2
    assert counts["DELETE /Webhook/{id}"] == 1
    assert counts["status:404"] == 1


def test_an_online_registration_names_the_tenant_in_context_identifier(
    sim: SimulatorHandle, receiver: Receiver
) -> None:
    login = httpx.post(
        f"{sim.root_url}/Login/api/PartnerSystemUser/Authenticate",
        json={
            "SignedSystemToken": sign_system_user_token(
                sim.online.system_user_token, sim.online.private_key_pem
            ),
            "ApplicationToken": sim.online.client_secret,
            "ContextIdentifier": sim.cust_id,
            "ReturnTokenType": "JWT",
        },
    )
    assert login.status_code == 200, login.text
    claims = jwt.decode(login.json()["Token"], options={"verify_signature": False})
    ticket = claims[TICKET_CLAIM]
    headers = {"Authorization": f"SOTicket {ticket}", "SO-AppToken": sim.online.client_secret}
    with httpx.Client(base_url=sim.api_url, headers=headers, timeout=10) as online:
        _register(online, receiver)
    with httpx.Client(base_url=sim.api_url, auth=(sim.username, sim.password), timeout=10) as api:
        _consent(api, 55)
    (delivery,) = _wait_for(lambda: receiver.received("person.consented"))
    assert delivery.payload["ContextIdentifier"] == sim.cust_id


def test_webhooks_survive_a_reseed(sim: SimulatorHandle, api: httpx.Client, receiver: Receiver) -> None:
    _register(api, receiver)
    sim.control.reset()
    _consent(api, 56)
    _wait_for(lambda: receiver.received("person.consented"))


@pytest.mark.parametrize(
    "settings",
    [
        {"retry_delays_s": [1.0]},
        {"retry_delays_s": [1.0, -1.0]},
        {"timeout_s": 0},
        {"drop_next": -1},
        {"drop_everything": True},
    ],
)
def test_unreasonable_delivery_settings_are_refused(sim: SimulatorHandle, settings: dict[str, Any]) -> None:
    response = httpx.put(f"{sim.root_url}/_sim/webhooks/settings", json=settings)
    assert response.status_code == 400
    assert sim.control.set_webhook_settings()["retry_delays_s"] == [1.0, 4.0]
