"""PresendFunction: `Sendout Checklist` and `Sendout Sending`."""

from consent_sync.handlers import cold_start

with cold_start():
    from typing import Any

    from aws_lambda_powertools.logging import correlation_paths
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from consent_sync.events import SendoutChecklist, SendoutSending
    from consent_sync.flows.intake import receive
    from consent_sync.flows.sendout_check import sendout_requested
    from consent_sync.observability import logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return receive(event, (SendoutChecklist, SendoutSending), sendout_requested)
