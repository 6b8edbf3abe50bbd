"""Account settings items: `pk = ACCOUNT#<id>`, `sk = SETTINGS`, listed through ChangedIndex (`ACCOUNTS`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.conditions import Key

from consent_sync.accounts import AccountSettings
from consent_sync.store.aws import dynamodb_table

ACCOUNTS_INDEX_KEY = "ACCOUNTS"


class AccountStore:
    """Reads and writes account settings in the consent table."""

    def __init__(self, table_name: str) -> None:
        self._table = dynamodb_table(table_name)

    @staticmethod
    def _key(account_id: str) -> dict[str, str]:
        return {"pk": f"ACCOUNT#{account_id}", "sk": "SETTINGS"}

    def get(self, account_id: str) -> AccountSettings | None:
        """The stored settings of an account, or None when the account is unknown."""
        item = self._table.get_item(Key=self._key(account_id), ConsistentRead=True).get("Item")
        return None if item is None else AccountSettings.model_validate_json(item["settings"])

    def save(self, settings: AccountSettings) -> AccountSettings | None:
        """Store `settings` and return what was stored before (None for a new account)."""
        item: dict[str, Any] = {
            **self._key(settings.account_id),
            "settings": settings.model_dump_json(),
            "updated_at": datetime.now(UTC).isoformat(),
            "gsi1pk": ACCOUNTS_INDEX_KEY,
            "gsi1sk": settings.account_id,
        }
        previous = self._table.put_item(Item=item, ReturnValues="ALL_OLD").get("Attributes")
        return None if previous is None else AccountSettings.model_validate_json(previous["settings"])

    def account_ids(self) -> list[str]:
        """Every account with stored settings (an index query, never a scan)."""
        ids: list[str] = []
        kwargs: dict[str, Any] = {
            "IndexName": "ChangedIndex",
            "KeyConditionExpression": Key("gsi1pk").eq(ACCOUNTS_INDEX_KEY),
        }
        while True:
            page = self._table.query(**kwargs)
            ids.extend(item["gsi1sk"] for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return ids
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
