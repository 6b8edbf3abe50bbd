"""Keeping an account's SuperOffice webhook as its settings want it: registered, repaired, or removed.

One webhook per account and deployment (named by :func:`~consent_sync.domain.webhook.webhook_name`),
for ``person.consented`` and ``person.unconsented``, pointing at the receiver's URL for the account and
signed with the account's own secret (Secrets Manager). Wanted while the account syncs; removed, with
its secret, when sync is switched off or the integration is ``none``.

- ``apply``: the settings flow. Registers it, or rewrites the one found (target, events, secret,
  ``Active``), so a webhook changed by hand in SuperOffice is put right.
- ``check``: the 30-minute run. Reads it and rewrites it only when it is not as wanted (``Stopped``,
  ``TooManyErrors``, another target), and logs the repair; registers it again when it is gone.

A tenant whose app may not use the webhook agent (403) is recorded ``unavailable``: the poll still
runs, and the state says why there is no webhook. SuperOffice down: the state is ``unknown`` with the
reason, and the next run tries again. Whatever happens, the settings stay applied.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit

from consent_sync.config import FunctionConfig
from consent_sync.domain.settings import AccountSettings
from consent_sync.domain.webhook import (
    WEBHOOK_EVENTS,
    WebhookState,
    WebhookStatus,
    target_url,
    webhook_name,
)
from consent_sync.flows.connect import open_superoffice
from consent_sync.observability import logger, metrics
from consent_sync.store.secrets import CredentialsUnavailable, delete_webhook_secret, ensure_webhook_secret
from consent_sync.store.webhooks import WebhookStore
from consent_sync.superoffice import Forbidden, SuperOfficeError

if TYPE_CHECKING:
    # The client and its models come with the first client opened (flows.connect), not at import.
    from consent_sync.superoffice import SuperOfficeClient
    from consent_sync.superoffice.models import Webhook


class Mode(StrEnum):
    """Who keeps the webhook: the settings flow (rewrite it) or the scheduled run (repair it if needed)."""

    APPLY = "apply"
    CHECK = "check"


def webhook_wanted(settings: AccountSettings, config: FunctionConfig) -> bool:
    """Whether the account should have a webhook: it syncs with SuperOffice and the stack has a receiver."""
    return settings.syncs and settings.superoffice is not None and bool(config.webhook_base_url)


def keep_webhook(
    settings: AccountSettings,
    config: FunctionConfig,
    mode: Mode,
    *,
    previous: AccountSettings | None = None,
) -> WebhookState:
    """Make the tenant's webhook for this account what the settings want; record and return its state.

    ``previous`` are the settings these replaced: switching to integration ``none`` removes the
    webhook through the connection the account had (the one call to SuperOffice such a switch makes).
    """
    store = WebhookStore(config.table_name)
    before = store.get(settings.account_id)
    if webhook_wanted(settings, config):
        state = _registered(settings, config, before, mode)
    else:
        reachable = settings if settings.talks_to_superoffice else previous
        state = _removed(settings.account_id, reachable, config, before)
    store.put(state)  # `checked_at` says when consent-sync last looked, so it is written every time
    return state


def _now() -> datetime:
    return datetime.now(UTC)


def _registered(
    settings: AccountSettings, config: FunctionConfig, before: WebhookState | None, mode: Mode
) -> WebhookState:
    assert config.webhook_base_url is not None  # webhook_wanted
    account_id = settings.account_id
    url = target_url(config.webhook_base_url, account_id)
    name = webhook_name(config.stack_name, account_id)
    try:
        secret = ensure_webhook_secret(config.webhook_secret_prefix, account_id)
        with open_superoffice(settings, config) as client:
            hook, action = _make_wanted(client, name, url, secret, mode)
    except Forbidden as exc:
        logger.warning(
            "SuperOffice refuses this app's webhook agent; the 30-minute poll keeps the account in sync",
            extra={"account_id": account_id, "problem": str(exc)},
        )
        metrics.add_metric(name="WebhookUnavailable", unit=MetricUnit.Count, value=1)
        return WebhookState(
            account_id=account_id,
            status=WebhookStatus.UNAVAILABLE,
            target_url=url,
            checked_at=_now(),
            detail=f"SuperOffice answered 403 to the webhook agent: {exc}",
        )
    except (SuperOfficeError, CredentialsUnavailable) as exc:
        logger.warning(
            "webhook not kept; the next scheduled run tries again",
            extra={"account_id": account_id, "error": type(exc).__name__, "problem": str(exc)},
        )
        metrics.add_metric(name="WebhookNotKept", unit=MetricUnit.Count, value=1)
        return WebhookState(
            account_id=account_id,
            status=WebhookStatus.UNKNOWN,
            webhook_id=None if before is None else before.webhook_id,
            target_url=url,
            checked_at=_now(),
            detail=f"{type(exc).__name__}: {exc}",
        )
    now = _now()
    if action != "kept":
        logger.info(
            f"webhook {action}",
            extra={"account_id": account_id, "webhook_id": hook.webhook_id, "state": hook.state},
        )
        metrics.add_metric(name=f"Webhook{action.capitalize()}", unit=MetricUnit.Count, value=1)
    return WebhookState(
        account_id=account_id,
        status=WebhookStatus.from_superoffice(hook.state),
        webhook_id=hook.webhook_id,
        target_url=url,
        checked_at=now,
        detail=None if action == "kept" else f"{action} at {now.isoformat(timespec='seconds')}",
    )


def _make_wanted(
    client: SuperOfficeClient, name: str, url: str, secret: str, mode: Mode
) -> tuple[Webhook, str]:
    """The account's one webhook as wanted, and what was done: ``registered``, ``repaired``, ``rewritten``
    or ``kept``. Extra webhooks of the same name (a retried registration) are deleted."""
    found = sorted(client.webhooks(name), key=lambda hook: hook.webhook_id)
    for extra in found[1:]:
        client.delete_webhook(extra.webhook_id)
    if not found:
        return client.create_webhook(name, url, secret, WEBHOOK_EVENTS), "registered"
    hook = found[0]
    as_wanted = (
        WebhookStatus.from_superoffice(hook.state) is WebhookStatus.ACTIVE
        and hook.target_url == url
        and set(hook.events) == set(WEBHOOK_EVENTS)
    )
    if mode is Mode.CHECK and as_wanted:
        return hook, "kept"
    updated = client.update_webhook(hook.webhook_id, name, url, secret, WEBHOOK_EVENTS)
    return updated, "rewritten" if as_wanted else "repaired"


def _removed(
    account_id: str,
    reachable: AccountSettings | None,
    config: FunctionConfig,
    before: WebhookState | None,
) -> WebhookState:
    """No webhook wanted: delete the one held (and any of its name) through ``reachable``'s connection,
    then its secret."""
    idle = WebhookState(account_id=account_id, status=WebhookStatus.NONE, checked_at=_now())
    if before is None or before.status is WebhookStatus.NONE:
        return idle
    if reachable is None or not reachable.talks_to_superoffice:
        # No connection to reach the tenant with. Without its secret the receiver refuses every
        # delivery, so SuperOffice stops the webhook after its retries.
        delete_webhook_secret(config.webhook_secret_prefix, account_id)
        return idle.model_copy(update={"detail": "no SuperOffice connection: the tenant's webhook was left"})
    try:
        with open_superoffice(reachable, config) as client:
            held = {hook.webhook_id for hook in client.webhooks(webhook_name(config.stack_name, account_id))}
            if before.webhook_id is not None:
                held.add(before.webhook_id)
            for webhook_id in sorted(held):
                client.delete_webhook(webhook_id)
    except Forbidden:
        pass  # the agent was never available: there is nothing to delete
    except (SuperOfficeError, CredentialsUnavailable) as exc:
        logger.warning(
            "webhook not removed; the next scheduled run tries again",
            extra={"account_id": account_id, "error": type(exc).__name__, "problem": str(exc)},
        )
        return before.model_copy(update={"checked_at": _now(), "detail": f"removal pending: {exc}"})
    delete_webhook_secret(config.webhook_secret_prefix, account_id)
    logger.info("webhook removed", extra={"account_id": account_id})
    return idle
