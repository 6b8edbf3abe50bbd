"""What the operator CLI does, apart from parsing arguments and printing: one function per command."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from consent_sync.domain.settings import AccountSettings, SuperOfficeCredentials
from consent_sync.domain.webhook import WebhookStatus
from consent_sync.events import PLATFORM_SOURCE, IntegrationSettingsUpdated, describe_errors
from consent_sync.store.accounts import AccountStore
from consent_sync.store.bus import publish
from consent_sync.store.secrets import secret_name
from consent_sync.store.webhooks import WebhookStore
from devtools.stack import Stack
from devtools.uploads import write_credentials

# The choices the CLI offers (typer turns a Literal into a choice).
IntegrationName = Literal["superoffice", "none"]
AuthName = Literal["basic", "ticket", "system-user"]
EnvironmentName = Literal["sod", "qaonline", "online"]
PresendPolicyName = Literal["use_last_known", "block"]
ChannelName = Literal["email", "sms"]
StageName = Literal["checklist", "sending"]
PurposeName = Literal["STORE", "EMARKETING"]

# How long `account set` waits for the settings function to have stored the new settings.
APPLY_TIMEOUT_S = 30.0


class OperatorError(RuntimeError):
    """A command failed for a reason the user can act on; `code` is the JSON error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AccountOptions:
    """The options of `account set`; None means "keep what the account has"."""

    integration: str
    legal_basis_sync: bool | None = None
    superoffice_url: str | None = None
    auth: str | None = None
    allow_insecure: bool = False
    username: str | None = None
    password: str | None = None
    ticket: str | None = None
    context_id: str | None = None
    environment: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    system_user_token: str | None = None
    private_key: str | None = None
    login_url: str | None = None
    presend_on_superoffice_failure: str | None = None

    def credentials(self) -> dict[str, str]:
        """The secret fields given on the command line (empty when none were)."""
        fields = (
            "username",
            "password",
            "ticket",
            "client_id",
            "client_secret",
            "system_user_token",
            "private_key",
        )
        return {name: value for name in fields if (value := getattr(self, name)) is not None}


def explain(exc: Exception) -> str:
    """A one-line reason for an invalid configuration, never echoing secrets."""
    if isinstance(exc, ValidationError):
        return describe_errors(exc)
    return str(exc)


def set_account(stack: Stack, account_id: str, options: AccountOptions) -> AccountSettings:
    """Store credentials (if given), publish `Integration Settings Updated`, wait until it is applied."""
    store = AccountStore(stack.table_name)
    current = store.get(account_id)
    settings = _merge(stack, account_id, current, options)
    credentials = options.credentials()
    if settings.superoffice is not None:
        if credentials:
            checked = SuperOfficeCredentials.model_validate(credentials)
            checked.check_for(settings.superoffice.auth)
            arn = write_credentials(
                secret_name(stack.secret_prefix, account_id),
                credentials,
                description=f"SuperOffice credentials of consent-sync account {account_id}",
            )
            settings = settings.model_copy(
                update={
                    "superoffice": settings.superoffice.model_copy(update={"credentials_secret_arn": arn})
                }
            )
        elif current is None or current.superoffice is None:
            raise ValueError(
                "give the SuperOffice credentials the first time (--username/--password, --ticket, ...)"
            )
    update = IntegrationSettingsUpdated.model_validate(settings.model_dump())
    sent_at = datetime.now(UTC)
    publish(stack.bus_name, update, source=PLATFORM_SOURCE)
    _wait_until_stored(store, settings)
    if "WebhookReceiverUrl" in stack.outputs:
        # The settings function keeps (registers, removes) the webhook right after storing the settings.
        _wait_for_webhook(WebhookStore(stack.table_name), account_id, sent_at)
    return settings


