"""WebhookPullFunction: the pull queue, about a second of webhook deliveries per invocation."""

from __future__ import annotations

from consent_sync.handlers import cold_start

with cold_start():
    from typing import Any

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from consent_sync.config import get_config
    from consent_sync.flows.webhook_pull import Message, pull_batch
    from consent_sync.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    messages = [Message(record["messageId"], record["body"]) for record in event.get("Records", [])]
    failed = pull_batch(messages, get_config())
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
