"""Send-out recipients are chunked so that every reconcile message, and every batch of ten, fits SQS."""

from __future__ import annotations

import json

from consent_sync.events import MAX_RECIPIENT_LENGTH, ReconcileChunk
from consent_sync.flows.sendout_check import MAX_CHUNK_EMAIL_BYTES, chunk_recipients

SQS_LIMIT = 256 * 1024


def _messages(chunks: list[list[str]]) -> list[str]:
    return [
        ReconcileChunk.model_validate(
            {
                "account_id": "acme",
                "trigger": "presend",
                "job": {"kind": "sendout", "id": "spring.checklist.20261122T100000.abcdef12", "chunk_no": n},
                "emails": emails,
                "sendout": {"sendout_id": "spring", "stage": "checklist", "channel": "email"},
            }
        ).model_dump_json()
        for n, emails in enumerate(chunks)
    ]


def test_ordinary_addresses_are_chunked_by_count() -> None:
    recipients = [f"recipient{n:05d}@example.net" for n in range(1000)]
    chunks = chunk_recipients(recipients, 200)
    assert [len(c) for c in chunks] == [200] * 5
    assert [e for c in chunks for e in c] == recipients


def test_the_longest_recipients_still_fit_sqs_in_batches_of_ten() -> None:
    # 500 (the largest chunk size) recipients of the longest kind, with characters JSON escapes
    longest = ["\x01" * MAX_RECIPIENT_LENGTH, '"' * MAX_RECIPIENT_LENGTH, "ö" * MAX_RECIPIENT_LENGTH]
    recipients = [f"{n:04d}{longest[n % 3][4:]}" for n in range(1500)]
    chunks = chunk_recipients(recipients, 500)
    assert [e for c in chunks for e in c] == recipients  # nothing lost, order kept
    messages = _messages(chunks)
    sizes = [len(m.encode()) for m in messages]
    assert max(len(json.dumps(c, ensure_ascii=False).encode()) for c in chunks) <= MAX_CHUNK_EMAIL_BYTES
    for start in range(0, len(sizes), 10):  # one SendMessageBatch: at most 10 messages, 256 KiB in all
        assert sum(sizes[start : start + 10]) < SQS_LIMIT
