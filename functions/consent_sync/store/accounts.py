"""Account items: settings (`pk = ACCOUNT#<id>`, `sk = SETTINGS`, listed through ChangedIndex `ACCOUNTS`)
and the sync state (`sk = SYNCSTATE`: the watermark of the account's incremental sync run)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from consent_sync.domain.errors import Rejected
from consent_sync.domain.settings import AccountSettings
from consent_sync.store.aws import dynamodb_table
from consent_sync.store.contacts import is_condition_failure, parse_stored_time, stored_time

ACCOUNTS_INDEX_KEY = "ACCOUNTS"
SYNC_STATE_SK = "SYNCSTATE"


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

    def require(self, account_id: str) -> AccountSettings:
        """The stored settings of an account, or `Rejected('unknown_account')`."""
        settings = self.get(account_id)
        if settings is None:
            raise Rejected("unknown_account", f"account {account_id!r} has no settings; configure it first")
        return settings

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

    # -- the sync run's watermark (item `pk = ACCOUNT#<id>`, `sk = SYNCSTATE`) ------------------------------

    @staticmethod
    def _sync_state_key(account_id: str) -> dict[str, str]:
        return {"pk": f"ACCOUNT#{account_id}", "sk": SYNC_STATE_SK}

    def sync_watermark(self, account_id: str) -> datetime | None:
        """Where the account's last sync run left off (UTC), or None before its first run."""
        item = self._table.get_item(Key=self._sync_state_key(account_id), ConsistentRead=True).get("Item")
        if item is None or "watermark" not in item:
            return None
        return parse_stored_time(str(item["watermark"]))

    def advance_sync_watermark(self, account_id: str, watermark: datetime, run_id: str) -> bool:
        """Move the account's watermark forward to `watermark`; True when it moved.

        Conditional: a watermark never moves backwards, so a slow run finishing after a newer one (or
        a retried invocation) cannot make the next run skip changes already behind the newer bound.
        """
        value = stored_time(watermark)
        try:
            self._table.update_item(
                Key=self._sync_state_key(account_id),
                UpdateExpression="SET #watermark = :watermark, #run = :run, #updated = :now",
                ConditionExpression="attribute_not_exists(#watermark) OR #watermark < :watermark",
                ExpressionAttributeNames={
                    "#watermark": "watermark",
                    "#run": "run_id",
                    "#updated": "updated_at",
                },
                ExpressionAttributeValues={
                    ":watermark": value,
                    ":run": run_id,
                    ":now": stored_time(datetime.now(UTC)),
                },
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True
