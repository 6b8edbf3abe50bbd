"""ImportFunction: `Import Requested`."""

from consent_sync.handlers import cold_start

with cold_start():
    from typing import Any

    from aws_lambda_powertools.logging import correlation_paths
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from consent_sync.events import ImportRequested
    from consent_sync.flows.intake import receive
    from consent_sync.flows.start_import import import_requested
    from consent_sync.observability import logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return receive(event, (ImportRequested,), import_requested)
