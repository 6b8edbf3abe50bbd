"""Account settings: the one model of what a marketing account asked consent-sync to do.

The `Integration Settings Updated` event carries exactly this model as its detail; the settings item in
DynamoDB stores it as it was validated. Credentials are never part of it: only the ARN of the account's
secret in Secrets Manager.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ACCOUNT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
AccountId = Annotated[str, StringConstraints(pattern=ACCOUNT_ID_PATTERN)]

# Secrets Manager ARN: arn:partition:secretsmanager:region:account:secret:name-6RANDOM
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")


class Integration(StrEnum):
    """Which CRM the account is integrated with. `none` stops every SuperOffice call."""

    SUPEROFFICE = "superoffice"
    NONE = "none"


class InstallationKind(StrEnum):
    ONLINE = "online"
    ONSITE = "onsite"


class AuthScheme(StrEnum):
    BASIC = "basic"
    TICKET = "ticket"
    SYSTEM_USER = "system_user"


class OnlineEnvironment(StrEnum):
    SOD = "sod"
    QAONLINE = "qaonline"
    ONLINE = "online"


class PresendFailurePolicy(StrEnum):
    """What a send-out check does when SuperOffice cannot be read."""

    USE_LAST_KNOWN = "use_last_known"
    BLOCK = "block"


class SuperOfficeSettings(BaseModel):
    """Where the account's SuperOffice is and how to sign in (the secret holds the credentials)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: InstallationKind
    base_url: str | None = Field(default=None, description="on-site: the Web API root, ending in /api/v1")
    context_id: Annotated[str, StringConstraints(pattern=r"^Cust\d{1,10}$")] | None = None
    environment: OnlineEnvironment | None = None
    auth: AuthScheme
    credentials_secret_arn: str
    # Where the Online login and tenant-state endpoints live; only for simulators and tests.
    login_url: str | None = None
    allow_insecure: bool = Field(default=False, description="accept http:// URLs (local simulators only)")
    requests_per_second: float | None = Field(default=None, gt=0, le=100)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not _SECRET_ARN.match(self.credentials_secret_arn):
            raise ValueError("credentials_secret_arn must be a Secrets Manager secret ARN")
        if self.kind is InstallationKind.ONSITE:
            if not self.base_url:
                raise ValueError("base_url is required for an on-site installation")
            if self.auth is AuthScheme.SYSTEM_USER:
                raise ValueError("on-site installations sign in with auth basic or ticket")
            if self.context_id or self.environment:
                raise ValueError("context_id and environment are for SuperOffice Online only")
            self._check_url("base_url", self.base_url)
        else:
            if not (self.context_id and self.environment):
                raise ValueError("SuperOffice Online needs context_id (CustNNNNN) and environment")
            if self.auth is not AuthScheme.SYSTEM_USER:
                raise ValueError("SuperOffice Online signs in with auth system_user")
            if self.base_url:
                raise ValueError("base_url is for on-site installations; Online resolves its own")
        if self.login_url:
            self._check_url("login_url", self.login_url)
        return self

    def _check_url(self, field: str, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError(f"{field} must be an absolute https URL")
        if parts.scheme == "http" and not self.allow_insecure:
            raise ValueError(f"{field} must use https (allow_insecure is only for local simulators)")
        if parts.username or parts.password:
            raise ValueError(f"{field} must not carry credentials; they belong in the secret")


class AccountSettings(BaseModel):
    """Settings of one marketing account (the detail of `Integration Settings Updated`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: AccountId
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


SettingsChange = Literal["created", "updated", "unchanged"]
