"""Account settings: the one model of what a marketing account asked consent-sync to do.

The `Integration Settings Updated` event carries exactly this model as its detail; the settings item in
DynamoDB stores it as it was validated. Credentials are never part of it: only the ARN of the account's
secret in Secrets Manager.

The models are built (their validators compiled) when first used, not at import (``defer_build``),
as the event models are: importing pydantic's schema builder and compiling these validators cost a
cold start ~30-40 ms that only the functions reading settings pay, at their first event. As in
:mod:`consent_sync.events`, the module has no ``from __future__ import annotations``: a deferred build
never looks a type up by name in ``sys.modules``.
"""

import ipaddress
import re
import socket
from enum import StrEnum
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)

ACCOUNT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
AccountId = Annotated[str, StringConstraints(pattern=ACCOUNT_ID_PATTERN)]

# Secrets Manager ARN: arn:partition:secretsmanager:region:account:secret:name-6RANDOM
_SECRETS_MANAGER_ARN = (
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"  # compiled at first use
)


# -- The SuperOffice connection (not secret) and its credentials (in Secrets Manager) ----------------------

LOGIN_ROOT_TEMPLATE = "https://{environment}.superoffice.com"
"""Root of the Online login and state services per environment (api-notes §1)."""

Kind = Literal["online", "onsite"]
AuthScheme = Literal["basic", "ticket", "system_user"]
Environment = Literal["sod", "qaonline", "online"]


def _check_url(value: str, *, allow_insecure: bool, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be an absolute http(s) URL")
    if parts.scheme != "https" and not allow_insecure:
        raise ValueError(f"{what} must use https (allow_insecure is for tests and local simulators)")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} must not carry a query or fragment")
    if parts.username or parts.password:
        raise ValueError(f"{what} must not carry credentials")
    return value.rstrip("/")


def api_base_url(url: str) -> str:
    """Normalise a tenant API URL to end in ``/api/v1`` without a trailing slash.

    ``/api`` gets ``/v1`` appended (``/api/state`` answers with that form); anything else must already
    end in ``/api/v1``.
    """
    base = url.rstrip("/")
    if base.lower().endswith("/api"):
        base += "/v1"
    if not base.lower().endswith("/v1"):
        raise ValueError("the SuperOffice API URL must end in /api/v1")
    return base


