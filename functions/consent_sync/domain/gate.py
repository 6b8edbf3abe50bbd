"""The send-out gate: may a campaign be sent to this recipient (docs/sync-rules.md, the gate)."""

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from consent_sync.domain.consent import ConsentState, is_active, is_withdrawn
from consent_sync.domain.contact import Contact
from consent_sync.domain.jobs import ALLOWED, BLOCKED, STALE
from consent_sync.domain.settings import PresendFailurePolicy
from consent_sync.domain.vocabulary import Purpose

SUPEROFFICE_UNAVAILABLE = "superoffice_unavailable"
"""Blocked because SuperOffice could not be read and the account chose `block`."""


class BlockReason(StrEnum):
    """Why a recipient is blocked; when several apply, the first in this order is reported."""

    UNKNOWN_CONTACT = "unknown_contact"
    STORE_WITHDRAWN = "store_withdrawn"
    EMARKETING_WITHDRAWN = "emarketing_withdrawn"
    NO_EMARKETING_BASIS = "no_emarketing_basis"


class Verdict(BaseModel):
    """Allowed, or blocked with exactly one reason."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    allowed: bool
    reason: BlockReason | None = None

    @model_validator(mode="after")
    def _reason_iff_blocked(self) -> "Verdict":
        if self.allowed == (self.reason is not None):
            raise ValueError("a verdict has a reason exactly when it is blocked")
        return self


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
    return Verdict(allowed=True)


def verdicts_for(
    emails: Iterable[str],
    contacts: Mapping[str, Contact],
    *,
    unreadable: set[str] | None = None,
    policy: PresendFailurePolicy = PresendFailurePolicy.USE_LAST_KNOWN,
) -> list[dict[str, Any]]:
    """One verdict per recipient, from the contacts as reconciled (pure).

    `unreadable` are the recipients whose SuperOffice state could not be read during this check: by
    the account's policy they are judged on the last known state (marked stale) or blocked.
    """
    unreadable = unreadable or set()
    results: list[dict[str, Any]] = []
    for email in emails:
        contact = contacts.get(email)
        if contact is not None and email in unreadable and policy is PresendFailurePolicy.BLOCK:
            results.append(
                {"email": email, "allowed": False, "reason": SUPEROFFICE_UNAVAILABLE, "stale": True}
            )
            continue
        judged = verdict(
            None if contact is None else contact.consents.get(Purpose.STORE),
            None if contact is None else contact.consents.get(Purpose.EMARKETING),
            known=contact is not None,
        )
        results.append(
            {
                "email": email,
                "allowed": judged.allowed,
                "reason": None if judged.reason is None else judged.reason.value,
                "stale": contact is not None and email in unreadable,
            }
        )
    return results


def verdict_counters(verdicts: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The job counters a chunk's verdicts add."""
    counts = {ALLOWED: 0, BLOCKED: 0, STALE: 0}
    for item in verdicts:
        counts[ALLOWED if item["allowed"] else BLOCKED] += 1
        counts[STALE] += bool(item["stale"])
    return counts
