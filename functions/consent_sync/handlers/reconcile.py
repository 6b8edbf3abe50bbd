"""ReconcileFunction: SQS chunks, partial batch failure."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from consent_sync.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)


class ChunkNotProcessed(RuntimeError):
    """A reconcile chunk this version cannot process; it stays on the queue and reaches the DLQ."""


def _record(record: SQSRecord) -> None:
    logger.error("reconcile chunk received, but reconciliation is not available in this version")
    raise ChunkNotProcessed("reconciliation is not available in this version of consent-sync")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=_record, processor=processor, context=context
    )
    return dict(response)
