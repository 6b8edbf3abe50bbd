"""The OData subset: filter parsing and escaping, injection, keyset paging, $skip, POST, URL limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from devtools.simulator.odata import ColumnType, Comparison, Junction, Membership, ODataError, parse_filter
from devtools.simulator.tenant import MAX_REQUEST_TARGET
from devtools.simulator.testing import SimulatorHandle, running_simulator

from .queries import CONSENT_SELECT, PERSON_SELECT

pytestmark = pytest.mark.xdist_group("simulator-queries")

COLUMNS = {
    "email/emailAddress": ColumnType.STRING,
    "personId": ColumnType.INT,
    "updated": ColumnType.DATETIME,
}


@pytest.fixture(scope="module")
def big() -> Iterator[SimulatorHandle]:
    """6,000 persons: a little over 10,000 consent rows."""
    with running_simulator(persons=6000, seed=3) as handle:
        yield handle


def test_parser_reads_escaped_quotes_lists_and_precedence() -> None:
    node = parse_filter(
        "email/emailAddress eq 'o''brien@example.com' or personId in (1, 2,3) and personId gt 0", COLUMNS
    )
    assert node == Junction(
        "or",
        Comparison("email/emailAddress", "eq", "o'brien@example.com"),
        Junction("and", Membership("personId", (1, 2, 3)), Comparison("personId", "gt", 0)),
    )
    grouped = parse_filter(
        "(personId eq 1 OR personId eq 2) AND updated afterTime '2026-11-22T10:00:00'", COLUMNS
    )
    assert isinstance(grouped, Junction)
    assert grouped.op == "and"


@pytest.mark.parametrize(
    "text",
    [
        "email/emailAddress eq 'x' or '1' eq '1@a.se'",  # literal on the left: the classic injection
        "email/emailAddress eq 'unterminated",
        "email/emailAddress eq x",
        "personId eq '1'",  # wrong literal type
        "personId in ()",
        "personId in (1,2",
        "personId gt 1 personId gt 2",
        "(personId eq 1",
        "nosuch eq 1",
        "email/emailAddress gt 'a'",  # operator not valid for strings
        "updated afterTime 'yesterday'",
        "personId eq 1; drop table person",
        "",
    ],
)
def test_parser_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ODataError):
        parse_filter(text, COLUMNS)


def test_injection_attempt_is_a_400_with_an_error_body(sim: SimulatorHandle, api: httpx.Client) -> None:
    response = api.get(
        "/Person",
        params={
            "$select": "personId,email/emailAddress",
            "$filter": "email/emailAddress eq 'x' or '1' eq '1@a.se'",
        },
    )
    assert response.status_code == 400
    body = response.json()
    assert body["Error"] is True
    assert body["ErrorType"]
    assert body["Message"]
    assert "value" not in body


def test_escaped_injection_attempt_finds_nobody(api: httpx.Client) -> None:
    response = api.get(
        "/Person",
        params={
            "$select": "personId,email/emailAddress",
            "$filter": "email/emailAddress eq 'x'' or ''1'' eq ''1@a.se'",
        },
    )
    assert response.status_code == 200
    assert response.json()["value"] == []


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/Archive/dynamic", {"$select": "consentperson.nosuch"}),
        ("/Archive/dynamic", {}),  # the dynamic archive needs $select
        ("/Archive/Person", {"$select": "personId", "$top": "-1"}),
        ("/Archive/Person", {"$select": "personId", "$orderBy": "personId sideways"}),
        ("/Archive/dynamic", {"$select": CONSENT_SELECT, "$filter": "consentperson.updated afterTime 5"}),
    ],
)
def test_unusable_queries_are_400(api: httpx.Client, path: str, params: dict[str, str]) -> None:
    response = api.get(path, params=params)
    assert response.status_code == 400
    assert response.json()["Message"]


def test_keyset_paging_visits_every_consent_row_once(big: SimulatorHandle) -> None:
    with httpx.Client(base_url=big.api_url, auth=(big.username, big.password), timeout=30) as client:
        total = big.control.health()["consent_rows"]
        assert total >= 10_000
        seen: list[int] = []
        last = 0
        since = "2000-01-01T00:00:00"
        while True:
            response = client.get(
                "/Archive/dynamic",
                params={
                    "$select": CONSENT_SELECT,
                    "$filter": f"(consentperson.updated afterTime '{since}' or consentperson.registered afterTime"
                    f" '{since}') and consentperson.consentperson_id gt {last}",
                    "$orderBy": "consentperson.consentperson_id",
                    "$top": "1000",
                },
            )
            rows = response.json()["value"]
            if not rows:
                break
            assert len(rows) <= 1000
            seen.extend(row["consentperson.consentperson_id"] for row in rows)
            last = rows[-1]["consentperson.consentperson_id"]
    assert seen == sorted(set(seen))
    assert len(seen) == total


def test_after_time_is_strictly_later_and_sees_both_columns(big: SimulatorHandle) -> None:
    with httpx.Client(base_url=big.api_url, auth=(big.username, big.password)) as client:
        at = "2026-01-02T03:04:05"
        updated = big.control.set_consent(10, "EMARKETING", "61A", at=datetime.fromisoformat(at))[
            "ConsentPersonId"
        ]
        created = big.control.create_person(
            "New", "Person", "new.person@example.com", registered_at=datetime.fromisoformat(at)
        )
        query = {"$select": CONSENT_SELECT, "$orderBy": "consentperson.consentperson_id"}

        def changed_after(moment: str) -> set[int]:
            text = (
                f"consentperson.updated afterTime '{moment}' or consentperson.registered afterTime '{moment}'"
            )
            return {
                r["consentperson.consentperson_id"]
                for r in client.get("/Archive/dynamic", params={**query, "$filter": text}).json()["value"]
            }

        before = changed_after("2026-01-02T03:04:04")
        assert updated in before
        assert any(r["consentperson.person_id"] == created for r in _rows(client, before))
        assert changed_after(at) == set()  # equal is not after


def _rows(client: httpx.Client, ids: set[int]) -> list[dict[str, object]]:
    id_list = ",".join(str(i) for i in sorted(ids))
    return client.get(
        "/Archive/dynamic",
        params={"$select": CONSENT_SELECT, "$filter": f"consentperson.consentperson_id in ({id_list})"},
    ).json()["value"]


def test_skip_works_but_costs_time_in_proportion_to_the_offset(big: SimulatorHandle) -> None:
    with httpx.Client(base_url=big.api_url, auth=(big.username, big.password), timeout=30) as client:
        big.control.set_faults(skip_cost_us=200)
        try:
            params = {
                "$select": "consentperson.consentperson_id",
                "$orderBy": "consentperson.consentperson_id",
                "$top": "10",
            }
            started = time.perf_counter()
            shallow = client.get("/Archive/dynamic", params={**params, "$skip": "10"})
            shallow_s = time.perf_counter() - started
            started = time.perf_counter()
            deep = client.get("/Archive/dynamic", params={**params, "$skip": "5000"})
            deep_s = time.perf_counter() - started
        finally:
            big.control.clear_faults()
    ids = [r["consentperson.consentperson_id"] for r in deep.json()["value"]]
    assert len(ids) == 10
    assert shallow.status_code == 200
    assert deep.json()["odata.nextLink"].endswith("%24skip=5010")
    assert deep_s >= 1.0 > shallow_s  # 5,000 rows × 200 µs


def test_post_archive_takes_long_id_lists_the_url_cannot(sim: SimulatorHandle, api: httpx.Client) -> None:
    ids = ",".join(str(i) for i in range(1, 401))  # ids over 300 do not exist: ignored
    too_long = api.get(
        "/Archive/Person", params={"$select": PERSON_SELECT, "$filter": f"personId in ({ids})"}
    )
    assert len(too_long.request.url.raw_path) > MAX_REQUEST_TARGET
    assert too_long.status_code == 414
    assert too_long.json()["Message"]
    posted = api.post("/Archive/Person", data={"$select": PERSON_SELECT, "$filter": f"personId in ({ids})"})
    assert posted.status_code == 200
    assert [row["personId"] for row in posted.json()["value"]] == list(range(1, 301))


def test_url_length_limit_is_exact(api: httpx.Client, sim: SimulatorHandle) -> None:
    base = f"/{sim.cust_id}/api/v1/Archive/Person?$select=personId&$filter=personId%20in%20("
    padding = MAX_REQUEST_TARGET - len(base) - 1
    at_limit = base + "1" + "0" * (padding - 1) + ")"
    assert len(at_limit) == MAX_REQUEST_TARGET
    with httpx.Client(base_url=sim.root_url, auth=(sim.username, sim.password)) as client:
        assert client.get(at_limit).status_code == 200
        assert client.get(at_limit[:-1] + "0)").status_code == 414
