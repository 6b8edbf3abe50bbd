"""The pull batcher: SuperOffice's webhook deliveries of about a second, as one chunk per account.

The pull queue's event source gathers deliveries for up to ``MaximumBatchingWindowInSeconds`` (1 s) into
one invocation; here they are grouped by account, each person once, and queued as a run of kind
``webhook`` (chunks on the interactive queue, trigger ``webhook``): the reconcile worker reads those
persons' consents from SuperOffice in bulk and pulls what changed, as a scheduled run would.

A batch's job id is derived from its messages, so a batch delivered again is the same job (its chunks
are counted once). Any account whose job could not be queued fails only that account's messages, which
SQS delivers again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from consent_sync.config import FunctionConfig
from consent_sync.domain.jobs import chunked
from consent_sync.domain.vocabulary import JobKind, Trigger
from consent_sync.events import JobRef, ReconcileChunk, WebhookPull
from consent_sync.flows.fanout import start_job
from consent_sync.observability import logger, metrics

WEBHOOK_RUN_KIND = "webhook"


@dataclass(frozen=True)
class Message:
    """One SQS record of the pull queue: its id and body."""

    message_id: str
    body: str


def webhook_run_id(message_ids: Iterable[str]) -> str:
    """The job of a batch of pull messages: the same messages, the same job."""
    digest = hashlib.sha256("\n".join(sorted(message_ids)).encode()).hexdigest()[:32]
    return f"{WEBHOOK_RUN_KIND}-{digest}"


def pull_batch(messages: list[Message], config: FunctionConfig) -> list[str]:
    """Queue the batch's pulls, one job per account; return the message ids that failed."""
    by_account: dict[str, list[tuple[str, WebhookPull]]] = {}
    failed: list[str] = []
    for message in messages:
        try:
            pull = WebhookPull.model_validate_json(message.body)
        except ValidationError as exc:
            # Only the receiver writes here, so this is a bug: the message goes to the dead-letter queue.
            logger.error(
                "malformed pull message", extra={"message_id": message.message_id, "problem": str(exc)}
            )
            failed.append(message.message_id)
            continue
        by_account.setdefault(pull.account_id, []).append((message.message_id, pull))
    for account_id, pulls in by_account.items():
        ids = [message_id for message_id, _ in pulls]
        try:
            _queue(config, account_id, ids, [pull for _, pull in pulls])
        except Exception:
            logger.exception(
                "webhook pulls not queued; SQS delivers them again", extra={"account_id": account_id}
            )
            failed.extend(ids)
    return failed


def _queue(config: FunctionConfig, account_id: str, message_ids: list[str], pulls: list[WebhookPull]) -> None:
    person_ids = sorted({pull.person_id for pull in pulls})
    run_id = webhook_run_id(message_ids)
    chunks = [
        ReconcileChunk(
            account_id=account_id,
            trigger=Trigger.WEBHOOK,
            job=JobRef(kind=JobKind.RUN, id=run_id, chunk_no=number),
            person_ids=part,
        )
        for number, part in enumerate(chunked(person_ids, config.chunk_size))
    ]
    meta: dict[str, Any] = {
        "kind": WEBHOOK_RUN_KIND,
        "trigger": Trigger.WEBHOOK.value,
        "deliveries": len(pulls),
        "event_ids": [pull.event_id for pull in pulls][:50],
    }
    start_job(config, account_id, JobKind.RUN, run_id, chunks, meta=meta)
    metrics.add_metric(name="WebhookPullsQueued", unit=MetricUnit.Count, value=len(person_ids))
    logger.info(
        "webhook pulls queued",
        extra={
            "account_id": account_id,
            "run_id": run_id,
            "deliveries": len(pulls),
            "persons": len(person_ids),
        },
    )
