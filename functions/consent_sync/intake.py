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

from consent_sync.accounts import AccountSettings
from consent_sync.config import get_config
from consent_sync.events import InvalidEvent, parse_event
from consent_sync.observability import logger, metrics, redact_secrets
from consent_sync.store.accounts import AccountStore
from consent_sync.store.rejections import send_to_dead_letters

M = TypeVar("M", bound=BaseModel)


class Rejected(Exception):
    """An event consent-sync refuses; `code` is the machine-readable reason (e.g. `unknown_account`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def known_account(account_id: str) -> AccountSettings:
    """The settings of `account_id`, or `Rejected('unknown_account')`."""
    settings = AccountStore(get_config().table_name).get(account_id)
    if settings is None:
        raise Rejected("unknown_account", f"account {account_id!r} has no settings; configure it first")
    return settings


def receive(
    event: Any, models: tuple[type[M], ...], process: Callable[[M], dict[str, Any]]
) -> dict[str, Any]:
    """Validate `event` as one of `models` and process it; reject it (kept, not retried) when it is bad."""
    try:
        detail = parse_event(event, *models)
    except InvalidEvent as exc:
        return reject(event, "invalid_event", str(exc), exc.errors)
    try:
        answer = process(detail)
    except Rejected as exc:
        return reject(event, exc.code, str(exc), [])
    metrics.add_metric(name="EventsProcessed", unit=MetricUnit.Count, value=1)
    return answer


def reject(event: Any, code: str, message: str, errors: list[Any]) -> dict[str, Any]:
    """Log, count and keep a rejected event; return the handler's answer."""
    logger.error("event rejected", extra={"reason": code, "problem": message, "errors": errors})
    metrics.add_metric(name="RejectedEvents", unit=MetricUnit.Count, value=1)
    send_to_dead_letters(get_config().events_dlq_url, redact_secrets(event), code, message, errors)
    return {"status": "rejected", "reason": code, "message": message}
