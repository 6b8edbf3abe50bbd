"""The event contract: every sample in events/ parses; malformed variants are rejected naming the field."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consent_sync.events import INCOMING, ContactConsentChanged, InvalidEvent, parse_event

EVENTS = Path(__file__).resolve().parents[3] / "events"
SAMPLES = sorted(p for p in EVENTS.glob("*.json") if p.name != "scheduled-event.json")


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def test_every_incoming_detail_type_has_a_sample() -> None:
    covered = {json.loads(p.read_text())["detail-type"] for p in SAMPLES}
    assert covered == set(INCOMING)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_sample_parses_as_its_detail_type(sample: Path) -> None:
    event = json.loads(sample.read_text())
    detail = parse_event(event, *INCOMING.values())
    assert type(detail).detail_type == event["detail-type"]  # type: ignore[attr-defined]


def _without(detail: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if k != field}


# (sample, how to break it, the field the error must name)
MALFORMED = [
    ("integration-settings-updated.json", lambda d: _without(d, "integration"), "integration"),
    (
        "integration-settings-updated.json",
        lambda d: {**d, "legal_basis_sync": "sometimes"},
        "legal_basis_sync",
    ),
    ("integration-settings-updated.json", lambda d: {**d, "legal_basis_snyc": True}, "legal_basis_snyc"),
    ("integration-settings-updated-online.json", lambda d: {**d, "integration": "hubspot"}, "integration"),
    ("import-requested.json", lambda d: _without(d, "import_id"), "import_id"),
    (
        "import-requested.json",
        lambda d: {**d, "source": {"kind": "selection", "id": "forty-two"}},
        "source.id",
    ),
    ("import-requested.json", lambda d: {**d, "source": {"kind": "folder", "id": 1}}, "source.kind"),
    ("sync-requested.json", lambda d: {**d, "account_id": 42}, "account_id"),
    ("sendout-checklist.json", lambda d: {**d, "channel": "fax"}, "channel"),
    ("sendout-checklist.json", lambda d: {**d, "recipients": ["a@b.se"] * 1001}, "recipients"),
    ("sendout-sending.json", lambda d: _without(d, "sendout_id"), "sendout_id"),
    ("contact-consent-changed.json", lambda d: {**d, "email": "not-an-address"}, "email"),
    ("contact-consent-changed.json", lambda d: {**d, "purpose": "NEWSLETTER"}, "purpose"),
    ("contact-consent-changed.json", lambda d: {**d, "changed_at": "2026-11-22T10:58:12"}, "changed_at"),
    ("contact-consent-changed.json", lambda d: _without(d, "legal_base"), "legal_base"),
]


@pytest.mark.parametrize(
    ("sample", "breaking", "field"), MALFORMED, ids=lambda v: v if isinstance(v, str) else ""
)
def test_malformed_variant_is_rejected_naming_the_field(sample: str, breaking: Any, field: str) -> None:
    event = load(sample)
    event["detail"] = breaking(copy.deepcopy(event["detail"]))
    with pytest.raises(InvalidEvent) as caught:
        parse_event(event, *INCOMING.values())
    assert field in str(caught.value)
    assert any(e["field"].startswith(field) for e in caught.value.errors)


def test_error_message_never_echoes_the_input() -> None:
    event = load("contact-consent-changed.json")
    event["detail"]["email"] = "x' or '1' eq '1@a.se"
    with pytest.raises(InvalidEvent) as caught:
        parse_event(event, ContactConsentChanged)
    assert "x' or" not in str(caught.value)


def test_both_or_neither_recipient_sources_are_rejected() -> None:
    event = load("sendout-sending.json")
    event["detail"]["recipients"] = ["a@b.se"]
    with pytest.raises(InvalidEvent, match="exactly one of recipients and recipients_uri"):
        parse_event(event, *INCOMING.values())


def test_far_future_change_is_rejected_and_offsets_become_utc() -> None:
    event = load("contact-consent-changed.json")
    detail = parse_event(event, ContactConsentChanged)
    assert detail.changed_at.astimezone(UTC) == datetime(2026, 11, 22, 9, 58, 12, tzinfo=UTC)
    event["detail"]["changed_at"] = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    with pytest.raises(InvalidEvent, match="future"):
        parse_event(event, ContactConsentChanged)


def test_email_is_normalised() -> None:
    event = load("contact-consent-changed.json")
    event["detail"]["email"] = "  Anna.Berg@Example.COM "
    assert parse_event(event, ContactConsentChanged).email == "anna.berg@example.com"


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "text",
        {"detail-type": "Import Requested"},
        {"id": "1", "source": "x", "detail-type": "Nope", "detail": {}},
    ],
)
def test_not_an_event_is_rejected(event: Any) -> None:
    with pytest.raises(InvalidEvent):
        parse_event(event, *INCOMING.values())
