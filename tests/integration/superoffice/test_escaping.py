"""Quotes in e-mail addresses neither break nor widen the OData filter."""

from __future__ import annotations

from devtools.simulator.testing import SimulatorHandle

from .conftest import OpenClient


def test_quote_in_an_address_finds_exactly_that_person(sim: SimulatorHandle, open_client: OpenClient) -> None:
    # Given a person whose address contains a quote
    person_id = sim.control.create_person("Pat", "O'Brien", "o'brien@example.com", company="Quote & Co")
    client = open_client()
    # When searched for, in any letter case
    found = client.persons_by_emails(["o'brien@example.com"])
    found_upper = client.persons_by_emails(["O'BRIEN@EXAMPLE.COM"])
    # Then exactly that person comes back
    assert [p.person_id for p in found] == [person_id]
    assert [p.person_id for p in found_upper] == [person_id]
    assert found[0].email == "o'brien@example.com"
    # And the bulk read shows the address unchanged
    (row,) = client.persons_by_ids([person_id])
    assert row.email == "o'brien@example.com"
    assert row.last_name == "O'Brien"


def test_injection_attempt_finds_nobody(sim: SimulatorHandle, open_client: OpenClient) -> None:
    client = open_client()
    assert client.persons_by_emails(["x' or '1' eq '1@a.se"]) == []
    assert client.persons_by_emails(["' or personId gt 0 or email/emailAddress eq '"]) == []
    counts = sim.control.counts()
    # Answered as a search for an unknown address, not refused as a malformed filter
    assert counts["GET /Archive/Person"] == 2
    assert "status:400" not in counts
