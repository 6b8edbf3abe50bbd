"""PresendFunction: `Sendout Checklist` and `Sendout Sending`."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from consent_sync.events import SendoutChecklist, SendoutSending, SendoutStage
from consent_sync.intake import known_account, receive, unavailable
from consent_sync.observability import logger, metrics, tracer


def _check(request: SendoutStage) -> dict[str, Any]:
    known_account(request.account_id)
    logger.info(
        "send-out check requested",
        extra={
            "account_id": request.account_id,
            "sendout_id": request.sendout_id,
            "stage": request.stage.value,
        },
    )
    raise unavailable("the send-out consent check")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return receive(event, (SendoutChecklist, SendoutSending), _check)
