"""The figures as ``rich`` tables: one summary row per scenario, plus the tables a scenario asks for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from devtools.bench.runner import Outcome


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def summary_table(outcomes: list[Outcome], *, title: str) -> Table:
    """One row per scenario with the common figures and the scenario's headline."""
    table = Table(title=title, title_justify="left")
    table.add_column("scenario", no_wrap=True)
    table.add_column("wall s", justify="right")
    table.add_column("SO calls", justify="right")
    table.add_column("lower bound", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("DDB/contact", justify="right")
    table.add_column("peak RSS MB", justify="right")
    table.add_column("key figures")
    for outcome in outcomes:
        doc = outcome.document
        if doc is None:
            first_line = (outcome.error or "failed").splitlines()[0]
            table.add_row(outcome.name, "", "", "", "", "", "", f"[red]FAILED[/red]: {first_line}")
            continue
        table.add_row(
            outcome.name,
            _number(doc["wall_s"], 2),
            _number(doc["superoffice_calls"]),
            _number(doc["lower_bound_calls"]),
            _number(doc["calls_ratio"], 3),
            _number(doc["dynamodb_calls_per_contact"], 2),
            _number(doc["peak_rss_mb"], 1),
            doc.get("headline", ""),
        )
    return table


#: Decimals of a detail table's column, where one decimal is not enough (a ratio against a limit of 1.5).
_COLUMN_DIGITS = {"handler_import_ratio": 2}


def detail_tables(outcomes: list[Outcome]) -> list[Table]:
    """One table per scenario whose result names ``tables``: a row per name, a column per figure."""
    tables: list[Table] = []
    for outcome in outcomes:
        doc = outcome.document
        if doc is None:
            continue
        columns = {key: doc[key] for key in doc.get("tables", []) if isinstance(doc.get(key), Mapping)}
        if not columns:
            continue
        table = Table(title=outcome.name, title_justify="left")
        table.add_column("name", no_wrap=True)
        for key in columns:
            table.add_column(key, justify="right")
        names = list(dict.fromkeys(name for values in columns.values() for name in values))
        for name in names:
            table.add_row(
                str(name),
                *(_number(values.get(name), _COLUMN_DIGITS.get(key, 1)) for key, values in columns.items()),
            )
        tables.append(table)
    return tables


def growth_table(outcomes: list[Outcome]) -> Table | None:
    """One row per compared figure of the scenarios with ``growth`` (e.g. sync-100k / sync-1k)."""
    rows: list[tuple[str, ...]] = []
    for outcome in outcomes:
        growth = (outcome.document or {}).get("growth")
        if not isinstance(growth, Mapping):
            continue
        limit = growth.get("limit")
        for key, figures in growth.get("ratios", {}).items():
            ratio = figures.get("ratio")
            if ratio is None:
                verdict = "[yellow]unknown[/yellow] (no baseline figure)"
            elif limit is None:
                verdict = ""
            else:
                verdict = "yes" if ratio <= limit else "[red]NO[/red]"
            rows.append(
                (
                    f"{outcome.name} / {growth.get('against')}",
                    key,
                    _number(figures.get("value")),
                    _number(figures.get("baseline")),
                    _number(ratio, 3),
                    _number(limit, 2),
                    verdict,
                )
            )
    if not rows:
        return None
    table = Table(title="growth with size", title_justify="left")
    for name, justify in (
        ("scenarios", "left"),
        ("figure", "left"),
        ("value", "right"),
        ("baseline", "right"),
        ("ratio", "right"),
        ("limit", "right"),
        ("within", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*row)
    return table


def print_report(console: Console, outcomes: list[Outcome], *, title: str) -> None:
    """Print the summary table, the growth table, then the detail tables, then any failure's output."""
    console.print(summary_table(outcomes, title=title))
    growth = growth_table(outcomes)
    if growth is not None:
        console.print(growth)
    for table in detail_tables(outcomes):
        console.print(table)
    for outcome in outcomes:
        if outcome.error:
            console.print(f"[red]{outcome.name} failed[/red] after {outcome.process_wall_s:.1f} s:")
            console.print(outcome.error, markup=False, highlight=False)
