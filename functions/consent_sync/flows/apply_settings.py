"""Applying `Integration Settings Updated`: store the settings; sync switched on starts a baseline run;
the account's SuperOffice webhook is registered while it syncs, and removed when it stops
(`keep_webhook`).

Refused, each with its own reason (kept in the events dead-letter queue): a credentials secret that is
not exactly this account's in this stack's region and AWS account, endpoints only a test stack may
use, and settings older than the stored ones (docs/events.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from consent_sync.config import FunctionConfig, get_config
from consent_sync.domain.errors import Rejected
from consent_sync.domain.settings import AccountSettings, EndpointRefused, check_endpoints
from consent_sync.events import IntegrationSettingsUpdated, SyncRequested
from consent_sync.flows.keep_webhook import Mode, keep_webhook
from consent_sync.observability import logger, metrics
from consent_sync.store.accounts import AccountStore, StaleSettings
from consent_sync.store.bus import publish
from consent_sync.store.secrets import secret_arn_problem


def apply_settings(update: IntegrationSettingsUpdated, event_id: str) -> dict[str, Any]:
    """Validate and store an account's settings (event `event_id`); return what happened."""
    config = get_config()
    check_allowed(update, config)
    settings = AccountSettings.model_validate(update.model_dump())
    store = AccountStore(config.table_name)
    try:
        saved = store.apply(settings, event_time=order_time(update.event_time))
    except StaleSettings as exc:
        raise Rejected("stale_settings", f"not applied: {exc}") from exc
    metrics.add_metric(name="SettingsStored", unit=MetricUnit.Count, value=1)
    # After storing: whatever SuperOffice answers, the settings are applied (the run repairs the webhook).
    webhook = keep_webhook(settings, config, Mode.APPLY, previous=saved.previous)
    if saved.baseline_pending:
        # Sync takes effect on the first save: no "set none, apply, enable again" dance. The item
        # says the run is owed until it is requested, so a retry after a failed publish requests it.
        publish(config.event_bus_name, SyncRequested(account_id=settings.account_id, baseline=True))
        store.baseline_requested(settings.account_id, saved.revision)
    logger.info(
        "account settings stored",
        extra={
            "account_id": settings.account_id,
            "integration": settings.integration.value,
            "legal_basis_sync": settings.legal_basis_sync,
            "settings_version": settings.settings_version,
            "baseline_requested": saved.baseline_pending,
            "new_account": saved.previous is None,
            "webhook": webhook.status.value,
            "event_id": event_id,
        },
    )
    return {
        "status": "stored",
        "account_id": settings.account_id,
        "baseline_requested": saved.baseline_pending,
        "webhook": webhook.status.value,
    }


def check_allowed(update: IntegrationSettingsUpdated, config: FunctionConfig) -> None:
    """Refuse settings this stack may not act on (`Rejected` with the specific reason)."""
    superoffice = update.superoffice
    if superoffice is None:
        return
    problem = secret_arn_problem(
        superoffice.credentials_secret_arn, arn_prefix=config.secret_arn_prefix, account_id=update.account_id
    )
    if problem is not None:
        # The functions may only read secrets under the stack's prefix (IAM), and an account only its own.
        raise Rejected(
            problem,
            "the credentials secret must be this account's own: "
            f"{config.secret_arn_prefix}{update.account_id}-XXXXXX",
        )
    try:
        check_endpoints(superoffice, allow_test_endpoints=config.allow_test_endpoints)
    except EndpointRefused as exc:
        raise Rejected(exc.code, str(exc)) from exc


def order_time(event_time: datetime | None) -> datetime:
    """The event's time as the save's order: UTC, in whole seconds (EventBridge's resolution), never
    later than now (an event stamped in the future must not outrank every later one). Now when the
    event has no time."""
    now = datetime.now(UTC)
    if event_time is None:
        at = now
    else:
        aware = event_time if event_time.tzinfo is not None else event_time.replace(tzinfo=UTC)
        at = min(aware.astimezone(UTC), now)
    return at.replace(microsecond=0)
