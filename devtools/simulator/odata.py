"""The OData subset SuperOffice's archives accept: `$filter`, `$select`, `$orderBy`, `$top`, `$skip`.

The `$filter` grammar is a real tokenizer and recursive-descent parser, so anything outside the
subset (an unescaped quote, a literal on the left of an operator, an unknown column) is rejected
with ODataError and never silently widened into "more rows":

    expr       := and_expr ("or" and_expr)*
    and_expr   := primary ("and" primary)*
    primary    := "(" expr ")" | column op value | column "in" "(" value ("," value)* ")"
    op         := eq | ne | gt | ge | lt | le | afterTime | beforeTime
    value      := 'string with '' for a quote' | integer

Operators and keywords are case-insensitive; string comparisons ignore letter case (SQL Server's
default collation).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from devtools.simulator.clock import parse_time


class ODataError(ValueError):
    """The query cannot be parsed or does not fit the archive; answered with 400."""


class ColumnType(Enum):
    """What a column holds, which decides the operators and literals it accepts."""

    INT = "int"
    STRING = "string"
    DATETIME = "datetime"


_OPERATORS_BY_TYPE: dict[ColumnType, frozenset[str]] = {
    ColumnType.INT: frozenset({"eq", "ne", "gt", "ge", "lt", "le", "in"}),
    ColumnType.STRING: frozenset({"eq", "ne", "in"}),
    ColumnType.DATETIME: frozenset({"eq", "ne", "gt", "ge", "lt", "le", "aftertime", "beforetime"}),
}
_COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le", "aftertime", "beforetime"})
_KEYWORDS = _COMPARISONS | {"in", "and", "or"}

Value = int | str | datetime
Row = TypeVar("Row")


@dataclass(frozen=True)
class Comparison:
    """`column op literal`."""

    column: str
    op: str  # lower-cased
    value: Value


@dataclass(frozen=True)
class Membership:
    """`column in (literal, ...)`."""

    column: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Junction:
    """`left and right` / `left or right`."""

    op: str  # "and" | "or"
    left: Node
    right: Node


Node = Comparison | Membership | Junction


@dataclass(frozen=True)
class _Token:
    kind: str  # "(" ")" "," "string" "int" "word"
    text: str
    value: Value
    position: int


_TOKEN_RE = re.compile(
    r"\s*(?:(?P<punct>[(),])|(?P<int>-?\d+)(?![\w./])|(?P<word>[A-Za-z_][\w./]*)|(?P<quote>'))"
)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return tokens
        match = _TOKEN_RE.match(text, position)
        if match is None:
            raise ODataError(f"Unexpected character {text[position]!r} at position {position} in $filter")
        start = match.start(match.lastgroup or 0)
        if match.group("quote"):
            literal, position = _read_string(text, start)
            tokens.append(_Token("string", text[start:position], literal, start))
            continue
        position = match.end()
        if match.group("punct"):
            tokens.append(_Token(match.group("punct"), match.group("punct"), match.group("punct"), start))
        elif match.group("int"):
            tokens.append(_Token("int", match.group("int"), int(match.group("int")), start))
        else:
            tokens.append(_Token("word", match.group("word"), match.group("word"), start))


def _read_string(text: str, start: int) -> tuple[str, int]:
    """Read 'literal' from `start` (the opening quote); '' inside stands for one quote."""
    chars: list[str] = []
    position = start + 1
    while position < len(text):
        char = text[position]
        if char == "'":
            if position + 1 < len(text) and text[position + 1] == "'":
                chars.append("'")
                position += 2
                continue
            return "".join(chars), position + 1
        chars.append(char)
        position += 1
    raise ODataError(f"Unterminated string literal starting at position {start} in $filter")


class _Parser:
    def __init__(self, text: str, columns: Mapping[str, ColumnType]) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        # Column names are case-insensitive on the server; keep the canonical spelling.
        self.columns = {name.lower(): (name, kind) for name, kind in columns.items()}

    def _peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _next(self, expected: str) -> _Token:
        token = self._peek()
        if token is None:
            raise ODataError(f"$filter ends where {expected} was expected")
        self.index += 1
        return token

    def _keyword(self, token: _Token | None) -> str | None:
        if token is not None and token.kind == "word" and token.text.lower() in _KEYWORDS:
            return token.text.lower()
        return None

    def parse(self) -> Node:
        if not self.tokens:
            raise ODataError("$filter is empty")
        node = self._expr()
        token = self._peek()
        if token is not None:
            raise ODataError(f"Unexpected {token.text!r} at position {token.position} in $filter")
        return node

    def _expr(self) -> Node:
        node = self._and()
        while self._keyword(self._peek()) == "or":
            self.index += 1
            node = Junction("or", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._primary()
        while self._keyword(self._peek()) == "and":
            self.index += 1
            node = Junction("and", node, self._primary())
        return node

    def _primary(self) -> Node:
        token = self._next("a column or '('")
        if token.kind == "(":
            node = self._expr()
            closing = self._next("')'")
            if closing.kind != ")":
                raise ODataError(
                    f"Expected ')' at position {closing.position} in $filter, got {closing.text!r}"
                )
            return node
        if token.kind != "word" or self._keyword(token) is not None:
            raise ODataError(
                f"Expected a column name at position {token.position} in $filter, got {token.text!r}"
            )
        known = self.columns.get(token.text.lower())
        if known is None:
            raise ODataError(f"Unknown column '{token.text}' in $filter")
        column, kind = known
        operator = self._next("an operator")
        op = self._keyword(operator)
        if op is None or op in ("and", "or"):
            raise ODataError(f"Expected an operator after '{column}', got {operator.text!r}")
        if op not in _OPERATORS_BY_TYPE[kind]:
            raise ODataError(f"Operator '{operator.text}' cannot be used with column '{column}'")
        if op == "in":
            return Membership(column, self._list(column, kind))
        return Comparison(column, op, self._literal(column, kind))

    def _list(self, column: str, kind: ColumnType) -> tuple[Value, ...]:
        opening = self._next("'('")
        if opening.kind != "(":
            raise ODataError(f"Expected '(' after 'in' at position {opening.position} in $filter")
        values = [self._literal(column, kind)]
        while True:
            token = self._next("',' or ')'")
            if token.kind == ")":
                return tuple(values)
            if token.kind != ",":
                raise ODataError(
                    f"Expected ',' or ')' at position {token.position} in $filter, got {token.text!r}"
                )
            values.append(self._literal(column, kind))

    def _literal(self, column: str, kind: ColumnType) -> Value:
        token = self._next("a value")
        if kind is ColumnType.INT:
            if token.kind != "int":
                raise ODataError(f"Column '{column}' needs an integer, got {token.text!r}")
            return token.value
        if token.kind != "string":
            raise ODataError(f"Column '{column}' needs a quoted string, got {token.text!r}")
        if kind is ColumnType.DATETIME:
            try:
                return parse_time(str(token.value))
            except ValueError:
                raise ODataError(f"Column '{column}' needs a date/time, got {token.text!r}") from None
        return str(token.value)


def parse_filter(text: str, columns: Mapping[str, ColumnType]) -> Node:
    """Parse `$filter` text against the archive's filterable columns; raises ODataError."""
    return _Parser(text, columns).parse()


