"""Seeded data, envelopes, row keys and the read endpoints."""

from __future__ import annotations

import re

import httpx
import pytest

from devtools.simulator.crm import Crm
from devtools.simulator.testing import SimulatorHandle, running_simulator

from .queries import CONSENT_SELECT, PERSON_SELECT

pytestmark = pytest.mark.xdist_group("simulator-data")

OFFSETLESS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


def _snapshot(sim: SimulatorHandle) -> tuple[object, ...]:
    with httpx.Client(base_url=sim.api_url, auth=(sim.username, sim.password)) as client:
        persons = client.get("/Archive/Person", params={"$select": PERSON_SELECT}).json()["value"]
        rows = client.get("/Archive/dynamic", params={"$select": CONSENT_SELECT}).json()["value"]
        selections = [
            client.get(f"/Selection/{i}/Members").json()["value"] for i in sim.control.selection_ids()
        ]
        projects = [
            client.get(
                f"/Project/{i}/Members", params={"$select": "projectMemberId,personId,contactId"}
            ).json()["value"]
            for i in sim.control.project_ids()
        ]
    return persons, rows, selections, projects


def test_same_seed_gives_the_same_crm_and_another_seed_does_not() -> None:
    # Given two simulators with the same seed and one with another seed
    with running_simulator(persons=150, seed=42) as first, running_simulator(persons=150, seed=42) as second:
        # When everything is read back
        one, two = _snapshot(first), _snapshot(second)
        first.control.reset(seed=43)
        other = _snapshot(first)
    # Then the same seed gives identical data, another seed different data
    assert one == two
    assert other != one


def test_seeded_crm_has_the_edge_cases_the_integration_must_handle() -> None:
    crm = Crm.seeded(3000, 5)
    persons = list(crm.persons.values())
    without_email = [p for p in persons if not p.emails]
    quoted = [p for p in persons if "'" in p.primary_email]
    duplicates = {
        p.primary_email.lower()
        for p in persons
        if p.emails and len(crm.persons_by_email(p.primary_email)) > 1
    }
    mixed_case_duplicates = [
        e for e in duplicates if len({p.primary_email for p in crm.persons_by_email(e)}) > 1
    ]
    assert 0.01 < len(without_email) / len(persons) < 0.06
    assert quoted
    assert 0.01 < len(duplicates) / len(persons) < 0.03
    assert mixed_case_duplicates
    # every person has a STORE row; EMARKETING mixes 61A, 61F, WITHDRAWN and absent
    assert all(crm.consent(p.person_id, 1) is not None for p in persons)
    emarketing = [crm.consent(p.person_id, 2) for p in persons]
    keys = {row.legal_base_id for row in emarketing if row is not None}
    assert {1, 6, 7} <= keys
    assert any(row is None for row in emarketing)
    assert any(row is not None and row.updated.year == 1 for row in emarketing)
    assert any(row is not None and row.updated.year > 1 for row in emarketing)
    assert sorted(crm.consent_ids) == crm.consent_ids == sorted(crm.consent_rows)


def test_lists_carry_ids_keys_and_ranks(api: httpx.Client) -> None:
    legal = api.get("/List/LegalBase/Items").json()
    assert [item["Key"] for item in legal] == ["61A", "61B", "61C", "61D", "61E", "61F", "WITHDRAWN"]
    assert all({"LegalBaseId", "Name", "Key", "Rank", "Deleted", "Tooltip"} <= item.keys() for item in legal)
    purposes = api.get("/List/ConsentPurpose/Items").json()
    assert {item["Key"] for item in purposes} == {"STORE", "EMARKETING"}
    sources = api.get("/List/ConsentSource/Items").json()
    assert {"USER", "WEBFORM", "API", "UNKNOWN"} <= {item["Key"] for item in sources}


def test_archive_envelope_has_exactly_the_selected_keys(api: httpx.Client) -> None:
    response = api.get("/Archive/Person", params={"$select": PERSON_SELECT, "$filter": "personId in (1,2,3)"})
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"odata.metadata", "odata.nextLink", "value"}
    assert body["odata.nextLink"] is None
    assert [row["personId"] for row in body["value"]] == [1, 2, 3]
    for row in body["value"]:
        assert set(row) == {"PrimaryKey", "EntityName", *PERSON_SELECT.split(",")}
        assert row["PrimaryKey"] == str(row["personId"])
        assert row["EntityName"] == "person"
        assert OFFSETLESS.match(row["personRegisteredDate"])


