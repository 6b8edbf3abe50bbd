"""An account's SuperOffice webhook as consent-sync last saw it (registered, repaired, removed, refused)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

WEBHOOK_EVENTS = ("person.consented", "person.unconsented")
"""The SuperOffice events consent-sync subscribes to."""


class WebhookStatus(StrEnum):
    """What the account's webhook is, in consent-sync's words.

    The first four are SuperOffice's own ``State`` values (lower-cased); ``unavailable`` means the
    tenant refused the webhook agent (403: SuperOffice Online restricts it per app), so only the poll
    runs; ``none`` means no webhook is wanted (sync off or integration ``none``) and none is held.
    """

    ACTIVE = "active"
    STOPPED = "stopped"
    TOO_MANY_ERRORS = "too_many_errors"
    UNKNOWN = "unknown"
    UNAVAILABLE = "unavailable"
    NONE = "none"

    @classmethod
    def from_superoffice(cls, state: str) -> WebhookStatus:
        """SuperOffice's ``State`` (``Active``, ``Stopped``, ``TooManyErrors``, ``Unknown``)."""
        return {
            "active": cls.ACTIVE,
            "stopped": cls.STOPPED,
            "toomanyerrors": cls.TOO_MANY_ERRORS,
        }.get(state.strip().lower(), cls.UNKNOWN)

    @property
    def needs_repair(self) -> bool:
        """SuperOffice stopped delivering: the 30-minute run sets it ``Active`` again."""
        return self in (WebhookStatus.STOPPED, WebhookStatus.TOO_MANY_ERRORS, WebhookStatus.UNKNOWN)


class WebhookState(BaseModel):
    """The account's webhook item (``pk = ACCOUNT#<id>``, ``sk = WEBHOOK``)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    account_id: str
    status: WebhookStatus
    webhook_id: int | None = None
    target_url: str | None = None
    checked_at: datetime
    """When consent-sync last read or wrote the webhook in SuperOffice."""
    detail: str | None = None
    """Why it is as it is (SuperOffice's answer to a refused registration, a repair made)."""
