"""The decision log: every reconciliation decision, kept per contact (the GDPR evidence; docs/architecture.md).

Items live in the contact's partition, next to the contact item:
``pk = CONTACT#<account>#<email>``, ``sk = DECISION#<at, stored time>#<purpose>#<12 hex>``; the
random suffix keeps two decisions of the same instant and purpose apart. The fixed-width time makes
sort-key order time order, so "newest first" is a reverse query. Only the fields of
:class:`DecisionRecord` are stored; it has no place for credentials.

DecisionIndex (``gsi4pk = DECISIONS#<account>``, ``gsi4sk`` = the sort key after ``DECISION#``,
projection ALL) holds every decision of an account in time order, so an export of a period is one
range query paged through, never a scan nor a query per contact. No item sets ``expires_at``: the log
is kept until deleted (docs/decision-log.md).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key

from consent_sync.domain.contact import DecisionRecord
from consent_sync.domain.emails import normalise_email
from consent_sync.store.aws import dynamodb_table
from consent_sync.store.contacts import from_dynamo, stored_time, to_dynamo, until_processed

DECISION_PREFIX = "DECISION#"
DECISION_INDEX = "DecisionIndex"
_INDEX_KEYS = ("pk", "sk", "gsi4pk", "gsi4sk")
BATCH_WRITE_LIMIT = 25
"""DynamoDB's BatchWriteItem limit (requests per call)."""


class DecisionLog:
    """Appends and reads decision records.

    ``requests`` counts DynamoDB requests by operation (``PutItem``, ``BatchWriteItem``, ``Query``).
    """

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name
        self._table = dynamodb_table(table_name)
        self.requests: Counter[str] = Counter()

    @staticmethod
    def _pk(account_id: str, email: str) -> str:
        return f"CONTACT#{account_id}#{normalise_email(email)}"

    def _item(self, account_id: str, email: str, record: DecisionRecord) -> dict[str, Any]:
        order = f"{stored_time(record.at)}#{record.purpose.value}#{uuid.uuid4().hex[:12]}"
        # None stays (stored as NULL): "the side had no row" is part of the evidence.
        return {
            **to_dynamo(record.model_dump(mode="python")),
            "pk": self._pk(account_id, email),
            "sk": DECISION_PREFIX + order,
            "gsi4pk": f"DECISIONS#{account_id}",
            "gsi4sk": order,
        }

    def items_for(
        self, account_id: str, email: str, records: Iterable[DecisionRecord]
    ) -> list[dict[str, Any]]:
        """The items of one contact's records, for writing in one transaction with the contact
        (:meth:`ContactStore.write`)."""
        return [self._item(account_id, email, record) for record in records]

    def append_for_contacts(
        self, account_id: str, records_by_email: Mapping[str, Iterable[DecisionRecord]]
    ) -> None:
        """Append the records of many contacts at once (a reconcile chunk): 25 per BatchWriteItem.

        Unprocessed items are retried with backoff; :class:`StoreBusy` when some stay unprocessed after
        every retry (the caller's message is then retried as a whole). Batching across contacts is what
        keeps a chunk's log writes at a fraction of a request per contact.
        """
        items = [
            self._item(account_id, email, record)
            for email, records in records_by_email.items()
            for record in records
        ]
        if len(items) == 1:
            self.requests["PutItem"] += 1
            self._table.put_item(Item=items[0])
            return
        for start in range(0, len(items), BATCH_WRITE_LIMIT):
            self._batch_write(items[start : start + BATCH_WRITE_LIMIT])

    def _batch_write(self, items: list[dict[str, Any]]) -> None:
        def send(request: dict[str, Any]) -> dict[str, Any]:
            self.requests["BatchWriteItem"] += 1
            response = self._table.meta.client.batch_write_item(RequestItems=request)
            return dict(response.get("UnprocessedItems") or {})

        until_processed(
            send, {self._table_name: [{"PutRequest": {"Item": item}} for item in items]}, "BatchWriteItem"
        )

    def for_contact(self, account_id: str, email: str, limit: int = 100) -> list[DecisionRecord]:
        """The contact's latest ``limit`` decisions, newest first."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(self._pk(account_id, email))
            & Key("sk").begins_with(DECISION_PREFIX),
            "ScanIndexForward": False,
        }
        records: list[DecisionRecord] = []
        while len(records) < limit:
            kwargs["Limit"] = limit - len(records)
            self.requests["Query"] += 1
            page = self._table.query(**kwargs)
            records.extend(self._record(item) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return records

    def for_account(
        self, account_id: str, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[tuple[str, DecisionRecord]]:
        """Every decision of the account from ``since`` (inclusive) to ``until`` (exclusive), oldest
        first, with its contact's e-mail: one DecisionIndex query, yielded page by page (never all in
        memory)."""
        condition = Key("gsi4pk").eq(f"DECISIONS#{account_id}")
        # Index sort keys are "<stored time>#...": any key of an instant sorts after that instant alone.
        if since is not None and until is not None:
            condition &= Key("gsi4sk").between(stored_time(since), stored_time(until))
        elif since is not None:
            condition &= Key("gsi4sk").gte(stored_time(since))
        elif until is not None:
            condition &= Key("gsi4sk").lt(stored_time(until))
        kwargs: dict[str, Any] = {"IndexName": DECISION_INDEX, "KeyConditionExpression": condition}
        while True:
            self.requests["Query"] += 1
            page = self._table.query(**kwargs)
            for item in page["Items"]:
                yield str(item["pk"]).split("#", 2)[2], self._record(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @staticmethod
    def _record(item: dict[str, Any]) -> DecisionRecord:
        body = {k: v for k, v in item.items() if k not in _INDEX_KEYS}
        return DecisionRecord.model_validate(from_dynamo(body))
