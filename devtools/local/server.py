"""Moto in server mode, in this process, on a chosen or free port."""

from __future__ import annotations

import copy
import logging
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

import moto.backends
import moto.dynamodb.models as models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import ThreadedMotoServer
from moto.sqs.exceptions import InvalidParameterValue, SQSException
from moto.sqs.models import Queue, SQSBackend
from moto.sqs.responses import SQSResponse

log = logging.getLogger(__name__)

_DYNAMODB_LOCK = threading.Lock()
_PATCHED = False


def _serialise_dynamodb() -> None:
    """Make moto apply DynamoDB requests one at a time, as DynamoDB applies each conditional write.

    moto's threaded server lets two requests pass the same condition before either writes, which would
    lose updates that DynamoDB itself never loses. Only DynamoDB is serialised: SQS long polls must not
    hold up everything else.
    """
    global _PATCHED
    if _PATCHED:
        return
    dispatch = DomainDispatcherApplication.__call__

    def serialised(self: DomainDispatcherApplication, environ: Any, start_response: Any) -> Any:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            with _DYNAMODB_LOCK:
                return dispatch(self, environ, start_response)
        return dispatch(self, environ, start_response)

    DomainDispatcherApplication.__call__ = serialised  # type: ignore[method-assign]
    _PATCHED = True


_MODULES_LISTED = False


def _list_moto_modules_once() -> None:
    """Make moto list its service packages once, not on every request.

    moto's dispatcher asks whether a request's host names one of its packages by listing the package
    directory, a stat per entry (~200), for every request; the directory does not change while the
    server runs.
    """
    global _MODULES_LISTED
    if _MODULES_LISTED:
        return
    modules = tuple(moto.backends.list_of_moto_modules())

    def listed() -> tuple[str, ...]:
        return modules

    moto.backends.list_of_moto_modules = listed
    _MODULES_LISTED = True


_TRANSACTIONS_PATCHED = False


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto's DynamoDB backend: a Table is not deep-copied."""

    @staticmethod
    def deepcopy(value: Any) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value)


def _item_level_transactions() -> None:
    """Make moto's TransactWriteItems cost what the transaction touches, not the size of the table.

    moto deep-copies every table a transaction names before applying it (to roll back on failure):
    13 ms a call on an empty table, 124 ms at 2,000 items, so a contact written together with its
    decision records would make local imports crawl. Here the undo log holds the touched items only;
    on failure they are put back as they were. DynamoDB requests are serialised above, so no other
    request sees the table in between. The result of every transaction is moto's own.
    """
    global _TRANSACTIONS_PATCHED
    if _TRANSACTIONS_PATCHED:
        return
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        undo: list[tuple[Table, DynamoType, DynamoType | None, Any]] = []
        try:
            for entry in transact_items:
                op = next(iter(entry.values()))
                table = self.get_table(op["TableName"])
                key = op.get("Key") or op["Item"]
                hash_value = DynamoType(key[table.hash_key_attr])
                range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                undo.append(
                    (table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value)))
                )
        except Exception:  # a malformed request: moto's own code reports it
            return original(self, transact_items)
        models.copy = _TablesNotCopied  # type: ignore[assignment]
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, item in reversed(undo):
                _restore(table, hash_value, range_value, item)
            raise
        finally:
            models.copy = copy

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _TRANSACTIONS_PATCHED = True


def _restore(table: Table, hash_value: DynamoType, range_value: DynamoType | None, item: Any) -> None:
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
        return
    partition = table.items[hash_value]
    if item is None:
        partition.pop(range_value, None)
    else:
        partition[range_value] = item


@dataclass
class _MoveTask:
    """One message move task, in the shape of ``ListMessageMoveTasksResultEntry``."""

    handle: str
    source_arn: str
    destination_arn: str | None
    started_ms: int
    to_move: int
    moved: int = 0
    status: str = "RUNNING"
    failure_reason: str | None = None
    rate: int | None = None

    def entry(self, *, with_handle: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Status": self.status,
            "SourceArn": self.source_arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started_ms,
        }
        if with_handle:
            entry["TaskHandle"] = self.handle  # AWS lists the handle of a running task only
        if self.destination_arn:
            entry["DestinationArn"] = self.destination_arn
        if self.rate is not None:
            entry["MaxNumberOfMessagesPerSecond"] = self.rate
        if self.failure_reason:
            entry["FailureReason"] = self.failure_reason
        return entry


_MOVE_TASKS: dict[str, list[_MoveTask]] = {}
"""Message move tasks by source (dead-letter queue) ARN, newest first."""
_MOVE_LOCK = threading.Lock()
_MOVES_PATCHED = False


def _queue_by_arn(backend: SQSBackend, arn: str) -> Queue:
    for queue in backend.queues.values():
        if queue.queue_arn == arn:
            return queue
    raise SQSException(
        "ResourceNotFoundException",
        f"The resource that you specified for the SourceArn parameter doesn't exist: {arn}",
    )


