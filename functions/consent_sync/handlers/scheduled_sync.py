"""ScheduledSyncFunction: the 30-minute schedule and `Sync Requested`."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from consent_sync.events import SyncRequested
from consent_sync.intake import known_account, receive, unavailable
from consent_sync.observability import logger, metrics, tracer


def _sync(request: SyncRequested) -> dict[str, Any]:
    if request.account_id is not None:
        known_account(request.account_id)
    logger.info("sync requested", extra={"account_id": request.account_id, "baseline": request.baseline})
    raise unavailable("the legal-basis sync run")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("source") == "aws.events":
        # The schedule: every account with sync on.
        event = {**event, "detail-type": SyncRequested.detail_type, "detail": {}}
    return receive(event, (SyncRequested,), _sync)