class SuperOfficeConnection(BaseModel):
    """A SuperOffice installation: Online tenant (context id + environment) or on-site base URL."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    kind: Kind
    #: On-site only: the customer's Web API URL, ending in ``/api/v1``.
    base_url: str | None = None
    #: Online only: the tenant, ``CustNNNNN``.
    context_id: str | None = Field(None, pattern=r"^Cust\d+$")
    #: Online only: ``sod`` (development), ``qaonline`` (stage), ``online`` (production).
    environment: Environment | None = None
    auth: AuthScheme
    #: Online only: overrides ``https://{environment}.superoffice.com`` (tests point it at a simulator).
    login_root: str | None = None
    #: Permit plain http URLs (tests and the local simulator only).
    allow_insecure: bool = False

    @field_validator("base_url")
    @classmethod
    def _normalise_base_url(cls, value: str | None) -> str | None:
        return api_base_url(value) if value else value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.kind == "onsite":
            if not self.base_url:
                raise ValueError("an on-site connection needs base_url")
            if self.auth not in ("basic", "ticket"):
                raise ValueError("an on-site connection uses auth basic or ticket")
            if self.context_id or self.environment:
                raise ValueError("context_id and environment are for Online connections")
            _check_url(self.base_url, allow_insecure=self.allow_insecure, what="base_url")
        else:
            if not self.context_id or not self.environment:
                raise ValueError("an Online connection needs context_id and environment")
            if self.auth != "system_user":
                raise ValueError("an Online connection uses auth system_user")
            if self.base_url:
                raise ValueError("an Online connection finds its API URL itself; leave base_url unset")
        if self.login_root:
            _check_url(self.login_root, allow_insecure=self.allow_insecure, what="login_root")
        return self

    @property
    def login_root_url(self) -> str:
        """Root of the Online login and state services, without a trailing slash."""
        if self.login_root:
            return self.login_root.rstrip("/")
        return LOGIN_ROOT_TEMPLATE.format(environment=self.environment or "online")

    @property
    def tenant_key(self) -> str:
        """A stable, non-secret name for the tenant (cache keys, rate limiter registry)."""
        if self.kind == "online":
            return f"online:{self.login_root_url}/{self.context_id}"
        return f"onsite:{self.base_url}"


class SuperOfficeCredentials(BaseModel):
    """The secrets for one connection; which fields are needed depends on the auth scheme.

    ``basic``: ``username`` + ``password``; ``ticket``: ``ticket``; ``system_user``: ``client_id``,
    ``client_secret``, ``system_user_token`` and ``private_key`` (PEM or .NET XML ``RSAKeyValue``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    username: str | None = None
    password: SecretStr | None = None
    ticket: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    system_user_token: SecretStr | None = None
    private_key: SecretStr | None = None

    def check_for(self, auth: AuthScheme) -> None:
        """Raise ``ValueError`` naming the missing fields when these credentials cannot serve ``auth``."""
        needed: dict[AuthScheme, tuple[str, ...]] = {
            "basic": ("username", "password"),
            "ticket": ("ticket",),
            "system_user": ("client_id", "client_secret", "system_user_token", "private_key"),
        }
        missing = [name for name in needed[auth] if not _present(getattr(self, name))]
        if missing:
            raise ValueError(f"credentials for auth {auth} lack: {', '.join(missing)}")

    def secret_values(self) -> list[str]:
        """Every secret value, for scrubbing error texts."""
        values = [
            secret.get_secret_value()
            for secret in (
                self.password,
                self.ticket,
                self.client_secret,
                self.system_user_token,
                self.private_key,
            )
            if secret is not None
        ]
        return [value for value in values if value]


def _present(value: str | SecretStr | None) -> bool:
    if value is None:
        return False
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return bool(text.strip())


# -- Account settings ------------------------------------------------------------------------------------


class Integration(StrEnum):
    """Which CRM the account is integrated with. `none` stops every SuperOffice call."""

    SUPEROFFICE = "superoffice"
    NONE = "none"


class PresendFailurePolicy(StrEnum):
    """What a send-out check does when SuperOffice cannot be read."""

    USE_LAST_KNOWN = "use_last_known"
    BLOCK = "block"


class SuperOfficeSettings(SuperOfficeConnection):
    """The account's SuperOffice connection plus where its credentials are and how fast to call it."""

    credentials_secret_arn: str
    requests_per_second: float | None = Field(default=None, gt=0, le=100)

    @model_validator(mode="after")
    def _secret_is_an_arn(self) -> Self:
        if not re.match(_SECRETS_MANAGER_ARN, self.credentials_secret_arn):
            raise ValueError("credentials_secret_arn must be a Secrets Manager secret ARN")
        return self

    def connection(self) -> SuperOfficeConnection:
        """The connection alone, as the SuperOffice client takes it."""
        return SuperOfficeConnection.model_validate(
            self.model_dump(exclude={"credentials_secret_arn", "requests_per_second"})
        )


class AccountSettings(BaseModel):
    """Settings of one marketing account (the detail of `Integration Settings Updated`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    account_id: AccountId
    #: The producer's version of these settings, increased with every change (docs/events.md): a save
    #: older than the stored one is refused. Without it, saves are ordered by the event's time.
    settings_version: int | None = Field(default=None, ge=1, le=2**63 - 1)
    integration: Integration
    legal_basis_sync: bool = False
    superoffice: SuperOfficeSettings | None = None
    presend_on_superoffice_failure: PresendFailurePolicy = PresendFailurePolicy.USE_LAST_KNOWN
    # Rules and timing; defaults as in docs/sync-rules.md.
    skew_seconds: int = Field(default=5, ge=0, le=300)
    sync_overlap_minutes: int = Field(default=5, ge=0, le=1440)
    presend_fresh_seconds: int = Field(default=60, ge=0, le=3600)

    @model_validator(mode="after")
    def _superoffice_when_integrated(self) -> Self:
        if self.integration is Integration.SUPEROFFICE and self.superoffice is None:
            raise ValueError("superoffice settings are required when integration is superoffice")
        return self

    @property
    def talks_to_superoffice(self) -> bool:
        """True when consent-sync may call SuperOffice for this account at all."""
        return self.integration is Integration.SUPEROFFICE and self.superoffice is not None

    @property
    def syncs(self) -> bool:
        """True when legal-basis sync runs for this account."""
        return self.talks_to_superoffice and self.legal_basis_sync


def sync_switched_on(previous: AccountSettings | None, current: AccountSettings) -> bool:
    """True when this save turns legal-basis sync on (from off, from `none`, or for a new account)."""
    return current.syncs and not (previous is not None and previous.syncs)


def baseline_owed(previous: AccountSettings | None, current: AccountSettings, *, pending: bool) -> bool:
    """True when a baseline run is owed after saving `current` over `previous`.

    Owed when this save switches sync on, or when an earlier save switched it on and its run was never
    requested (`pending`: publishing failed after that save) and sync is still on.
    """
    return sync_switched_on(previous, current) or (pending and current.syncs)


# -- Which endpoints a stack accepts ---------------------------------------------------------------------

#: Host names that never name a customer's SuperOffice on the internet.
_INTERNAL_NAMES = ("localhost", "localhost.localdomain")
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain")


class EndpointRefused(ValueError):
    """A connection this stack may not call; `code` is the rejection reason (docs/events.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_endpoints(connection: SuperOfficeConnection, *, allow_test_endpoints: bool) -> None:
    """Refuse what only a local or test stack may use (raises :class:`EndpointRefused`).

    The credentials go to the connection's hosts, and an Online connection checks the system-user
    token against the JWKS of its login root: a login root of the sender's choosing would check
    nothing. So, unless the stack allows test endpoints (``AllowTestEndpoints``, never in ``prod``):
    no ``allow_insecure`` (plain http), no ``login_root`` other than SuperOffice's own for the
    environment, and no on-site ``base_url`` on a loopback, private, link-local or otherwise
    non-public address or an internal host name.
    """
    if allow_test_endpoints:
        return
    if connection.allow_insecure:
        raise EndpointRefused(
            "allow_insecure_not_allowed",
            "allow_insecure (plain http) is for local and test stacks; this stack accepts https only",
        )
    if connection.login_root and connection.login_root.rstrip("/").lower() != _default_login_root(connection):
        raise EndpointRefused(
            "login_root_not_allowed",
            "login_root is for local and test stacks; this stack logs in at "
            f"{_default_login_root(connection)} only",
        )
    if connection.base_url and is_internal_host(urlsplit(connection.base_url).hostname or ""):
        raise EndpointRefused(
            "superoffice_host_not_allowed",
            "base_url names a loopback, private or internal host; this stack calls public hosts only",
        )


def _default_login_root(connection: SuperOfficeConnection) -> str:
    return LOGIN_ROOT_TEMPLATE.format(environment=connection.environment or "online")


def is_internal_host(host: str) -> bool:
    """True for a host that is no public internet host: an internal name or a non-global IP literal.

    IPv4 literals are read as the resolver reads them (``127.1``, ``2130706433``, ``0x7f.1`` are all
    127.0.0.1). Names are not resolved: the domain does no I/O.
    """
    name = host.strip("[]").rstrip(".").lower()
    if not name or name in _INTERNAL_NAMES or name.endswith(_INTERNAL_SUFFIXES):
        return True
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return False  # a name
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global
