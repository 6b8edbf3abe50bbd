"""A SuperOffice webhook delivery at the receiver's Function URL: verify, then queue a pull of the person.

In this order, and nothing parsed before the signature holds (docs/webhooks.md):

1. ``POST /accounts/<account_id>`` only (405, 404);
2. at most ``MAX_BODY_BYTES`` (413);
3. ``X-SuperOffice-Signature`` is base64(HMAC-SHA256) of the raw body under that account's secret,
   compared in constant time (401 when missing, wrong, or the account has no secret);
4. then the JSON body (400 when malformed), whose ``EventId`` must be the header's;
5. the ``test`` event is answered 200 and nothing else; another event than consent's is answered 200
   and ignored (so SuperOffice does not count it as failed); an account that no longer syncs, 200
   ignored; a delivery naming another tenant than the account's, 400;
6. a repeated ``EventId`` (SuperOffice retries a delivery whose answer it missed) queues nothing again
   (Powertools idempotency, keyed on account and event id);
7. the person id goes to the pull queue, where the pull batcher gathers about a second of deliveries
   into one chunk per account on the interactive queue.

The payload's values are never used as consent: the pull reads the person's consents from SuperOffice.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from consent_sync.config import FunctionConfig
from consent_sync.domain.webhook import (
    MAX_BODY_BYTES,
    TEST_EVENT,
    WEBHOOK_EVENTS,
    account_in_path,
    signature_matches,
)
from consent_sync.events import WebhookPull
from consent_sync.observability import logger, metrics
from consent_sync.store.accounts import AccountStore
from consent_sync.store.queue import send_pull
from consent_sync.store.secrets import read_webhook_secret

SIGNATURE_HEADER = "x-superoffice-signature"
EVENT_ID_HEADER = "x-superoffice-eventid"
FRESH_SECRET_EVERY_S = 10.0
"""A signature that fails on the cached secret is checked once against a fresh read, at most this often
per account and container (a forger cannot make every request read Secrets Manager)."""

_fresh_read_at: dict[str, float] = {}


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to SuperOffice, and the reason logged with it."""

    status: int
    outcome: str

    def response(self) -> dict[str, Any]:
        """The Function URL response (payload format 2.0)."""
        return {
            "statusCode": self.status,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"status": self.outcome}),
        }


@dataclass(frozen=True)
class Request:
    """What the receiver reads of a Function URL event."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> Request:
        """From a Function URL event (payload format 2.0; header names are lower case there)."""
        http = (event.get("requestContext") or {}).get("http") or {}
        raw = event.get("body") or ""
        body = base64.b64decode(raw) if event.get("isBase64Encoded") else str(raw).encode()
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        return cls(str(http.get("method", "")).upper(), str(event.get("rawPath", "")), headers, body)


class PullInProgress(Exception):
    """Another invocation is queuing the same delivery right now (its idempotency record is in progress)."""


Enqueue = Callable[..., dict[str, Any]]
"""Queues one pull: ``(pull=<WebhookPull as JSON>)`` → what was queued (idempotent on account and event)."""


def receive(request: Request, config: FunctionConfig, enqueue: Enqueue) -> Answer:
    """Verify and act on one delivery; every refusal is a 4xx with its reason logged."""
    account_id = account_in_path(request.path)
    answer = _answer(request, account_id, config, enqueue)
    level = logger.info if answer.status < 400 else logger.warning
    level(
        "webhook delivery",
        extra={"account_id": account_id, "status": answer.status, "outcome": answer.outcome},
    )
    metrics.add_metric(name=f"Webhook{answer.status // 100}xx", unit=MetricUnit.Count, value=1)
    return answer


def _answer(request: Request, account_id: str | None, config: FunctionConfig, enqueue: Enqueue) -> Answer:
    if account_id is None:
        return Answer(404, "not_found")
    if request.method != "POST":
        return Answer(405, "method_not_allowed")
    if len(request.body) > MAX_BODY_BYTES:
        return Answer(413, "too_large")
    signature = request.headers.get(SIGNATURE_HEADER, "").strip()
    if not signature:
        return Answer(401, "unsigned")
    if not _verified(config, account_id, request.body, signature):
        return Answer(401, "bad_signature")
    # The SuperOffice models are imported at the first signed delivery, not with the function.
    from consent_sync.superoffice.models import WebhookDelivery

    try:
        delivery = WebhookDelivery.model_validate_json(request.body)
    except ValidationError:
        return Answer(400, "malformed")
    event = delivery.event.strip().lower()
    if event == TEST_EVENT:
        return Answer(200, "test")  # whatever else it carries: SuperOffice only wants the 200
    header_id = request.headers.get(EVENT_ID_HEADER)
    if not delivery.event_id or (header_id is not None and header_id.strip() != delivery.event_id):
        return Answer(400, "event_id_missing_or_mismatch")
    if event not in WEBHOOK_EVENTS or delivery.entity.lower() not in ("", "person"):
        return Answer(200, "ignored_event")
    if delivery.primary_key <= 0:
        return Answer(400, "no_person")
    settings = AccountStore(config.table_name).get(account_id)
    if settings is None or not settings.syncs or settings.superoffice is None:
        return Answer(200, "ignored_not_syncing")
    tenant = settings.superoffice.context_id
    if delivery.context_identifier and tenant and delivery.context_identifier.lower() != tenant.lower():
        return Answer(400, "other_tenant")
    pull = WebhookPull(
        account_id=account_id,
        event_id=delivery.event_id,
        person_id=delivery.primary_key,
        event=event,
        changed_by_associate_id=delivery.changed_by_associate_id,
    )
    try:
        enqueue(pull=pull.model_dump(mode="json"))
    except PullInProgress:
        # The same event is being queued by another invocation: SuperOffice tries again in a second.
        return Answer(503, "in_progress")
    return Answer(200, "queued")


def _verified(config: FunctionConfig, account_id: str, body: bytes, signature: str) -> bool:
    secret = read_webhook_secret(config.webhook_secret_prefix, account_id)
    if secret is not None and signature_matches(secret, body, signature):
        return True
    now = time.monotonic()
    if now - _fresh_read_at.get(account_id, float("-inf")) < FRESH_SECRET_EVERY_S:
        return False
    _fresh_read_at[account_id] = now
    secret = read_webhook_secret(config.webhook_secret_prefix, account_id, fresh=True)
    return secret is not None and signature_matches(secret, body, signature)


def queue_pull(pull: Mapping[str, Any], config: FunctionConfig) -> dict[str, Any]:
    """Put one pull on the pull queue (the receiver's idempotent step)."""
    if config.webhook_pull_queue_url is None:
        raise RuntimeError("WEBHOOK_PULL_QUEUE_URL is not set: the receiver cannot queue pulls")
    message_id = send_pull(config.webhook_pull_queue_url, WebhookPull.model_validate(pull))
    return {"message_id": message_id, "event_id": pull["event_id"]}
