"""ReconcileFunction: SQS chunks, partial batch failure, each message processed once.

Powertools' batch and idempotency utilities are imported and built at the first invocation, not at
import: together they cost about 45 ms of a cold start (the batch package imports asyncio and every
event class; the idempotency package its DynamoDB persistence), and the persistence layer needs the
function's environment (the table's name) anyway.
"""

from __future__ import annotations

from consent_sync.handlers import cold_start

with cold_start():
    from collections.abc import Callable
    from dataclasses import dataclass
    from functools import cache
    from typing import TYPE_CHECKING, Any

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from consent_sync.config import get_config
    from consent_sync.flows import reconcile_chunk
    from consent_sync.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

#: A message delivered again after it was processed (SQS is at-least-once) returns the stored result.
IDEMPOTENCY_KEY = "messageId"
IDEMPOTENCY_EXPIRES_S = 24 * 3600


@dataclass(frozen=True)
class _Batch:
    """What the handler needs from Powertools' batch and idempotency utilities, built once."""

    processor: BatchProcessor
    idempotency: IdempotencyConfig
    process_partial_response: Callable[..., Any]
    #: Raised while another worker holds the message: not a failure of the chunk.
    in_progress: type[Exception]


@cache
def _batch() -> _Batch:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    return _Batch(
        processor=BatchProcessor(event_type=EventType.SQS),
        idempotency=IdempotencyConfig(
            event_key_jmespath=IDEMPOTENCY_KEY,
            raise_on_no_idempotency_key=True,
            expires_after_seconds=IDEMPOTENCY_EXPIRES_S,
        ),
        process_partial_response=process_partial_response,
        in_progress=IdempotencyAlreadyInProgressError,
    )


def _reconcile(record: dict[str, Any]) -> dict[str, Any]:
    return reconcile_chunk.reconcile_message(record["body"], get_config()).summary()


@cache
def _reconcile_once() -> Callable[..., dict[str, Any]]:
    # Built at the first record, when the function's environment (the table's name) is there; a
    # failure here fails that record (and is tried again by the next one).
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

    persistence = DynamoDBPersistenceLayer(table_name=get_config().idempotency_table_name)
    return idempotent_function(
        data_keyword_argument="record", persistence_store=persistence, config=_batch().idempotency
    )(_reconcile)


def _record(record: SQSRecord) -> dict[str, Any]:
    try:
        return _reconcile_once()(record=record.raw_event)
    except _batch().in_progress:
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
    batch = _batch()
    batch.idempotency.register_lambda_context(context)
    response = batch.process_partial_response(
        event=event, record_handler=_record, processor=batch.processor, context=context
    )
    return dict(response)
