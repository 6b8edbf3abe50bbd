"""The outbox of `Contact Consent Updated`: each pull's announcement, written with the contact it changed.

A pull changes the platform's side of a contact; its announcement is an item written in the same
transaction as the contact and its decisions (``pk = CONTACT#<account>#<email>``,
``sk = UPDATE#<stored time>#<update id>``), listed in the sparse PendingIndex under
``gsi3pk = UPDATES#OUTBOX#<shard>`` (``gsi3sk = <stored time>#<update id>``). The worker publishes its chunk's
updates and deletes their items; whatever a stopped worker left is published by the 30-minute sweep.
So an update is announced at least once (``update_id`` tells a repeat), never lost.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key

from consent_sync.domain.emails import normalise_email
from consent_sync.events import ContactConsentUpdated
from consent_sync.store.aws import dynamodb_table
from consent_sync.store.contacts import stored_time, until_processed

OUTBOX_INDEX_KEY = "UPDATES#OUTBOX"
OUTBOX_SHARDS = 8
"""The outbox index is spread over this many partitions (``UPDATES#OUTBOX#<n>``): an import of many
thousand contacts writes as many updates, more than one index partition takes per second."""
UPDATE_PREFIX = "UPDATE#"
_BATCH = 25  # BatchWriteItem's limit
_GET_BATCH = 100  # BatchGetItem's limit


class ConsentUpdates:
    """Writes, lists and clears the announcements of pulls."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name
        self._table = dynamodb_table(table_name)

    @staticmethod
    def key(update: ContactConsentUpdated) -> dict[str, str]:
        """The item key of one update."""
        return {
            "pk": f"CONTACT#{update.account_id}#{normalise_email(update.email)}",
            "sk": f"{UPDATE_PREFIX}{update.update_id}",
        }

    def items_for(self, updates: Sequence[ContactConsentUpdated], at: datetime) -> list[dict[str, Any]]:
        """The outbox items of one contact's updates, for its transaction (:meth:`ContactStore.write`)."""
        return [
            {
                **self.key(update),
                "gsi3pk": _shard(update.update_id),
                "gsi3sk": f"{stored_time(at)}#{update.update_id}",
                "detail": update.model_dump_json(),
            }
            for update in updates
        ]

    def clear(self, updates: Sequence[ContactConsentUpdated]) -> None:
        """Take published updates out of the outbox."""
        keys = list({update.update_id: self.key(update) for update in updates}.values())
        client = self._table.meta.client
        for start in range(0, len(keys), _BATCH):
            request = {
                self._table_name: [{"DeleteRequest": {"Key": k}} for k in keys[start : start + _BATCH]]
            }
            until_processed(
                lambda r: client.batch_write_item(RequestItems=r).get("UnprocessedItems") or {},
                request,
                "clearing published consent updates",
            )

    def waiting(self, *, before: datetime) -> Iterator[list[ContactConsentUpdated]]:
        """Updates written before ``before`` and still in the outbox, oldest first per shard, in pages."""
        for shard in range(OUTBOX_SHARDS):
            yield from self._waiting(f"{OUTBOX_INDEX_KEY}#{shard}", stored_time(before))

    def _waiting(self, partition: str, before: str) -> Iterator[list[ContactConsentUpdated]]:
        kwargs: dict[str, Any] = {
            "IndexName": "PendingIndex",
            "KeyConditionExpression": Key("gsi3pk").eq(partition) & Key("gsi3sk").lt(before),
        }
        client = self._table.meta.client
        while True:
            page = self._table.query(**kwargs)
            keys = [{"pk": item["pk"], "sk": item["sk"]} for item in page["Items"]]
            for start in range(0, len(keys), _GET_BATCH):
                found = client.batch_get_item(
                    RequestItems={self._table_name: {"Keys": keys[start : start + _GET_BATCH]}}
                )
                items = found.get("Responses", {}).get(self._table_name, [])
                # Unprocessed keys come back at the next sweep: the outbox keeps them.
                yield [ContactConsentUpdated.model_validate_json(str(item["detail"])) for item in items]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _shard(update_id: str) -> str:
    return f"{OUTBOX_INDEX_KEY}#{int(update_id[:8], 16) % OUTBOX_SHARDS}"
