"""Checking an account's SuperOffice connection (`consent-sync check`): what one sync needs, tried once.

With the account's stored credentials: locate the API (Online: the tenant state) and authenticate
(Online: the system-user login), read the three key lists and one person, ask for the API's version,
and report each call's latency and the rate-limit headers seen, whether the purposes consent-sync
keeps in step exist, and the account's webhook as consent-sync last recorded it. Each call is tried
once (no retries: a check reports what happens, it does not hide it) within ``timeout_s``.

A failure is one code (:func:`failure_code`), so an operator (or a script) can tell a refused
password from a certificate problem or a host name that does not resolve. Messages come from the
client's scrubbed errors: no credential or e-mail address reaches the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from consent_sync.config import FunctionConfig
from consent_sync.domain.vocabulary import Purpose
from consent_sync.domain.webhook import WebhookState, WebhookStatus
from consent_sync.flows.connect import open_superoffice
from consent_sync.store.accounts import AccountStore
from consent_sync.store.secrets import CredentialsUnavailable
from consent_sync.store.webhooks import WebhookStore
from consent_sync.superoffice import (
    AuthError,
    BadRequest,
    BadResponse,
    Forbidden,
    NotFound,
    SuperOfficeError,
    Throttled,
    TimedOut,
    Unavailable,
    Unreachable,
)

if TYPE_CHECKING:
    from consent_sync.superoffice import SuperOfficeClient
    from consent_sync.superoffice.exchanges import Exchange

DEFAULT_TIMEOUT_S = 10.0
UNKNOWN_VERSION = "unknown"

# The failure codes, most specific first (subclasses before their base classes).
_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (CredentialsUnavailable, "credentials_unavailable"),
    (Forbidden, "forbidden"),
    (AuthError, "auth_failed"),
    (TimedOut, "timeout"),
    (Throttled, "throttled"),
    (Unavailable, "unavailable"),
    (NotFound, "not_found"),
    (BadRequest, "rejected"),
    (BadResponse, "bad_response"),
    (SuperOfficeError, "superoffice_error"),
)


def failure_code(exc: BaseException) -> str:
    """The check's error code for what went wrong talking to SuperOffice.

    ``dns``, ``tls`` or ``unreachable`` (no connection) for a server never reached, ``timeout``,
    ``auth_failed`` (401, a refused login), ``forbidden`` (403), ``throttled`` (429), ``unavailable``
    (5xx), ``not_found`` (404: often a wrong API URL), ``rejected`` (another 4xx), ``bad_response``
    (an answer of the wrong shape), ``credentials_unavailable`` (the secret could not be read).
    """
    if isinstance(exc, Unreachable):
        return {"dns": "dns", "tls": "tls"}.get(exc.cause, "unreachable")
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code
    raise TypeError(f"not a SuperOffice failure: {type(exc).__name__}")


@dataclass
class ConnectionCheck:
    """What `check` found; ``error`` is None exactly when the connection is healthy."""

    account_id: str
    error: str | None = None
    message: str | None = None
    api_base: str | None = None
    api_version: str = UNKNOWN_VERSION
    netserver: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    lists: dict[str, int] = field(default_factory=dict)
    purposes: dict[str, bool] = field(default_factory=dict)
    person_read: bool | None = None
    webhook: WebhookState | None = None
    live_webhook: dict[str, Any] | None = None
    """The recorded webhook as SuperOffice has it now: its ``state`` and consent-sync's ``status``
    for it (``deleted`` when SuperOffice no longer has it)."""

    @property
    def healthy(self) -> bool:
        return self.error is None

    def fail(self, code: str, message: str) -> ConnectionCheck:
        self.error, self.message = code, message
        return self

    def document(self) -> dict[str, Any]:
        """The JSON document of `check --json` (docs/cli.md); failures add ``error`` and ``message``."""
        seen: dict[str, str] = {}
        for exchange in self.exchanges:
            seen.update(exchange.rate_limit_headers)
        document: dict[str, Any] = {
            "account_id": self.account_id,
            "healthy": self.healthy,
            "api_base": self.api_base,
            "api_version": self.api_version,
            "netserver": self.netserver,
            "calls": [
                {
                    "endpoint": exchange.endpoint,
                    "status": exchange.status,
                    "latency_ms": round(exchange.latency_s * 1000, 1),
                    **({"error": exchange.error} if exchange.error else {}),
                }
                for exchange in self.exchanges
            ],
            "rate_limit_headers": seen,
            "lists": self.lists,
            "purposes": self.purposes,
            "person_read": self.person_read,
            "webhook": None
            if self.webhook is None
            else self.webhook.model_dump(mode="json") | {"live": self.live_webhook},
        }
        if self.error is not None:
            document = {"error": self.error, "message": self.message} | document
        return document


def check_connection(
    config: FunctionConfig, account_id: str, *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> ConnectionCheck:
    """Check the account's SuperOffice connection with its stored credentials (see the module)."""
    from consent_sync.superoffice import RetryPolicy  # the transport: httpx, only when checking

    check = ConnectionCheck(account_id=account_id)
    settings = AccountStore(config.table_name).get(account_id)
    if settings is None:
        return check.fail("unknown_account", f"account {account_id!r} has no settings")
    if not settings.talks_to_superoffice:
        return check.fail(
            "integration_none", f"account {account_id!r} has integration none: it never calls SuperOffice"
        )
    check.webhook = WebhookStore(config.table_name).get(account_id)
    try:
        with open_superoffice(
            settings, config, timeout_s=timeout_s, retry=RetryPolicy(max_attempts=1)
        ) as client:
            check.exchanges = client.record_exchanges()
            _probe(client, check)
    except CredentialsUnavailable as exc:
        return check.fail(failure_code(exc), str(exc))
    except Forbidden as exc:
        if exc.endpoint is not None and "/Webhook" in exc.endpoint:
            # The tenant refuses this app's webhook agent: the recorded state is out of date.
            return check.fail("webhook_unavailable", str(exc))
        return check.fail(failure_code(exc), str(exc))
    except SuperOfficeError as exc:
        return check.fail(failure_code(exc), str(exc))
    missing = [key for key, present in check.purposes.items() if not present]
    if missing:
        return check.fail(
            "purpose_missing", f"the tenant has no consent purpose {', '.join(missing)}: nothing to sync"
        )
    if check.webhook is not None and check.webhook.status is WebhookStatus.UNAVAILABLE:
        return check.fail(
            "webhook_unavailable",
            "SuperOffice refuses this app's webhooks (only the 30-minute run syncs)"
            + (f": {check.webhook.detail}" if check.webhook.detail else ""),
        )
    return check


def _probe(client: SuperOfficeClient, check: ConnectionCheck) -> None:
    """The calls of a check, in the order a sync makes them; each fills its part of ``check``."""
    check.api_base = client.api_base()
    legal_bases = client.legal_bases(refresh=True)
    purposes = client.consent_purposes(refresh=True)
    check.lists = {
        "legal_bases": len(legal_bases),
        "consent_purposes": len(purposes),
        "consent_sources": len(client.consent_sources(refresh=True)),
    }
    live = {item.key for item in purposes if not item.deleted}
    check.purposes = {purpose.value: purpose.value in live for purpose in Purpose}
    check.person_read = client.any_person() is not None
    version = client.api_version()
    if version is not None:
        check.api_version = version.version or UNKNOWN_VERSION
        check.netserver = version.netserver_version or version.netserver
    if check.webhook is not None and check.webhook.webhook_id is not None:
        try:
            hook = client.webhook(check.webhook.webhook_id)
        except NotFound:
            check.live_webhook = {"state": None, "status": "deleted"}
        else:
            status = WebhookStatus.from_superoffice(hook.state)
            check.live_webhook = {"state": hook.state, "status": status.value}
