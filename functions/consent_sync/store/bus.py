"""Publishing consent-sync's events on the EventBridge bus."""

from __future__ import annotations

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
