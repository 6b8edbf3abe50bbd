"""When a set of recipients was last reconciled: a repeated send-out check skips SuperOffice for them.

Item: `pk = FRESH#<account>`, `sk = <sha256 of the sorted e-mails>`, `at`, TTL `expires_at`. A check of
the same recipients (the same list gives the same chunks) within the account's `presend_fresh_seconds`
answers from what the first check reconciled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from consent_sync.store.aws import dynamodb_table

# Long enough for any repeated check; the freshness window itself is the account's setting.
_KEEP = timedelta(days=1)


class FreshnessStore:
    """Marks and asks when a chunk's recipients were reconciled."""

    def __init__(self, table_name: str) -> None:
        self._table = dynamodb_table(table_name)

    @staticmethod
    def _key(account_id: str, emails: Iterable[str]) -> dict[str, str]:
        digest = hashlib.sha256("\n".join(sorted(set(emails))).encode()).hexdigest()
        return {"pk": f"FRESH#{account_id}", "sk": digest}

    def reconciled_at(self, account_id: str, emails: Iterable[str]) -> datetime | None:
        """When exactly these recipients were last reconciled together, if within the kept period."""
        item = self._table.get_item(Key=self._key(account_id, emails)).get("Item")
        return None if item is None else datetime.fromisoformat(str(item["at"]))

    def mark(self, account_id: str, emails: Iterable[str], at: datetime) -> None:
        """Record that these recipients were reconciled at `at`."""
        self._table.put_item(
            Item={
                **self._key(account_id, emails),
                "at": at.astimezone(UTC).isoformat(),
                "expires_at": int((at + _KEEP).timestamp()),
            }
        )
