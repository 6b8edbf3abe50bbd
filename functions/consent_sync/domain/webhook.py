"""An account's SuperOffice webhook as consent-sync last saw it (registered, repaired, removed, refused)."""

import base64
import hashlib
import hmac
import re
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from consent_sync.domain.settings import ACCOUNT_ID_PATTERN

WEBHOOK_EVENTS = ("person.consented", "person.unconsented")
"""The SuperOffice events consent-sync subscribes to."""

TEST_EVENT = "test"
"""The event SuperOffice sends when a webhook is created or re-activated (answered 200, nothing else)."""

MAX_BODY_BYTES = 64 * 1024
"""The largest delivery the receiver reads: SuperOffice's payload is well under 1 KiB per event."""

_ACCOUNT_PATH = r"^/accounts/(?P<account>" + ACCOUNT_ID_PATTERN.strip("^$") + r")/?$"  # compiled at first use


def signature(secret: str, body: bytes) -> str:
    """``X-SuperOffice-Signature`` of ``body``: base64 of HMAC-SHA256 over the raw bytes, keyed by the secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret`` (compared in constant time)."""
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().encode())


def webhook_name(stack_name: str, account_id: str) -> str:
    """The webhook's name in the tenant: one per deployment and account (how consent-sync finds it)."""
    return f"consent-sync {stack_name} {account_id}"


def target_url(base_url: str, account_id: str) -> str:
    """The receiver's URL for one account: the function URL and ``accounts/<id>``."""
    return f"{base_url.rstrip('/')}/accounts/{account_id}"


def account_in_path(path: str) -> str | None:
    """The account id of a receiver path ``/accounts/<id>``; None for any other path."""
    match = re.match(_ACCOUNT_PATH, path)
    return None if match is None else match.group("account")


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
    def from_superoffice(cls, state: str) -> "WebhookStatus":
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
