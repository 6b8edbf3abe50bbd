"""Account items: settings (`pk = ACCOUNT#<id>`, `sk = SETTINGS`, listed through ChangedIndex `ACCOUNTS`)
and the sync state (`sk = SYNCSTATE`: the watermark of the account's incremental sync run).

Settings are saved in order: each save carries its order, the settings' `settings_version` (0 when
the event had none) and then the event's time, and a save older than the stored one is refused
(:class:`StaleSettings`), so a late retry of an older event cannot revert newer settings. The item
also records a baseline run that is owed (`baseline_pending`) until it has been requested.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from consent_sync.domain.errors import Rejected
from consent_sync.domain.settings import AccountSettings, baseline_owed
from consent_sync.store.aws import dynamodb_table
from consent_sync.store.contacts import is_condition_failure, parse_stored_time, stored_time

ACCOUNTS_INDEX_KEY = "ACCOUNTS"
SYNC_STATE_SK = "SYNCSTATE"
# A save races another only when two settings events of one account arrive together; each round
# re-reads the item and decides again.
_SAVE_ATTEMPTS = 5


class StaleSettings(Exception):
    """The settings are older than the stored ones (by `settings_version`, then the event's time)."""


class SettingsBusy(RuntimeError):
    """Other saves of the account's settings kept winning the race (raised so that Lambda retries)."""


@dataclass(frozen=True)
class SavedSettings:
    """The outcome of :meth:`AccountStore.apply`."""

    #: What was stored before (None for a new account).
    previous: AccountSettings | None
    #: The item now owes a baseline run: request it, then :meth:`AccountStore.baseline_requested`.
    baseline_pending: bool
    #: This save's revision (the condition of clearing `baseline_pending`).
    revision: str


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
        """Store `settings` outside the event order; return what was stored before (None if new).

        For tests and tools writing settings straight to the store: no event time is recorded (the next
        settings event is newer, whatever its time), no baseline run is recorded as owed, and an older
        `settings_version` is still refused.
        """
        return self.apply(settings, event_time=None, track_baseline=False).previous

    def apply(
        self, settings: AccountSettings, *, event_time: datetime | None, track_baseline: bool = True
    ) -> SavedSettings:
        """Store `settings` unless the stored ones are newer; record whether a baseline run is owed.

        The order is (`settings_version` or 0, `event_time`): a lower version is refused, and so is an
        equal one with an earlier event time (an equal time is accepted: a retry of the same event).
        Raises :class:`StaleSettings` for older settings. The save is conditional on the item read, so
        a concurrent save makes this one read and decide again.

        With `track_baseline`, the item keeps `baseline_pending` while a baseline run is owed (sync
        switched on by this save, or by an earlier one whose run was never requested): a retry after a
        failed publish still finds it owed.
        """
        version = settings.settings_version or 0
        at = None if event_time is None else stored_time(event_time)
        for _ in range(_SAVE_ATTEMPTS):
            current = self._table.get_item(Key=self._key(settings.account_id), ConsistentRead=True).get(
                "Item"
            )
            previous = None if current is None else AccountSettings.model_validate_json(current["settings"])
            if current is not None:
                _check_order(current, version, at)
            pending = track_baseline and baseline_owed(
                previous, settings, pending=bool(current and current.get("baseline_pending"))
            )
            revision = uuid.uuid4().hex
            item: dict[str, Any] = {
                **self._key(settings.account_id),
                "settings": settings.model_dump_json(),
                "settings_version": version,
                "revision": revision,
                "updated_at": datetime.now(UTC).isoformat(),
                "gsi1pk": ACCOUNTS_INDEX_KEY,
                "gsi1sk": settings.account_id,
            }
            if at is not None:
                item["event_time"] = at
            if pending:
                item["baseline_pending"] = True
            try:
                self._table.put_item(Item=item, **_unchanged_since(current))
            except ClientError as error:
                if is_condition_failure(error):
                    continue  # another save came first: read it and decide again
                raise
            return SavedSettings(previous=previous, baseline_pending=pending, revision=revision)
        raise SettingsBusy(f"the settings of {settings.account_id!r} kept changing while being saved")

    def baseline_requested(self, account_id: str, revision: str) -> bool:
        """The owed baseline run of save `revision` was requested: clear `baseline_pending`.

        Conditional on the revision: a later save has read the flag and decided for itself. True when
        cleared.
        """
        try:
            self._table.update_item(
                Key=self._key(account_id),
                UpdateExpression="REMOVE #pending",
                ConditionExpression="#revision = :revision",
                ExpressionAttributeNames={"#pending": "baseline_pending", "#revision": "revision"},
                ExpressionAttributeValues={":revision": revision},
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def baseline_pending(self, account_id: str) -> bool:
        """True when the account's settings item records a baseline run still owed."""
        item = self._table.get_item(Key=self._key(account_id), ConsistentRead=True).get("Item")
        return bool(item and item.get("baseline_pending"))

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


def _check_order(current: dict[str, Any], version: int, at: str | None) -> None:
    """Raise :class:`StaleSettings` when the stored item is newer than (`version`, `at`).

    An item without a version was stored before saves were ordered, one without an event time outside
    the event order (:meth:`AccountStore.save`); a save without a time compares by version alone.
    """
    if "settings_version" not in current:
        return
    stored_version = int(current["settings_version"])
    stored_at = current.get("event_time")
    if version > stored_version:
        return
    if version == stored_version and (at is None or stored_at is None or at >= str(stored_at)):
        return
    raise StaleSettings(
        f"settings_version {version} of {at or 'no time'} is older than the stored settings_version "
        f"{stored_version} of {stored_at or 'no time'}"
    )


def _unchanged_since(current: dict[str, Any] | None) -> dict[str, Any]:
    """The put's condition: the item is still as read (absent, or the same revision)."""
    if current is None:
        return {"ConditionExpression": "attribute_not_exists(pk)"}
    if "revision" not in current:
        return {
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#revision)",
            "ExpressionAttributeNames": {"#revision": "revision"},
        }
    return {
        "ConditionExpression": "#revision = :revision",
        "ExpressionAttributeNames": {"#revision": "revision"},
        "ExpressionAttributeValues": {":revision": current["revision"]},
    }
