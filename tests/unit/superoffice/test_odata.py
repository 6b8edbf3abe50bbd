"""OData literals and URL-length splitting of ``in (...)`` lists."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent_sync.superoffice import queries as q
from consent_sync.superoffice.odata import (
    int_literal,
    split_in_list,
    string_literal,
    unique_ids,
    url_length,
)

BASE = "https://online10.superoffice.com/Cust1234567/api/v1/Archive/Person"


def read_literal(text: str) -> tuple[str, str]:
    """A reference OData string-literal reader: (value, rest of the text after the literal)."""
    assert text.startswith("'")
    chars, i = [], 1
    while i < len(text):
        if text[i] == "'":
            if text[i + 1 : i + 2] == "'":
                chars.append("'")
                i += 2
                continue
            return "".join(chars), text[i + 1 :]
        chars.append(text[i])
        i += 1
    raise AssertionError("unterminated literal")


def test_quote_is_doubled() -> None:
    assert string_literal("o'brien@example.com") == "'o''brien@example.com'"
    assert string_literal("") == "''"


def test_injection_stays_one_literal() -> None:
    # Given an e-mail crafted to close the literal and add a condition
    value = "x' or '1' eq '1@a.se"
    # When it is quoted
    literal = string_literal(value)
    # Then reading it back yields exactly the value and nothing follows the literal
    assert read_literal(literal) == (value, "")


@given(st.text())
def test_any_string_round_trips_as_one_literal(value: str) -> None:
    assert read_literal(string_literal(value) + " and x eq 1") == (value, " and x eq 1")


def test_int_literal_rejects_non_ints() -> None:
    assert int_literal(42) == "42"
    with pytest.raises(TypeError):
        int_literal(True)
    with pytest.raises(TypeError):
        int_literal("1 or 1 eq 1")  # type: ignore[arg-type]


def test_unique_ids_keeps_order_and_rejects_nonsense() -> None:
    assert unique_ids([3, 1, 3, 2, 1]) == [3, 1, 2]
    with pytest.raises(ValueError, match="positive"):
        unique_ids([0])
    with pytest.raises(TypeError):
        unique_ids(["1"])  # type: ignore[list-item]


def _params(joined: str, template: str = q.PERSONS_BY_ID_FILTER) -> dict[str, str]:
    return {"$select": q.select(q.PERSON_ARCHIVE_SELECT), "$filter": template.format(ids=joined)}


def _check_split(literals: list[str], template: str) -> None:
    chunks = split_in_list(
        literals, lambda joined: url_length(BASE, _params(joined, template)), q.MAX_URL_LENGTH
    )
    # Every URL actually built by httpx is under the limit
    for chunk in chunks:
        url = str(httpx.URL(BASE, params=_params(",".join(chunk), template)))
        assert len(url) < q.MAX_URL_LENGTH
        assert chunk
    # And the chunks are the input, in order, each value exactly once
    assert [value for chunk in chunks for value in chunk] == literals


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=2**31 - 1), max_size=1500, unique=True))
def test_id_lists_split_under_the_url_limit(ids: list[int]) -> None:
    _check_split([int_literal(i) for i in ids], q.PERSONS_BY_ID_FILTER)


emails = st.builds(
    lambda local, domain: f"{local}@{domain}",
    st.text(min_size=1, max_size=64),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(emails, max_size=300))
def test_email_lists_split_under_the_url_limit(values: list[str]) -> None:
    _check_split([string_literal(v) for v in values], "email/emailAddress in ({ids})")


def test_long_list_takes_several_chunks() -> None:
    literals = [int_literal(i) for i in range(1_000_000, 1_001_000)]
    chunks = split_in_list(literals, lambda j: url_length(BASE, _params(j)), q.MAX_URL_LENGTH)
    assert len(chunks) > 1
    assert sum(len(c) for c in chunks) == 1000


def test_single_oversized_value_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        split_in_list([string_literal("a" * 3000)], lambda j: url_length(BASE, _params(j)), q.MAX_URL_LENGTH)


def test_empty_list_needs_no_request() -> None:
    assert split_in_list([], lambda j: 0, q.MAX_URL_LENGTH) == []
