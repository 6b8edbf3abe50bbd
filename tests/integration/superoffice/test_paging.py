"""Keyset paging over more than 10,000 consent rows, and project members."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from consent_sync.superoffice import queries as q
from devtools.simulator.testing import SimulatorHandle, running_simulator

from .conftest import OpenClient


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    # A tenant large enough for more than ten pages of consent rows
    with running_simulator(persons=6500, seed=3, username="sim", password="sim") as handle:
        yield handle


def test_keyset_paging_over_ten_thousand_rows(sim: SimulatorHandle, open_client: OpenClient) -> None:
    total = int(sim.control.health()["consent_rows"])
    assert total > 10_000
    client = open_client()
    # When every row changed since long ago is read
    ids = [
        row.consent_person_id for row in client.consent_rows_changed_since(datetime(1990, 1, 1, tzinfo=UTC))
    ]
    # Then each row came exactly once, in key order, a page of 1,000 at a time
    assert len(ids) == total
    assert ids == sorted(set(ids))
    pages = math.ceil(total / q.PAGE_SIZE) + (1 if total % q.PAGE_SIZE == 0 else 0)
    assert client.calls[q.EP_CONSENT_ARCHIVE] == pages
    assert sim.control.counts()[q.EP_CONSENT_ARCHIVE] == pages


def test_generator_reads_pages_lazily(sim: SimulatorHandle, open_client: OpenClient) -> None:
    client = open_client()
    rows = client.consent_rows_changed_since(datetime(1990, 1, 1, tzinfo=UTC))
    first = [next(rows) for _ in range(10)]
    assert [r.consent_person_id for r in first] == sorted(r.consent_person_id for r in first)
    assert client.calls[q.EP_CONSENT_ARCHIVE] == 1


def test_project_members_page_by_member_id(sim: SimulatorHandle, open_client: OpenClient) -> None:
    client = open_client()
    for project_id in sim.control.project_ids():
        expected = {m["person_id"] for m in sim.control.project_members(project_id) if m["person_id"]}
        members = {m.person_id for m in client.project_members(project_id)}
        assert members <= expected
        assert len(members) >= len(expected) * 0.8  # only retired persons may be missing
