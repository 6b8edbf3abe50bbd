"""ReconcileFunction: SQS chunks, partial batch failure, each message processed once."""

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.typing import LambdaContext

from consent_sync.config import get_config
from consent_sync.flows import reconcile_chunk
from consent_sync.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)
# A message delivered again after it was processed (SQS is at-least-once) returns the stored result.
idempotency = IdempotencyConfig(
    event_key_jmespath="messageId", raise_on_no_idempotency_key=True, expires_after_seconds=24 * 3600
)


def _reconcile(record: dict[str, Any]) -> dict[str, Any]:
    return reconcile_chunk.reconcile_message(record["body"], get_config()).summary()


@cache
def _reconcile_once() -> Callable[..., dict[str, Any]]:
    # Built at the first invocation, when the function's environment (the table's name) is there.
    persistence = DynamoDBPersistenceLayer(table_name=get_config().idempotency_table_name)
    return idempotent_function(
        data_keyword_argument="record", persistence_store=persistence, config=idempotency
    )(_reconcile)


def _record(record: SQSRecord) -> dict[str, Any]:
    try:
        return _reconcile_once()(record=record.raw_event)
    except IdempotencyAlreadyInProgressError:
        raise  # another worker has it; not a failure of the chunk
    except Exception:
        config = get_config()
        if int(record.attributes.approximate_receive_count) >= config.reconcile_max_receive_count:
            reconcile_chunk.give_up(record.body, config)  # SQS moves it to the dead-letter queue next
        raise


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    response = process_partial_response(
        event=event, record_handler=_record, processor=processor, context=context
    )
    return dict(response)
