"""`consent-sync status`: how each account stands (runs, watermark, pushes owed, contacts, last import,
webhook) and how the stack's queues stand (depth, in flight, oldest message, dead letters and why).

Every figure comes from a key lookup, a one-item query or an index count, never a table scan:
the last run or import is :meth:`JobStore.latest` (ChangedIndex), contacts and pushes owed are
:meth:`ContactStore.counts` (PersonIndex, PendingIndex). A queue's oldest message age is SQS's
CloudWatch metric ``ApproximateAgeOfOldestMessage`` (not a queue attribute); the local stack
publishes it itself (:mod:`devtools.local.queue_age`). The document is described in docs/cli.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console, Group
from rich.table import Table

from consent_sync.domain.jobs import Job
from consent_sync.domain.settings import AccountSettings
from consent_sync.domain.vocabulary import JobKind, RunKind
from consent_sync.events import ImportRequested
from consent_sync.store.accounts import AccountStore
from consent_sync.store.aws import client
from consent_sync.store.contacts import ContactStore
from consent_sync.store.jobs import JobStore
from consent_sync.store.webhooks import WebhookStore
from devtools import dlq
from devtools.imports import import_document
from devtools.operator import OperatorError
from devtools.stack import Stack
from devtools.syncing import RUN_COUNTERS, RunRequest, run_document

AGE_WINDOW = timedelta(minutes=5)
"""How far back the oldest-message metric is read (SQS publishes it once a minute)."""


DEAD_LETTER_SAMPLE = 100
"""How many messages of a dead-letter queue `status` reads, at most (the reasons are those of this sample)."""
DEAD_LETTER_REASONS = 3


@dataclass(frozen=True)
class QueueOutput:
    """A queue of the stack: its name in the document, the stack output holding its URL, and for a
    dead-letter queue its `dlq` name (:data:`devtools.dlq.QUEUES`), which reads its reasons."""

    name: str
    output: str
    dead_letters: str | None = None


def _dead_letters(name: str, dlq_name: str) -> QueueOutput:
    return QueueOutput(name, dlq.QUEUES[dlq_name].output, dlq_name)


QUEUES = (
    QueueOutput("bulk", "ReconcileQueueUrl"),
    QueueOutput("interactive", "InteractiveQueueUrl"),
    QueueOutput("webhook-pulls", "WebhookPullQueueUrl"),
    _dead_letters("bulk-dlq", "reconcile"),
    _dead_letters("interactive-dlq", "interactive"),
    _dead_letters("events-dlq", "events"),
    _dead_letters("webhook-pulls-dlq", "webhook-pulls"),
)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _job_times(job: Job) -> dict[str, str | None]:
    return {"created_at": _time(job.created_at), "completed_at": _time(job.completed_at)}


def last_run(jobs: JobStore, account_id: str) -> dict[str, Any] | None:
    """The account's most recent sync run of any public kind (`sync`'s document, with its times)."""
    runs = [job for kind in RunKind if (job := jobs.latest(account_id, JobKind.RUN, kind.value))]
    if not runs:
        return None
    job = max(runs, key=lambda run: run.created_at)
    request = RunRequest(account_id=account_id, run_id=job.job_id, kind=str(job.meta.get("kind")))
    document = run_document(request, job)
    document.pop("account_id")
    return document | _job_times(job)


def last_import(jobs: JobStore, account_id: str) -> dict[str, Any] | None:
    """The account's most recent import (`import`'s document, with its times)."""
    job = jobs.latest(account_id, JobKind.IMPORT)
    if job is None:
        return None
    request = ImportRequested.model_validate(
        {
            "account_id": account_id,
            "import_id": job.job_id,
            "source": job.meta["source"],
            "only_emarketing_consented": bool(job.meta.get("only_emarketing_consented")),
        }
    )
    document = import_document(request, job)
    document.pop("account_id", None)
    return document | _job_times(job)


def account_status(stack: Stack, settings: AccountSettings) -> dict[str, Any]:
    """One account's part of the document."""
    account_id = settings.account_id
    jobs = JobStore(stack.table_name)
    counts = ContactStore(stack.table_name).counts(account_id)
    watermark = AccountStore(stack.table_name).sync_watermark(account_id)
    webhook = WebhookStore(stack.table_name).get(account_id)
    return {
        "account_id": account_id,
        "integration": settings.integration.value,
        "legal_basis_sync": settings.legal_basis_sync,
        "last_run": last_run(jobs, account_id),
        "watermark": _time(watermark),
        "pushes_owed": counts.pending,
        "contacts": {"total": counts.total, "linked": counts.linked, "unlinked": counts.unlinked},
        "last_import": last_import(jobs, account_id),
        "webhook": {"status": "none"}
        if webhook is None
        else webhook.model_dump(mode="json", exclude={"account_id"}),
    }


