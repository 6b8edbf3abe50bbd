"""The account's SuperOffice webhook item (`pk = ACCOUNT#<id>`, `sk = WEBHOOK`): its id, state and URL.

The webhook's signing secret is not here: it lives in Secrets Manager (:mod:`consent_sync.store.secrets`).
"""

from __future__ import annotations

from consent_sync.domain.webhook import WebhookState
from consent_sync.store.aws import dynamodb_table

WEBHOOK_SK = "WEBHOOK"


class WebhookStore:
    """Reads and writes what consent-sync knows of each account's webhook."""

    def __init__(self, table_name: str) -> None:
        self._table = dynamodb_table(table_name)

    @staticmethod
    def _key(account_id: str) -> dict[str, str]:
        return {"pk": f"ACCOUNT#{account_id}", "sk": WEBHOOK_SK}

    def get(self, account_id: str) -> WebhookState | None:
        """The account's webhook state, or None when consent-sync never registered or checked one."""
        item = self._table.get_item(Key=self._key(account_id), ConsistentRead=True).get("Item")
        return None if item is None else WebhookState.model_validate_json(str(item["state"]))

    def put(self, state: WebhookState) -> None:
        """Record the webhook's state as consent-sync just saw or made it."""
        self._table.put_item(Item={**self._key(state.account_id), "state": state.model_dump_json()})
