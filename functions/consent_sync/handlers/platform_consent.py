"""PlatformConsentFunction: `Contact Consent Changed`."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from consent_sync.events import ContactConsentChanged
from consent_sync.intake import receive
from consent_sync.observability import logger, metrics, tracer
from consent_sync.sync.platform import record_platform_change


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The envelope's id names the push's run job, so a retried delivery reuses it.
    event_id = str(event.get("id")) if isinstance(event, dict) else ""
    return receive(
        event, (ContactConsentChanged,), lambda change: record_platform_change(change, event_id=event_id)
    )
