"""Issue #7, bad input: every incoming detail-type gets malformed variants through the real handlers on
the local stack. Each is rejected into the events dead-letter queue with a specific reason and a
message naming the field, or handled (an unknown legal base, hostile send-out recipients); none
writes anything (the whole consent table is compared before and after); none fails its neighbours
(a PutEvents batch, a reconcile SQS batch)."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from consent_sync.domain.vocabulary import JobKind, Purpose
from consent_sync.events import INCOMING, ReconcileChunk
from consent_sync.store.decisions import DecisionLog
from devtools.local import LocalStack
from devtools.local.payloads import sqs_record
from devtools.simulator.testing import SimulatorHandle
from tests.integration.conftest import Platform
from tests.integration.sync.conftest import People, SyncWorld

EVENTS = Path(__file__).resolve().parents[3] / "events"
ACCOUNT = "acc-bad-input"
NOBODY = "acc-nobody"
MB10 = 10 * 1024 * 1024

FUNCTIONS = {
    "Integration Settings Updated": "SettingsFunction",
    "Import Requested": "ImportFunction",
    "Sync Requested": "ScheduledSyncFunction",
    "Sendout Checklist": "PresendFunction",
    "Sendout Sending": "PresendFunction",
    "Contact Consent Changed": "PlatformConsentFunction",
}

HOSTILE_EMAILS = {
    "empty": "",
    "no at sign": "anna.berg.example.com",
    "two at signs": "anna@berg@example.com",
    "header injection": "anna@example.com\r\nBcc: all@example.com",
    "whitespace": "anna berg@example.com",
    "markup": "<script>alert(1)</script>@example.com",
    "quoted local part": '"anna berg"@example.com',
    "address literal": "anna@[127.0.0.1]",
    "non-ASCII": "änna@exämple.com",
    "numeric top-level domain": "anna@example.123",
    "too long": "a" * 250 + "@example.com",
    "nul byte": "anna\x00@example.com",
}


def _samples() -> dict[str, dict[str, Any]]:
    samples = {}
    for path in sorted(EVENTS.glob("*.json")):
        event = json.loads(path.read_text())
        if event["source"] == "marketing.platform" and "online" not in path.name:
            samples[event["detail-type"]] = event["detail"]
    return samples


SAMPLES = _samples()


def test_every_incoming_type_has_a_sample_and_a_function() -> None:
    # The cases below cover each detail-type consent-sync accepts.
    assert set(SAMPLES) == set(INCOMING) == set(FUNCTIONS)


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def world(consent_stack: LocalStack, simulator: SimulatorHandle) -> SyncWorld:
    platform = Platform(consent_stack)
    platform.dead_letters()
    return SyncWorld(consent_stack, simulator, platform)


@pytest.fixture(scope="module")
def linked(world: SyncWorld) -> tuple[int, str]:
    """The account (sync on, its baseline ran) and its one contact, in step with SuperOffice."""
    ((person_id, email),) = world.account_in_step(ACCOUNT, People(world.simulator), 1)
    world.platform.dead_letters()
    return person_id, email


def _table(world: SyncWorld) -> list[str]:
    """Every item of the consent table, as sorted JSON (what "nothing written" is checked against)."""
    dynamodb = boto3.client("dynamodb", endpoint_url=world.stack.endpoint_url, region_name="eu-west-1")
    items: list[str] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=world.table):
        items += [json.dumps(item, sort_keys=True) for item in page["Items"]]
    return sorted(items)


@pytest.fixture
def unchanged(world: SyncWorld, linked: tuple[int, str]) -> Iterator[None]:
    """The test must leave the consent table exactly as it found it."""
    world.platform.dead_letters()
    before = _table(world)
    yield
    assert _table(world) == before, "a rejected event wrote to the consent table"


def _detail(detail_type: str, linked: tuple[int, str], world: SyncWorld) -> dict[str, Any]:
    """A valid detail of the type for the test's account (the sample, adapted)."""
    detail = copy.deepcopy(SAMPLES[detail_type])
    detail["account_id"] = ACCOUNT
    if detail_type == "Integration Settings Updated":
        detail = world.settings(ACCOUNT)
    if detail_type == "Contact Consent Changed":
        detail.update(email=linked[1], changed_at=datetime.now(UTC).isoformat())
    return detail


