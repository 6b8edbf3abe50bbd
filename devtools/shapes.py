"""The CLI's JSON documents (README.md, "The CLI"): a contact as `contact show` prints it, a decision as
`audit`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from consent_sync.domain.contact import Contact, DecisionRecord, StoredConsent
from consent_sync.domain.vocabulary import Purpose


def json_time(value: datetime | None) -> str | None:
    """``value`` as an ISO 8601 UTC string for JSON output (``None`` stays ``None``)."""
    return None if value is None else value.astimezone(UTC).isoformat()


def contact_json(contact: Contact) -> dict[str, Any]:
    """The ``contact show --json`` document."""
    return {
        "account_id": contact.account_id,
        "email": contact.email,
        "superoffice_person_id": contact.superoffice_person_id,
        "duplicate_person_ids": list(contact.duplicate_person_ids),
        "consents": {purpose.value: _consent_json(contact.consents.get(purpose)) for purpose in Purpose},
    }


def _consent_json(consent: StoredConsent | None) -> dict[str, Any] | None:
    if consent is None:
        return None
    return {
        "legal_base": consent.legal_base,
        "active": consent.active,
        "source": consent.source,
        "changed_at": json_time(consent.changed_at),
        "changed_in": consent.changed_in.value,
    }


def audit_json(record: DecisionRecord) -> dict[str, Any]:
    """One row of the ``audit --json`` document."""
    return {
        "at": json_time(record.at),
        "purpose": record.purpose.value,
        "trigger": record.trigger.value,
        "superoffice": None
        if record.superoffice is None
        else {
            "legal_base": record.superoffice.legal_base,
            "source": record.superoffice.source,
            "changed_at": json_time(record.superoffice.changed_at),
            "person_id": record.superoffice.person_id,
        },
        "platform": None
        if record.platform is None
        else {
            "legal_base": record.platform.legal_base,
            "source": record.platform.source,
            "changed_at": json_time(record.platform.changed_at),
        },
        "winner": None if record.winner is None else record.winner.value,
        "rule": record.rule,
        "action": record.action,
        "error": record.error,
        "duplicate_conflicts": list(record.duplicate_conflicts),
        "updated_by": updated_by(record),
    }


def updated_by(record: DecisionRecord) -> dict[str, Any]:
    """Who made each side's change: the SuperOffice associate id, the platform's source."""
    return {
        "superoffice": None if record.superoffice is None else record.superoffice.updated_by,
        "platform": None if record.platform is None else record.platform.source,
    }
