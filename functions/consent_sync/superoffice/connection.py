"""Where a SuperOffice tenant is and how to log in to it.

:class:`SuperOfficeConnection` holds what is not secret (it travels in events and settings);
:class:`SuperOfficeCredentials` holds the secrets (it lives in AWS Secrets Manager), every secret a
``SecretStr`` so it never shows in a repr, a log line or a validation error.
"""

from __future__ import annotations

from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from . import queries as q

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

    model_config = ConfigDict(frozen=True, extra="forbid")

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
        return q.LOGIN_ROOT_TEMPLATE.format(environment=self.environment or "online")

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

    model_config = ConfigDict(frozen=True, extra="forbid")

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