def _rejected(world: SyncWorld, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    """Deliver through the bus; the one dead letter it left."""
    world.platform.send(detail_type, detail)
    world.drain()
    letters = world.platform.dead_letters()
    assert len(letters) == 1, letters
    return letters[0]


def _field(letter: dict[str, Any]) -> set[str]:
    return {error["field"] for error in letter["errors"]}


# ------------------------------------------------------------------------------------------ malformed

Mutation = Callable[[dict[str, Any]], None]


def _drop(name: str) -> Mutation:
    return lambda detail: detail.pop(name)


def _set(path: str, value: Any) -> Mutation:
    def mutate(detail: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = detail
        for part in parents:
            target = target[part]
        target[last] = value

    return mutate


# (detail-type, variant, mutation, the field the rejection must name)
INVALID: list[tuple[str, str, Mutation, str]] = [
    # missing fields (Sync Requested has no required field: without account_id it means every account)
    ("Integration Settings Updated", "missing", _drop("integration"), "integration"),
    ("Import Requested", "missing", _drop("import_id"), "import_id"),
    ("Sendout Checklist", "missing", _drop("channel"), "channel"),
    ("Sendout Sending", "missing", _drop("sendout_id"), "sendout_id"),
    ("Contact Consent Changed", "missing", _drop("changed_at"), "changed_at"),
    # extra fields
    *[(t, "extra", _set("legal_basis_snyc", True), "legal_basis_snyc") for t in FUNCTIONS],
    # wrong types
    (
        "Integration Settings Updated",
        "wrong type",
        _set("legal_basis_sync", {"on": True}),
        "legal_basis_sync",
    ),
    ("Import Requested", "wrong type", _set("source.id", "forty-two"), "source.id"),
    ("Sync Requested", "wrong type", _set("baseline", [1]), "baseline"),
    ("Sendout Checklist", "wrong type", _set("recipients", "anna@example.com"), "recipients"),
    ("Sendout Sending", "wrong type", _set("recipients", [{"email": "anna@example.com"}]), "recipients.0"),
    ("Contact Consent Changed", "wrong type", _set("purpose", 5), "purpose"),
    ("Contact Consent Changed", "wrong type", _set("account_id", ["acme"]), "account_id"),
    # hostile identifiers
    ("Import Requested", "hostile id", _set("import_id", "../../etc/passwd"), "import_id"),
    ("Sync Requested", "hostile id", _set("run_id", "run; DROP TABLE"), "run_id"),
    ("Sendout Checklist", "hostile uri", _set("recipients_uri", "file:///etc/passwd"), "recipients_uri"),
    (
        "Integration Settings Updated",
        "hostile url",
        _set("superoffice.base_url", "javascript:alert(1)"),
        "superoffice",
    ),
    # legal bases and dates
    ("Contact Consent Changed", "malformed key", _set("legal_base", "61A'; --"), "legal_base"),
    (
        "Contact Consent Changed",
        "date without offset",
        _set("changed_at", "2026-11-22T10:58:12"),
        "changed_at",
    ),
    ("Contact Consent Changed", "not a date", _set("changed_at", "yesterday"), "changed_at"),
    *[
        ("Contact Consent Changed", f"e-mail: {name}", _set("email", value), "email")
        for name, value in HOSTILE_EMAILS.items()
    ],
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("detail_type", "mutation", "field"),
    [pytest.param(t, m, f, id=f"{t}: {v}") for t, v, m, f in INVALID],
)
def test_malformed_events_are_rejected_naming_the_field(
    world: SyncWorld, linked: tuple[int, str], detail_type: str, mutation: Mutation, field: str
) -> None:
    detail = _detail(detail_type, linked, world)
    mutation(detail)
    letter = _rejected(world, detail_type, detail)
    assert letter["reason"] == "invalid_event"
    assert any(name == field or name.startswith(f"{field}.") for name in _field(letter)), letter["errors"]
    assert field.split(".")[0] in letter["message"]
    assert letter["message"].startswith(detail_type)
    # The rejected value is never echoed (it may be an e-mail address).
    if "email" in detail and isinstance(detail["email"], str) and len(detail["email"]) > 3:
        assert detail["email"] not in json.dumps({k: v for k, v in letter.items() if k != "event"})


@pytest.mark.usefixtures("unchanged")
def test_a_far_future_change_is_rejected(world: SyncWorld, linked: tuple[int, str]) -> None:
    detail = _detail("Contact Consent Changed", linked, world)
    detail["changed_at"] = "2999-01-01T00:00:00+00:00"
    letter = _rejected(world, "Contact Consent Changed", detail)
    assert letter["reason"] == "invalid_event"
    assert "changed_at lies in the future" in letter["message"]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "detail_type", ["Import Requested", "Sync Requested", "Sendout Checklist", "Contact Consent Changed"]
)
def test_unknown_accounts_are_rejected(world: SyncWorld, linked: tuple[int, str], detail_type: str) -> None:
    detail = _detail(detail_type, linked, world)
    detail["account_id"] = NOBODY
    letter = _rejected(world, detail_type, detail)
    assert letter["reason"] == "unknown_account"
    assert NOBODY in letter["message"]


@pytest.mark.usefixtures("unchanged")
def test_settings_naming_a_foreign_secret_are_rejected(world: SyncWorld, linked: tuple[int, str]) -> None:
    detail = world.settings(ACCOUNT)
    detail["superoffice"]["credentials_secret_arn"] = (
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:other-stack/accounts/acme-AbCdEf"
    )
    letter = _rejected(world, "Integration Settings Updated", detail)
    assert letter["reason"] == "credentials_secret_outside_prefix"
    assert "secret" in letter["message"]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("detail_type", sorted(FUNCTIONS))
def test_a_10_mb_event_is_rejected(world: SyncWorld, linked: tuple[int, str], detail_type: str) -> None:
    # EventBridge refuses events over 256 KB, so a 10 MB one can only reach a function invoked directly:
    # the handler is invoked with it as Lambda would be.
    detail = _detail(detail_type, linked, world)
    big = "x" * MB10
    if detail_type == "Contact Consent Changed":
        detail["comment"], field = big, "comment"
    else:
        detail["account_id"], field = big, "account_id"
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "marketing.platform",
        "account": "123456789012",
        "time": "2026-11-22T10:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }
    answer = world.stack.runtime.invoke(FUNCTIONS[detail_type], event)
    assert (answer["status"], answer["reason"]) == ("rejected", "invalid_event")
    assert field in answer["message"]
    (letter,) = world.platform.dead_letters()
    assert letter["reason"] == "invalid_event"
    assert field in _field(letter)
    # Kept by its id only: the dead letter stays within SQS's limit.
    assert letter["event"]["id"] == event["id"]
    assert "too large" in letter["event"]["omitted"]


# ------------------------------------------------------------------------------------------ handled


def test_an_unknown_legal_base_is_recorded_and_its_push_fails_for_that_contact_only(
    world: SyncWorld, linked: tuple[int, str]
) -> None:
    person_id, email = linked
    world.platform.dead_letters()
    before = world.simulator.control.consent(person_id, "EMARKETING")
    detail = _detail("Contact Consent Changed", linked, world)
    detail.update(purpose="EMARKETING", legal_base="61Z", changed_at=datetime.now(UTC).isoformat())
    world.platform.send("Contact Consent Changed", detail)
    world.drain()

    # The platform's state is recorded as reported, and not owed (retrying cannot fix an unknown key)
    contact = world.contact(ACCOUNT, email)
    assert contact.consents[Purpose.EMARKETING].legal_base == "61Z"
    assert contact.pending == {}
    # SuperOffice is unchanged, and the decision log says why
    assert world.simulator.control.consent(person_id, "EMARKETING") == before
    (latest, *_) = DecisionLog(world.table).for_contact(ACCOUNT, email)
    assert latest.action == "error:unknown_key"
    assert latest.error is not None
    assert "61Z" in latest.error
    # Nothing crashed: no dead letter, and the worker's invocation succeeded
    assert world.platform.dead_letters() == []
    assert world.stack.runtime.last_error("ReconcileFunction") is None or all(
        i.error is None for i in world.stack.runtime.invocations("ReconcileFunction")[-1:]
    )


def test_hostile_send_out_recipients_are_blocked_not_crashed(
    world: SyncWorld, linked: tuple[int, str]
) -> None:
    world.platform.dead_letters()
    check_id = f"bad-{uuid.uuid4().hex[:8]}"
    hostile = [value for value in HOSTILE_EMAILS.values() if value.strip()]
    detail = {
        "account_id": ACCOUNT,
        "sendout_id": "hostile",
        "channel": "email",
        "recipients": [linked[1], *hostile],
        "check_id": check_id,
    }
    world.platform.send("Sendout Checklist", detail)
    world.drain()
    job = world.jobs.get(ACCOUNT, JobKind.SENDOUT, check_id)
    assert job is not None
    assert job.finished
    # Every hostile address is a recipient no contact has: blocked. The linked contact is judged on its
    # state (whatever earlier tests of the module left it in).
    assert job.counters["blocked"] >= len(hostile)
    assert job.counters["allowed"] + job.counters["blocked"] + job.counters["stale"] == 1 + len(hostile)
    assert world.platform.dead_letters() == []


# ------------------------------------------------------------------------------------------ neighbours


def test_a_bad_event_in_a_put_events_batch_fails_only_itself(
    world: SyncWorld, linked: tuple[int, str]
) -> None:
    world.platform.dead_letters()
    now = datetime.now(UTC).replace(microsecond=0)
    emails = [f"neighbour-{uuid.uuid4().hex[:6]}@example.org" for _ in range(2)]
    details = [
        {
            "account_id": ACCOUNT,
            "email": emails[0],
            "purpose": "STORE",
            "legal_base": "61F",
            "changed_at": (now - timedelta(seconds=2)).isoformat(),
        },
        {
            "account_id": ACCOUNT,
            "email": "not an address",
            "purpose": "STORE",
            "legal_base": "61F",
            "changed_at": now.isoformat(),
        },
        {
            "account_id": ACCOUNT,
            "email": emails[1],
            "purpose": "STORE",
            "legal_base": "61F",
            "changed_at": now.isoformat(),
        },
    ]
    world.stack.runtime.put_events(
        [
            {"Source": "marketing.platform", "DetailType": "Contact Consent Changed", "Detail": detail}
            for detail in details
        ],
        bus="EventBus",
    )
    world.drain()
    for email in emails:
        assert world.contact(ACCOUNT, email).consents[Purpose.STORE].legal_base == "61F"
    (letter,) = world.platform.dead_letters()
    assert (letter["reason"], _field(letter)) == ("invalid_event", {"email"})


def _message(body: str, receive_count: int = 1) -> dict[str, Any]:
    return {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": uuid.uuid4().hex,
        "Body": body,
        "MD5OfBody": "0" * 32,
        "Attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "0"},
    }


def test_a_malformed_reconcile_message_fails_only_itself_in_its_batch(
    world: SyncWorld, linked: tuple[int, str]
) -> None:
    world.platform.dead_letters()
    job_id = f"bad-batch-{uuid.uuid4().hex[:6]}"
    world.jobs.create(ACCOUNT, JobKind.RUN, job_id, {"kind": "platform", "trigger": "platform"})
    world.jobs.set_total(ACCOUNT, JobKind.RUN, job_id, 2)

    def chunk(number: int) -> str:
        return ReconcileChunk.model_validate(
            {
                "account_id": ACCOUNT,
                "trigger": "platform",
                "job": {"kind": "run", "id": job_id, "chunk_no": number},
                "emails": [linked[1]],
            }
        ).model_dump_json()

    good = [_message(chunk(0)), _message(chunk(1))]
    bad = [
        _message("this is not JSON"),
        _message(json.dumps({"account_id": ACCOUNT, "trigger": "platform"})),  # fields missing
        _message(chunk(0).replace('"emails":[', '"person_ids":["x"],"emails":[')),  # wrong type
        _message(chunk(0).replace("}", ',"extra":1}', 1)),  # an extra field
    ]
    batch = [good[0], bad[0], bad[1], good[1], bad[2], bad[3]]
    arn = f"arn:aws:sqs:eu-west-1:123456789012:{world.stack.resources['ReconcileQueue'].rsplit('/', 1)[-1]}"
    response = world.stack.runtime.invoke(
        "ReconcileFunction", {"Records": [sqs_record(m, arn, "eu-west-1") for m in batch]}
    )
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    assert failed == {m["MessageId"] for m in bad}
    # The good neighbours were reconciled and counted: the job is finished. (Its contact's push fails
    # while the platform holds the unknown key an earlier test reported: `completed_with_errors`.)
    job = world.run(ACCOUNT, job_id)
    assert job.finished
    assert job.counters["reconciled"] == 2
