"""The decision-log table: one renderer, in the CLI's form (`consent-sync audit`) and the demo's."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table

from devtools.contacts import audit_table, utc_to_the_second

ROWS: list[dict[str, Any]] = [
    {
        "at": "2026-11-23T01:04:09.123456+00:00",
        "purpose": "EMARKETING",
        "trigger": "platform",
        "superoffice": {
            "legal_base": "61A",
            "source": "USER",
            "changed_at": "2026-11-23T01:04:07+00:00",
            "person_id": 540,
        },
        "platform": {
            "legal_base": "WITHDRAWN",
            "source": "WEBFORM",
            "changed_at": "2026-11-23T01:04:05+00:00",
        },
        "winner": "platform",
        "rule": "skew_restrictive",
        "action": "push",
        "error": None,
        "duplicate_conflicts": [12, 13],
    },
    {
        "at": "2026-11-22T10:00:00+01:00",
        "purpose": "STORE",
        "trigger": "import",
        "superoffice": None,
        "platform": None,
        "winner": None,
        "rule": "both_absent",
        "action": "none",
        "error": "timeout",
        "duplicate_conflicts": [],
    },
]


def text(table: Table) -> str:
    console = Console(file=io.StringIO(), width=400, color_system=None)
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


def cells(table: Table, column: int) -> list[str]:
    return [str(cell) for cell in table.columns[column].cells]


def test_the_cli_form_shows_the_log_as_stored_titled_by_the_email() -> None:
    table = audit_table(ROWS, title="c@example.org")
    assert table.title == "c@example.org"
    assert [column.header for column in table.columns] == [
        "at", "purpose", "trigger", "SuperOffice", "platform", "winner", "rule", "action"
    ]  # fmt: skip
    assert cells(table, 0) == ["2026-11-23T01:04:09.123456+00:00", "2026-11-22T10:00:00+01:00"]
    assert cells(table, 3) == ["61A 2026-11-23T01:04:07+00:00 person 540", "(absent)"]
    assert cells(table, 4) == ["WITHDRAWN 2026-11-23T01:04:05+00:00", "(absent)"]
    assert cells(table, 5) == ["platform", ""]
    assert cells(table, 7) == ["push", "none (timeout)"]
    assert "conflicting duplicates" not in text(table)


def test_the_demo_form_adds_sources_times_to_the_second_and_duplicate_conflicts() -> None:
    table = audit_table(ROWS, times=utc_to_the_second, sources=True, duplicate_conflicts=True)
    assert table.title is None
    assert cells(table, 0) == ["2026-11-23 01:04:09", "2026-11-22 09:00:00"]
    assert cells(table, 3) == ["61A (USER) changed 2026-11-23 01:04:07\nperson 540", "(absent)"]
    assert cells(table, 4) == ["WITHDRAWN (WEBFORM) changed 2026-11-23 01:04:05", "(absent)"]
    assert cells(table, 7) == ["push\nconflicting duplicates: [12, 13]", "none (timeout)"]


def test_utc_to_the_second_converts_the_offset() -> None:
    assert utc_to_the_second("2026-11-22T10:00:00.999+01:00") == "2026-11-22 09:00:00"
