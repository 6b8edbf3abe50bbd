"""Account settings: the one model of what a marketing account asked consent-sync to do.

The `Integration Settings Updated` event carries exactly this model as its detail; the settings item in
DynamoDB stores it as it was validated. Credentials are never part of it: only the ARN of the account's
secret in Secrets Manager.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from consent_sync.superoffice.connection import SuperOfficeConnection

ACCOUNT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
AccountId = Annotated[str, StringConstraints(pattern=ACCOUNT_ID_PATTERN)]

# Secrets Manager ARN: arn:partition:secretsmanager:region:account:secret:name-6RANDOM
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")


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
        if not _SECRET_ARN.match(self.credentials_secret_arn):
            raise ValueError("credentials_secret_arn must be a Secrets Manager secret ARN")
        return self

    def connection(self) -> SuperOfficeConnection:
        """The connection alone, as the SuperOffice client takes it."""
        return SuperOfficeConnection.model_validate(
            self.model_dump(exclude={"credentials_secret_arn", "requests_per_second"})
        )


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
