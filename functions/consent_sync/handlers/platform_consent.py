"""PlatformConsentFunction: `Contact Consent Changed`."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from consent_sync.events import ContactConsentChanged
from consent_sync.intake import known_account, receive, unavailable
from consent_sync.observability import logger, metrics, tracer


def _record(change: ContactConsentChanged) -> dict[str, Any]:
    known_account(change.account_id)
    logger.info(
        "platform consent change received",
        extra={"account_id": change.account_id, "email": change.email, "purpose": change.purpose.value},
    )
    raise unavailable("recording platform consent changes")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return receive(event, (ContactConsentChanged,), _record)
