"""OData literals and ``in (...)`` lists that stay inside a URL length limit.

Nothing from outside the process is ever pasted raw into ``$filter``: strings go through
:func:`string_literal`, ids are formatted from ``int``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from urllib.parse import quote


def string_literal(value: str) -> str:
    """An OData string literal: single quotes around ``value``, each ``'`` inside doubled.

    Doubling is OData's only escape in a string literal, so the result always stays one literal: a quote
    in an e-mail address can neither end the string early nor widen the filter.
    """
    return "'" + value.replace("'", "''") + "'"


def int_literal(value: int) -> str:
    """An OData integer literal; rejects ``bool`` and anything that is not a plain ``int``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an int id, got {type(value).__name__}")
    return str(value)


def unique_ids(ids: Iterable[int]) -> list[int]:
    """The ids in first-seen order without repeats; every id must be a positive ``int``."""
    seen: dict[int, None] = {}
    for value in ids:
        int_literal(value)
        if value <= 0:
            raise ValueError(f"ids are positive, got {value}")
        seen.setdefault(value, None)
    return list(seen)


def url_length(url: str, params: dict[str, str]) -> int:
    """Length of the URL httpx sends for ``url`` with the query ``params`` (its own encoding)."""
    import httpx  # imported by then: only an open client builds URLs (and importing it takes ~90 ms)

    return len(str(httpx.URL(url, params=params)))


def _encoded_cost(literal: str) -> int:
    # Upper bound of the literal's length in the query string: quote(safe="") percent-encodes every
    # character httpx could encode, and httpx never encodes unreserved characters. The separator "," costs
    # at most "%2C".
    return len(quote(literal, safe="")) + len("%2C")


def split_in_list(
    literals: Sequence[str],
    render: Callable[[str], int],
    max_length: int,
) -> list[list[str]]:
    """Split ``literals`` into chunks whose request URL stays shorter than ``max_length`` characters.

    ``render(joined)`` returns the full URL length for an ``in (...)`` list body ``joined`` (literals joined
    with ``","``). The base length is measured once with an empty list and each literal adds its encoded
    upper-bound cost, so splitting is linear; the last URL of each chunk is measured again to be sure.
    Order is kept and every literal lands in exactly one chunk. A literal that does not fit even alone
    raises ``ValueError``.
    """
    if not literals:
        return []
    base = render("")
    chunks: list[list[str]] = []
    current: list[str] = []
    length = base
    for literal in literals:
        cost = _encoded_cost(literal)
        if base + cost >= max_length:
            raise ValueError("a single value is too long for one request URL")
        if current and length + cost >= max_length:
            chunks.append(current)
            current, length = [], base
        current.append(literal)
        length += cost
    chunks.append(current)
    for chunk in chunks:
        # The bound above is conservative; this guards against a render() that disagrees with it.
        if render(",".join(chunk)) >= max_length:
            raise RuntimeError("in-list chunk exceeds the URL limit")
    return chunks
