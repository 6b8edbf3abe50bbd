"""ScheduledSyncFunction: the 30-minute schedule and `Sync Requested`."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from consent_sync.events import SyncRequested
from consent_sync.intake import receive
from consent_sync.observability import logger, metrics, tracer
from consent_sync.sync.schedule import sync_accounts


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    event_id = event.get("id") if isinstance(event, dict) else None
    if isinstance(event, dict) and event.get("source") == "aws.events":
        # The schedule: every account with sync on, kind `scheduled`.
        return sync_accounts(None, event_id=event_id)
    return receive(event, (SyncRequested,), lambda request: sync_accounts(request, event_id=event_id))
