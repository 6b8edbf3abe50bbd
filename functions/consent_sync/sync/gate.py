"""The send-out gate: may a campaign be sent to this recipient (design §4, last rule)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, model_validator

from consent_sync.sync.consent import ConsentState, is_active, is_withdrawn


class BlockReason(StrEnum):
    """Why a recipient is blocked; when several apply, the first in this order is reported."""

    UNKNOWN_CONTACT = "unknown_contact"
    STORE_WITHDRAWN = "store_withdrawn"
    EMARKETING_WITHDRAWN = "emarketing_withdrawn"
    NO_EMARKETING_BASIS = "no_emarketing_basis"


class Verdict(BaseModel):
    """Allowed, or blocked with exactly one reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed: bool
    reason: BlockReason | None = None

    @model_validator(mode="after")
    def _reason_iff_blocked(self) -> Verdict:
        if self.allowed == (self.reason is not None):
            raise ValueError("a verdict has a reason exactly when it is blocked")
        return self


ALLOWED = Verdict(allowed=True)


def verdict(store: ConsentState | None, emarketing: ConsentState | None, *, known: bool) -> Verdict:
    """Decide whether a send-out may go to one recipient.

    Allowed iff ``EMARKETING`` is active and ``STORE`` is not withdrawn; an absent ``STORE`` does
    not block. Otherwise the first reason that applies, in the order of :class:`BlockReason`:
    ``unknown_contact`` (``known`` is false: the e-mail matches no contact, whatever states were
    passed), ``store_withdrawn``, ``emarketing_withdrawn``, ``no_emarketing_basis`` (``EMARKETING``
    absent).

    Args:
        store: the contact's ``STORE`` state after sync, or ``None`` when absent.
        emarketing: the contact's ``EMARKETING`` state after sync, or ``None`` when absent.
        known: whether the recipient's e-mail matches a contact at all.
    """
    if not known:
        return Verdict(allowed=False, reason=BlockReason.UNKNOWN_CONTACT)
    if is_withdrawn(store):
        return Verdict(allowed=False, reason=BlockReason.STORE_WITHDRAWN)
    if is_withdrawn(emarketing):
        return Verdict(allowed=False, reason=BlockReason.EMARKETING_WITHDRAWN)
    if not is_active(emarketing):
        return Verdict(allowed=False, reason=BlockReason.NO_EMARKETING_BASIS)
    return ALLOWED
