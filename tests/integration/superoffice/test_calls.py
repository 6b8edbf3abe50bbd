"""Every endpoint of the client against the simulator, checked against its control API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consent_sync.domain.errors import UnknownKey
from consent_sync.domain.vocabulary import Purpose
from consent_sync.superoffice import queries as q
from consent_sync.superoffice.models import superoffice_states
from consent_sync.superoffice.times import parse_time
from devtools.simulator.testing import SimulatorHandle

from .conftest import OpenClient


def test_lists_are_read_once_per_client(sim: SimulatorHandle, open_client: OpenClient) -> None:
    client = open_client()
    bases = client.legal_bases()
    purposes = client.consent_purposes()
    sources = client.consent_sources()
    client.legal_bases()
    client.consent_purposes()
    client.consent_sources()
    assert {"61A", "61F", "WITHDRAWN"} <= {b.key for b in bases}
    assert {"STORE", "EMARKETING"} <= {p.key for p in purposes}
    assert {"USER", "API"} <= {s.key for s in sources}
    counts = sim.control.counts()
    for endpoint in (q.EP_LEGAL_BASES, q.EP_CONSENT_PURPOSES, q.EP_CONSENT_SOURCES):
        assert counts[endpoint] == 1
        assert client.calls[endpoint] == 1


def test_persons_by_ids_in_bulk(sim: SimulatorHandle, open_client: OpenClient) -> None:
    client = open_client()
    # Every seeded person plus 300 ids that do not exist: too many for one URL
    ids = [*range(1, 201), *range(1_000_000, 1_000_300)]
    rows = client.persons_by_ids(ids)
    assert [r.person_id for r in rows] == list(range(1, 201))
    # The URL limit forced several GETs, none refused as too long
    counts = sim.control.counts()
    assert counts[q.EP_PERSON_ARCHIVE] == client.calls[q.EP_PERSON_ARCHIVE] >= 2
    assert "status:414" not in counts
    for row in rows[:25]:
        expected = sim.control.person(row.person_id)
        assert expected is not None
        assert row.first_name == expected["first_name"]
        assert row.email == (expected["primary_email"] or None)
        assert row.contact_id == (expected["contact_id"] or None)
        assert row.contact_name == (expected["company"] or "")
        assert row.mobile == (expected["mobile"] or None)
        assert row.registered == parse_time(expected["registered"])


def test_persons_by_emails(sim: SimulatorHandle, open_client: OpenClient) -> None:
    # Every person with one of the addresses, in any letter case, in one request
    emails = [sim.control.person(p)["primary_email"] for p in (5, 6, 7)]  # type: ignore[index]
    found = open_client().persons_by_emails([e.upper() for e in emails if e])
    expected = sorted({p for e in emails if e for p in sim.control.persons_by_email(e)})
    assert [p.person_id for p in found] == expected


def test_consent_rows_of_many_persons(sim: SimulatorHandle, open_client: OpenClient) -> None:
    client = open_client()
    rows = client.consent_rows(range(1, 201))
    assert rows
    by_key = {(r.person_id, r.purpose_key): r for r in rows}
    for (person_id, purpose), row in list(by_key.items())[:30]:
        assert purpose is not None
        expected = sim.control.consent(person_id, purpose)
        assert expected is not None
        assert row.legal_base_key == expected["LegalBaseKey"]
        assert row.source_key == expected["ConsentSourceKey"]
        assert row.changed_at == max(
            t for t in (parse_time(expected["Registered"]), parse_time(expected["Updated"])) if t is not None
        )


def test_consent_rows_changed_since(sim: SimulatorHandle, open_client: OpenClient) -> None:
    # Given a consent changed at a known second, well after the seeded data
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    sim.control.set_consent(7, "EMARKETING", "WITHDRAWN", "USER", at=at)
    client = open_client()
    # When asked for changes since that very moment (the watermark of a previous run)
    rows = list(client.consent_rows_changed_since(at))
    # Then the row is there (afterTime is strict: the query overlaps the watermark's second)
    assert [(r.person_id, r.purpose_key, r.legal_base_key) for r in rows] == [(7, "EMARKETING", "WITHDRAWN")]
    assert rows[0].changed_at == at
    # And nothing is reported one second later
    assert list(client.consent_rows_changed_since(at + timedelta(seconds=1))) == []


def test_selection_members(sim: SimulatorHandle, open_client: OpenClient) -> None:
    client = open_client()
    for selection_id in sim.control.selection_ids():
        expected = sim.control.selection_members(selection_id)
        members = client.selection_members(selection_id)
        wanted = list(dict.fromkeys(p for p, _ in expected if p != 0))
        assert [m.person_id for m in members] == wanted


def test_project_members(sim: SimulatorHandle, open_client: OpenClient) -> None:
    client = open_client()
    for project_id in sim.control.project_ids():
        expected = sim.control.project_members(project_id)
        members = client.project_members(project_id)
        got = [m.person_id for m in members]
        everyone = {m["person_id"] for m in expected if m["person_id"]}
        assert len(got) == len(set(got))
        assert set(got) <= everyone
        # SuperOffice leaves retired persons out unless asked for them: only those may be missing
        for missing in everyone - set(got):
            assert (sim.control.person(missing) or {}).get("retired") is True


def test_set_consent(sim: SimulatorHandle, open_client: OpenClient) -> None:
    client = open_client()
    client.set_consent(3, "EMARKETING", "WITHDRAWN", "API", "consent-sync: " + "x" * 400)
    row = sim.control.consent(3, "EMARKETING")
    assert row is not None
    assert row["LegalBaseKey"] == "WITHDRAWN"
    assert row["ConsentSourceKey"] == "API"
    assert len(row["Comment"]) == 255
    client.set_consent(3, "EMARKETING", "61A", "USER")
    assert (sim.control.consent(3, "EMARKETING") or {})["LegalBaseKey"] == "61A"
    assert sim.control.counts()[q.EP_SET_CONSENT] == 2


def test_set_consent_with_unknown_key_sends_nothing(sim: SimulatorHandle, open_client: OpenClient) -> None:
    with pytest.raises(UnknownKey, match="61Z"):
        open_client().set_consent(3, "EMARKETING", "61Z", "API")
    assert q.EP_SET_CONSENT not in sim.control.counts()


def test_consent_rows_say_which_associate_made_the_latest_change(
    sim: SimulatorHandle, open_client: OpenClient
) -> None:
    # Given a consent a SuperOffice user changed, then one the integration (the API user) wrote
    client = open_client()
    user = sim.control.set_consent(4, "STORE", "61B", source="USER")
    client.set_consent(5, "EMARKETING", "61A", "API")
    api = sim.control.consent(5, "EMARKETING")
    assert api is not None
    # When the rows are read in bulk, then each carries the associate of its latest change
    rows = {(r.person_id, r.purpose_key): r for r in client.consent_rows([4, 5])}
    assert rows[(4, "STORE")].changed_by == (user["UpdatedAssociateId"] or user["RegisteredAssociateId"])
    assert rows[(5, "EMARKETING")].changed_by == (api["UpdatedAssociateId"] or api["RegisteredAssociateId"])
    assert rows[(4, "STORE")].changed_by != rows[(5, "EMARKETING")].changed_by
    # And the consent states SuperOffice's side is decided on carry it
    states = superoffice_states(rows.values())
    assert states[4][Purpose.STORE].updated_by == rows[(4, "STORE")].changed_by
