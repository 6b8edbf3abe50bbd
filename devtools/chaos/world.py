"""The chaos scenario's world: the stack and the simulator, the account, its linked contacts, and what
the scenario does to them (consent changes on both sides, runs, duplicated and poison messages), and
what it can see of the result (the completion events on the bus, SuperOffice's consent PUTs, the jobs)."""

from __future__ import annotations

import contextlib
import json
import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr

from consent_sync.domain.consent import ConsentState
from consent_sync.domain.contact import Card, Contact, StoredConsent
from consent_sync.domain.emails import normalise_email, validate_email
from consent_sync.domain.settings import AccountSettings
from consent_sync.domain.vocabulary import Purpose, Side
from consent_sync.events import ReconcileChunk
from consent_sync.store.contacts import ContactStore
from consent_sync.store.decisions import DecisionLog
from consent_sync.store.jobs import JobStore
from consent_sync.store.secrets import secret_name
from devtools.chaos.child import COMPLETION_TYPES
from devtools.local import LocalStack
from devtools.simulator.accounts import simulator_settings
from devtools.simulator.testing import SimulatorHandle, consent_state
from devtools.uploads import write_credentials

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
ACCOUNT = "chaos"
WITHDRAWN = "WITHDRAWN"
SKEW = timedelta(seconds=5)
# Legal bases the changes pick from; withdrawals twice as likely, so that revivals would show.
LEGAL_BASES = ("61A", "61B", "61C", "61F", WITHDRAWN, WITHDRAWN)
_CONSENT_PUT = re.compile(r"/Person/(\d+)/Consent/([^/]+)$")
# The job id each completion event carries.
_JOB_ID_FIELD = {
    "Import Completed": "import_id",
    "Sync Run Completed": "run_id",
    "Sendout Consent Checked": "",
}


@dataclass(frozen=True)
class ConsentPut:
    """One consent PUT SuperOffice served (the simulator's request log)."""

    at: datetime
    person_id: int
    purpose: str
    status: int


@dataclass(frozen=True)
class Completion:
    """One completion event caught on the bus."""

    detail_type: str
    job_id: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Change:
    """One consent change made during the run, on one side."""

    side: Side
    email: str
    person_id: int
    purpose: Purpose
    legal_base: str
    at: datetime
    equal_already: bool
    """The other side held the same value when the change was made: no decision is owed."""

    def state(self) -> ConsentState:
        return ConsentState(legal_base=self.legal_base, changed_at=self.at)


def now() -> datetime:
    # SuperOffice keeps whole seconds; so do the changes on both sides.
    return datetime.now(UTC).replace(microsecond=0)


def same(a: str | None, b: str | None) -> bool:
    """Equal values by the rules: the same key, or both inactive (withdrawn or absent)."""
    return a == b or (a in (None, WITHDRAWN) and b in (None, WITHDRAWN))


