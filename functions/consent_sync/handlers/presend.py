"""PresendFunction: `Sendout Checklist` and `Sendout Sending`."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from consent_sync.config import get_config
from consent_sync.events import SendoutChecklist, SendoutSending, SendoutStage
from consent_sync.intake import Rejected, known_account, receive
from consent_sync.observability import logger, metrics, tracer
from consent_sync.store.artifacts import ArtifactMissing
from consent_sync.sync import completion
from consent_sync.sync.presend import start_check


def _check(request: SendoutStage) -> dict[str, Any]:
    known_account(request.account_id)
    try:
        started = start_check(get_config(), request, completion.announce)
    except ArtifactMissing as exc:
        raise Rejected("recipients_unreadable", str(exc)) from exc
    logger.info(
        "send-out check started",
        extra={"account_id": request.account_id, "sendout_id": request.sendout_id, **started},
    )
    return started


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return receive(event, (SendoutChecklist, SendoutSending), _check)
