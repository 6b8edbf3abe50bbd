"""The sync run's planning (pure): kind, run id, the query bound, persons and e-mails, the chunks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_sync.events import SyncRequested
from consent_sync.flows.sync_run import (
    changed_person_ids,
    plan_chunks,
    run_id_for,
    run_kind,
    superoffice_bound,
    unique_emails,
)
from consent_sync.superoffice import ConsentRow

WATERMARK = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def row(consent_id: int, person_id: int, purpose: str | None) -> ConsentRow:
    return ConsentRow(
        consent_person_id=consent_id,
        person_id=person_id,
        purpose_id=1,
        purpose_key=purpose,
        legal_base_id=5,
        legal_base_key="61A",
        source_id=1,
        source_key="USER",
        comment="",
        registered=WATERMARK,
        updated=None,
        changed_at=WATERMARK,
    )


@pytest.mark.parametrize(
    ("request_", "watermark", "expected"),
    [
        (None, WATERMARK, "scheduled"),
        (SyncRequested(account_id="acme"), WATERMARK, "requested"),
        (SyncRequested(), WATERMARK, "requested"),
        (SyncRequested(account_id="acme", baseline=True), WATERMARK, "baseline"),
        # Nothing to start an incremental run from: everything linked is reconciled.
        (None, None, "baseline"),
        (SyncRequested(account_id="acme"), None, "baseline"),
    ],
)
def test_the_kind_of_run(request_: SyncRequested | None, watermark: datetime | None, expected: str) -> None:
    assert run_kind(request_, watermark) == expected


def test_a_callers_run_id_is_kept() -> None:
    assert run_id_for(SyncRequested(account_id="acme", run_id="cli-1"), "event-1") == "cli-1"


def test_a_made_up_run_id_follows_the_event_so_a_retry_finds_the_same_run() -> None:
    # Given the same event delivered twice (Lambda's retry), whatever the watermark did in between
    first = run_id_for(None, "2c3d4e5f-6071")
    assert run_id_for(None, "2c3d4e5f-6071") == first == "scheduled-2c3d4e5f-6071"
    assert run_id_for(SyncRequested(baseline=True), "e1") == "baseline-e1"
    assert run_id_for(SyncRequested(account_id="a"), "e1") == "requested-e1"
    # Characters a job id may not hold are replaced; without an event id, a random one is made
    assert run_id_for(None, "a/b c") == "scheduled-a-b-c"
    assert run_id_for(None, None) != run_id_for(None, None)


def test_the_query_starts_the_overlap_before_the_watermark() -> None:
    assert superoffice_bound(WATERMARK, 5) == WATERMARK - timedelta(minutes=5)
    assert superoffice_bound(WATERMARK, 0) == WATERMARK


def test_changed_rows_give_each_person_once_and_only_for_the_synced_purposes() -> None:
    rows = [
        row(1, 30, "EMARKETING"),
        row(2, 30, "STORE"),  # the same person through another purpose
        row(3, 10, "STORE"),  # a Store-and-process change alone is work too
        row(4, 20, "NEWSLETTER_B2B"),  # a tenant-defined purpose: nothing consent-sync holds
        row(5, 40, None),  # a purpose id missing from the tenant's list
        row(6, 30, "EMARKETING"),  # a row repeated by the one-second overlap of the query
    ]
    assert changed_person_ids(rows) == [10, 30]


def test_changed_and_pending_emails_are_merged_once_each_in_first_seen_order() -> None:
    assert unique_emails(["b@x.se", "a@x.se"], ["a@x.se", "c@x.se"]) == ["b@x.se", "a@x.se", "c@x.se"]
    assert unique_emails([], []) == []


def test_chunks_are_numbered_persons_first_then_emails() -> None:
    chunks = plan_chunks("acme", "scheduled", "run-1", [1, 2, 3], ["a@x.se", "b@x.se", "c@x.se"], 2)
    assert [(c.job.chunk_no, c.person_ids, c.emails) for c in chunks] == [
        (0, [1, 2], []),
        (1, [3], []),
        (2, [], ["a@x.se", "b@x.se"]),
        (3, [], ["c@x.se"]),
    ]
    assert {(c.account_id, c.trigger, c.job.kind, c.job.id) for c in chunks} == {
        ("acme", "scheduled", "run", "run-1")
    }
    assert plan_chunks("acme", "baseline", "run-2", [], [], 200) == []


@given(
    persons=st.lists(st.integers(1, 10**6), unique=True, max_size=60),
    emails=st.lists(st.from_regex(r"[a-z]{1,8}@x\.se", fullmatch=True), unique=True, max_size=60),
    size=st.integers(1, 25),
)
def test_every_item_is_in_exactly_one_chunk_of_at_most_the_chunk_size(
    persons: list[int], emails: list[str], size: int
) -> None:
    chunks = plan_chunks("acme", "requested", "r", persons, emails, size)
    assert [c.job.chunk_no for c in chunks] == list(range(len(chunks)))
    assert all(0 < c.size <= size for c in chunks)
    assert [p for c in chunks for p in c.person_ids] == persons
    assert [e for c in chunks for e in c.emails] == emails
    # A chunk names one side only, so the worker reads each side in bulk.
    assert all(not (c.person_ids and c.emails) for c in chunks)
