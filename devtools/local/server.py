"""Moto in server mode, in this process, on a chosen or free port."""

from __future__ import annotations

import copy
import logging
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any

import moto.dynamodb.models as models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import ThreadedMotoServer

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
class MotoEndpoint:
    """A running moto server and the URL boto3 clients should use."""

    server: ThreadedMotoServer
    endpoint_url: str

    def reset(self) -> None:
        """Forget every resource moto holds (moto's backends are shared by the whole process)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our own local endpoint
            pass

    def stop(self) -> None:
        """Stop serving; moto's in-memory state stays until :meth:`reset`."""
        self.server.stop()


def start_moto(port: int = 0, host: str = "127.0.0.1") -> MotoEndpoint:
    """Start moto's threaded server on ``host:port`` (0 picks a free port) and return its endpoint."""
    # Moto's server logs every request through werkzeug at INFO, which would drown the runtime's log.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    _serialise_dynamodb()
    _item_level_transactions()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    endpoint_url = f"http://{bound_host}:{bound_port}"
    log.debug("moto server listening on %s", endpoint_url)
    return MotoEndpoint(server=server, endpoint_url=endpoint_url)
