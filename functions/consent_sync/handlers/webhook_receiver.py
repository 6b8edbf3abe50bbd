"""WebhookReceiverFunction: SuperOffice's consent webhooks at the function URL, `POST /accounts/<id>`."""

from __future__ import annotations

from consent_sync.handlers import cold_start

with cold_start():
    from collections.abc import Callable
    from functools import cache
    from typing import Any

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from consent_sync.config import get_config
    from consent_sync.flows import webhook_delivery
    from consent_sync.observability import logger, metrics, tracer

#: SuperOffice delivers an event again when it missed the answer: the account and event id say so.
IDEMPOTENCY_KEY = "[account_id, event_id]"
IDEMPOTENCY_EXPIRES_S = 24 * 3600


def _queue(pull: dict[str, Any]) -> dict[str, Any]:
    return webhook_delivery.queue_pull(pull, get_config())


@cache
def _queue_once() -> Callable[..., dict[str, Any]]:
    # Built at the first delivery, when the function's environment (the table's name) is there.
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    persistence = DynamoDBPersistenceLayer(table_name=get_config().idempotency_table_name)
    config = IdempotencyConfig(
        event_key_jmespath=IDEMPOTENCY_KEY,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_EXPIRES_S,
    )
    once = idempotent_function(data_keyword_argument="pull", persistence_store=persistence, config=config)(
        _queue
    )

    def queue(pull: dict[str, Any]) -> dict[str, Any]:
        try:
            return once(pull=pull)
        except IdempotencyAlreadyInProgressError as exc:
            raise webhook_delivery.PullInProgress(str(exc)) from exc

    return queue


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = webhook_delivery.Request.of(event)
    return webhook_delivery.receive(request, get_config(), _queue_once()).response()
