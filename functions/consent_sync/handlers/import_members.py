"""ImportFunction: `Import Requested`."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from consent_sync.config import get_config
from consent_sync.events import ImportRequested
from consent_sync.importer import start_import
from consent_sync.intake import Rejected, known_account, receive
from consent_sync.observability import logger, metrics, tracer


def _import(request: ImportRequested) -> dict[str, Any]:
    settings = known_account(request.account_id)
    if not settings.talks_to_superoffice:
        raise Rejected(
            "integration_none", "the account's integration is none: nothing is read from SuperOffice"
        )
    logger.info("import requested", extra={"account_id": request.account_id, "import_id": request.import_id})
    return start_import(request, settings, get_config())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return receive(event, (ImportRequested,), _import)
