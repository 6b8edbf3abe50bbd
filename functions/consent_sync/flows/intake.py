"""Receiving an incoming event: validate it, or reject it with a specific reason and keep it.

A malformed event or one for an unknown account is not retried (retrying cannot fix it): it is logged
with the reason, counted, and kept in the events dead-letter queue. Anything else that fails (AWS or
SuperOffice unavailable) raises, so Lambda retries the invocation and finally sends it to the same queue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel

from consent_sync.config import get_config
from consent_sync.domain.errors import Rejected
from consent_sync.events import InvalidEvent, parse_event
from consent_sync.observability import logger, metrics, redact_secrets
from consent_sync.store.rejections import send_to_dead_letters

M = TypeVar("M", bound=BaseModel)


def receive(
    event: Any, models: tuple[type[M], ...], process: Callable[[M, str], dict[str, Any]]
) -> dict[str, Any]:
    """Validate `event` as one of `models` and process it; reject it (kept, not retried) when it is bad.

    `process` gets the detail and the envelope's id (a retried delivery has the same id, so jobs named
    after it are found again instead of started twice).
    """
    try:
        detail = parse_event(event, *models)
    except InvalidEvent as exc:
        return reject(event, "invalid_event", str(exc), exc.errors)
    try:
        answer = process(detail, str(event["id"]))  # validated: the envelope has an id
    except Rejected as exc:
        return reject(event, exc.code, str(exc), [])
    metrics.add_metric(name="EventsProcessed", unit=MetricUnit.Count, value=1)
    return answer


def receive_schedule(event: Any, process: Callable[[str], dict[str, Any]]) -> dict[str, Any] | None:
    """An EventBridge schedule's event (`source` `aws.events`) processed with its id; None for any other."""
    if isinstance(event, dict) and event.get("source") == "aws.events":
        return process(str(event.get("id", "")))
    return None


def reject(event: Any, code: str, message: str, errors: list[Any]) -> dict[str, Any]:
    """Log, count and keep a rejected event; return the handler's answer."""
    logger.error("event rejected", extra={"reason": code, "problem": message, "errors": errors})
    metrics.add_metric(name="RejectedEvents", unit=MetricUnit.Count, value=1)
    send_to_dead_letters(get_config().events_dlq_url, redact_secrets(event), code, message, errors)
    return {"status": "rejected", "reason": code, "message": message}