def oldest_age_s(queue_name: str, *, now: datetime | None = None) -> float | None:
    """The queue's latest ``ApproximateAgeOfOldestMessage`` (seconds), None when none was published."""
    now = now or datetime.now(UTC)
    points = client("cloudwatch").get_metric_statistics(
        Namespace="AWS/SQS",
        MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": queue_name}],
        StartTime=now - AGE_WINDOW,
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    if not points:
        return None
    return float(max(points, key=lambda point: point["Timestamp"])["Maximum"])


def queue_status(stack: Stack, queue: QueueOutput) -> dict[str, Any]:
    """One queue's part of the document: depth, in flight, oldest age; for dead letters their reasons."""
    url = stack.output(queue.output)
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    queue_name = url.rstrip("/").rsplit("/", 1)[-1]
    document: dict[str, Any] = {
        "name": queue.name,
        "queue_name": queue_name,
        "dead_letters": queue.dead_letters is not None,
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "oldest_age_s": oldest_age_s(queue_name),
    }
    if queue.dead_letters is not None:
        if document["visible"]:
            with dlq.DeadLetterQueues(stack).peeked(queue.dead_letters, DEAD_LETTER_SAMPLE) as sample:
                reasons = dlq.top_reasons(sample, dlq.QUEUES[queue.dead_letters].body, DEAD_LETTER_REASONS)
                document["sampled"] = len(sample)
        else:
            reasons, document["sampled"] = [], 0
        document["top_reasons"] = reasons
    return document


def status(stack: Stack, account_id: str | None = None) -> dict[str, Any]:
    """The `status` document: the account named (exit 1 when unknown) or every account, and the queues."""
    accounts = AccountStore(stack.table_name)
    if account_id is not None:
        settings = accounts.get(account_id)
        if settings is None:
            raise OperatorError("unknown_account", f"account {account_id!r} has no settings")
        every = [settings]
    else:
        every = [s for name in sorted(accounts.account_ids()) if (s := accounts.get(name)) is not None]
    return {
        "stack": stack.name,
        "generated_at": datetime.now(UTC).isoformat(),
        "accounts": [account_status(stack, settings) for settings in every],
        "queues": [queue_status(stack, queue) for queue in QUEUES],
    }


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _run_cell(run: dict[str, Any] | None) -> str:
    if run is None:
        return "never"
    counts = ", ".join(f"{name} {run[name]}" for name in RUN_COUNTERS if run.get(name))
    return f"{run['created_at'][:19]}Z {run['kind']} {run['status']}" + (f"\n{counts}" if counts else "")


def _import_cell(job: dict[str, Any] | None) -> str:
    if job is None:
        return "never"
    counts = ", ".join(
        f"{name} {job[name]}" for name in ("members", "created", "updated", "failed") if job.get(name)
    )
    return f"{job['created_at'][:19]}Z {job['status']}" + (f"\n{counts}" if counts else "")


def render(console: Console, document: dict[str, Any]) -> None:
    """The human form of the document: one table of accounts, one of queues."""
    accounts = Table(
        "account", "integration", "sync", "last run", "watermark", "owed", "contacts", "last import",
        "webhook", title=f"accounts of {document['stack']}",
    )  # fmt: skip
    for account in document["accounts"]:
        contacts = account["contacts"]
        accounts.add_row(
            account["account_id"],
            account["integration"],
            "on" if account["legal_basis_sync"] else "off",
            _run_cell(account["last_run"]),
            (account["watermark"] or "–")[:19],
            str(account["pushes_owed"]),
            f"{contacts['total']} ({contacts['unlinked']} not linked)",
            _import_cell(account["last_import"]),
            "not registered" if account["webhook"]["status"] == "none" else account["webhook"]["status"],
        )
    queues = Table("queue", "visible", "in flight", "oldest", "top reasons", title="queues")
    for queue in document["queues"]:
        reasons = ", ".join(f"{item['reason']} ({item['count']})" for item in queue.get("top_reasons", []))
        queues.add_row(
            queue["name"],
            str(queue["visible"]),
            str(queue["in_flight"]),
            _age(queue["oldest_age_s"]),
            reasons,
        )
    console.print(Group(accounts, queues))