def _move_messages(backend: SQSBackend, source: Queue, destination: Queue) -> tuple[int, int]:
    """Move every visible message of ``source`` to ``destination``: (messages found, messages moved).

    Each is sent anew (body, message attributes, group), so its receive count starts again, as a
    redriven message's does in SQS; in-flight messages stay, as SQS leaves them to a later task.
    """
    with source._messages_lock:
        waiting = [m for m in source._messages if m.visible and not m.delayed]
    moved = 0
    for message in waiting:
        backend.send_message(
            destination.name,
            message.body,
            message_attributes=message.message_attributes or None,
            group_id=message.group_id,
            deduplication_id=message.deduplication_id if destination.fifo_queue else None,
            validate_group_id=False,
        )
        with source._messages_lock:
            if message in source._messages:
                source._messages.remove(message)
        moved += 1
    return len(waiting), moved


def _message_move_tasks() -> None:
    """Give moto's SQS ``StartMessageMoveTask``, ``ListMessageMoveTasks`` and ``CancelMessageMoveTask``.

    moto has none of the three. The source must be a dead-letter queue (a queue's redrive policy names
    it), one task at a time per source, as in SQS. Without ``DestinationArn`` SQS sends each message
    back to the queue it came from (its ``DeadLetterQueueSourceArn``, which moto does not record): here
    that is the one queue whose redrive policy names the source; a source of several queues needs a
    ``DestinationArn``. The move runs inside the start call and the task is listed as ``COMPLETED``
    at once (SQS moves in the background at up to 500 messages per second); ``Cancel`` therefore
    finds no running task.
    """
    global _MOVES_PATCHED
    if _MOVES_PATCHED:
        return

    def start_message_move_task(self: SQSResponse) -> Any:
        from moto.core.responses import ActionResult

        backend = self.sqs_backend
        source_arn = self._get_param("SourceArn")
        source = _queue_by_arn(backend, source_arn)
        sources = backend.list_dead_letter_source_queues(source.name)
        if not sources:
            raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
        destination_arn = self._get_param("DestinationArn")
        if destination_arn:
            destination = _queue_by_arn(backend, destination_arn)
        elif len(sources) == 1:
            destination = sources[0]
        else:
            raise InvalidParameterValue(
                "the local stack cannot tell which of several source queues a message came from: "
                "give DestinationArn"
            )
        with _MOVE_LOCK:
            tasks = _MOVE_TASKS.setdefault(source_arn, [])
            if any(task.status == "RUNNING" for task in tasks):
                raise SQSException(
                    "UnsupportedOperation",
                    "There is already a task running. Only one active task is allowed.",
                )
            task = _MoveTask(
                handle=uuid.uuid4().hex,
                source_arn=source_arn,
                destination_arn=destination_arn,
                started_ms=int(time.time() * 1000),
                to_move=source.approximate_number_of_messages,
                rate=self._get_param("MaxNumberOfMessagesPerSecond"),
            )
            tasks.insert(0, task)
        try:
            task.to_move, task.moved = _move_messages(backend, source, destination)
            task.status = "COMPLETED"
        except Exception as exc:  # reported as SQS reports a failed task
            task.status, task.failure_reason = "FAILED", f"{type(exc).__name__}: {exc}"
        return ActionResult({"TaskHandle": task.handle})

    def list_message_move_tasks(self: SQSResponse) -> Any:
        from moto.core.responses import ActionResult

        source_arn = self._get_param("SourceArn")
        _queue_by_arn(self.sqs_backend, source_arn)
        limit = int(self._get_param("MaxResults") or 1)
        with _MOVE_LOCK:
            tasks = list(_MOVE_TASKS.get(source_arn, []))[:limit]
        return ActionResult({"Results": [t.entry(with_handle=t.status == "RUNNING") for t in tasks]})

    def cancel_message_move_task(self: SQSResponse) -> Any:
        handle = self._get_param("TaskHandle")
        with _MOVE_LOCK:
            known = any(task.handle == handle for tasks in _MOVE_TASKS.values() for task in tasks)
        if not known:
            raise SQSException("ResourceNotFoundException", "The task handle does not exist.")
        raise SQSException("FailedPrecondition", "The task is not running (local moves complete at once).")

    SQSResponse.start_message_move_task = start_message_move_task  # type: ignore[attr-defined]
    SQSResponse.list_message_move_tasks = list_message_move_tasks  # type: ignore[attr-defined]
    SQSResponse.cancel_message_move_task = cancel_message_move_task  # type: ignore[attr-defined]
    _MOVES_PATCHED = True


@dataclass
class MotoEndpoint:
    """A running moto server and the URL boto3 clients should use."""

    server: ThreadedMotoServer
    endpoint_url: str

    def reset(self) -> None:
        """Forget every resource moto holds (moto's backends are shared by the whole process)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our own local endpoint
            pass
        with _MOVE_LOCK:
            _MOVE_TASKS.clear()

    def stop(self) -> None:
        """Stop serving; moto's in-memory state stays until :meth:`reset`."""
        self.server.stop()


def start_moto(port: int = 0, host: str = "127.0.0.1") -> MotoEndpoint:
    """Start moto's threaded server on ``host:port`` (0 picks a free port) and return its endpoint."""
    # Moto's server logs every request through werkzeug at INFO, which would drown the runtime's log.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    _serialise_dynamodb()
    _list_moto_modules_once()
    _item_level_transactions()
    _message_move_tasks()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    endpoint_url = f"http://{bound_host}:{bound_port}"
    log.debug("moto server listening on %s", endpoint_url)
    return MotoEndpoint(server=server, endpoint_url=endpoint_url)