def conjuncts(node: Node) -> list[Node]:
    """The top-level `and` terms of a filter (used to pick an index before evaluating the rest)."""
    if isinstance(node, Junction) and node.op == "and":
        return conjuncts(node.left) + conjuncts(node.right)
    return [node]


def _fold(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "aftertime": lambda a, b: a > b,  # strictly later
    "beforetime": lambda a, b: a < b,
}


def compile_filter(node: Node, raw: Mapping[str, Callable[[Row], Any]]) -> Callable[[Row], bool]:
    """A predicate over rows; `raw` gives each column's raw value (int, str or datetime) of a row."""
    if isinstance(node, Junction):
        left, right = compile_filter(node.left, raw), compile_filter(node.right, raw)
        if node.op == "and":
            return lambda row: left(row) and right(row)
        return lambda row: left(row) or right(row)
    getter = raw[node.column]
    if isinstance(node, Membership):
        wanted = frozenset(_fold(value) for value in node.values)
        return lambda row: _fold(getter(row)) in wanted
    compare, expected = _COMPARE[node.op], _fold(node.value)
    return lambda row: compare(_fold(getter(row)), expected)


def parse_select(text: str | None, columns: Iterable[str], default: Sequence[str]) -> list[str]:
    """The selected columns in the canonical spelling; `default` when `$select` is absent."""
    if text is None or not text.strip():
        return list(default)
    canonical = {name.lower(): name for name in columns}
    selected: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if name.lower() not in canonical:
            raise ODataError(f"Unknown column '{name}' in $select")
        if canonical[name.lower()] not in selected:
            selected.append(canonical[name.lower()])
    return selected


def parse_order_by(text: str | None, columns: Iterable[str]) -> list[tuple[str, bool]]:
    """`col [asc|desc], ...` as (column, descending) pairs."""
    if text is None or not text.strip():
        return []
    canonical = {name.lower(): name for name in columns}
    order: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or words[0].lower() not in canonical:
            raise ODataError(f"Cannot order by '{part.strip()}'")
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise ODataError(f"Unknown sort direction '{words[1]}' in $orderBy")
        order.append((canonical[words[0].lower()], direction == "desc"))
    return order


def parse_count(text: str | None, name: str) -> int | None:
    """A non-negative integer query option (`$top`, `$skip`), None when absent."""
    if text is None or text == "":
        return None
    if not text.isdigit():
        raise ODataError(f"{name} must be a non-negative integer, got {text!r}")
    return int(text)
