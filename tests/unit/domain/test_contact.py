"""The contact and decision-record models: JSON shapes of the CLI (README), normalisation, derived values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from consent_sync.domain.consent import WITHDRAWN, ConsentState
from consent_sync.domain.contact import (
    Card,
    Contact,
    DecisionRecord,
    PlatformValue,
    StoredConsent,
    SuperOfficeValue,
)
from consent_sync.domain.vocabulary import Purpose, Side, Trigger
from devtools.shapes import audit_json, contact_json

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_contact_show_shape() -> None:
    # Given a linked contact with one consent from each side and no STORE row
    contact = Contact(
        account_id="acme",
        email="Ada@Example.com",
        card=Card(first_name="Ada", email_display="Ada@Example.com"),
        superoffice_person_id=42,
        duplicate_person_ids=[77],
        consents={
            Purpose.EMARKETING: StoredConsent(
                legal_base=WITHDRAWN,
                source="UNSUBSCRIBE",
                changed_at=datetime(2025, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))),
                changed_in=Side.PLATFORM,
            ),
        },
    )

    # Then `contact show --json` has exactly the documented fields
    assert contact_json(contact) == {
        "account_id": "acme",
        "email": "ada@example.com",
        "superoffice_person_id": 42,
        "duplicate_person_ids": [77],
        "consents": {
            "STORE": None,
            "EMARKETING": {
                "legal_base": "WITHDRAWN",
                "active": False,
                "source": "UNSUBSCRIBE",
                "changed_at": "2025-03-01T12:00:00+00:00",
                "changed_in": "platform",
            },
        },
    }
    json.dumps(contact_json(contact))


def test_unlinked_contact_shows_nulls() -> None:
    shown = contact_json(Contact(account_id="acme", email="x@example.com"))
    assert shown["superoffice_person_id"] is None
    assert shown["duplicate_person_ids"] == []
    assert shown["consents"] == {"STORE": None, "EMARKETING": None}


def test_audit_row_shape() -> None:
    record = DecisionRecord(
        at=T0,
        trigger=Trigger.PLATFORM,
        purpose=Purpose.EMARKETING,
        superoffice=SuperOfficeValue.of(
            ConsentState(legal_base="61A", source="CRM", changed_at=T0, updated_by=7), 42
        ),
        platform=PlatformValue.of(
            ConsentState(legal_base=WITHDRAWN, source="WEBFORM", changed_at=T0 + timedelta(minutes=5))
        ),
        winner=Side.PLATFORM,
        rule="later_wins",
        action="push",
    )
    assert audit_json(record) == {
        "at": "2025-03-01T12:00:00+00:00",
        "purpose": "EMARKETING",
        "trigger": "platform",
        "superoffice": {
            "legal_base": "61A",
            "source": "CRM",
            "changed_at": "2025-03-01T12:00:00+00:00",
            "person_id": 42,
        },
        "platform": {
            "legal_base": "WITHDRAWN",
            "source": "WEBFORM",
            "changed_at": "2025-03-01T12:05:00+00:00",
        },
        "winner": "platform",
        "rule": "later_wins",
        "action": "push",
        "error": None,
        "duplicate_conflicts": [],
        "updated_by": {"superoffice": 7, "platform": "WEBFORM"},
    }


def test_audit_row_without_a_side_or_winner() -> None:
    record = DecisionRecord(
        at=T0,
        trigger=Trigger.BASELINE,
        purpose=Purpose.STORE,
        superoffice=None,
        platform=None,
        winner=None,
        rule="both_absent",
        action="none",
    )
    row = audit_json(record)
    assert (row["superoffice"], row["platform"], row["winner"]) == (None, None, None)


def test_decision_record_has_no_room_for_other_fields() -> None:
    with pytest.raises(ValidationError):
        DecisionRecord.model_validate(
            {
                "at": T0,
                "trigger": "import",
                "purpose": "STORE",
                "superoffice": None,
                "platform": None,
                "winner": None,
                "rule": "both_absent",
                "action": "none",
                "password": "secret",
            }
        )


def test_naive_times_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Contact(account_id="acme", email="x@example.com", last_reconciled_at=datetime(2025, 3, 1))


def test_suppressed_only_when_emarketing_withdrawn() -> None:
    def with_emarketing(legal_base: str | None) -> Contact:
        consents = (
            {}
            if legal_base is None
            else {
                Purpose.EMARKETING: StoredConsent(
                    legal_base=legal_base, changed_at=T0, changed_in=Side.PLATFORM
                )
            }
        )
        return Contact(account_id="acme", email="x@example.com", consents=consents)

    assert with_emarketing(WITHDRAWN).suppressed
    assert not with_emarketing("61A").suppressed
    assert not with_emarketing(None).suppressed


def test_latest_platform_change_never_goes_back() -> None:
    contact = Contact(
        account_id="acme",
        email="x@example.com",
        consents={
            Purpose.STORE: StoredConsent(legal_base="61A", changed_at=T0, changed_in=Side.PLATFORM),
            Purpose.EMARKETING: StoredConsent(
                legal_base="61A", changed_at=T0 + timedelta(hours=9), changed_in=Side.SUPEROFFICE
            ),
        },
    )
    assert contact.latest_platform_change() == T0
    later = contact.model_copy(update={"platform_changed_at": T0 + timedelta(hours=1)})
    assert later.latest_platform_change() == T0 + timedelta(hours=1)
    assert Contact(account_id="acme", email="x@example.com").latest_platform_change() is None


def test_stored_consent_is_a_consent_state() -> None:
    state = ConsentState(legal_base="61A", source="WEB", comment="form", changed_at=T0)
    stored = StoredConsent.of(state, Side.SUPEROFFICE)
    assert stored.state == state
    assert StoredConsent.of(stored, Side.PLATFORM).changed_in is Side.PLATFORM
    assert isinstance(stored, ConsentState)
