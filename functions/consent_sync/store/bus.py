"""Publishing consent-sync's events on the EventBridge bus."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from consent_sync.events import CONSENT_SYNC_SOURCE
from consent_sync.store.aws import client


class PublishFailed(RuntimeError):
    """EventBridge did not accept an event."""


def publish(bus_name: str, detail: BaseModel, *, source: str = CONSENT_SYNC_SOURCE) -> str:
    """Put one event whose detail-type is the model's own; return the event id."""
    entry = {
        "EventBusName": bus_name,
        "Source": source,
        "DetailType": type(detail).detail_type,  # type: ignore[attr-defined]
        "Detail": detail.model_dump_json(),
    }
    result = client("events").put_events(Entries=[entry])
    first = result["Entries"][0]
    if result.get("FailedEntryCount") or "EventId" not in first:
        raise PublishFailed(
            f"EventBridge refused the event: {first.get('ErrorCode')} {first.get('ErrorMessage')}"
        )
    return str(first["EventId"])


_PUT_EVENTS_BATCH = 10


def publish_many(bus_name: str, details: Sequence[BaseModel], *, source: str = CONSENT_SYNC_SOURCE) -> int:
    """Put events ten per call (EventBridge's limit); return how many were put."""
    events = client("events")
    for start in range(0, len(details), _PUT_EVENTS_BATCH):
        entries = [
            {
                "EventBusName": bus_name,
                "Source": source,
                "DetailType": type(detail).detail_type,  # type: ignore[attr-defined]
                "Detail": detail.model_dump_json(),
            }
            for detail in details[start : start + _PUT_EVENTS_BATCH]
        ]
        result = events.put_events(Entries=entries)
        if result.get("FailedEntryCount"):
            codes = sorted({e.get("ErrorCode", "?") for e in result["Entries"] if "ErrorCode" in e})
            raise PublishFailed(
                f"EventBridge refused {result['FailedEntryCount']} event(s): {', '.join(codes)}"
            )
    return len(details)