class World:
    """The stack, the simulator and what the scenario did to them."""

    def __init__(self, stack: LocalStack, sim: SimulatorHandle, rng: random.Random) -> None:
        self.stack = stack
        self.sim = sim
        self.rng = rng
        self.table = stack.outputs["ConsentTableName"]
        self.contacts = ContactStore(self.table)
        self.decisions = DecisionLog(self.table)
        self.jobs = JobStore(self.table)
        self.events = boto3.client("events", endpoint_url=stack.endpoint_url, region_name=REGION)
        self.sqs = boto3.client("sqs", endpoint_url=stack.endpoint_url, region_name=REGION)
        self.queue_url = stack.resources["ReconcileQueue"]
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.linked: list[tuple[int, str]] = []
        self.initial: dict[tuple[str, Purpose], ConsentState | None] = {}
        self.changes: list[Change] = []
        self.duplicates: list[str] = []
        self.poison: list[dict[str, str]] = []
        self.counts_checked: list[tuple[str, dict[str, int], dict[str, int]]] = []
        # Every completion event on the bus, as a subscribed platform would receive it.
        self._outgoing = stack.catch_outgoing(COMPLETION_TYPES, name="chaos-completions")
        self._completions: list[Completion] = []
        self.at_least_once: dict[str, str] = {}
        """Jobs published twice in the documented at-least-once window (a crash between `PutEvents` and
        `mark_announced`), with what was found; the one-event-per-job check expects two of these."""
        self._table = boto3.resource("dynamodb", endpoint_url=stack.endpoint_url, region_name=REGION).Table(
            self.table
        )

    # -- setup ------------------------------------------------------------------------------------

    def pick_persons(self, count: int) -> None:
        """`count` persons whose valid primary e-mail no other person has."""
        persons = list(self.sim.control.export_persons())
        by_email = Counter(normalise_email(p["primary_email"]) for p in persons if p["primary_email"])
        for person in persons:
            raw = person["primary_email"]
            if not raw or person.get("retired"):
                continue
            try:
                email = normalise_email(validate_email(raw))
            except ValueError:
                continue
            if by_email[email] == 1:
                self.linked.append((int(person["person_id"]), email))
                if len(self.linked) == count:
                    return
        raise LookupError(f"the simulator has fewer than {count} persons with an e-mail of their own")

    def link_contacts(self) -> None:
        """Linked contacts in step with SuperOffice (as an import leaves them), `EMARKETING` 61A since yesterday."""
        yesterday = now() - timedelta(days=1)
        for person_id, email in self.linked:
            self.sim.control.set_consent(person_id, "EMARKETING", "61A", source="WEBFORM", at=yesterday)
            person = self.sim.control.person(person_id)
            assert person is not None
            consents: dict[Purpose, StoredConsent] = {}
            for purpose in Purpose:
                state = consent_state(self.sim.control.consent(person_id, purpose.value))
                self.initial[(email, purpose)] = state
                if state is not None:
                    consents[purpose] = StoredConsent.of(state, Side.SUPEROFFICE)
            self.contacts.put_new(
                Contact(
                    account_id=ACCOUNT,
                    email=email,
                    card=Card(email_display=person["primary_email"]),
                    superoffice_person_id=person_id,
                    superoffice_registered_at=datetime.fromisoformat(person["registered"]).replace(
                        tzinfo=UTC
                    ),
                    consents=consents,
                )
            )

    def switch_sync_on(self, requests_per_second: float) -> None:
        arn = write_credentials(
            secret_name(self.stack.outputs["SecretPrefix"], ACCOUNT),
            {"username": self.sim.username, "password": self.sim.password},
        )
        settings = AccountSettings.model_validate(
            simulator_settings(ACCOUNT, self.sim, arn, requests_per_second=requests_per_second)
        )
        self.send("Integration Settings Updated", settings.model_dump(mode="json", exclude_none=True))
        self.drain()

    # -- doing --------------------------------------------------------------------------------------

    def send(self, detail_type: str, detail: dict[str, Any]) -> None:
        result = self.events.put_events(
            Entries=[
                {
                    "EventBusName": self.stack.outputs["EventBusName"],
                    "Source": "marketing.platform",
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                }
            ]
        )
        assert result["FailedEntryCount"] == 0, result

    def drain(self) -> None:
        self.stack.runtime.drain(timeout=600)

    def platform_value(self, email: str, purpose: Purpose) -> str | None:
        contact = self.contacts.get(ACCOUNT, email)
        consent = contact.consents.get(purpose) if contact else None
        return consent.legal_base if consent else None

    def superoffice_value(self, person_id: int, purpose: Purpose) -> str | None:
        info = self.sim.control.consent(person_id, purpose.value)
        return None if info is None else str(info["LegalBaseKey"])

    def change_superoffice(self, index: int, purpose: Purpose, legal_base: str) -> None:
        person_id, email = self.linked[index]
        equal = same(self.platform_value(email, purpose), legal_base)
        state = consent_state(
            self.sim.control.set_consent(person_id, purpose.value, legal_base, source="USER")
        )
        assert state is not None
        self.changes.append(
            Change(Side.SUPEROFFICE, email, person_id, purpose, legal_base, state.changed_at, equal)
        )

    def platform_detail(self, index: int, purpose: Purpose, legal_base: str) -> dict[str, Any]:
        """Records the change; returns the `Contact Consent Changed` detail to deliver."""
        person_id, email = self.linked[index]
        equal = same(self.superoffice_value(person_id, purpose), legal_base)
        at = now()
        self.changes.append(Change(Side.PLATFORM, email, person_id, purpose, legal_base, at, equal))
        return {
            "account_id": ACCOUNT,
            "email": email,
            "purpose": purpose.value,
            "legal_base": legal_base,
            "source": "WEBFORM",
            "changed_at": at.isoformat(),
        }

    def run(self, round_no: int) -> None:
        """A sync run: `Sync Requested` on the bus, or the 30-minute schedule firing."""
        if round_no % 2 == 0:
            self.send(
                "Sync Requested",
                {"account_id": ACCOUNT, "run_id": f"chaos-{round_no}-{uuid.uuid4().hex[:6]}"},
            )
        else:
            self.stack.runtime.fire_schedule("ScheduledSyncFunction")

    # -- duplicates and poison ------------------------------------------------------------------------

    def _last_chunk_record(self) -> tuple[dict[str, Any], ReconcileChunk] | None:
        for invocation in reversed(self.stack.runtime.invocations("ReconcileFunction")):
            if invocation.error is not None or invocation.result != {"batchItemFailures": []}:
                continue
            for record in invocation.event["Records"]:
                with contextlib.suppress(ValueError):
                    chunk = ReconcileChunk.model_validate_json(record["body"])
                    if chunk.account_id == ACCOUNT and chunk.job.id != "no-such-job":
                        return record, chunk
        return None

    def duplicate_messages(self) -> None:
        """A processed chunk arrives again: as a copy (new message id) and as the same message."""
        found = self._last_chunk_record()
        if found is None:
            return
        record, chunk = found
        job_before = self.jobs.get(ACCOUNT, chunk.job.kind, chunk.job.id)
        assert job_before is not None
        label = f"{chunk.job.kind}/{chunk.job.id}/{chunk.job.chunk_no}"
        # SQS delivers the same message again after it was processed: the idempotency record answers.
        calls_before = api_requests(self.sim.control.counts())
        response = self.stack.runtime.invoke("ReconcileFunction", {"Records": [record]})
        calls = api_requests(self.sim.control.counts()) - calls_before
        self.duplicates.append(f"{label}: same message id again → {response}, {calls} SuperOffice call(s)")
        if calls or response != {"batchItemFailures": []}:
            self.counts_checked.append((f"{label} (same message id)", {"calls": calls}, {"calls": 0}))
        # A copy of the body under a new message id: reconciled again, counted once.
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=record["body"])
        self.drain()
        job_after = self.jobs.get(ACCOUNT, chunk.job.kind, chunk.job.id)
        assert job_after is not None
        self.duplicates.append(f"{label}: copy under a new message id, job counts unchanged")
        self.counts_checked.append((label, dict(job_before.counters), dict(job_after.counters)))

    def send_poison(self) -> None:
        """Poison on purpose: a reconcile message that is not a chunk, a chunk of a job that does not
        exist, and an incoming event without its e-mail address."""
        not_a_chunk = json.dumps({"chaos": "this is not a reconcile chunk"})
        no_job = ReconcileChunk.model_validate(
            {
                "account_id": ACCOUNT,
                "trigger": "requested",
                "job": {"kind": "run", "id": "no-such-job", "chunk_no": 0},
                "emails": [self.linked[0][1]],
            }
        ).model_dump_json()
        for body, reason in ((not_a_chunk, "not a chunk"), (no_job, "chunk of a job that does not exist")):
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)
            self.poison.append({"queue": "reconcile", "body": body, "expected": reason})
        self.send(
            "Contact Consent Changed",
            {
                "account_id": ACCOUNT,
                "purpose": "EMARKETING",
                "legal_base": WITHDRAWN,
                "changed_at": now().isoformat(),
            },
        )
        self.poison.append(
            {"queue": "events", "body": "Contact Consent Changed without email", "expected": "invalid_event"}
        )

    # -- what can be seen ------------------------------------------------------------------------------

    def completions(self, job_id: str | None = None) -> list[Completion]:
        """The completion events caught so far (of one job), oldest first."""
        for detail_type in COMPLETION_TYPES:
            for detail in self._outgoing.take(detail_type):
                field = _JOB_ID_FIELD[detail_type]
                self._completions.append(Completion(detail_type, str(detail.get(field, "")), detail))
        return [c for c in self._completions if job_id is None or c.job_id == job_id]

    def consent_puts(self, since: datetime) -> list[ConsentPut]:
        """The consent PUTs SuperOffice received at or after `since`, oldest first."""
        puts = []
        for at, method, path, status in self.sim.control.request_log():
            found = _CONSENT_PUT.search(path)
            if method == "PUT" and found and at >= since:
                puts.append(ConsentPut(at, int(found.group(1)), found.group(2), status))
        return puts

    def job_item(self, kind: str, job_id: str) -> dict[str, Any]:
        """A job's item as stored, outbox attributes and claim included (`store/jobs.py`)."""
        item = self._table.get_item(Key=job_key(kind, job_id), ConsistentRead=True).get("Item")
        return dict(item or {})

    def set_job_attribute(self, kind: str, job_id: str, name: str, value: str) -> None:
        """Overwrite one attribute of a job item (the claim's time, to let its lease lapse)."""
        self._table.update_item(
            Key=job_key(kind, job_id),
            UpdateExpression="SET #name = :value",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#name": name},
            ExpressionAttributeValues={":value": value},
        )

    def job_items(self) -> list[dict[str, Any]]:
        """Every job item of the account."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "FilterExpression": Attr("sk").eq("JOB") & Attr("pk").begins_with(f"JOB#{ACCOUNT}#"),
            "ConsistentRead": True,
        }
        while True:
            page = self._table.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def job_key(kind: str, job_id: str) -> dict[str, str]:
    """The key of a job item of the account (`JobStore._key`)."""
    return {"pk": f"JOB#{ACCOUNT}#{kind}#{job_id}", "sk": "JOB"}


def api_requests(counts: dict[str, int]) -> int:
    return sum(n for key, n in counts.items() if not key.startswith("status:"))
