"""Applying `Integration Settings Updated`: store the settings; sync switched on starts a baseline run."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from consent_sync.config import get_config
from consent_sync.domain.errors import Rejected
from consent_sync.domain.settings import AccountSettings, sync_switched_on
from consent_sync.events import IntegrationSettingsUpdated, SyncRequested
from consent_sync.observability import logger, metrics
from consent_sync.store.accounts import AccountStore
from consent_sync.store.bus import publish
from consent_sync.store.secrets import arn_is_under


def apply_settings(update: IntegrationSettingsUpdated, event_id: str) -> dict[str, Any]:
    """Validate and store an account's settings (event `event_id`); return what happened."""
    config = get_config()
    if update.superoffice is not None and not arn_is_under(
        update.superoffice.credentials_secret_arn, config.secret_prefix
    ):
        # The functions may only read secrets under the stack's prefix (see template.yaml).
        raise Rejected(
            "credentials_secret_outside_prefix",
            f"the credentials secret must be named {config.secret_prefix}<account_id>",
        )
    settings = AccountSettings.model_validate(update.model_dump())
    previous = AccountStore(config.table_name).save(settings)
    baseline = sync_switched_on(previous, settings)
    metrics.add_metric(name="SettingsStored", unit=MetricUnit.Count, value=1)
    if baseline:
        # Sync takes effect on the first save: no "set none, apply, enable again" dance.
        publish(config.event_bus_name, SyncRequested(account_id=settings.account_id, baseline=True))
    logger.info(
        "account settings stored",
        extra={
            "account_id": settings.account_id,
            "integration": settings.integration.value,
            "legal_basis_sync": settings.legal_basis_sync,
            "baseline_requested": baseline,
            "new_account": previous is None,
            "event_id": event_id,
        },
    )
    return {"status": "stored", "account_id": settings.account_id, "baseline_requested": baseline}