def test_consent_rows_use_table_column_keys_and_offsetless_times(api: httpx.Client) -> None:
    body = api.get(
        "/Archive/dynamic",
        params={"$select": CONSENT_SELECT, "$filter": "consentperson.person_id in (1,2,3,4)"},
    ).json()
    rows = body["value"]
    assert rows
    assert {row["consentperson.person_id"] for row in rows} <= {1, 2, 3, 4}
    assert [row["consentperson.consentperson_id"] for row in rows] == sorted(
        row["consentperson.consentperson_id"] for row in rows
    )
    for row in rows:
        assert set(row) == {"PrimaryKey", "EntityName", *CONSENT_SELECT.split(",")}
        assert row["EntityName"] == "consentperson"
        assert OFFSETLESS.match(row["consentperson.registered"])
        assert OFFSETLESS.match(row["consentperson.updated"])
    assert any(row["consentperson.updated"] == "0001-01-01T00:00:00" for row in rows)


def test_person_card_and_unknown_person(sim: SimulatorHandle, api: httpx.Client) -> None:
    card = api.get("/Person/3").json()
    known = sim.control.person(3)
    assert known is not None
    assert card["PersonId"] == 3
    assert [e["Value"] for e in card["Emails"]] == known["emails"]
    assert {c["ConsentPurposeKey"] for c in card["Consents"]} >= {"STORE"}
    missing = api.get("/Person/999999")
    assert missing.status_code == 404
    assert missing.json()["Error"] is True
    assert missing.json()["Message"]


def test_person_without_email_has_empty_address(api: httpx.Client) -> None:
    # Person 4 (index 3) is seeded without e-mail on purpose
    row = api.get(
        "/Archive/Person", params={"$select": "personId,email/emailAddress", "$filter": "personId eq 4"}
    )
    assert row.json()["value"] == [
        {"PrimaryKey": "4", "EntityName": "person", "personId": 4, "email/emailAddress": ""}
    ]


def test_persons_by_email_ignore_letter_case_and_quotes_are_escaped(
    sim: SimulatorHandle, api: httpx.Client
) -> None:
    crm = Crm.seeded(300, 1)
    duplicate = next(
        p for p in crm.persons.values() if p.emails and len(crm.persons_by_email(p.primary_email)) > 1
    )
    quoted = next(p for p in crm.persons.values() if "'" in p.primary_email)
    address = duplicate.primary_email.swapcase()
    found = api.get(
        "/Person",
        params={
            "$select": "personId,personRegisteredDate,email/emailAddress",
            "$filter": f"email/emailAddress eq '{address}'",
        },
    ).json()["value"]
    assert [row["personId"] for row in found] == sim.control.persons_by_email(address)
    assert len(found) > 1
    escaped = quoted.primary_email.replace("'", "''")
    found = api.get("/Person", params={"$filter": f"email/emailAddress eq '{escaped}'"}).json()["value"]
    assert [row["personId"] for row in found] == [quoted.person_id]


def test_selection_members_include_company_rows(sim: SimulatorHandle, api: httpx.Client) -> None:
    for selection_id in sim.control.selection_ids():
        rows = api.get(f"/Selection/{selection_id}/Members", params={"$select": "personId,contactId"}).json()
        assert rows["odata.nextLink"] is None
        expected = sim.control.selection_members(selection_id)
        assert [(r["personId"], r["contactId"]) for r in rows["value"]] == expected
    assert any(
        person == 0 for sid in sim.control.selection_ids() for person, _ in sim.control.selection_members(sid)
    )
    assert api.get("/Selection/999/Members").status_code == 404


def test_project_members_keyset_paging_leaves_out_retired_persons(
    sim: SimulatorHandle, api: httpx.Client
) -> None:
    project_id = sim.control.project_ids()[0]
    seen: list[int] = []
    last = 0
    while True:
        page = api.get(
            f"/Project/{project_id}/Members",
            params={
                "$select": "projectMemberId,personId,contactId",
                "$orderBy": "projectMemberId",
                "$top": "50",
                "$filter": f"projectMemberId gt {last}",
            },
        ).json()["value"]
        if not page:
            break
        seen.extend(row["projectMemberId"] for row in page)
        last = page[-1]["projectMemberId"]
    members = sim.control.project_members(project_id)
    visible = [
        m["project_member_id"] for m in members if not (sim.control.person(m["person_id"]) or {})["retired"]
    ]
    assert seen == visible
    assert len(visible) < len(members)  # the seed puts retired persons in the big project