def _wait_for_webhook(store: WebhookStore, account_id: str, since: datetime) -> None:
    deadline = time.monotonic() + APPLY_TIMEOUT_S
    while time.monotonic() < deadline:
        state = store.get(account_id)
        if state is not None and state.checked_at >= since:
            return
        time.sleep(0.2)
    raise OperatorError(
        "not_applied",
        f"the settings of {account_id!r} were stored, but the webhook was not kept within "
        f"{APPLY_TIMEOUT_S:.0f} s (the settings function's logs say why)",
    )


def _merge(
    stack: Stack, account_id: str, current: AccountSettings | None, options: AccountOptions
) -> AccountSettings:
    """The settings the user asked for: the options given, the rest as the account has it."""
    data: dict[str, Any] = current.model_dump() if current else {"account_id": account_id}
    if current is not None and current.settings_version is not None:
        # Saves are ordered by version first: the next one, or the settings function refuses it as stale.
        data["settings_version"] = current.settings_version + 1
    data["integration"] = options.integration
    if options.legal_basis_sync is not None:
        data["legal_basis_sync"] = options.legal_basis_sync
    if options.presend_on_superoffice_failure is not None:
        data["presend_on_superoffice_failure"] = options.presend_on_superoffice_failure
    if options.integration == "none":
        # Keep the connection, so switching back needs no credentials again; `none` stops every call.
        return AccountSettings.model_validate(data)
    connection: dict[str, Any] = dict(data.get("superoffice") or {})
    if options.superoffice_url is not None:
        connection.update(kind="onsite", base_url=options.superoffice_url, context_id=None, environment=None)
    if options.context_id is not None or options.environment is not None:
        connection.update(
            kind="online", base_url=None, context_id=options.context_id, environment=options.environment
        )
    if options.auth is not None:
        connection["auth"] = options.auth
    elif "auth" not in connection:
        connection["auth"] = "system_user" if connection.get("kind") == "online" else "basic"
    if options.login_url is not None:
        connection["login_root"] = options.login_url
    if options.allow_insecure:
        connection["allow_insecure"] = True
    if "kind" not in connection:
        raise ValueError("give --superoffice-url (on-site) or --context-id and --environment (Online)")
    # A placeholder until the secret is written; validation needs a well-formed ARN.
    connection.setdefault("credentials_secret_arn", _placeholder_arn(stack, account_id))
    data["superoffice"] = connection
    return AccountSettings.model_validate(data)


def _placeholder_arn(stack: Stack, account_id: str) -> str:
    return (
        f"arn:aws:secretsmanager:eu-west-1:000000000000:secret:{secret_name(stack.secret_prefix, account_id)}"
    )


def _wait_until_stored(store: AccountStore, settings: AccountSettings) -> None:
    deadline = time.monotonic() + APPLY_TIMEOUT_S
    while time.monotonic() < deadline:
        if store.get(settings.account_id) == settings:
            return
        time.sleep(0.2)
    raise OperatorError(
        "not_applied",
        f"the settings of {settings.account_id!r} were sent but not stored within {APPLY_TIMEOUT_S:.0f} s; "
        "the events dead-letter queue says why",
    )


def show_account(stack: Stack, account_id: str) -> dict[str, Any]:
    """An account's stored settings as JSON-ready data (the secret's ARN, never its value)."""
    settings = AccountStore(stack.table_name).get(account_id)
    if settings is None:
        raise OperatorError("unknown_account", f"account {account_id!r} has no settings")
    return settings.model_dump(mode="json") | {"webhook": webhook_document(stack, account_id)}


def webhook_document(stack: Stack, account_id: str) -> dict[str, Any]:
    """The account's webhook as consent-sync last saw it: ``status`` (``active``, ``stopped``,
    ``too_many_errors``, ``unknown``, ``unavailable``, ``none``), its id, URL, when checked and why."""
    state = WebhookStore(stack.table_name).get(account_id)
    if state is None:
        return {
            "status": WebhookStatus.NONE.value,
            "webhook_id": None,
            "target_url": None,
            "checked_at": None,
            "detail": None,
        }
    return state.model_dump(mode="json", exclude={"account_id"})
