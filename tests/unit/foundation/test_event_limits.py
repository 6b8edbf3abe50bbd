"""The event contract's limits: one event cannot baseline every tenant, inline recipients are bounded,
and a settings event carries its envelope's time (the order of saves)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from consent_sync.events import (
    MAX_RECIPIENT_LENGTH,
    IntegrationSettingsUpdated,
    InvalidEvent,
    ReconcileChunk,
    SendoutChecklist,
    SyncRequested,
    parse_event,
)


def envelope(detail_type: str, detail: dict[str, Any], time: str = "2026-11-22T10:00:00Z") -> dict[str, Any]:
    return {
        "id": "e-1",
        "detail-type": detail_type,
        "source": "marketing.platform",
        "time": time,
        "detail": detail,
    }


def test_a_baseline_of_every_account_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="baseline run must name its account_id"):
        parse_event(envelope("Sync Requested", {"baseline": True}), SyncRequested)


def test_a_baseline_of_one_account_and_a_run_of_every_account_are_accepted() -> None:
    one = parse_event(envelope("Sync Requested", {"account_id": "acme", "baseline": True}), SyncRequested)
    assert (one.account_id, one.baseline) == ("acme", True)
    every = parse_event(envelope("Sync Requested", {}), SyncRequested)
    assert (every.account_id, every.baseline) == (None, False)


def _checklist(recipients: list[str]) -> dict[str, Any]:
    return envelope(
        "Sendout Checklist",
        {"account_id": "acme", "sendout_id": "s1", "channel": "email", "recipients": recipients},
    )


def test_an_inline_recipient_longer_than_an_address_can_be_is_refused() -> None:
    too_long = "a" * (MAX_RECIPIENT_LENGTH - len("@example.com") + 1) + "@example.com"
    with pytest.raises(InvalidEvent) as caught:
        parse_event(_checklist(["anna@example.com", too_long]), SendoutChecklist)
    assert caught.value.errors[0]["field"] == "recipients.1"
    assert too_long not in str(caught.value)  # never echoed


def test_inline_recipients_up_to_the_limit_are_kept_even_when_no_address() -> None:
    # Not an address check: such recipients are judged (blocked as unknown), not refused.
    longest = "a" * (MAX_RECIPIENT_LENGTH - len("@example.com")) + "@example.com"
    padded = f"  {longest}  "
    parsed = parse_event(_checklist([longest, padded, "no address\r\nBcc: x@y.se"]), SendoutChecklist)
    assert parsed.recipients is not None
    assert len(parsed.recipients) == 3


def test_a_reconcile_chunk_refuses_an_overlong_email() -> None:
    with pytest.raises(ValueError, match=str(MAX_RECIPIENT_LENGTH)):
        ReconcileChunk.model_validate(
            {
                "account_id": "acme",
                "trigger": "presend",
                "job": {"kind": "sendout", "id": "j", "chunk_no": 0},
                "emails": ["x" * (MAX_RECIPIENT_LENGTH + 1)],
                "sendout": {"sendout_id": "s", "stage": "checklist", "channel": "email"},
            }
        )


SETTINGS = {"account_id": "acme", "integration": "none"}


def test_a_settings_event_carries_its_envelope_time_and_version() -> None:
    parsed = parse_event(
        envelope("Integration Settings Updated", {**SETTINGS, "settings_version": 3}, "2026-11-22T10:00:05Z"),
        IntegrationSettingsUpdated,
    )
    assert parsed.event_time == datetime(2026, 11, 22, 10, 0, 5, tzinfo=UTC)
    assert parsed.settings_version == 3
    # The time is not a field of the settings: what is stored is exactly the detail.
    assert "event_time" not in parsed.model_dump()
    assert IntegrationSettingsUpdated.model_validate(SETTINGS).event_time is None
