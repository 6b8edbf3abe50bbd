"""`consent-sync audit export`: every decision of an account in a period, as CSV or JSON lines.

Rows are read from the decision log's DecisionIndex one page at a time and written as they come, so
an export of any size holds one page in memory. CSV has a header row and the columns of `COLUMNS`, in
that order (docs/cli.md); JSON lines have one object per decision: the `audit --json` row plus
`account_id` and `email`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TextIO

from consent_sync.domain.contact import DecisionRecord
from consent_sync.store.decisions import DecisionLog
from devtools.contacts import UsageProblem, known_account
from devtools.operator import ExportFormat
from devtools.shapes import audit_json, json_time
from devtools.stack import Stack

COLUMNS = (
    "account_id",
    "email",
    "at",
    "purpose",
    "trigger",
    "superoffice_person_id",
    "superoffice_legal_base",
    "superoffice_source",
    "superoffice_changed_at",
    "platform_legal_base",
    "platform_source",
    "platform_changed_at",
    "winner",
    "rule",
    "action",
    "updated_by_superoffice_associate_id",
    "updated_by_platform_source",
    "error",
    "duplicate_conflicts",
)
"""The CSV columns, in order. An absent side leaves its columns empty; `duplicate_conflicts` is the
person ids separated by spaces."""


def parse_bound(text: str | None, option: str) -> datetime | None:
    """`--since`/`--until` as aware UTC: ISO 8601 with an offset, or a date (midnight UTC)."""
    if text is None:
        return None
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageProblem(f"{option} is not an ISO 8601 time or date (e.g. 2026-11-01T00:00:00Z)") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise UsageProblem(f"{option} needs an offset (e.g. +01:00 or Z): a time without one is ambiguous")
    return moment.astimezone(UTC)


def csv_row(account_id: str, email: str, record: DecisionRecord) -> list[str]:
    """One decision as the CSV row of `COLUMNS`."""
    so, pf = record.superoffice, record.platform
    values: list[Any] = [
        account_id,
        email,
        json_time(record.at),
        record.purpose.value,
        record.trigger.value,
        None if so is None else so.person_id,
        None if so is None else so.legal_base,
        None if so is None else so.source,
        None if so is None else json_time(so.changed_at),
        None if pf is None else pf.legal_base,
        None if pf is None else pf.source,
        None if pf is None else json_time(pf.changed_at),
        None if record.winner is None else record.winner.value,
        record.rule,
        record.action,
        None if so is None else so.updated_by,
        None if pf is None else pf.source,
        record.error,
        " ".join(str(p) for p in record.duplicate_conflicts),
    ]
    return ["" if value is None else str(value) for value in values]


def export(
    stack: Stack,
    account_id: str,
    sink: TextIO,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    form: ExportFormat = "csv",
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the account's decisions from `since` to `until` (oldest first) to `sink`; the row count.

    `unknown_account` when the account has no settings; a usage problem when the period is empty.
    """
    if since is not None and until is not None and since >= until:
        raise UsageProblem("--since must be before --until")
    known_account(stack, account_id)
    writer = csv.writer(sink, lineterminator="\n") if form == "csv" else None
    if writer is not None:
        writer.writerow(COLUMNS)
    rows = 0
    for email, record in DecisionLog(stack.table_name).for_account(account_id, since, until):
        if writer is not None:
            writer.writerow(csv_row(account_id, email, record))
        else:
            sink.write(json.dumps({"account_id": account_id, "email": email, **audit_json(record)}) + "\n")
        rows += 1
        if progress is not None and rows % 100 == 0:
            progress(rows)
    if progress is not None:
        progress(rows)
    return rows
